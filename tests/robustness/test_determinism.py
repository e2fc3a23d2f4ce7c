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
