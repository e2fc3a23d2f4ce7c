"""Structural properties of the fast kernels: memory reuse, no writes to inputs, exact forms.

No timings here (benchmarks/ measures speed); these pin down what makes the kernels fast and
that it is safe: in-place arithmetic never touches X, Y or the parameters, a workspace makes
later steps allocate nothing, memory stays near activations + gradients, and the elementwise
forms are the intended ones.
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp.backprop.matrix import derive
from symbp.backprop.plan import build_plan
from symbp.codegen import kernel
from symbp.codegen.inplace import inplace_code
from symbp.codegen.load import load_module
from symbp.core import activations as act
from symbp.core import losses
from symbp.verify.kernel import check_kernel, random_params, sample_data

from .conftest import SWISH, kernel_for

a, x, y = act.a, act.x, losses.y
ARRAY_NETS = [
    {"inputs": 3, "loss": "half_sse", "layers": [
        {"size": 4, "activation": "identity"}, {"size": 4, "activation": "identity"},
        {"size": 2, "activation": "identity"}]},
    {"inputs": 3, "loss": "bce", "weight_layout": "in_out", "layers": [
        {"size": 5, "activation": "tanh"}, {"size": 5, "activation": "swish"},
        {"size": 5, "activation": "leaky_relu"}, {"size": 2, "activation": "sigmoid"}],
     "activations": SWISH},
    {"inputs": 4, "loss": "half_sse", "layers": [
        {"size": 6, "activation": "softplus", "bias": "shared"},
        {"size": 6, "activation": "sigmoid", "bias": "none"},
        {"size": 6, "activation": "tanh"}, {"size": 3, "activation": "softmax"}]},
]


def _arrays(data):
    net = symbp.Network.from_dict(data)
    return net, load_module(symbp.emit_numpy(net, kernel="arrays"))


@pytest.mark.parametrize("data", ARRAY_NETS)
def test_array_kernels_never_write_their_inputs_and_reuse_a_workspace(data):
    net, module = _arrays(data)
    assert check_kernel(net, module, batch=5).passed()
    X, Y = sample_data(net, 5)
    params = random_params(module, net)
    copies = [X.copy(), Y.copy()] + [v.copy() for v in params.values()]
    J0, g0 = module.loss_and_grad(params, X, Y)
    work: dict = {}
    for batch in (5, 2, 5):  # a second batch size gets its own arrays; the first is reused
        Xb, Yb = X[:batch], Y[:batch]
        J, g = module.loss_and_grad(params, Xb, Yb, work)
        if batch == 5:
            assert J == J0 and all(np.array_equal(g[k], g0[k]) for k in g0)
    assert len(work) == 2
    module.forward(params, X)
    module.loss(params, X, Y)
    after = [X, Y] + list(params.values())
    assert all(np.array_equal(c, v) for c, v in zip(copies, after))


def _peak(f) -> int:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = f()
        peak = tracemalloc.get_traced_memory()[1] - before
        del result
    finally:
        tracemalloc.stop()
    return peak


def test_with_a_workspace_later_steps_allocate_next_to_nothing():
    net, module = kernel_for("mnist_mlp")
    X, Y = sample_data(net, 256)
    params = module.init_params(0)
    work: dict = {}
    module.loss_and_grad(params, X, Y, work)
    plain = _peak(lambda: module.loss_and_grad(params, X, Y))
    again = _peak(lambda: module.loss_and_grad(params, X, Y, work))
    # left: a few (B, 1) and (B, 10) arrays in softmax and NumPy's 64 KiB casting buffer (δ *= mask)
    assert again < 0.05 * plain


def test_peak_memory_of_a_plain_call_is_close_to_activations_plus_gradients():
    net, module = kernel_for("mnist_mlp")
    B = 1024
    X, Y = sample_data(net, B)
    params = module.init_params(0)
    module.loss_and_grad(params, X, Y)
    peak = _peak(lambda: module.loss_and_grad(params, X, Y))
    yardstick = (B * (256 + 128 + 10) + net.n_params()) * 8
    assert peak <= 1.25 * yardstick


def test_relu_deltas_overwrite_their_activations_and_tanh_nets_need_one_spare_buffer():
    mnist = kernel.memory_plan(build_plan(derive(symbp.load_spec("mnist_mlp"))))
    assert mnist.home["delta1"] == "A1" and mnist.home["delta2"] == "A2"
    assert mnist.buffers["H1"] == ("(B, 256)", "bool")
    deep = symbp.Network.from_dict({"inputs": 8, "loss": "softmax_ce", "layers": [
        {"size": 8, "activation": "tanh"}] * 10 + [{"size": 3, "activation": "softmax"}]})
    mem = kernel.memory_plan(build_plan(derive(deep)))
    layer_buffers = [b for b, (shape, _) in mem.buffers.items() if shape.startswith("(B,")]
    # a¹…a¹¹, z¹…z¹⁰ (tanh′ is computed as 4σ(2z)σ(−2z), exact where a rounds to ±1), z¹¹
    # (log-softmax), one spare
    assert len(layer_buffers) == 11 + 10 + 1 + 1


def test_generated_steps_use_the_fast_forms():
    text = (symbp.emit_numpy(symbp.load_spec("mnist_mlp"))
            + symbp.emit_numpy(symbp.load_spec("seed004")))
    body = text[text.index("def loss_and_grad"):]
    assert "np.heaviside" not in body and "logaddexp" not in body
    assert "delta1 *= H1" in text and "out=ws[" in text
    assert "J = -np.vdot(logA3, Y) / B" in text
    assert "softplus(Z2)" in text


@pytest.mark.parametrize("expr, code", [
    (1 - a**2, "np.subtract(1, np.square(A, out=A), out=A)"),
    ((a - y) / sp.Symbol("B"), "np.divide(np.subtract(A, Y, out=A), B, out=A)"),
    (1 - sp.exp(-a), "np.negative(np.expm1(np.negative(A, out=A), out=A), out=A)"),  # exact at A ≈ 0
    (sp.Heaviside(a, 0), "np.greater(A, 0, out=A)"),
    (sp.log(1 + sp.exp(a)), "np.logaddexp(0, A, out=A)"),
    (a * (1 - a), None),  # a twice: no in-place form
])
def test_inplace_printer(expr, code):
    A, Y = sp.Symbol("A", real=True), sp.Symbol("Y", real=True)
    e = expr.xreplace({a: A, y: Y}).xreplace({sp.Symbol("B"): sp.Symbol("B", positive=True)})
    assert inplace_code(e, A, "A") == code


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_and_softplus_helpers_never_warn_and_stay_accurate(dtype):
    module = load_module(symbp.emit_numpy(symbp.Network.from_dict({
        "inputs": 1, "loss": "half_sse", "layers": [{"size": 1, "activation": "softplus"},
                                                    {"size": 1, "activation": "sigmoid"}]},
    ), kernel="arrays"))
    z = np.array([-1e5, -1000, -700, -100, -30, -1, 0, 1, 30, 100, 1000, 1e5], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s, p = module.sigmoid(z), module.softplus(z)
        out = z.copy()
        assert module.sigmoid(out, out=out) is out and np.array_equal(out, s)
    assert s.dtype == dtype and p.dtype == dtype
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(p))
    if dtype == np.float64:  # ~ulp relative accuracy down to z = −700
        for v, got in zip(z[2:-2], s[2:-2]):
            exact = sp.Integer(1) / (1 + sp.exp(-sp.Float(float(v), 50)))
            assert abs(got - float(exact)) <= 4e-16 * float(exact)


class _CountingNumpy:
    """NumPy with np.exp counted: (shape, count) of every array it is called on."""

    def __init__(self) -> None:
        self.calls: dict[tuple, int] = {}

    def exp(self, x, *args, **kwargs):
        self.calls[np.shape(x)] = self.calls.get(np.shape(x), 0) + 1
        return np.exp(x, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(np, name)


def test_a_hidden_sigmoid_layer_takes_one_exp_per_training_step():
    """Seed 004's g′ = a·σ(−z) reads σ(−z) from the forward pass's own exp (sigmoid_pair), not a
    second exp over the (B, 25) layer in the backward pass; gradients stay those of the check."""
    net = symbp.load_spec("seed004")
    module = load_module(symbp.emit_numpy(net, kernel="arrays"), "seed004_exp")
    counting = _CountingNumpy()
    module.np = counting
    params = random_params(module, net)
    X, Y = sample_data(net, 64)
    module.loss_and_grad(params, X, Y)
    assert counting.calls[(64, 25)] == 1, counting.calls
    module.np = np
    assert check_kernel(net, module).passed()


def test_sigmoid_pair_gives_both_sides_to_a_few_ulp_without_warnings():
    """σ(z) and σ(−z) from one exp, from z = −1e5 to 1e5: finite, no warning, within 4 ulp."""
    module = load_module(symbp.emit_numpy(symbp.load_spec("seed004"), kernel="arrays"), "pair")
    z = np.array([-1e5, -1000, -745, -700, -100, -30, -1, 0, 1, 30, 100, 700, 745, 1000, 1e5])
    low, high = np.empty_like(z), z.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert module.sigmoid_pair(high, out=low) is low
    for v, got_low, got_high in zip(z, low, high):
        for side, got in ((1, got_low), (-1, got_high)):
            exact = float(sp.Integer(1) / (1 + sp.exp(-side * sp.Float(float(v), 50))))
            assert abs(got - exact) <= max(4 * np.finfo(float).eps * exact, np.finfo(float).tiny), (v, side)
