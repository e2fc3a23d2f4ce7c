"""Saturation: registry forms against the 600-digit reference, relative to the value itself.

Over pre-activations z in [−745, 745] and targets 0, 1 and 1e-12 from them, each quantity below
is held to 1e-13 of its own size (not of the size of the terms summed), on both kernels:

* every activation's derivative form g'(z) where a stable form exists, through δ¹ of a 1-1-1
  network: δ¹ = (g(z) + 2)·g'(z), the first factor at least 1 in size, so δ¹'s error is g''s;
* the loss value of every registry loss that reads the logits or the log-softmax, one sample
  at a time (bce at y = 1 was softplus(z) − z: 0 instead of 4.2e-18 at z = 40);
* δ^L and J of every registry loss on every output activation it allows (softmax: with the
  losses that read log-softmax), through ∂J/∂b of a one-layer network: σ(40) − 1 was 0.

Values below the smallest normal number are forgiven (``reference.relative_error``).
"""

from __future__ import annotations

import functools

import mpmath
import numpy as np
import pytest

import symbp
from symbp.codegen.load import load_module
from symbp.core import activations, losses

from .reference import MP, reference, relative_error

LOG_1E12 = 27.631021115928547
Z = [-745.0, -709.8, -88.8, -40.0, -LOG_1E12, -25.0, -1.0, -1e-8, 0.0,
     1e-8, 1.0, 20.0, LOG_1E12, 40.0, 88.8, 709.8, 745.0]
TARGETS = [0.0, 1e-12, 1 - 1e-12, 1.0]
BOUND = 1e-13
STABLE_DERIVATIVES = ["sigmoid", "tanh", "softplus", "relu", "leaky_relu", "identity"]
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


BOUNDED = {"sigmoid": (0, 1), "tanh": (-1, 1), "softmax": (0, 1)}
# Every pairing the spec accepts: a loss without requirements takes any output, softmax included.
PAIRS = [(loss, g) for loss, entry in losses.REGISTRY.items()
         for g in sorted(entry.requires or set(activations.REGISTRY))]
DIFFERENCE_OF_A_AND_Y = {"half_sse", "sse", "mse", "bce", "softmax_ce"} | {"ce-softmax"}


def _targets(n: int) -> list[list[float]]:
    """One-output targets, or two-output distributions whose sum is exactly 1."""
    if n == 1:
        return [[y] for y in TARGETS]
    return [[1.0 - (1.0 - y), 1.0 - y] for y in TARGETS]


def _distances(g: str, z, k: int):
    """(a − L, U − a) at 600 digits for output k (softmax: two logits z and 0)."""
    sig = lambda v: 1 / (1 + MP.exp(-v))  # noqa: E731
    if g == "tanh":
        return 2 * sig(2 * z), 2 * sig(-2 * z)
    s = 1 if k == 0 else -1
    return sig(s * z), sig(-s * z)


def _condition(loss: str, g: str, z, y: float, k: int):
    """How much rounding y (given) and a (from z) is amplified in a − y: (|terms|)/|a − y| with
    a − y = [p(U − y) − q(y − L)]/(U − L), 1 where y is a bound; 1 for δ without a − y."""
    if loss not in DIFFERENCE_OF_A_AND_Y and f"{loss}-{g}" not in DIFFERENCE_OF_A_AND_Y:
        return MP.mpf(1)
    y = MP.mpf(y)
    if g in BOUNDED:
        low, up = BOUNDED[g]
        p, q = _distances(g, z, k)
        terms = (abs(p * (up - y)), abs(q * (y - low)))
        gap = abs(terms[0] - terms[1])
        return (terms[0] + terms[1]) / gap if gap else MP.mpf(1)
    expr = activations.REGISTRY[g].instantiate()
    a = mpmath.mpf(str(sympy_value(expr, z)))
    return (abs(a) + abs(y)) / abs(a - y) if a != y else MP.mpf(1)


def sympy_value(expr, z):
    return expr.evalf(700, subs={activations.x: z})


@pytest.mark.parametrize("loss, output", PAIRS, ids=[f"{l}-{g}" for l, g in PAIRS])
def test_output_errors_and_losses_are_accurate_to_their_own_size_at_saturation(loss, output):
    """∂J/∂b = δ^L and J of a one-layer network against the reference, each relative to its own
    size times the conditioning of a − y in the target (1 where y is 0 or 1, or δ has no a − y)."""
    n = 2 if output == "softmax" else 1
    net, modules = _modules((n, loss, ((n, output),)))
    params = {"W1": np.eye(n), "b1": np.zeros(n)}
    for z in Z:
        X = np.array([[z] + [0.0] * (n - 1)])
        for y in _targets(n):
            Y = np.array([y])
            _, ref_J, ref_grads, _ = reference(net, params, X, Y)
            with MP.workdps(700):
                kappa = [_condition(loss, output, MP.mpf(z), y[k], k) for k in range(n)]
                scale_J = abs(ref_J) * max(kappa)
            for module in modules:
                J, grads = module.loss_and_grad(params, X, Y)
                for k in range(n):
                    with MP.workdps(700):
                        scale = abs(ref_grads["b1"][0][k]) * kappa[k]
                    error = relative_error(grads["b1"][k], ref_grads["b1"][0][k], np.float64, scale=scale)
                    assert error <= BOUND, (loss, output, z, y, k, float(grads["b1"][k]), error)
                for value in (J, module.loss(params, X, Y)):
                    error = relative_error(value, ref_J, np.float64, scale=scale_J)
                    assert error <= BOUND, (loss, output, z, y, float(value), error)


SUM_LOSSES = [loss for loss, entry in losses.REGISTRY.items() if entry.requires is None]


@pytest.mark.parametrize("loss", SUM_LOSSES)
def test_softmax_output_errors_on_three_outputs_are_accurate_to_their_own_size(loss):
    """Three logits (z, 0, −z/2), one-hot targets: δ^L of the output that rounds to 1 is minus
    the sum of the others (a_m(u_m − s) cancels there), each δ_k to 1e-13 of itself."""
    net, modules = _modules((3, loss, ((3, "softmax"),)))
    params = {"W1": np.eye(3), "b1": np.zeros(3)}
    for z in Z:
        X = np.array([[z, 0.0, -z / 2]])
        for hot in range(3):
            Y = np.eye(3)[[hot]]
            _, ref_J, ref_grads, _ = reference(net, params, X, Y)
            for module in modules:
                J, grads = module.loss_and_grad(params, X, Y)
                for k in range(3):
                    ref = ref_grads["b1"][0][k]
                    error = relative_error(grads["b1"][k], ref, np.float64, elementwise=True)
                    assert error <= BOUND, (loss, z, hot, k, float(grads["b1"][k]), error)
                assert relative_error(J, ref_J, np.float64) <= BOUND, (loss, z, hot, float(J))
