"""Generated kernels agree with autograd and central differences, keep dtypes, stay stable."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbp
from symbp.codegen.load import load_module
from symbp.core.spec import bundled_names
from symbp.verify.kernel import _directional_fd, check_kernel, random_params, sample_data

from .conftest import ELEMENTWISE, SWISH, allowed_pairs, kernel_for


@pytest.mark.parametrize("name", bundled_names())
def test_bundled_kernel_matches_autograd_and_finite_differences(name):
    net, module = kernel_for(name)
    report = check_kernel(net, module, batch=3)
    assert report.worst_autograd <= 1e-10, report
    assert report.grad_vs_fd <= 1e-6, report
    assert report.sgd_step <= 1e-14 and report.frozen_ok


@pytest.mark.parametrize("name", bundled_names())
def test_bundled_kernel_preserves_float32(name):
    net, module = kernel_for(name)
    X, Y = sample_data(net, 3, dtype=np.float32)
    params = module.init_params(0, np.float32)
    J, grads = module.loss_and_grad(params, X, Y)
    assert module.forward(params, X).dtype == np.float32
    assert np.asarray(J).dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())
    assert all(np.asarray(p).dtype == np.float32 for p in module.sgd_step(params, X, Y, 0.1).values())


def test_param_shapes_follow_the_spec_and_shared_bias_is_a_0d_array():
    net, module = kernel_for("mazur")
    params = module.init_params(0, np.float64)
    assert module.PARAM_SHAPES == {"W1": (2, 2), "b1": (), "W2": (2, 2), "b2": ()}
    assert all(params[k].shape == s for k, s in module.PARAM_SHAPES.items())
    assert isinstance(params["b1"], np.ndarray) and params["b1"].shape == ()


def test_frozen_bias_gets_no_gradient_and_is_unchanged_by_sgd_step():
    net, module = kernel_for("mazur")
    X, Y = sample_data(net, 2)
    params = random_params(module, net)
    _, grads = module.loss_and_grad(params, X, Y)
    assert set(grads) == {"W1", "W2"}
    new = module.sgd_step(params, X, Y, 0.5)
    assert new["b1"] == params["b1"] and new["b2"] == params["b2"]


def test_trained_shared_bias_gets_a_0d_gradient_and_update():
    net = symbp.Network.from_dict({"inputs": 2, "loss": "half_sse", "layers": [
        {"size": 3, "activation": "tanh", "bias": "shared"},
        {"size": 2, "activation": "sigmoid", "bias": "shared"}]})
    module = load_module(symbp.emit_numpy(net))
    report = check_kernel(net, module)
    assert report.passed(), report
    X, Y = sample_data(net, 2)
    params = random_params(module, net)
    _, grads = module.loss_and_grad(params, X, Y)
    assert np.shape(grads["b1"]) == () and isinstance(grads["b1"], np.ndarray)
    assert isinstance(module.sgd_step(params, X, Y, 0.1)["b1"], np.ndarray)


def test_in_out_weight_layout_gives_the_same_gradients_transposed():
    base = {"inputs": 3, "loss": "bce", "layers": [
        {"size": 4, "activation": "tanh"}, {"size": 2, "activation": "sigmoid"}]}
    net_oi = symbp.Network.from_dict(base)
    net_io = symbp.Network.from_dict({**base, "weight_layout": "in_out"})
    m_oi, m_io = load_module(symbp.emit_numpy(net_oi)), load_module(symbp.emit_numpy(net_io))
    assert m_io.PARAM_SHAPES["W1"] == (3, 4)
    X, Y = sample_data(net_oi, 5)
    p = random_params(m_oi, net_oi)
    p_io = {k: (v.T if k.startswith("W") else v) for k, v in p.items()}
    J1, g1 = m_oi.loss_and_grad(p, X, Y)
    J2, g2 = m_io.loss_and_grad(p_io, X, Y)
    assert J1 == pytest.approx(J2, rel=1e-14)
    np.testing.assert_allclose(g1["W1"], g2["W1"].T, rtol=1e-13)
    assert check_kernel(net_io, m_io).passed()


@pytest.mark.parametrize("z", [1000.0, -1000.0, 1e4, -1e4])
def test_sigmoid_and_losses_stay_finite_without_warnings_at_extreme_logits(z):
    net, module = kernel_for("seed004")
    X = np.zeros((1, 400))
    params = module.init_params(0, np.float64)
    params["b2"] = np.full(10, z)
    Y = np.zeros((1, 10))
    Y[0, 3] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        J, grads = module.loss_and_grad(params, X, Y)
    assert np.isfinite(J) and all(np.all(np.isfinite(g)) for g in grads.values())


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    net, module = kernel_for("mnist_mlp")
    params = module.init_params(0, np.float64)
    params["b3"] = np.linspace(-2000, 2000, 10)
    X = np.zeros((2, 784))
    Y = np.eye(10)[[0, 9]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        J, grads = module.loss_and_grad(params, X, Y)
    assert np.isfinite(J) and J == pytest.approx(4000.0 / 2, rel=1e-12)


LOSS_FOR = {pair[1] for pair in allowed_pairs()}


@st.composite
def architectures(draw):
    """Depth 1–5, widths 1–7, every allowed output pairing, bias modes, reductions, L2."""
    depth = draw(st.integers(1, 5))
    out_act, loss = draw(st.sampled_from(allowed_pairs()))
    sizes = [draw(st.integers(1, 7)) for _ in range(depth + 1)]
    if out_act == "softmax" and sizes[-1] == 1:
        sizes[-1] = draw(st.integers(2, 7))
    layers = []
    for l in range(depth):
        act = out_act if l == depth - 1 else draw(st.sampled_from(ELEMENTWISE))
        layer = {"size": sizes[l + 1], "activation": act,
                 "bias": draw(st.sampled_from(["neuron", "shared", "none"])),
                 "train_bias": draw(st.booleans())}
        if act == "leaky_relu" and draw(st.booleans()):
            layer["alpha"] = draw(st.sampled_from([0.01, 0.2, 0.5]))
        layers.append(layer)
    data = {"inputs": sizes[0], "layers": layers, "loss": loss,
            "reduction": draw(st.sampled_from(["mean", "sum"])),
            "weight_layout": draw(st.sampled_from(["out_in", "in_out"])),
            "activations": SWISH}
    if draw(st.booleans()):
        data["regularization"] = {"convention": draw(st.sampled_from(["lambda_over_2m", "half", "plain"])),
                                  "strength": draw(st.sampled_from([0.1, 1.0, 3.0]))}
    return symbp.Network.from_dict(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=architectures(), batch=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_random_architectures_match_autograd_and_finite_differences(net, batch, seed):
    module = load_module(symbp.emit_numpy(net))
    report = check_kernel(net, module, batch=batch, seed=seed)
    assert report.worst_autograd <= 1e-10, (net, report)
    assert report.grad_vs_fd <= 1e-6, (net, report)
    assert report.sgd_step <= 1e-14 and report.frozen_ok, (net, report)


@pytest.mark.parametrize("formula", ["log(cosh(a - y))", "abs(a - y)^3", "(a - y)^4/4 + exp(-a)"])
def test_formula_loss_gets_a_correct_kernel(formula):
    net = symbp.Network.from_dict({
        "inputs": 3, "loss": "mine", "losses": {"mine": {"formula": formula}},
        "layers": [{"size": 4, "activation": "tanh"}, {"size": 2, "activation": "identity"}]})
    report = check_kernel(net, load_module(symbp.emit_numpy(net)), batch=3)
    assert report.passed(), report


def test_formula_activation_gets_a_correct_kernel_and_derivative():
    net = symbp.Network.from_dict({
        "inputs": 2, "loss": "half_sse", "activations": {"gelu_ish": {"formula": "x*sigmoid(1.702*x)"}},
        "layers": [{"size": 3, "activation": "gelu_ish"}, {"size": 2, "activation": "gelu_ish"}]})
    report = check_kernel(net, load_module(symbp.emit_numpy(net)), batch=3)
    assert report.passed(), report


@pytest.mark.parametrize("formula", ["max(a-y,0)^2+4*min(a-y,0)^2", "y^2+(a-y)^2", "1-exp(-(a-y)^2)"])
def test_check_kernel_handles_max_min_and_constant_formula_losses(formula):
    """The autograd reference reads max/min elementwise (NumPy's max reduces over an axis)."""
    net = symbp.Network.from_dict({
        "inputs": 2, "loss": "mine", "losses": {"mine": {"formula": formula}},
        "layers": [{"size": 3, "activation": "tanh"}, {"size": 2, "activation": "identity"}]})
    report = check_kernel(net, load_module(symbp.emit_numpy(net)), batch=3)
    assert report.passed(), report


@pytest.mark.parametrize("function", ["forward", "loss"])
def test_check_kernel_fails_a_module_whose_forward_or_loss_is_wrong(function):
    """run's verdict covers forward and loss too, not only loss_and_grad."""
    net = symbp.Network.from_dict({"inputs": 2, "loss": "half_sse", "layers": [
        {"size": 2, "activation": "sigmoid"}, {"size": 1, "activation": "sigmoid"}]})
    module = load_module(symbp.emit_numpy(net))
    assert check_kernel(net, module).passed()
    right = getattr(module, function)
    setattr(module, function, lambda *args: right(*args) * (1 + 1e-6))
    assert not check_kernel(net, module).passed()


class _Kinked:
    """A module whose loss Σ|w − c| has a kink 3e-6 from w = 0 along every direction."""

    c = np.full((2, 2), 3e-6)

    @classmethod
    def loss(cls, params, X, Y):
        return float(np.sum(np.abs(params["W"] - cls.c)))


def test_finite_differences_do_not_fail_a_right_gradient_next_to_a_kink():
    """relu at 0 within the step of p: the larger steps straddle the kink, the smallest does not."""
    params = {"W": np.zeros((2, 2))}
    right = {"W": -np.ones((2, 2))}  # ∂Σ|w − c|/∂w at w = 0 < c
    assert _directional_fd(_Kinked, params, right, None, None, seed=0, floor=0.0) <= 1e-6
    wrong = {"W": np.ones((2, 2))}
    assert _directional_fd(_Kinked, params, wrong, None, None, seed=0, floor=0.0) > 0.5


def test_a_workspace_call_makes_no_array_of_a_hidden_layers_size():
    """With ``work``, only the output layer's small temporaries are made per call (README)."""
    import tracemalloc

    module = load_module(symbp.emit_numpy(symbp.load_spec("mnist_mlp")))
    params, rng = module.init_params(seed=0), np.random.default_rng(0)
    X, Y = rng.standard_normal((128, 784)), np.eye(10)[rng.integers(0, 10, 128)]
    work = {}
    for _ in range(2):
        module.loss_and_grad(params, X, Y, work)
    tracemalloc.start()
    try:
        module.loss_and_grad(params, X, Y, work)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 128 * 128 * 8, peak  # the smallest hidden layer's activations, float64
