"""Hostile text in formulas and claims is refused or read as plain math, never executed, and
pathological inputs are refused in bounded time and memory.

Every entry point that reads user text is fed every string in HOSTILE in a fresh temporary
folder: the formula parser, a spec's activation and loss formulas (``Network.from_dict``) and,
where ``symbp.check.claims`` / ``symbp.check.claim`` exist, the claim parser and ``check_claim``. Execution
is detected by the sentinel file and the audit hook in ``detect.py``.
"""

from __future__ import annotations

import importlib.util
import time
import tracemalloc

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbp
from symbp.core.errors import SymbpError
from symbp.core.formula import parse_formula

from . import detect
from .tally import count

X = sp.Symbol("x", real=True)
A, Y = sp.Symbol("a", real=True), sp.Symbol("y", real=True)
TOUCH = "touch PWNED"
OPEN = "open('PWNED', 'w')"

HOSTILE = [
    # Python: imports, builtins, eval/exec, lambdas, attribute and dunder access, comprehensions
    f"__import__('os').system('{TOUCH}')", f'__import__("os").system("{TOUCH}")',
    f"exec(\"{OPEN}\")", f"eval(\"{OPEN}\")", OPEN, f"(lambda: {OPEN})()", "lambda x: x",
    "x.__class__.__mro__[1].__subclasses__()", "().__class__.__bases__[0].__subclasses__()",
    "getattr(x, '__globals__')", f"x.__globals__['os'].system('{TOUCH}')",
    "__builtins__.open('PWNED', 'w')", "globals()", "vars()", "compile('1', 'f', 'eval')",
    "breakpoint()", "import os", f"x; import os; os.system('{TOUCH}')", f"x if {OPEN} else x",
    f"[{OPEN} for _ in (1,)]", f"{{{OPEN}}}", f"f'{{{OPEN}}}'", f"x\nimport os\nos.system('{TOUCH}')",
    "x # comment", "x\\\n+1", "_", "__", "x._", "x.real", "x.evalf()", "1 .__class__", "0x10",
    "1_000", "1j", "x @ x", "x ** -x", "x // 2", "x % 2", "not x", "x and x", "x or 1", "x == x",
    "x := 1", "*x", "**x", "x[0]", "x, x", "print(x)", "type(x)", "input()", "help()", "exit()",
    # code hidden in the piecewise where() of activation formulas, and Python's own conditional
    f"where(x > 0, x, {OPEN})", "where(x > __import__('os').getpid(), x, 0)", "x if x > 0 else 0",
    "where(x > 0, x, 0) if 1 else x", "where(lambda: 1, x, x)",
    # sympy's own string readers and classes
    "sympify('x')", f"S('{OPEN}')", "Symbol('x')", "Function('f')(x)", "Lambda(x, x)", "N(x)",
    "x.subs(x, 1)", "I", "oo", "zoo", "nan", "E1", "Integral(x, x)", "Derivative(x, x)",
    # shells and templates
    f"`{TOUCH}`", f"$({TOUCH})", "x; rm -rf /", "x | cat /etc/passwd",
    f"{{{{ cycler.__init__.__globals__.os.popen('{TOUCH}').read() }}}}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}", "{{ config }}",
    "{0.__class__}", "%s%s%n", "${7*7}", "#{7*7}",
    # LaTeX that would read files or run commands if handed to TeX
    r"\input{/etc/passwd}", rf"\write18{{{TOUCH}}}", rf"\immediate\write18{{{TOUCH}}}",
    r"\def\x{\x}\x", r"\catcode`\@=11", r"\frac{\partial J}{\partial w} = \input{x}",
    # unicode: lookalikes, bidi overrides, invisible characters, NUL
    "\uff45\uff58\uff50(x)", "\U0001d465", "\u0445", "\u212f^x", "x\u202e+1", "x\u200b+1",
    "\x00", "x\ufeff", "x\u2028+1", "\u0435xp(x)",
    # plain math that must simply be read
    "x+1", "exp(-x)*x", "e^x", "pi*x", "x/(1+exp(-x))", "(a - y)^2", "-y*log(a)",
]

