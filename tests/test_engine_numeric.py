"""The engine's derived gradients, evaluated with NumPy, against autograd and central differences."""

from __future__ import annotations

import autograd
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbp.backprop.graph import backward
from symbp.codegen import numeric
from symbp.core.build import build
from tests import engine_oracle as oracle

IMAGE = (2, 2, 6, 5)  # (N, C, H, W): odd sizes catch transposed axes
# One small graph per op: (input shape, layers, loss).
OP_CASES = {
    "dense": ((3, 4), [dict(size=3)], "half_sse"),
    "dense_no_bias": ((3, 4), [dict(size=3, bias=False)], "half_sse"),
    "conv2d": (IMAGE, [dict(type="conv2d", channels=3, kernel=3), dict(type="flatten")], "half_sse"),
    "conv2d_strided_padded": (IMAGE, [dict(type="conv2d", channels=3, kernel=[3, 2], stride=[2, 3],
                                           padding=[1, 2]), dict(type="flatten")], "half_sse"),
    "maxpool2d": (IMAGE, [dict(type="maxpool2d", kernel=2), dict(type="flatten")], "half_sse"),
    "maxpool2d_overlapping": (IMAGE, [dict(type="maxpool2d", kernel=3, stride=1), dict(type="flatten")],
                              "sse"),
    "avgpool2d": (IMAGE, [dict(type="avgpool2d", kernel=[2, 3], stride=[2, 1]), dict(type="flatten")], "sse"),
    "batchnorm_image": (IMAGE, [dict(type="batchnorm"), dict(type="flatten")], "half_sse"),
    "batchnorm_vector": ((4, 3), [dict(type="batchnorm"), dict(size=2)], "half_sse"),
    "layernorm_image": (IMAGE, [dict(type="layernorm"), dict(type="flatten")], "half_sse"),
    "layernorm_vector": ((3, 5), [dict(type="layernorm"), dict(size=2)], "half_sse"),
    "dropout": ((3, 4), [dict(type="dropout", rate=0.25), dict(size=2)], "half_sse"),
    "add": ((3, 4), [dict(size=4, id="a"), dict(size=4, id="b", activation="tanh"),
                     dict(type="add", **{"from": ["a", "b"]})], "half_sse"),
    "concat": ((3, 4), [dict(size=2, id="a"), dict(size=3, id="b", activation="tanh"),
                        dict(type="concat", **{"from": ["a", "b"]})], "half_sse"),
    "flatten": (IMAGE, [dict(type="flatten"), dict(size=2)], "half_sse"),
    "softmax": ((3, 4), [dict(size=3, activation="softmax")], "softmax_ce"),
}
ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "identity", "softplus"]
for _act in ACTIVATIONS:
    OP_CASES[f"activation_{_act}"] = (IMAGE, [dict(type="conv2d", channels=2, kernel=2, activation=_act),
                                              dict(type="flatten")], "half_sse")


_DERIVED: dict[str, tuple] = {}


def derived(shape, layers, loss, ops=None):
    """(graph, backward) of a layer list, derived once per test session."""
    key = repr((shape, layers, loss, sorted(ops or {})))
    if key not in _DERIVED:
        graph = build(shape, layers, loss, ops=ops)
        _DERIVED[key] = graph, backward(graph, [*graph.params, "X"])
    return _DERIVED[key]


def engine_gradients(graph, values, dtype=None, b=None):
    """(J, {name: ∂J/∂name}) from the derived backward pass, evaluated with NumPy."""
    b = b or backward(graph, [*graph.params, "X"])
    env = numeric.run(graph.computes + b.computes, values, dtype)
    return env[graph.output], {x: env[name] for x, name in b.grads.items()}


def oracle_gradients(layers, loss, values, ops=None):
    def J(P, X):
        return oracle.forward(layers, loss, {**values, **P}, X, values["Y"], ops=ops)

    params = {k: v for k, v in values.items() if k not in ("X", "Y") and not k.startswith("mask")}
    dP, dX = autograd.grad(J, (0, 1))(params, values["X"])
    return J(params, values["X"]), {**dP, "X": dX}


def relative_error(mine: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.max(np.abs(mine - theirs)) / max(np.max(np.abs(theirs)), 1e-300))


def check_against_autograd(shape, layers, loss, seed=0, ops=None, oracle_ops=None):
    graph, b = derived(shape, layers, loss, ops)
    values = oracle.random_values(graph, seed)
    J, grads = engine_gradients(graph, values, b=b)
    J_ref, ref = oracle_gradients(layers, loss, values, oracle_ops)
    assert relative_error(np.asarray(J), np.asarray(J_ref)) <= 1e-12
    assert set(grads) == set(ref)
    for name in ref:
        assert grads[name].shape == ref[name].shape, name
        assert relative_error(grads[name], ref[name]) <= 1e-10, name
    return graph, values, grads


