"""The generated init_state / train_step: every optimiser against an independent NumPy reference
(PyTorch's documented algorithms, written out by hand here as the oracle), and against
torch.optim itself when PyTorch is installed."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from symbp.core.optimizers import NAMES, REGISTRY, OptimizerError, optimizer
from symbp.core.spec import bundled_names
from symbp.verify.kernel import random_params, sample_data

HYPER = {  # non-default values, so that a default used in place of the given one shows
    "sgd": {"weight_decay": 0.1},
    "momentum": {"momentum": 0.8, "weight_decay": 0.05},
    "nesterov": {"momentum": 0.7, "weight_decay": 0.05},
    "rmsprop": {"alpha": 0.9, "eps": 1e-6, "weight_decay": 0.01},
    "adam": {"betas": (0.8, 0.99), "eps": 1e-7, "weight_decay": 0.02},
    "adamw": {"betas": (0.85, 0.995), "eps": 1e-6, "weight_decay": 0.1},
}


def reference_step(name, p, g, s, t, lr, h, decayed):
    """One step of optimiser ``name`` on one array, as PyTorch's documentation writes it."""
    wd = h.get("weight_decay", 0.0) if decayed else 0.0
    if name == "adamw":
        p = p * (1 - lr * wd)
    elif wd:
        g = g + wd * p
    if name == "sgd":
        return p - lr * g
    if name in ("momentum", "nesterov"):
        s["buf"] = h["momentum"] * s.get("buf", 0.0) + g
        step = g + h["momentum"] * s["buf"] if name == "nesterov" else s["buf"]
        return p - lr * step
    if name == "rmsprop":
        s["sq"] = h["alpha"] * s.get("sq", 0.0) + (1 - h["alpha"]) * g * g
        return p - lr * g / (np.sqrt(s["sq"]) + h["eps"])
    b1, b2 = h["betas"]
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
    m_hat, v_hat = s["m"] / (1 - b1**t), s["v"] / (1 - b2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + h["eps"])


def run_reference(mod, params, X, Y, name, hyper, lr, steps):
    params = {k: np.array(v, copy=True) for k, v in params.items()}
    slots, losses = {}, []
    h = {**REGISTRY[name].defaults(), **hyper}
    for t in range(1, steps + 1):
        J, grads = mod.loss_and_grad(params, X, Y)
        losses.append(float(J))
        for k, g in grads.items():
            params[k] = reference_step(name, params[k], np.array(g), slots.setdefault(k, {}), t, lr, h,
                                       k.startswith("W"))
    return params, losses


def batch(net, seed=1, rows=6):
    return sample_data(net, rows, seed)


@pytest.mark.parametrize("network", bundled_names())
@pytest.mark.parametrize("name", NAMES)
def test_train_step_matches_the_numpy_reference_step_by_step(bundled_kernel, network, name):
    """Each step starts both from the generated step's parameters, so a difference of rounding
    cannot grow through the gradients of later steps; the moments are compared too."""
    net, mod = bundled_kernel(network)
    params = random_params(mod, net, 0)
    X, Y = batch(net)
    h = {**REGISTRY[name].defaults(), **HYPER[name]}
    state, slots = mod.init_state(params, name, **HYPER[name]), {}
    for t in range(1, 5):
        J, grads = mod.loss_and_grad(params, X, Y)
        expected = {k: reference_step(name, params[k], np.array(g), slots.setdefault(k, {}), t, 0.05,
                                      h, k.startswith("W")) for k, g in grads.items()}
        assert mod.train_step(params, state, X, Y, 0.05) == J
        for k, value in expected.items():
            np.testing.assert_allclose(params[k], value, rtol=1e-13, atol=1e-16, err_msg=f"{k}, t={t}")
            moments = [slots[k][s] for s in ("buf", "sq", "m", "v") if s in slots[k]]
            for mine, ref in zip(state["slots"][k], moments):
                np.testing.assert_allclose(mine, ref, rtol=1e-13, atol=1e-300, err_msg=f"state of {k}")
    assert state["t"] == 4


@pytest.mark.parametrize("name", NAMES)
def test_train_step_uses_pytorch_defaults_when_no_hyper_parameter_is_given(bundled_kernel, name):
    net, mod = bundled_kernel("tanh_mse")
    params = random_params(mod, net, 2)
    X, Y = batch(net)
    expected, _ = run_reference(mod, params, X, Y, name, {}, 0.01, 3)
    state = mod.init_state(params, name)
    for _ in range(3):
        mod.train_step(params, state, X, Y, 0.01)
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-10, atol=1e-14)


def test_frozen_parameters_and_biases_are_never_decayed(bundled_kernel):
    net, mod = bundled_kernel("mazur")  # biases frozen
    params = mod.init_params(0)
    before = {k: v.copy() for k, v in params.items()}
    X, Y = batch(net)
    state = mod.init_state(params, "adamw", weight_decay=0.5)
    mod.train_step(params, state, X, Y, 0.1)
    assert all(np.array_equal(params[k], before[k]) for k in mod.FROZEN)
    assert mod.DECAYED == ("W1", "W2")