HUGE_OR_DEEP = [
    "(" * 100_000 + "x" + ")" * 100_000, "(" * 999 + "x" + ")" * 999, "-" * 1999 + "x",
    "x" + "^x" * 999, "x^" * 60 + "x", "exp(" * 60 + "x" + ")" * 60, "sin(" * 60 + "x" + ")" * 60,
    "9" * 2000, "9" * 50 + "^" + "9" * 50, "2^1000^1000", "(2^1000)^1000", "1e999999",
    "x*" * 999 + "x", "x+" * 999 + "x", "max(" * 9 + "x" + ",x)" * 9,
    "*".join(f"(x+{i})" for i in range(1, 250)), "exp(exp(exp(exp(x))))", "x^1000",
    "exp(x^2)^999", "+".join(f"sin({i}*x)" for i in range(1, 150)), "x" * 1_000_000,
    "10^(10^(10^10))", "sqrt(sqrt(sqrt(" * 20 + "x" + ")))" * 20, "abs(sin(exp(exp(20))))",
    # hard for the whole-range check and the stable printed forms: many poles, nested where(),
    # many exponentials of different rates (e^{-x²/i}, i = 1..39)
    "+".join(f"1/(x-{i}.5)" for i in range(1, 60)), "where(x > 0, x, " * 30 + "x" + ")" * 30,
    "+".join(f"tanh({i}*x)*exp(-x*x/{i})" for i in range(1, 40)), "x^2^2^2^2", "cosh(x/709)^999",
]
TIME_LIMIT = 5.0  # seconds per input per entry point; measured worst 0.8 s (see README)
MEMORY_LIMIT = 64 * 2**20  # bytes allocated at peak per input per entry point


def _claims_modules():
    if importlib.util.find_spec("symbp.check.claims") is None:
        return None, None
    from symbp.check import claims

    check = None
    if importlib.util.find_spec("symbp.check.claim") is not None:
        from symbp.check import claim as check
    return claims, check


CLAIMS, CHECK = _claims_modules()


def _spec_with_activation(text: str) -> dict:
    return {"inputs": 2, "activations": {"f": {"formula": text}},
            "layers": [{"size": 2, "activation": "f"}, {"size": 1, "activation": "identity"}]}


def _spec_with_loss(text: str) -> dict:
    return {"inputs": 2, "loss": "l", "losses": {"l": {"formula": text}},
            "layers": [{"size": 2, "activation": "sigmoid"}]}


def entry_points():
    """(name, function of the text): each must return or raise SymbpError, nothing else."""
    points = [
        ("parse_formula(x)", lambda t: parse_formula(t, {"x": X})),
        ("parse_formula(a, y)", lambda t: parse_formula(t, {"a": A, "y": Y})),
        ("spec activation formula", lambda t: symbp.Network.from_dict(_spec_with_activation(t))),
        ("spec loss formula", lambda t: symbp.Network.from_dict(_spec_with_loss(t))),
    ]
    if CLAIMS is not None:
        points += [("parse_claim", lambda t: CLAIMS.parse_claim(t)),
                   ("parse_claim rhs", lambda t: CLAIMS.parse_claim("dE_total/dw5 = " + t)),
                   ("parse_expression", lambda t: CLAIMS.parse_expression(t))]
    if CHECK is not None:
        mazur = symbp.load_spec("mazur")
        points.append(("check_claim", lambda t: CHECK.check_claim(mazur, "dE_total/dw5 = " + t)))
    return points


ENTRY_POINTS = entry_points()


