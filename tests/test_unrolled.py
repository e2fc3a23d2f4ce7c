"""The unrolled kernel (Python floats, neuron by neuron) for tiny networks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symbp
from symbp.codegen import unrolled
from symbp.codegen.load import load_module
from symbp.verify.kernel import check_kernel, random_params, sample_data

from .conftest import SWISH, kernel_for


def _both(net):
    return (load_module(symbp.emit_numpy(net, kernel="unrolled")),
            load_module(symbp.emit_numpy(net, kernel="arrays")))


SMALL = [  # (spec, what it exercises)
    ({"inputs": 2, "loss": "half_sse", "layers": [
        {"size": 3, "activation": "tanh", "bias": "shared"},
        {"size": 2, "activation": "sigmoid", "bias": "none"}]}, "shared and no bias"),
    ({"inputs": 3, "loss": "softmax_ce", "layers": [
        {"size": 4, "activation": "relu"}, {"size": 3, "activation": "softmax"}]}, "relu, softmax"),
    ({"inputs": 3, "loss": "half_sse", "layers": [
        {"size": 4, "activation": "leaky_relu", "alpha": 0.2},
        {"size": 3, "activation": "softmax"}]}, "softmax with squared error (row sums)"),
    ({"inputs": 2, "loss": "bce", "weight_layout": "in_out",
      "regularization": {"convention": "lambda_over_2m", "strength": 1.0}, "layers": [
        {"size": 3, "activation": "softplus"}, {"size": 2, "activation": "sigmoid"}]}, "bce, in_out, L2"),
    ({"inputs": 2, "loss": "ce", "reduction": "sum", "layers": [
        {"size": 2, "activation": "identity", "train_bias": False},
        {"size": 3, "activation": "sigmoid"}]}, "ce on sigmoid, sum, frozen bias"),
    ({"inputs": 1, "loss": "mse", "layers": [{"size": 1, "activation": "tanh"}]}, "one neuron"),
]


@pytest.mark.parametrize("data", [s for s, _ in SMALL], ids=[why for _, why in SMALL])
def test_unrolled_equals_the_array_kernel_and_autograd(data):
    net = symbp.Network.from_dict(data)
    mu, ma = _both(net)
    assert check_kernel(net, mu, batch=3).passed()
    for batch in (1, 4, mu.MAX_ROWS):
        X, Y = sample_data(net, batch, seed=batch)
        params = random_params(mu, net, seed=batch)
        J1, g1 = mu.loss_and_grad(params, X, Y)
        J2, g2 = ma.loss_and_grad(params, X, Y)
        assert J1 == pytest.approx(J2, rel=1e-12)
        assert set(g1) == set(g2)
        for k in g1:
            assert g1[k].shape == g2[k].shape and g1[k].dtype == g2[k].dtype
            np.testing.assert_allclose(g1[k], g2[k], rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(mu.forward(params, X), ma.forward(params, X), rtol=1e-12)
        assert mu.loss(params, X, Y) == pytest.approx(J2, rel=1e-12)


def test_mazur_is_unrolled_in_seed_000s_names():
    net, module = kernel_for("mazur")
    source = symbp.emit_numpy(net)
    assert "unrolled_module.py.j2" in source.splitlines()[0]
    assert "z_h1 = w1*i1 + w2*i2 + b1" in source
    assert "d_w5 += d_z_o1*a_h1" in source
    assert hasattr(module, "loss_and_grad_arrays")


def test_large_batches_go_to_the_array_kernel():
    net, module = kernel_for("mazur")
    X, Y = sample_data(net, module.MAX_ROWS + 1)
    params = random_params(module, net)
    J, g = module.loss_and_grad(params, X, Y)
    J2, g2 = module.loss_and_grad_arrays(params, X, Y)
    assert J == J2 and all(np.array_equal(g[k], g2[k]) for k in g)


def test_float32_in_float32_out():
    net, module = kernel_for("mazur")
    X, Y = sample_data(net, 2, dtype=np.float32)
    params = module.init_params(0, np.float32)
    J, grads = module.loss_and_grad(params, X, Y)
    assert type(J) is np.float32 and all(g.dtype == np.float32 for g in grads.values())
    assert module.forward(params, X).dtype == np.float32
    assert np.asarray(module.loss(params, X, Y)).dtype == np.float32


@pytest.mark.parametrize("z", [1000.0, -1000.0, 1e5, -1e5])
def test_extreme_logits_give_finite_results_without_warnings(z):
    specs = [
        {"inputs": 2, "loss": "bce", "layers": [{"size": 2, "activation": "softplus"},
                                               {"size": 2, "activation": "sigmoid"}]},
        {"inputs": 2, "loss": "softmax_ce", "layers": [{"size": 2, "activation": "sigmoid"},
                                                      {"size": 3, "activation": "softmax"}]},
    ]
    for data in specs:
        net = symbp.Network.from_dict(data)
        module = load_module(symbp.emit_numpy(net, kernel="unrolled"))
        params = random_params(module, net)
        params["W1"] = np.full_like(params["W1"], z)
        X = np.ones((2, 2))
        Y = np.eye(net.sizes[-1])[[0, 1]]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            J, grads = module.loss_and_grad(params, X, Y)
        assert np.isfinite(J) and all(np.all(np.isfinite(g)) for g in grads.values())


def test_size_rule():
    tiny = symbp.Network.from_dict(SMALL[1][0])
    assert unrolled.applies(tiny)
    wide = symbp.Network.from_dict({"inputs": 8, "loss": "half_sse", "layers": [
        {"size": 9, "activation": "tanh"}, {"size": 2, "activation": "sigmoid"}]})
    assert unrolled.weights(wide) > unrolled.MAX_WEIGHTS and not unrolled.applies(wide)
    swish = symbp.Network.from_dict({"inputs": 2, "loss": "half_sse", "activations": SWISH,
                                     "layers": [{"size": 2, "activation": "swish"}]})
    assert not unrolled.applies(swish)  # formula activations have no scalar form here
    assert "numpy_module.py.j2" in symbp.emit_numpy(swish).splitlines()[0]
    with pytest.raises(ValueError):
        symbp.emit_numpy(tiny, kernel="fast")


def test_clashing_spec_names_fall_back_to_default_names():
    data = {"inputs": 2, "loss": "half_sse", "layers": [{"size": 2, "activation": "sigmoid"}],
            "names": {"inputs": ["w1", "d_w1"]}}
    net = symbp.Network.from_dict(data)
    module = load_module(symbp.emit_numpy(net))
    assert "z1_1 = w1_11*x1" in symbp.emit_numpy(net)
    assert check_kernel(net, module).passed()


def test_unrolled_kernel_never_writes_its_inputs():
    net = symbp.Network.from_dict(SMALL[3][0])
    module = load_module(symbp.emit_numpy(net))
    X, Y = sample_data(net, 3)
    params = random_params(module, net)
    copies = [X.copy(), Y.copy()] + [v.copy() for v in params.values()]
    module.loss_and_grad(params, X, Y)
    module.sgd_step(params, X, Y, 0.1)
    after = [X, Y] + list(params.values())
    assert all(np.array_equal(a, b) for a, b in zip(copies, after))


@pytest.mark.parametrize("data", [s for s, _ in SMALL], ids=[why for _, why in SMALL])
def test_unrolled_workspace_reuses_gradient_arrays_and_keeps_values_right(data):
    """With ``work`` the Python-float path writes into arrays kept per dtype, like the array kernel."""
    net = symbp.Network.from_dict(data)
    module = load_module(symbp.emit_numpy(net, kernel="unrolled"))
    work: dict = {}
    results = []
    for seed, dtype in [(1, np.float64), (2, np.float64), (3, np.float32)]:
        X, Y = (a.astype(dtype) for a in sample_data(net, 2, seed=seed))
        params = {k: v.astype(dtype) for k, v in random_params(module, net, seed=seed).items()}
        J, grads = module.loss_and_grad(params, X, Y, work)
        J0, grads0 = module.loss_and_grad(params, X, Y)
        assert J == J0 and J.dtype == dtype
        for k in grads0:
            assert grads[k].dtype == dtype and grads[k].shape == grads0[k].shape
            np.testing.assert_array_equal(grads[k], grads0[k])
        results.append(grads)
    first, second, single = results
    assert all(first[k] is second[k] for k in first)  # the same arrays, overwritten
    assert not any(first[k] is single[k] for k in first)  # another dtype, other arrays


def _bound_names(source: str, functions: set[str]) -> set[str]:
    """Every argument and assigned name of the given functions of a module's source."""
    import ast

    bound = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name in functions:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    bound.add(sub.id)
                elif isinstance(sub, ast.arg):
                    bound.add(sub.arg)
    return bound


