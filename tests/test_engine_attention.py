"""The attention op: its derived backward pass against brute force, autograd, central
differences and PyTorch; dtype preservation."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbp.backprop.graph import backward
from symbp.codegen import exact, numeric
from symbp.core.build import build
from symbp.verify.proof import is_zero
from tests.test_engine_numeric import check_against_autograd, derived, engine_gradients, relative_error
from tests.test_engine_proof import _point


def layers(causal: bool, head: str = "flatten") -> list[dict]:
    tail = [dict(type="flatten")] + ([dict(size=3, activation="softmax")] if head == "dense" else [])
    return [dict(type="attention", causal=causal), *tail]


def _check(shape, causal, loss="half_sse", head="flatten", seed=0):
    return check_against_autograd(shape, layers(causal, head), loss, seed=seed)


# ---------------------------------------------------------------------------- proof


def _instance(graph, seed: int):
    """Symbols for every input and parameter entry, and a rational point for them."""
    env = {k: exact.symbols(k, s) for k, s in {**graph.inputs, **graph.params}.items()}
    point = _point([s for a in env.values() for s in a.flat], seed)
    return env, {s: v / 4 for s, v in point.items()}  # scores of a moderate size


def _at(env, point, keep=()):
    """The arrays of env at the point, except the tensors in ``keep`` (left symbolic)."""
    return {k: a if k in keep else np.vectorize(lambda s: s.xreplace(point), otypes=[object])(a)
            for k, a in env.items()}


def prove_attention(shape, causal: bool, seed: int = 0) -> list[str]:
    """Entries whose derived gradient differs from sympy.diff of the expanded loss.

    For each tensor x the loss is expanded entry by entry as a function of x's entries (every
    other input at a rational point) and differentiated by sympy; the derived backward pass
    runs exactly at the same point. Both have exp(rational·√2) atoms; is_zero decides.
    """
    graph = build(shape, layers(causal), "half_sse")
    wrt = [*graph.params, "X"]
    b = backward(graph, wrt)
    env, point = _instance(graph, seed)
    mine = exact.run(graph.computes + b.computes, _at(env, point), point)
    wrong = []
    for x in wrt:
        J = exact.run(graph.computes, _at(env, point, [x]), point)[graph.output].item()
        for pos in np.ndindex(*env[x].shape):
            if not is_zero(sp.diff(J, env[x][pos]).xreplace(point) - mine[b.grads[x]][pos]):
                wrong.append(f"{x}{list(pos)}")
    return wrong


@pytest.mark.parametrize("shape, causal", [((1, 2, 2), False), ((1, 3, 1), True)])
def test_attention_backward_equals_brute_force_diff(shape, causal):
    """D = 2 makes the 1/√D scale irrational; T = 3 gives the causal mask two masked keys."""
    assert prove_attention(shape, causal) == []


def test_the_proof_tells_a_causal_gradient_from_an_unmasked_one():
    """The comparison can fail: the unmasked derivation is not the causal loss's gradient."""
    causal = build((1, 3, 2), layers(True), "half_sse")
    plain = build((1, 3, 2), layers(False), "half_sse")
    b = backward(plain, ["Wq1"])
    env, point = _instance(causal, 0)
    J = exact.run(causal.computes, _at(env, point, ["Wq1"]), point)[causal.output].item()
    unmasked = exact.run(plain.computes + b.computes, _at(env, point), point)[b.grads["Wq1"]]
    assert not is_zero(sp.diff(J, env["Wq1"][0, 1]).xreplace(point) - unmasked[0, 1])


# ---------------------------------------------------------------------------- numeric


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("head", ["flatten", "dense"])
def test_attention_gradient_equals_autograd(causal, head):
    _check((3, 4, 5), causal, "softmax_ce" if head == "dense" else "half_sse", head)


def check_central_differences(graph, values, grads, seed=7):
    """Each gradient along a random direction against central differences of the loss."""
    rng = np.random.default_rng(seed)
    h = 1e-6
    for name, grad in grads.items():
        u = rng.standard_normal(grad.shape)
        plus = numeric.run(graph.computes, {**values, name: values[name] + h * u})[graph.output]
        minus = numeric.run(graph.computes, {**values, name: values[name] - h * u})[graph.output]
        slope = (plus - minus) / (2 * h)
        assert abs(slope - np.sum(grad * u)) <= 1e-6 * max(1.0, abs(slope)), name


@pytest.mark.parametrize("causal", [False, True])
def test_attention_gradient_matches_central_differences(causal):
    check_central_differences(*_check((2, 4, 3), causal, seed=3))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 3), st.integers(1, 5), st.integers(1, 4), st.booleans(), st.integers(0, 2**16))
def test_random_attention_configurations_agree_with_autograd_and_differences(batch, steps, features,
                                                                            causal, seed):
    check_central_differences(*_check((batch, steps, features), causal, seed=seed), seed)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_float32_in_gives_float32_out(causal):
    from tests import engine_oracle as oracle

    graph, b = derived((2, 4, 3), layers(causal), "half_sse")
    values = oracle.random_values(graph, 1)
    J64, g64 = engine_gradients(graph, values, b=b)
    J32, g32 = engine_gradients(graph, {k: v.astype(np.float32) for k, v in values.items()}, b=b)
    assert np.asarray(J32).dtype == np.float32
    for name in g64:
        assert g32[name].dtype == np.float32, name
        assert relative_error(g32[name].astype(np.float64), g64[name]) <= 1e-3, name


def test_causal_softmax_ignores_masked_scores_of_any_size():
    """Query 0 admits only key 0, whose score is −1600, while the masked key 1 scores +1600:
    the shift is the max over the admitted keys, so p is [1, 0] and the gradient finite (a max
    over all keys, or masking by multiplication, would give 0/0 or 0·inf here)."""
    graph, b = derived((1, 2, 1), layers(True), "half_sse")
    values = {"X": np.array([[[1.0], [-1.0]]]), "Wq1": np.array([[-40.0]]), "Wk1": np.array([[40.0]]),
              "Wv1": np.array([[1.0]]), "Wo1": np.array([[1.0]]), "Y": np.zeros((1, 2))}
    with np.errstate(over="ignore"):  # exp of the masked score overflows and is not used
        _, grads = engine_gradients(graph, values, b=b)
        env = numeric.run(graph.computes, values)
    assert np.array_equal(env["attention1_p"][0], np.array([[1.0, 0.0], [1.0, 0.0]]))
    assert all(np.isfinite(g).all() for g in grads.values())


# ---------------------------------------------------------------------------- PyTorch


def test_attention_equals_pytorch_output_and_gradients():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for causal in (False, True):
        graph, b = derived((3, 5, 4), layers(causal), "sse")
        rng = np.random.default_rng(11)
        values = {k: rng.standard_normal(s) / 2 for k, s in {**graph.inputs, **graph.params}.items()}
        env = numeric.run(graph.computes + b.computes, values)
        t = {k: torch.tensor(v, requires_grad=k != "Y") for k, v in values.items()}
        q, k, v = (F.linear(t["X"], t[w]) for w in ("Wq1", "Wk1", "Wv1"))
        y = F.linear(F.scaled_dot_product_attention(q, k, v, is_causal=causal), t["Wo1"])
        loss = ((t["Y"] - y.reshape(3, -1)) ** 2).sum() / 3
        loss.backward()
        assert relative_error(env["attention1_y"], y.detach().numpy()) <= 1e-12
        for name, grad in b.grads.items():
            assert relative_error(env[grad], t[name].grad.numpy()) <= 1e-10, (causal, name)