def traced_peak(call) -> int:
    """Bytes allocated at the peak of one call, after two warm-up calls."""
    call(), call()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        call()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", NAMES)
def test_optimiser_update_allocates_no_array_after_the_first_step(bundled_kernel, name):
    """train_step allocates nothing beyond what loss_and_grad with a workspace does (the update
    itself makes no array: the smallest of mnist_mlp's is 1280 bytes)."""
    net, mod = bundled_kernel("mnist_mlp")
    params = mod.init_params(0)
    X, Y = batch(net, rows=32)
    state = mod.init_state(params, name, weight_decay=1e-3)
    step = traced_peak(lambda: mod.train_step(params, state, X, Y, 1e-3))
    work = {}
    gradient = traced_peak(lambda: mod.loss_and_grad(params, X, Y, work))
    assert step - gradient < 1024, f"{step - gradient} bytes allocated by the update"


def test_float32_stays_float32_through_every_optimiser(bundled_kernel):
    net, mod = bundled_kernel("swish_net")
    X, Y = (a.astype(np.float32) for a in batch(net))
    for name in NAMES:
        params = mod.init_params(0, np.float32)
        state = mod.init_state(params, name)
        mod.train_step(params, state, X, Y, 0.01)
        assert {str(v.dtype) for v in params.values()} == {"float32"}
        assert all(np.isfinite(v).all() for v in params.values())


def test_unknown_optimizer_or_hyper_parameter_is_refused(bundled_kernel):
    _, mod = bundled_kernel("tanh_mse")
    params = mod.init_params(0)
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'"):
        mod.init_state(params, "adagrad")
    with pytest.raises(ValueError, match="sgd has no hyper-parameter 'betas'"):
        mod.init_state(params, "sgd", betas=(0.9, 0.99))
    with pytest.raises(OptimizerError, match="unknown optimizer"):
        optimizer("adagrad")
    with pytest.raises(OptimizerError, match="rmsprop has no hyper-parameter 'momentum'"):
        REGISTRY["rmsprop"].values(momentum=0.9)


def test_decay_rules_vanish_without_weight_decay():
    """The rules that read weight_decay are the identity at weight_decay = 0, so skipping them
    for biases (and when the decay is 0) is the same update."""
    from symbp.core.optimizers import WD

    for opt in REGISTRY.values():
        for target, expr in opt.decay_rules():
            assert expr.subs(WD, 0) == target, opt.name


# ---------------------------------------------------------------- torch.optim (when installed)

TORCH = {"sgd": ("SGD", {}), "momentum": ("SGD", {"momentum": 0.9}),
         "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}), "rmsprop": ("RMSprop", {}),
         "adam": ("Adam", {}), "adamw": ("AdamW", {})}


@pytest.mark.parametrize("name", NAMES)
def test_train_step_agrees_with_torch_optim_step_by_step(bundled_kernel, name):
    torch = pytest.importorskip("torch")
    net, mod = bundled_kernel("tanh_mse")
    params = random_params(mod, net, 3)
    X, Y = batch(net)
    hyper = {k: v for k, v in HYPER[name].items() if not (name == "nesterov" and k == "momentum")}
    expected = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    cls, extra = TORCH[name]
    wd = hyper.pop("weight_decay", REGISTRY[name].defaults()["weight_decay"])
    groups = [{"params": [v for k, v in expected.items() if k.startswith("W")], "weight_decay": wd},
              {"params": [v for k, v in expected.items() if not k.startswith("W")], "weight_decay": 0.0}]
    opt = getattr(torch.optim, cls)(groups, lr=0.05, **{**extra, **hyper})
    state = mod.init_state(params, name, weight_decay=wd, **hyper)
    for _ in range(5):
        J, grads = mod.loss_and_grad({k: v.detach().numpy() for k, v in expected.items()}, X, Y)
        opt.zero_grad()
        for k, v in expected.items():
            v.grad = torch.tensor(np.array(grads[k]))
        opt.step()
        mod.train_step(params, state, X, Y, 0.05)
    for k in params:
        np.testing.assert_allclose(params[k], expected[k].detach().numpy(), rtol=1e-9, atol=1e-13)


def test_a_second_emit_compiles_no_template(monkeypatch):
    """Templates (the kernel's and the optimisers' includes) compile once per process, not once
    per emitted network: compiling them was most of the time of emitting a small network."""
    import jinja2

    import symbp
    from tests.conftest import network

    symbp.emit_numpy(network([3, 4, 2], ["tanh", "sigmoid"], "mse"))
    compiled = []
    real = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile",
                        lambda self, *a, **k: compiled.append(a) or real(self, *a, **k))
    symbp.emit_numpy(network([5, 3, 2], ["relu", "identity"], "mse"))
    assert compiled == []
