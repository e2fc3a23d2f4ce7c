"""User-defined ops from index formulas: parsed by our grammar, derived, evaluated, proven."""

from __future__ import annotations

import autograd.numpy as anp
import pytest

from symbp.core.build import build
from symbp.core.errors import FormulaError
from symbp.core.formula_op import formula_op, parse_index_formula
from tests.test_engine_numeric import check_against_autograd
from tests.test_engine_proof import prove

DEPTHWISE = formula_op("z[n,c,i,j] = sum(p,q) W[c,p,q] * x[n,c,i+p,j+q] + b[c]",
                       params={"W": ["c", 2, 3], "b": ["c"]})
BILINEAR = formula_op("z[n,c] = sum(j,k) x[n,j] * U[c,j,k] * x[n,k]", params={"U": [2, "j", "j"]})
STRIDED_MEAN = formula_op("z[n,c,i] = mean(p:2) x[n,c,2*i+p,0] - tanh(v[c])", params={"v": ["c"]})


def depthwise_oracle(x, P, l):
    ho, wo = x.shape[2] - 1, x.shape[3] - 2
    return sum(P[f"W{l}"][None, :, p, q, None, None] * x[:, :, p:p + ho, q:q + wo]
               for p in range(2) for q in range(3)) + P[f"b{l}"][None, :, None, None]


def bilinear_oracle(x, P, l):
    return anp.einsum("nj,cjk,nk->nc", x, P[f"U{l}"], x)


def strided_mean_oracle(x, P, l):
    ho = (x.shape[2] - 2) // 2 + 1
    windows = [x[:, :, p:p + 2 * (ho - 1) + 1:2, 0] for p in range(2)]
    return (windows[0] + windows[1]) / 2 - anp.tanh(P[f"v{l}"])[None, :, None]


def test_depthwise_convolution_output_shape_is_inferred_as_valid():
    graph = build((2, 3, 5, 6), [dict(type="depthwise")], ops={"depthwise": DEPTHWISE})
    assert graph.computes[0].shape == (2, 3, 4, 4)
    assert graph.params == {"W1": (3, 2, 3), "b1": (3,)}


@pytest.mark.parametrize("name, op, oracle_op, shape", [
    ("depthwise", DEPTHWISE, depthwise_oracle, (2, 3, 5, 6)),
    ("bilinear", BILINEAR, bilinear_oracle, (3, 4)),
    ("strided_mean", STRIDED_MEAN, strided_mean_oracle, (2, 2, 7, 3)),
])
def test_formula_op_gradient_equals_autograd(name, op, oracle_op, shape):
    layers = [dict(type=name), *([dict(type="flatten")] if len(shape) == 4 else []), dict(size=2)]
    check_against_autograd(shape, layers, "half_sse", ops={name: op}, oracle_ops={name: oracle_op})


@pytest.mark.parametrize("name, op, shape", [("depthwise", DEPTHWISE, (1, 2, 3, 4)),
                                             ("bilinear", BILINEAR, (1, 3))])
def test_formula_op_backward_equals_brute_force_diff(name, op, shape):
    layers = [dict(type=name), *([dict(type="flatten")] if len(shape) == 4 else [])]
    assert prove(build(shape, layers, "half_sse", ops={name: op}), symbolic=False) == []


@pytest.mark.parametrize("text, message", [
    ("z[n] = y[n]", "unknown tensor 'y'"),
    ("z[n] = x[n] + __import__('os')", "cannot read index formula"),
    ("z[n] = exp(sum(k) x[k])", "only open a term"),
    ("z[n] = -max(k) x[k]", "cannot be negated"),
    ("z[n] = open(x[n])", "unknown function 'open'"),
    ("z[n] = x[n, n]", "x has 1 indices, not 2"),
    ("z[n] = n", "used as a value"),
    ("z[n] = x[n + 123456789]", "at most 10000"),
    ("z[n] = x[n]^99999", "an exponent must be a number"),
    ("z[n] = 2^x[n]", "an exponent must be a number"),
    ("z[n] = x[n] * 1e99999", "too long or too large"),
])
def test_bad_index_formulas_are_refused_with_one_line(text, message):
    with pytest.raises(FormulaError) as error:
        parse_index_formula(text, {"x": 1})
    assert message in str(error.value) and "\n" not in str(error.value)


def test_non_affine_index_is_refused_by_the_grammar():
    with pytest.raises(FormulaError, match="at column 23"):
        parse_index_formula("z[n,c] = sum(k) x[n, c*k]", {"x": 2})


def test_range_that_cannot_be_inferred_is_refused():
    op = formula_op("z[n,c] = sum(k) W[c,k]", params={"W": [3, "k"]})
    with pytest.raises(FormulaError, match="cannot infer the range of index k"):
        build((2, 4), [dict(type="w")], ops={"w": op})
