"""The spec's formula parser and the claim parser read the same plain text the same way.

Both follow ``symbp.core.precedence``; these tests read a corpus of expressions (and random ones
from hypothesis) with each parser and compare the values at a point to 30 digits.
"""

from __future__ import annotations

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbp
from symbp.check.claim import check_claim
from symbp.check.claims import ClaimError, parse_expression
from symbp.check.system import system_for
from symbp.check.values import NeuronEvaluator
from symbp.core.errors import FormulaError
from symbp.core.formula import parse_formula

NAMES = ["w1", "w2", "w3", "b1", "i1"]
POINT = dict(zip(NAMES, [sp.Rational(3, 10), sp.Rational(-7, 10), sp.Rational(13, 10),
                         sp.Rational(1, 4), sp.Rational(-2, 5)]))
FUNCTIONS = ["exp", "log", "sqrt", "abs", "tanh", "sinh", "cosh", "sigmoid", "softplus"]

CORPUS = [
    "exp(w1)^2", "tanh(w1)^2", "sigmoid(w2)^2", "softplus(w1)^3", "log(w3)^2", "sqrt(w3)^-1",
    "abs(w2)^2", "max(w1, w2)^2", "min(w1, w2)^-2", "exp(w1)^2*w2", "2*tanh(w1)^2 - 1",
    "-w1^2", "-2^2", "w1^-1", "w1^-w2", "-exp(w1)^2", "1 - sigmoid(w1)^2",
    "w1/w2*w3", "w1/w2/w3", "w1 - w2 - w3", "w1 - w2 + w3", "w1 + w2*w3^2", "(w1 + w2)^2",
    "w1*-w2", "w1^2*w2^3/w3", "-(w1 - w2)^2/2", "exp(-w1^2)", "exp(w1^2)^2",
    "sigmoid(w1)*(1 - sigmoid(w1))", "tanh(sigmoid(w1)^2)^2", "cosh(w1)^2 - sinh(w1)^2",
    "1/2*(i1 - sigmoid(w1*i1 + b1))^2", "w1**2", "exp(w1)**2",
]


@pytest.fixture(scope="module")
def readers():
    system = system_for(symbp.load_spec("mazur"))
    symbols = {name: system.symbols[name] for name in NAMES}

    def formula(text):
        return parse_formula(text, symbols)

    def claim(text):
        return NeuronEvaluator(system, text).value(parse_expression(text))

    return formula, claim, {symbols[k]: v for k, v in POINT.items()}


def _value(expr, point):
    v = sp.N(sp.sympify(expr).xreplace(point), 30)
    return v if v.is_real and v.is_finite else None


def _agree(readers, text):
    formula, claim, point = readers
    a, b = _value(formula(text), point), _value(claim(text), point)
    assert a is not None and b is not None, text
    assert abs(a - b) <= sp.Float(10) ** -25 * max(abs(a), 1), (text, a, b)


@pytest.mark.parametrize("text", CORPUS)
def test_formula_and_claim_parsers_give_the_same_value(readers, text):
    _agree(readers, text)


def _expressions():
    leaf = st.sampled_from(NAMES + ["2", "3", "0.5"])

    def grow(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(" ".join),
            inner.map(lambda e: f"-{e}"),
            st.tuples(inner, st.sampled_from(["2", "3", "-1", "-2"])).map("^".join),
            st.tuples(st.sampled_from(FUNCTIONS), inner).map(lambda p: f"{p[0]}({p[1]})"),
            st.tuples(st.sampled_from(FUNCTIONS), inner, st.sampled_from(["2", "-1"]))
            .map(lambda p: f"{p[0]}({p[1]})^{p[2]}"),
            inner.map(lambda e: f"({e})"),
        )

    return st.recursive(leaf, grow, max_leaves=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_expressions())
def test_random_expressions_read_alike_by_both_parsers(readers, text):
    formula, claim, point = readers
    try:
        a = formula(text)
    except FormulaError:
        return  # refused by the formula parser (e.g. a constant out of range)
    try:
        b = claim(text)
    except ClaimError as exc:
        assert "double superscript" in exc.reason, (text, exc.reason)  # x^2^3: LaTeX refuses it
        return
    va, vb = _value(a, point), _value(b, point)
    assert (va is None) == (vb is None), (text, va, vb)
    if va is not None:
        assert abs(va - vb) <= sp.Float(10) ** -20 * max(abs(va), 1), (text, va, vb)


@pytest.mark.parametrize("text", ["a_o1^2 = sigmoid(z_o1)^2", r"\tanh(w_1)^2 = \tanh(w_1)\tanh(w_1)",
                                  "exp(w1)^2 = exp(2*w1)", r"a_{o_1}^2 = \sigma(z_{o_1})^2"])
def test_a_power_after_a_function_call_raises_the_call_and_the_claim_holds(text):
    assert check_claim("mazur", text).verdict == "holds"