@pytest.mark.parametrize("data", [s for s, _ in SMALL], ids=[why for _, why in SMALL])
def test_every_name_the_python_float_kernel_binds_is_reserved_by_the_naming_module(data):
    """A neuron name equal to a local of forward/loss/loss_and_grad would overwrite it."""
    from symbp.core import naming

    net = symbp.Network.from_dict(data)
    source = symbp.emit_numpy(net, kernel="unrolled")
    n = unrolled._names(net).n
    neuron = {f"{prefix}{name}" for name in n.all() for prefix in ("", "d_", "log_", "lo_", "up_")}
    own = _bound_names(source, {"forward", "loss", "loss_and_grad", "gradient_arrays"}) - neuron
    assert own <= naming.kernel_locals(net.depth, net.sizes[-1]), own - naming.KERNEL_LOCALS


def test_a_neuron_named_out_gets_a_forward_that_equals_the_array_kernel():
    net = symbp.Network.from_dict({"inputs": 2, "loss": "half_sse", "names": {
        "activations": [["h1", "h2"], ["out"]]}, "layers": [
        {"size": 2, "activation": "sigmoid"}, {"size": 1, "activation": "sigmoid"}]})
    module = load_module(symbp.emit_numpy(net))
    X, Y = sample_data(net, 2)
    params = random_params(module, net)
    np.testing.assert_allclose(module.forward(params, X), module.forward_arrays(params, X), rtol=1e-15)
    assert check_kernel(net, module).passed()
