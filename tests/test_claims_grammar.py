"""The claim grammar: LaTeX pitfalls of sympy's parse_latex handled, hostile text refused.

sympy 1.14's parse_latex reads W^T as a power and \\hat{y} as a product, truncates trailing
text unless strict, and fails on \\frac{\\partial J}{\\partial w} or \\sigma(z); the tests below
pin what symbp's own grammar does with each of those, and that nothing a claim says is run.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sympy as sp

import symbp
from symbp.check.claim import check_claim
from symbp.check.claims import (
    MAX_DEPTH,
    MAX_LENGTH,
    Accent,
    ClaimError,
    Frac,
    Name,
    Partial,
    Script,
    Transpose,
    parse_claim,
    parse_expression,
)
from symbp.check.matrix import MatrixEvaluator, instantiate
from symbp.check.system import system_for
from symbp.check.values import NeuronEvaluator
from symbp.cli import app as cli

DATA = Path(__file__).parent / "data" / "handwritten"
GENERAL = DATA / "seed000_general.toml"


@pytest.fixture(scope="module")
def mazur():
    return symbp.load_spec("mazur")


def neuron_value(net, text):
    system = system_for(net)
    return NeuronEvaluator(system, text).value(parse_expression(text)), system


def matrix_value(text, l=1):
    system = system_for(instantiate(symbp.load_spec(GENERAL), [2, 3, 4, 2]))
    return MatrixEvaluator(system, text, "from0", l).value(parse_expression(text)), system


# --------------------------------------------------------------------------- LaTeX pitfalls


@pytest.mark.parametrize("mark", ["T", "{T}", r"\top", r"{\top}", r"\intercal"])
def test_superscript_T_is_read_as_a_transpose_not_a_power(mark):
    node = parse_expression(f"W^{mark}")
    assert isinstance(node, Script) and node.sup is not None
    value, system = matrix_value(f"(W^{{2}})^{mark}")
    assert value.shape == (3, 4)  # W^2 is 4×3 on sizes 2-3-4-2
    assert value[0, 1] == system.symbols["w2_21"]


@pytest.mark.parametrize("text", ["W[2]ᵀ", "W[2].T", "W[2]'"])
def test_unicode_dot_and_prime_transposes(text):
    value, system = matrix_value(text)
    assert value.shape == (3, 4)
    assert value[0, 1] == system.symbols["w2_21"]


def test_transpose_node_for_dot_T_and_superscript_T_character():
    assert isinstance(parse_expression("X.T"), Transpose)
    assert isinstance(parse_expression("Xᵀ"), Transpose)


def test_hat_y_is_one_symbol_not_a_product():
    node = parse_expression(r"\hat{y}")
    assert isinstance(node, Accent) and node.accent == "hat" and node.body == Name(5, "y")
    value, system = matrix_value(r"\hat{y} - y")
    names = system.names
    assert value.shape == (2, 1)
    assert value[0] == system.symbols[names.activations[-1][0]] - system.symbols[names.targets[0]]


@pytest.mark.parametrize("text, column", [
    ("a = b )", 6), ("a = b c d ]", 10), ("x = 1 2 3 }", 10), ("a = b ;", 6), ("a = b = c", 6),
    (r"\frac{a}{b} = c }", 16),
])
def test_trailing_garbage_is_an_error_at_its_column(text, column):
    with pytest.raises(ClaimError) as err:
        parse_claim(text)
    assert err.value.position == column
    assert err.value.caret().splitlines()[1].index("^") == column + 2


def test_frac_partial_is_a_derivative(mazur):
    claim = parse_claim(r"\frac{\partial J}{\partial w} = 1")
    assert isinstance(claim.lhs, Frac)
    assert isinstance(claim.lhs.num, Partial) and isinstance(claim.lhs.den, Partial)
    value, system = neuron_value(mazur, r"\frac{\partial E_{total}}{\partial w_5}")
    assert system.kind[value] == "derivative" and system.pair[value] == (system.loss, system.symbols["w5"])


@pytest.mark.parametrize("text", [r"\sigma(z_{o1})", r"\sigma\left(z_{o_1}\right)", "sigmoid(z_o1)",
                                  r"\frac{1}{1 + e^{-z_{o1}}}", r"\frac{1}{1+\exp(-z_{o1})}", "σ(z_o1)"])
def test_sigma_and_its_spellings_are_the_logistic_function(mazur, text):
    value, system = neuron_value(mazur, text)
    z = system.symbols["z_o1"]
    assert sp.simplify(value - 1 / (1 + sp.exp(-z))) == 0


def test_tanh_ln_exp_and_sqrt_build_sympy_functions(mazur):
    value, system = neuron_value(mazur, r"\tanh(z_{h1}) + \ln a_{h1} - \exp(i_1) + \sqrt{w_5}")
    s = system.symbols
    assert value == sp.tanh(s["z_h1"]) + sp.log(s["a_h1"]) - sp.exp(s["i1"]) + sp.sqrt(s["w5"])


@pytest.mark.parametrize("op", [r"\cdot", r"\times", r"\odot", "*", "·", "×", "⊙", r"\ast"])
def test_product_operators_multiply_numbers(mazur, op):
    value, system = neuron_value(mazur, f"w_5 {op} a_{{h_1}}")
    assert value == system.symbols["w5"] * system.symbols["a_h1"]


@pytest.mark.parametrize("text, name", [("a_{o_1}", "a_o1"), ("a_{o1}", "a_o1"), ("w_5", "w5"),
                                        ("E_{total}", "E_total"), (r"E_{\text{total}}", "E_total"),
                                        ("target_{o_1}", "target_o1"), ("z_{h 1}", "z_h1"),
                                        ("a_o1", "a_o1"), (r"\mathrm{w}_{6}", "w6")])
def test_subscripts_map_to_the_specs_names(mazur, text, name):
    value, system = neuron_value(mazur, text)
    assert value == system.symbols[name]


def test_unknown_latex_command_is_reported_at_its_column(mazur):
    with pytest.raises(ClaimError, match=r"unknown LaTeX command \\foo") as err:
        neuron_value(mazur, r"a_{o1} + \foo")
    assert err.value.position == 9


def test_prime_means_derivative_of_the_layer_function(mazur):
    value, system = neuron_value(mazur, "g'(z_o1)")
    a = system.symbols["a_o1"]
    assert sp.expand(value - a * (1 - a)) == 0


def test_numbers_are_exact_rationals():
    claim = parse_claim("x = 0.01 + 1e-3")
    terms = [t for _, t in claim.rhs.terms]
    assert [t.value for t in terms] == [sp.Rational(1, 100), sp.Rational(1, 1000)]


# --------------------------------------------------------------------------- hostile input


SENTINEL_CLAIMS = [
    "__import__('os').system('touch {path}') = 1",
    "x = __import__('os').system('touch {path}')",
    "a_o1 = (lambda: __import__('os').system('touch {path}'))()",
    "a_o1.__class__.__bases__ = 1",
    "a_o1 = ().__class__.__base__.__subclasses__()",
    "eval(\"__import__('os').system('touch {path}')\") = 1",
    "exec('import os; os.system(\"touch {path}\")') = 1",
    "a_o1 = getattr(__builtins__, 'exec')('open(\"{path}\", \"w\")')",
    r"\input{{{path}}} = 1",
    "a__b = 1",
    "E_total = open('{path}', 'w')",
]


@pytest.mark.parametrize("template", SENTINEL_CLAIMS)
def test_hostile_claims_are_refused_and_run_nothing(tmp_path, mazur, template):
    sentinel = tmp_path / "SENTINEL"
    text = template.format(path=sentinel)
    report = check_claim(mazur, text)
    assert report.verdict == "bad input" and report.exit_code == 2
    assert not sentinel.exists()


def test_hostile_claims_through_the_command_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("symbp.cli.check",))
    sentinel = tmp_path / "SENTINEL"
    claims = tmp_path / "claims.txt"
    claims.write_text("\n".join(t.format(path=sentinel) for t in SENTINEL_CLAIMS), encoding="utf-8")
    assert cli.main(["check", "mazur", "--claims", str(claims)]) == 2
    out = capsys.readouterr().out
    assert out.count("  bad input:") == len(SENTINEL_CLAIMS) and "Traceback" not in out
    assert not sentinel.exists()


def timed(fn):
    start = time.perf_counter()
    try:
        fn()
    except ClaimError as exc:
        return time.perf_counter() - start, exc
    return time.perf_counter() - start, None


def test_a_hundred_thousand_characters_are_refused_at_once():
    seconds, err = timed(lambda: parse_claim("a" * 100_000 + " = 1"))
    assert err is not None and "too long" in str(err) and seconds < 0.1


@pytest.mark.parametrize("text", [
    "x = " + "(" * 990 + "x" + ")" * 990,
    "x = " + "{" * 990 + "x" + "}" * 990,
    "x = " + "-" * 1000 + "x",
    "x = " + "x^{" * 400 + "x" + "}" * 400,
    "x = " + "sqrt(" * 300 + "x" + ")" * 300,
])
def test_thousand_deep_nesting_is_refused_quickly(text):
    assert len(text) <= MAX_LENGTH
    seconds, err = timed(lambda: parse_claim(text))
    assert err is not None and "nested too deeply" in str(err) and seconds < 1.0
    assert str(MAX_DEPTH) in str(err)


def test_long_flat_sums_parse_without_recursion():
    claim = parse_claim("x = " + " + ".join(["a_o1"] * 250))
    assert len(claim.rhs.terms) == 250


@pytest.mark.parametrize("text, words", [
    ("E_total = (10^40)^64", "too large"),
    ("E_total = a_o1^1000", "out of range"),
    ("E_total = " + "9" * 60, "digits"),
    ("E_total = 1e999", "out of range"),
    ("E_total = x^2^3", "double superscript"),
    ("E_total = ((a_o1 + a_o2)^40)^40", "power above"),
])
def test_huge_numbers_and_powers_are_refused(mazur, text, words):
    report = check_claim(mazur, text)
    assert report.verdict == "bad input" and words in str(report.error)


def test_nested_exponentials_do_not_hang(mazur):
    start = time.perf_counter()
    report = check_claim(mazur, "E_total = exp(exp(exp(exp(1000*w5))))")
    assert time.perf_counter() - start < 5
    assert report.verdict in ("does not hold", "undecided")


def test_my_modules_never_name_a_string_evaluator():
    root = Path(symbp.__file__).parent
    mine = ["check/claims.py", "check/claim.py", "check/values.py", "check/system.py", "check/matrix.py",
            "check/example.py", "cli/check.py", "check/function.py"]
    for name in mine:
        text = (root / name).read_text(encoding="utf-8")
        for word in ("eval(", "exec(", "sympify(", "parse_expr(", "parse_latex", "lambdify"):
            assert word not in text, f"{name} contains {word}"