@pytest.mark.parametrize("case", sorted(OP_CASES))
def test_every_op_gradient_equals_autograd(case):
    check_against_autograd(*OP_CASES[case])


@pytest.mark.parametrize("case", sorted(OP_CASES))
def test_gradient_matches_central_differences(case):
    graph, values, grads = check_against_autograd(*OP_CASES[case], seed=3)
    rng = np.random.default_rng(7)
    h = 1e-6
    for name, grad in grads.items():
        u = rng.standard_normal(grad.shape)
        plus = numeric.run(graph.computes, {**values, name: values[name] + h * u})[graph.output]
        minus = numeric.run(graph.computes, {**values, name: values[name] - h * u})[graph.output]
        slope = (plus - minus) / (2 * h)
        assert abs(slope - np.sum(grad * u)) <= 1e-6 * max(1.0, abs(slope)), name


@pytest.mark.parametrize("case", sorted(OP_CASES))
def test_float32_in_gives_float32_out(case):
    graph, b = derived(*OP_CASES[case])
    values = oracle.random_values(graph, 1)
    J64, g64 = engine_gradients(graph, values, b=b)
    J32, g32 = engine_gradients(graph, {k: v.astype(np.float32) for k, v in values.items()}, b=b)
    assert np.asarray(J32).dtype == np.float32
    for name in g64:
        assert g32[name].dtype == np.float32, name
        assert relative_error(g32[name].astype(np.float64), g64[name]) <= 1e-3, name


@st.composite
def image_graphs(draw):
    """A random CNN chain or DAG: conv (any kernel, stride, padding) → pool? → norm? → flatten
    → dense → dropout? with an optional residual add or concat, and a random activation/loss
    pairing at the end.

    Before a norm the activation is strictly nonlinear: a norm after an (even piecewise) linear
    map removes the conv bias exactly, and a gradient that is 0 up to round-off has no
    relative error to check.
    """
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    h, w = draw(st.integers(3, 7)), draw(st.integers(3, 7))
    kh, kw = draw(st.integers(1, min(h, 3))), draw(st.integers(1, min(w, 3)))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
    norm = draw(st.sampled_from([None, "batchnorm", "layernorm"]))
    activation = draw(st.sampled_from(ACTIVATIONS if norm is None else ["sigmoid", "tanh", "softplus"]))
    layers = [dict(type="conv2d", channels=draw(st.integers(1, 3)), kernel=[kh, kw], stride=[sh, sw],
                   padding=[ph, pw], activation=activation)]
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    if norm is None and min(ho, wo) >= 2 and draw(st.booleans()):
        layers.append(dict(type=draw(st.sampled_from(["maxpool2d", "avgpool2d"])), kernel=2,
                           stride=draw(st.integers(1, 2))))
    if norm is not None:
        layers.append(dict(type=norm))
    layers += [dict(type="flatten", id="flat"), dict(size=3, activation="tanh", id="h")]
    if draw(st.booleans()):
        layers.append(dict(type="dropout", rate=0.5))
    if draw(st.booleans()):  # a fan-out: h is read by g and by the join
        join = draw(st.sampled_from(["add", "concat"]))
        layers += [dict(size=3, id="g"), dict(type=join, **{"from": ["h", "g"]})]
    out, loss = draw(st.sampled_from([("sigmoid", "bce"), ("softmax", "softmax_ce"), ("softmax", "ce"),
                                      ("identity", "mse"), ("tanh", "half_sse"), ("sigmoid", "ce")]))
    layers.append(dict(size=3, activation=out))
    return (n, c, h, w), layers, loss


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image_graphs(), st.integers(0, 2**16))
def test_random_graphs_agree_with_autograd(case, seed):
    check_against_autograd(*case, seed=seed)


def test_sigmoid_gradient_is_finite_where_exp_overflows():
    """σ' is derived in the output, a(1 − a), so z = −1000 gives 0 rather than inf/inf."""
    graph = build((1, 1), [dict(size=1, activation="sigmoid")], "half_sse")
    values = {"X": np.array([[-1.0]]), "W1": np.array([[1000.0]]), "b1": np.zeros(1), "Y": np.ones((1, 1))}
    with np.errstate(over="ignore"):
        _, grads = engine_gradients(graph, values)
    assert all(np.isfinite(g).all() for g in grads.values())
