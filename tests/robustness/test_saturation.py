"""Saturation: registry forms against the 600-digit reference, relative to the value itself.

Over pre-activations z in [−745, 745] and targets 0, 1 and 1e-12 from them, each quantity below
is held to 1e-13 of its own size (not of the size of the terms summed), on both kernels:

* every activation's derivative form g'(z) where a stable form exists, through δ¹ of a 1-1-1
  network: δ¹ = (g(z) + 2)·g'(z), the first factor at least 1 in size, so δ¹'s error is g''s;
* the loss value of every registry loss that reads the logits or the log-softmax, one sample
  at a time (bce at y = 1 was softplus(z) − z: 0 instead of 4.2e-18 at z = 40).

Values below the smallest normal number are forgiven (``reference.relative_error``).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import symbp
from symbp.verify import load_module

from .reference import reference, relative_error

LOG_1E12 = 27.631021115928547
Z = [-745.0, -709.8, -88.8, -40.0, -LOG_1E12, -25.0, -1.0, -1e-8, 0.0,
     1e-8, 1.0, 20.0, LOG_1E12, 40.0, 88.8, 709.8, 745.0]
TARGETS = [0.0, 1e-12, 1 - 1e-12, 1.0]
BOUND = 1e-13
# sigmoid's a(1 − a) and tanh's 1 − a² cancel where a rounds to ±1 (z ≳ 20): no form in the output a
# avoids that, and a form in z needs z kept past the activation; they are not held here yet.
STABLE_DERIVATIVES = ["softplus", "relu", "leaky_relu", "identity"]
LOGIT_LOSSES = [("bce", "sigmoid"), ("ce", "sigmoid"), ("ce", "softmax"), ("softmax_ce", "softmax")]


@functools.cache
def _modules(spec: tuple) -> tuple:
    net = symbp.Network.from_dict(_spec(spec))
    return net, [load_module(symbp.emit_numpy(net, kernel=k), "saturation") for k in ("unrolled", "arrays")]


def _spec(spec: tuple) -> dict:
    inputs, loss, layers = spec
    return {"inputs": inputs, "loss": loss, "reduction": "sum",
            "layers": [{"size": n, "activation": g} for n, g in layers]}


@pytest.mark.parametrize("activation", STABLE_DERIVATIVES)
def test_activation_derivatives_are_accurate_to_their_own_size_at_saturation(activation):
    net, modules = _modules((1, "half_sse", ((1, activation), (1, "identity"))))
    params = {"W1": np.ones((1, 1)), "b1": np.zeros(1), "W2": np.ones((1, 1)), "b2": np.zeros(1)}
    for module in modules:
        for z in Z:
            X, Y = np.array([[z]]), np.array([[-2.0]])
            _, _, ref_grads, _ = reference(net, params, X, Y)
            _, grads = module.loss_and_grad(params, X, Y)
            error = relative_error(grads["b1"], ref_grads["b1"], np.float64, elementwise=True)
            assert error <= BOUND, (activation, z, float(grads["b1"][0]), error)


@pytest.mark.parametrize("loss, output", LOGIT_LOSSES, ids=[f"{l}-{g}" for l, g in LOGIT_LOSSES])
def test_logit_losses_are_accurate_to_their_own_size_at_saturation(loss, output):
    n = 1 if output == "sigmoid" else 2
    net, modules = _modules((n, loss, ((n, output),)))
    params = {"W1": np.eye(n), "b1": np.zeros(n)}
    for module in modules:
        for z in Z:
            for y in TARGETS:
                X = np.array([[z] + [0.0] * (n - 1)])
                Y = np.array([[y] + ([1 - y] if n == 2 else [])])
                _, ref_J, _, _ = reference(net, params, X, Y)
                error = relative_error(module.loss(params, X, Y), ref_J, np.float64)
                assert error <= BOUND, (loss, output, z, y, float(module.loss(params, X, Y)), error)
