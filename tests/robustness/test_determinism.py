"""Determinism: emitted code and documents are byte-identical across runs and PYTHONHASHSEED values,
for specs with formula activations, formula losses, neuron names and name templates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SPECS = {
    "formulas.json": {
        "name": "formulas", "description": "swish and gelu-like hidden layers, a formula loss",
        "inputs": 2, "loss": "logcosh",
        "activations": {"swish": {"formula": "x/(1+exp(-x))"},
                        "gelu_ish": {"formula": "x*sigmoid(1.702*x)"},
                        "soft_sign": {"formula": "x/(1+abs(x))"}},
        "losses": {"logcosh": {"formula": "log(cosh(a - y))"}},
        "layers": [{"size": 2, "activation": "swish"}, {"size": 2, "activation": "gelu_ish"},
                   {"size": 1, "activation": "soft_sign"}]},
    "named.json": {
        "name": "named", "inputs": 2, "loss": "softmax_ce",
        "layers": [{"size": 3, "activation": "tanh"}, {"size": 2, "activation": "softmax"}],
        "names": {"inputs": "x{i}", "weights": ["V{j}{i}", "W{j}{i}"], "biases": ["b{i}", "c{i}"],
                  "pre_activations": ["P{i}", "Q{i}"], "activations": ["H{i}", "O{i}"],
                  "targets": "Y{i}", "loss": "E"}},
    "regularized.json": {
        "name": "regularized", "inputs": 4, "loss": "bce", "reduction": "sum",
        "weight_layout": "in_out", "regularization": {"convention": "lambda_over_2m", "strength": 0.3},
        "layers": [{"size": 5, "activation": "leaky_relu", "alpha": 0.2, "bias": "shared"},
                   {"size": 3, "activation": "sigmoid", "train_bias": False}]},
}
OUTPUTS = [("emit", ".py"), ("derive", ".txt"), ("derive", ".md"), ("derive", ".tex")]

SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from symbp.cli.app import main

    # Relative paths: they are quoted in every header ("Regenerate with: …").
    jobs = [(cmd, spec, suffix) for spec in sorted(Path("specs").glob("*.json"))
            for cmd, suffix in {outputs!r}]
    for cmd, spec, suffix in jobs + [("emit", "mazur", ".py")]:
        stem = Path(str(spec)).stem
        code = main([cmd, str(spec), "-o", f"out/{{stem}}_{{cmd}}{{suffix}}"])
        if code != 0:
            sys.exit(f"{{cmd}} {{spec}} {{suffix}} exited {{code}}")
""").format(outputs=OUTPUTS)


def _start(folder: Path, seed: str) -> subprocess.Popen:
    """A fresh process with its own hash seed writes every output into folder/out."""
    (folder / "specs").mkdir(parents=True)
    (folder / "out").mkdir()
    for name, data in SPECS.items():
        (folder / "specs" / name).write_text(json.dumps(data, indent=1))
    env = {**os.environ, "PYTHONHASHSEED": seed}
    return subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, folder: Path) -> dict[str, bytes]:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    return {p.name: p.read_bytes() for p in sorted((folder / "out").iterdir())}


def test_emit_and_derive_are_byte_identical_across_hash_seeds(tmp_path):
    runs = {seed: _start(tmp_path / seed, seed) for seed in ("0", "4242")}  # in parallel
    first, second = (_finish(proc, tmp_path / seed) for seed, proc in runs.items())
    expected = len(SPECS) + 1
    assert len([n for n in first if n.endswith(".py")]) == expected, sorted(first)
    assert len([n for n in first if n.endswith((".txt", ".md", ".tex"))]) == 3 * len(SPECS)
    differing = sorted(n for n in first.keys() | second.keys() if first.get(n) != second.get(n))
    assert not differing, differing
    # The outputs name no absolute path of this machine and no memory address.
    for name, data in first.items():
        text = data.decode("utf-8", "replace")
        assert str(tmp_path) not in text and " at 0x" not in text, name


# -- no clock in any decision ------------------------------------------------------------------------

