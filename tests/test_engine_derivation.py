"""The derived index formulas have the textbook forms (hand-written forms as test oracles only)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symbp.backprop.graph import backward
from symbp.codegen import numeric
from symbp.core.build import build
from symbp.core.errors import DerivationError
from symbp.core.ir import Tensor, var
from tests import engine_oracle as oracle
from tests.test_engine_numeric import oracle_gradients

n, c, k, p, q, u, v, i, j = (var(s) for s in "nckpquvij")
CONV = [dict(type="conv2d", channels=4, kernel=3, stride=2, padding=1), dict(type="flatten")]


def _gradient(graph, name):
    b = backward(graph, [*graph.params, "X"])
    return next(comp for comp in b.computes if comp.name == b.grads[name])


def test_conv_input_gradient_is_the_flipped_kernel_on_the_dilated_delta():
    """∂J/∂x[n,k,u,v] = Σ_{c,p,q} W[c,k,p,q]·δ[n,c,(u+pad−p)/s,(v+pad−q)/s]: p enters with a minus
    (flipped kernel), the division by s is the dilation, δ's range gives the padding bounds."""
    graph = build((2, 3, 9, 9), CONV, "half_sse")
    grad = _gradient(graph, "X")
    (term,) = grad.terms
    delta = Tensor("grad_conv2d1_z", (2, 4, 5, 5))[n, c, (u + 1 - p) / 2, (v + 1 - q) / 2]
    assert grad.index == (n, k, u, v)
    assert set(term.reduce) == {c, p, q} and term.guards == ()
    assert sp.expand(term.body - Tensor("W1", (4, 3, 3, 3))[c, k, p, q] * delta) == 0


def test_conv_weight_gradient_correlates_delta_with_the_input():
    """∂J/∂W[c,k,p,q] = Σ_{n,i,j} δ[n,c,i,j]·x[n,k,s·i+p−pad, s·j+q−pad]."""
    graph = build((2, 3, 9, 9), CONV, "half_sse")
    grad = _gradient(graph, "W1")
    (term,) = grad.terms
    expected = Tensor("grad_conv2d1_z", (2, 4, 5, 5))[n, c, i, j] * Tensor("X", (2, 3, 9, 9))[
        n, k, 2 * i + p - 1, 2 * j + q - 1]
    assert grad.index == (c, k, p, q) and set(term.reduce) == {n, i, j}
    assert sp.expand(term.body - expected) == 0


def test_maxpool_gradient_is_routed_to_the_arg_max():
    graph = build((1, 1, 4, 4), [dict(type="maxpool2d", kernel=2), dict(type="flatten")], "half_sse")
    (term,) = _gradient(graph, "X").terms
    hit = sp.Eq(Tensor("X", (1, 1, 4, 4))[n, c, u, v],
                Tensor("maxpool2d1_pool", (1, 1, 2, 2))[n, c, (u - p) / 2, (v - q) / 2])
    assert set(term.reduce) == {p, q} and term.guards == ()
    assert list(term.body.atoms(sp.Eq)) == [hit]


def test_fan_out_contributions_add():
    """A tensor read by two ops gets the sum of both parts, not their mean."""
    layers = [dict(size=3, id="h"), dict(size=3, id="g"), dict(type="add", **{"from": ["h", "g"]})]
    graph = build((2, 3), layers, "half_sse")
    b = backward(graph, [*graph.params, "X"])
    grad_h = next(comp for comp in b.computes if comp.name == "grad_dense1_z")
    parts = [r for r in grad_h.terms[0].body.args]
    assert len(parts) == 2 and grad_h.terms[0].body == sp.Add(*parts)


def test_max_shares_its_gradient_between_ties_as_autograd():
    """Equal entries in a pooling window split the gradient equally (autograd's subgradient)."""
    layers = [dict(type="maxpool2d", kernel=2), dict(type="flatten"), dict(size=2)]
    graph = build((1, 1, 4, 4), layers, "half_sse")
    values = oracle.random_values(graph, 0)
    values["X"] = np.round(values["X"])  # many ties
    values["X"][0, 0, :2, :2] = 1.0
    b = backward(graph, [*graph.params, "X"])
    env = numeric.run(graph.computes + b.computes, values)
    window = env[b.grads["X"]][0, 0, :2, :2]
    assert np.allclose(window, window[0, 0]) and window[0, 0] != 0
    _, ref = oracle_gradients(layers, "half_sse", values)
    assert np.allclose(env[b.grads["X"]], ref["X"], rtol=1e-12, atol=0)


@pytest.mark.parametrize("layers, message", [
    ([dict(type="conv2d", channels=2, kernel=7)], "does not fit"),
    ([dict(type="maxpool2d", kernel=2, stride=0)], "at least 1"),
    ([dict(type="dropout", rate=1.0)], "rate must lie in"),
    ([dict(type="dense", size=2)], "rank 2"),
    ([dict(type="warp")], "unknown op 'warp'"),
    ([dict(type="activation", name="sine")], "unknown activation 'sine'"),
])
def test_bad_layers_are_refused_with_one_line(layers, message):
    with pytest.raises(DerivationError, match=message) as error:
        build((1, 1, 4, 4), layers)
    assert "\n" not in str(error.value)