def test_the_detector_sees_real_execution(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    detect.self_test(tmp_path)


def _outcome(result) -> str:
    """What a returned value may be: plain math or a parsed claim, nothing callable."""
    assert not callable(result) or isinstance(result, sp.Basic), type(result)
    if isinstance(result, sp.Basic):
        # Plain math: built from numbers, x / a / y and the parser's own functions only.
        assert result.free_symbols <= {X, A, Y}, result
    return type(result).__name__


@pytest.mark.parametrize("name, read", ENTRY_POINTS, ids=[n for n, _ in ENTRY_POINTS])
def test_hostile_text_is_refused_or_read_as_math_never_run(name, read, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcomes = {}
    for text in HOSTILE:
        with detect.Watch(text, tmp_path) as watch:
            try:
                outcomes[text] = _outcome(read(text))
            except SymbpError as exc:
                assert len(str(exc).splitlines()) == 1, (text, str(exc))
                outcomes[text] = "refused"
        watch.assert_nothing_ran()
        count("hostile_strings")
    # The formula readers refuse every code-shaped string outright; the claim grammar may read
    # some as juxtaposed names ("import os" is the product import·os), which is data, not code.
    if name.startswith(("parse_formula", "spec")):
        code_shaped = HOSTILE[:HOSTILE.index("x # comment")]
        assert all(outcomes[t] == "refused" for t in code_shaped), \
            [t for t in code_shaped if outcomes[t] != "refused"]


def _run(read, text: str) -> None:
    try:
        read(text)
    except SymbpError:
        pass


@pytest.mark.parametrize("name, read", ENTRY_POINTS, ids=[n for n, _ in ENTRY_POINTS])
def test_huge_or_deeply_nested_text_is_handled_in_bounded_time(name, read, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    worst = (0.0, "")
    for text in HUGE_OR_DEEP:
        start = time.perf_counter()
        _run(read, text)
        elapsed = time.perf_counter() - start
        assert elapsed < TIME_LIMIT, (name, text[:60], elapsed)
        worst = max(worst, (elapsed, text[:40]))
        count("hostile_strings")
    print(f"{name}: worst {worst[0]:.2f} s ({worst[1]!r})")


# Memory is traced where text becomes structure (the parsers): tracemalloc slows sympy about
# tenfold, too much for the spec-level checks, whose inputs are the parsers' bounded output.
PARSERS = [(n, r) for n, r in ENTRY_POINTS if n.startswith(("parse_", "spec loss"))]


@pytest.mark.parametrize("name, read", PARSERS, ids=[n for n, _ in PARSERS])
def test_huge_or_deeply_nested_text_is_handled_in_bounded_memory(name, read, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    worst = (0, "")
    for text in HUGE_OR_DEEP:
        tracemalloc.start()
        try:
            _run(read, text)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < MEMORY_LIMIT, (name, text[:60], peak)
        worst = max(worst, (peak, text[:40]))
    print(f"{name}: worst {worst[0] / 2**20:.1f} MiB ({worst[1]!r})")


FORMULA_ALPHABET = st.sampled_from(list("x+-*/^().,0123456789e ") + [
    "exp", "log", "sqrt", "abs", "tanh", "max", "min", "sigmoid", "softplus", "pi", "**", "_",
    "'", "\"", "[", "]", "{", "}", "=", ";", ":", "\n", "\x00", "__", "import", "lambda", "os"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(FORMULA_ALPHABET, max_size=40))
def test_any_text_gives_math_or_a_formula_error_and_nothing_else(parts):
    text = "".join(parts)
    try:
        result = parse_formula(text, {"x": X})
    except SymbpError as exc:
        assert "Traceback" not in str(exc)
    else:
        assert isinstance(result, sp.Expr) and result.free_symbols <= {X}
    count("hostile_strings")


@pytest.mark.skipif(CLAIMS is None, reason="symbp.check.claims is not there yet")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.sampled_from(list("=+-*/^_'()[]{},. 0123456789") + [
    "x", "a_h1", "w5", "dE_total", "\\frac", "\\partial", "\\sigma", "\\delta", "\\cdot", "\\sum",
    "^T", "\\left(", "\\right)", "δ", "σ", "ᵀ", "⊙", "__class__", "import", "\n", "\x00"]),
    max_size=30))
def test_any_claim_text_gives_a_claim_or_a_claim_error_and_nothing_else(parts):
    text = "".join(parts)
    try:
        CLAIMS.parse_claim(text)
    except SymbpError:
        pass
    count("hostile_strings")


# Legal formulas on which sympy's solve and simplify run for minutes unless bounded.
HARD_TO_INVERT = ["tanh(tanh(x))", "x^50"]
EMIT_SECONDS = 12.0


def test_emitting_a_legal_but_hard_formula_finishes_in_bounded_time(tmp_path):
    """The spec accepts these (they are fine activations); emitting them must not hang."""
    import json
    import subprocess
    import sys

    procs = []
    for i, text in enumerate(HARD_TO_INVERT):
        spec = tmp_path / f"hard{i}.json"
        spec.write_text(json.dumps(_spec_with_activation(text)))
        symbp.Network.from_dict(_spec_with_activation(text))  # validation itself is quick
        procs.append(subprocess.Popen([sys.executable, "-m", "symbp", "emit", str(spec), "-o",
                                       str(tmp_path / f"hard{i}.py")], cwd=tmp_path,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.perf_counter() + EMIT_SECONDS
    finished = []
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.perf_counter()))
            finished.append(proc.returncode == 0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            finished.append(False)
    count("hostile_strings", len(HARD_TO_INVERT))
    assert all(finished), dict(zip(HARD_TO_INVERT, finished))
