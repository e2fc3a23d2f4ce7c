"""The safe formula parser: exact sympy results for valid input, FormulaError (fast) for anything else."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from symbp.core import formula
from symbp.core.errors import FormulaError
from symbp.core.formula import FUNCTIONS, free_variable_names, parse_formula

x = sympy.Symbol("x", real=True)
a, y = sympy.symbols("a y", real=True)
X = {"x": x}
LOSS = {"a": a, "y": y}


def parse(text: str, variables=None) -> sympy.Expr:
    return parse_formula(text, X if variables is None else variables)


def rejected(text: str, variables=None, *, within: float = 1.0) -> FormulaError:
    """Parse text, insist on a FormulaError raised within `within` seconds, and return it."""
    start = time.perf_counter()
    with pytest.raises(FormulaError) as excinfo:
        parse(text, variables)
    assert time.perf_counter() - start < within, f"{text[:60]!r} took too long to reject"
    return excinfo.value


# --- precedence, associativity, exact numbers ---------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x/(1+exp(-x))", x / (1 + sympy.exp(-x))),
        ("-x^2", -(x**2)),
        ("-x**2", -(x**2)),
        ("(-x)^2", x**2),
        ("2^3^2", sympy.Integer(2) ** 9),
        ("x^2^3", x**8),
        ("x**-2", x**-2),
        ("2^-1", sympy.Rational(1, 2)),
        ("1+2*x", 1 + 2 * x),
        ("(1+2)*x", 3 * x),
        ("x-1-2", x - 3),
        ("x/2/4", x / 8),
        ("2*x^2/4", x**2 / 2),
        ("x*-2", -2 * x),
        ("--x", x),
        ("+x", x),
        (" x \t+\n1 ", x + 1),
        ("1 - x^2 * 3", 1 - 3 * x**2),
        ("e^x", sympy.exp(x)),
        ("pi*x", sympy.pi * x),
        ("e", sympy.E),
    ],
)
def test_precedence_and_associativity_match_sympy_constructors(text, expected):
    assert parse(text) == expected


def test_loss_formula_uses_both_variables():
    expected = -(y * sympy.log(a) + (1 - y) * sympy.log(1 - a))
    assert parse("-(y*log(a) + (1-y)*ln(1-a))", LOSS) == expected


def test_result_uses_the_given_symbol_objects():
    assert parse("x") is x


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.01", sympy.Rational(1, 100)),
        (".5", sympy.Rational(1, 2)),
        ("1.", sympy.Integer(1)),
        ("1e-3", sympy.Rational(1, 1000)),
        ("2.5E+4", sympy.Integer(25000)),
        ("3.14159", sympy.Rational(314159, 100000)),
        ("0.1+0.2", sympy.Rational(3, 10)),
        ("1" * 50, sympy.Integer(int("1" * 50))),
    ],
)
def test_decimals_become_exact_rationals(text, expected):
    value = parse(text)
    assert value == expected
    assert not value.atoms(sympy.Float)


def test_decimal_coefficient_in_expression_is_exact():
    expr = parse("0.01*x + 1e-3")
    assert expr == x / 100 + sympy.Rational(1, 1000)
    assert not expr.atoms(sympy.Float)


# --- the function table -------------------------------------------------------------------------

FUNCTION_CASES = {
    "exp": ("exp(x)", sympy.exp(x)),
    "log": ("log(x)", sympy.log(x)),
    "ln": ("ln(x)", sympy.log(x)),
    "sqrt": ("sqrt(x)", sympy.sqrt(x)),
    "abs": ("abs(x)", sympy.Abs(x)),
    "tanh": ("tanh(x)", sympy.tanh(x)),
    "sinh": ("sinh(x)", sympy.sinh(x)),
    "cosh": ("cosh(x)", sympy.cosh(x)),
    "sin": ("sin(x)", sympy.sin(x)),
    "cos": ("cos(x)", sympy.cos(x)),
    "tan": ("tan(x)", sympy.tan(x)),
    "atan": ("atan(x)", sympy.atan(x)),
    "arctan": ("arctan(x)", sympy.atan(x)),
    "erf": ("erf(x)", sympy.erf(x)),
    "erfc": ("erfc(x)", sympy.erfc(x)),
    "sigmoid": ("sigmoid(x)", 1 / (1 + sympy.exp(-x))),
    "softplus": ("softplus(x)", sympy.log(1 + sympy.exp(x))),
    "max": ("max(x, 0)", sympy.Max(x, 0)),
    "min": ("min(0.01*x, x)", sympy.Min(x / 100, x)),
}


def test_every_table_function_has_a_case():
    assert set(FUNCTION_CASES) == set(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTION_CASES))
def test_each_function_builds_its_sympy_expression(name):
    text, expected = FUNCTION_CASES[name]
    assert parse(text) == expected


def test_functions_nest_and_take_expressions():
    sig = 1 / (1 + sympy.exp(-2 * x))
    assert parse("sigmoid(2*x)*(1-sigmoid(2*x))") == sig * (1 - sig)
    gelu = parse("0.5*x*(1+tanh(sqrt(2/pi)*(x+0.044715*x^3)))")
    inner = sympy.sqrt(2 / sympy.pi) * (x + sympy.Rational(44715, 10**6) * x**3)
    assert gelu == x * (1 + sympy.tanh(inner)) / 2


def test_max_of_symbol_and_number_is_differentiable():
    assert sympy.diff(parse("max(x, 0)"), x) == sympy.Heaviside(x)


def test_names_are_case_sensitive_and_where_is_absent():
    assert "unknown function 'Exp'" in str(rejected("Exp(x)"))
    assert "unknown name 'PI'" in str(rejected("PI*x"))
    assert "unknown function 'where'" in str(rejected("where(x, 1, 0)"))


def test_a_variable_shadows_a_constant_of_the_same_name():
    e = sympy.Symbol("e")
    assert parse("e + 1", {"e": e}) == e + 1


# --- error classes: each names the position or the offending name -------------------------------

@pytest.mark.parametrize(
    ("text", "fragment", "position"),
    [
        ("x $ 1", "unexpected character '$'", 2),
        ("(x+1", "never closed", 0),
        ("x+1)", "unmatched ')'", 3),
        ("exp(x", "never closed", 3),
        ("x+", "missing operand at end", 2),
        ("x*/2", "missing operand before '/'", 2),
        ("()", "missing operand before ')'", 1),
        ("2x", "missing operator before 'x'", 1),
        ("x 1", "missing operator before '1'", 2),
        ("x)(", "unmatched ')'", 1),
        ("foo", "unknown name 'foo' in formula; allowed variables: x", 0),
        ("x + lambda", "unknown name 'lambda'", 4),
        ("import", "unknown name 'import'", 0),
        ("foo(x)", "unknown function 'foo'", 0),
        ("max(x)", "max() takes 2 arguments, got 1", 0),
        ("exp(x, 1)", "exp() takes 1 argument, got 2", 0),
        ("exp()", "exp() takes 1 argument, got 0", 0),
        ("exp", "must be called with parentheses", 0),
        ("x(2)", "'x' is a variable, not a function", 0),
        ("_x", "'_x' is not allowed", 0),
        ("x + a__b", "'a__b' is not allowed", 4),
        ("x.__class__", "no attribute access", 1),
        ("x.real", "no attribute access", 1),
        ("'x'", "strings are not allowed", 0),
        ('"x"', "strings are not allowed", 0),
        ("[x]", "brackets are not allowed", 0),
        ("{x}", "brackets are not allowed", 0),
        ("x, 1", "',' is only allowed between function arguments", 1),
        ("x = 1", "'=' is not allowed", 2),
        ("x == 1", "'=' is not allowed", 2),
        ("1" * 51, "more than 50 digits", 0),
        ("1e1001", "exponent of number is too large", 0),
        ("x^1001", "at most 1000", 1),
        ("1/0", "undefined", 1),
        ("log(0)", "undefined", 0),
        ("sqrt(-1)", "complex", 0),
        ("x*(-8)^(1/3)", "complex", 6),
    ],
)
def test_error_names_the_problem_and_its_position(text, fragment, position):
    error = rejected(text)
    assert fragment in str(error)
    assert error.position == position
    assert f"at position {position + 1}" in str(error)


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_formula_is_rejected(text):
    assert "is empty" in str(rejected(text))


def test_error_message_quotes_the_text_on_one_line():
    error = rejected("x +\n\t$")
    assert error.position == 5
    assert "\n" not in str(error) and "\t" not in str(error)
    assert str(error).endswith("x +  ⟨here⟩$")


def test_message_names_the_formula_via_what():
    with pytest.raises(FormulaError, match="unknown name 'z' in activation 'swish'; allowed variables: x"):
        parse_formula("z", X, what="activation 'swish'")
    with pytest.raises(FormulaError, match="allowed variables: a, y"):
        parse_formula("x", LOSS, what="loss 'l'")


def test_non_string_input_is_a_formula_error():
    with pytest.raises(FormulaError, match="must be a string"):
        parse_formula(None, X)  # type: ignore[arg-type]


# --- limits on time and memory -----------------------------------------------------------------

def test_length_limit():
    parse("x" + "+x" * 999)  # 1999 characters
    assert "too long" in str(rejected("x" + "+x" * 1000))


def test_nesting_limit_is_64_levels():
    assert parse("(" * 64 + "x" + ")" * 64) == x
    assert "nested too deeply" in str(rejected("(" * 65 + "x" + ")" * 65))
    assert "nested too deeply" in str(rejected("-" * 65 + "x"))
    assert "nested too deeply" in str(rejected("exp(" * 65 + "x" + ")" * 65))
    assert "nested too deeply" in str(rejected("^".join(["x"] * 66)))


@pytest.mark.parametrize(
    "text",
    [
        "9**9**9**9**9",
        "9^9^9",
        "(2^1000)^1000",
        "((9^1000)^1000)^1000",
        "999^999",
        "2^1000*2^1000*2^1000*2^1000",
        "exp(exp(exp(20)))",
        "abs(sin(exp(exp(20))))",
        "exp(10^50*log(2))",
        "exp(x + 1000*log(999))",
        "e^(1000*log(999))",
        "abs(softplus(-(1+1000^999)))",
        "exp(-10000)",
        "1e999999999999",
    ],
)
def test_huge_numbers_are_refused_before_sympy_computes_them(text):
    rejected(text)


def test_moderate_powers_are_still_exact():
    assert parse("2^1000") == sympy.Integer(2) ** 1000
    assert parse("x^1000") == x**1000
    assert parse("exp(1000)") == sympy.exp(1000)


# --- hostile input -----------------------------------------------------------------------------

HOSTILE = [
    "__import__('os').system('touch SENTINEL')",
    "__import__",
    "lambda: 0",
    "lambda",
    "x.__class__",
    "().__class__.__bases__",
    "().__class__.__bases__[0].__subclasses__()",
    "open('f')",
    "open",
    "exec",
    "eval",
    "getattr(x, 'y')",
    "x if x else 0",
    "[c for c in ()]",
    "x; import os",
    "x\n__import__('os').system('touch SENTINEL')",
    "sympy.sympify('x')",
    "Symbol('x')",
    "__builtins__",
    "\x00",
    "9**9**9**9**9",
    "A" * 10000,
    "(" * 1000 + "x" + ")" * 1000,
    "(" * 500 + "x" + ")" * 500,
    "-" * 1999 + "x",
    "exp(" * 400,
    "9" * 2000,
]


@pytest.mark.parametrize("text", HOSTILE, ids=lambda text: repr(text[:30]))
def test_hostile_input_is_rejected_fast_and_runs_nothing(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rejected(text)
    assert not (tmp_path / "SENTINEL").exists()
    assert list(tmp_path.iterdir()) == []


def test_module_source_never_evaluates_text():
    source = Path(formula.__file__).read_text(encoding="utf-8")
    for forbidden in ("eval(", "exec(", "sympify(", "parse_expr(", "parse_latex"):
        assert forbidden not in source
    calls = [node.func for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)]
    builtins = {func.id for func in calls if isinstance(func, ast.Name)}
    methods = {func.attr for func in calls if isinstance(func, ast.Attribute)}
    assert not builtins & {"eval", "exec", "compile", "__import__", "getattr"}
    assert not methods & {"sympify", "parse_expr", "parse_latex", "S", "eval", "exec"}


# --- fuzzing ----------------------------------------------------------------------------------

TOKENS = ["x", "e", "pi", "exp", "log", "sqrt", "abs", "tanh", "sin", "max", "min", "sigmoid",
          "softplus", "erf", "atan", "(", ")", "(", ")", ",", "+", "-", "*", "/", "^", "**",
          "0", "1", "2", ".5", "1e3", "9", "1000", "."]


def _parses_or_raises_formula_error(text: str) -> None:
    try:
        result = parse(text)
    except FormulaError:
        return
    assert isinstance(result, sympy.Expr)
    assert free_variable_names(result) <= {"x"}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_random_text_parses_or_raises_formula_error(text):
    _parses_or_raises_formula_error(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map(" ".join))
def test_random_token_soup_parses_or_raises_formula_error(text):
    _parses_or_raises_formula_error(text)


# --- free_variable_names ------------------------------------------------------------------------

def test_free_variable_names_lists_the_symbols_used():
    assert free_variable_names(parse("a*log(y) + 1", LOSS)) == {"a", "y"}
    assert free_variable_names(parse("(a - 1)^2 + 0*y", LOSS)) == {"a"}
    assert free_variable_names(parse("pi + e")) == set()