# Formulas whose forms once depended on how long sympy's solve/simplify/factor were given: each
# ran into a time limit on some machines and not on others.
HARD_ACTIVATIONS = ["tanh(tanh(x))", "x^50", "sinh(x/200)", "atan(x)", "atan(atan(atan(atan(x))))",
                    "log(sigmoid(x))", "1/(1+exp(-2*x))", "log(cosh(x))"]
HARD_LOSSES = ["99*(a-y)^98", "(a-y)^99", "sqrt(1+(a-y)^2)-1", "(a-y)^4"]


def _hard_network(activation: str, loss: str) -> dict:
    return {"name": "hard", "inputs": 2, "loss": "l", "reduction": "sum",
            "activations": {"g": {"formula": activation}}, "losses": {"l": {"formula": loss}},
            "layers": [{"size": 2, "activation": "g"}, {"size": 1, "activation": "sigmoid"}]}


def _fresh_kernels(pairs) -> list[str]:
    """Emitted kernels for (activation, loss) pairs, derived afresh (no cached derivative)."""
    import symbp
    from symbp.core import activations, losses

    activations.derivative.cache_clear()
    losses.output_delta.cache_clear()
    losses.formula_loss.cache_clear()
    return [symbp.emit_numpy(symbp.Network.from_dict(_hard_network(g, loss))) for g, loss in pairs]


def _pairs() -> list[tuple[str, str]]:
    return [(g, HARD_LOSSES[i % len(HARD_LOSSES)]) for i, g in enumerate(HARD_ACTIVATIONS)]


def test_emitted_kernels_are_identical_when_the_clock_runs_a_thousand_times_faster(monkeypatch):
    """A loaded machine is a clock that jumps between two reads; the kernels do not change."""
    import itertools
    import time

    # the activations whose forms a time budget used to decide, with the cheaper losses
    pairs = [(g, HARD_LOSSES[2 + i % 2]) for i, g in enumerate(HARD_ACTIVATIONS[:5])]
    normal = _fresh_kernels(pairs)
    ticks = itertools.count()
    for name in ("monotonic", "perf_counter", "time"):
        monkeypatch.setattr(time, name, lambda: 1000.0 * next(ticks))
    slow = _fresh_kernels(pairs)
    monkeypatch.undo()
    assert slow == normal


def test_deriving_reads_no_clock_sets_no_timer_and_calls_no_unbounded_sympy_routine(monkeypatch):
    """solve and simplify have no bound of their own, so they are not called; neither is any clock
    or timer consulted: the output is a function of the input alone."""
    import signal
    import time

    import sympy

    def refuse(what):
        def call(*args, **kwargs):
            raise AssertionError(f"the derivation called {what}")
        return call

    for name in ("monotonic", "perf_counter", "time"):
        monkeypatch.setattr(time, name, refuse(f"time.{name}"))
    for name in ("setitimer", "alarm"):
        monkeypatch.setattr(signal, name, refuse(f"signal.{name}"), raising=False)
    for name in ("solve", "simplify"):
        monkeypatch.setattr(sympy, name, refuse(f"sympy.{name}"))
    kernels = _fresh_kernels(_pairs())
    monkeypatch.undo()
    assert all("def loss_and_grad" in k for k in kernels)


def test_the_degree_gate_bounds_every_factor_and_cancel(monkeypatch):
    """99(a − y)^98 expands to a degree-97 polynomial that factor needs seconds for: no factor or
    cancel call the derivation makes gets a polynomial above the gate's degree, and there are few."""
    import sympy

    from symbp.core import activations

    seen: list[int] = []
    for name in ("factor", "cancel"):
        original = getattr(sympy, name)

        def counted(expr, *args, _original=original, **kwargs):
            seen.append(activations.degree_bound(sympy.sympify(expr)))
            return _original(expr, *args, **kwargs)
        monkeypatch.setattr(sympy, name, counted)
    _fresh_kernels(_pairs())
    monkeypatch.undo()
    assert seen and max(seen) <= activations.MAX_TIDY_DEGREE, max(seen)
    # the corpus does hold polynomials above the gate: ∂ℓ/∂a of 99(a − y)^98 has degree 97
    from symbp.core import losses
    u = sympy.diff(losses.formula_loss("l", "99*(a-y)^98").term, losses.a)
    assert activations.degree_bound(u) > activations.MAX_TIDY_DEGREE
