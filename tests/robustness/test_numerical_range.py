"""Numerical range: at pre-activations up to ±1e3 and probabilities within 1e-12 of 0 and 1, the
generated forward, loss and gradients are finite, raise no NumPy warning, and agree with a
600-digit mpmath reference (reference.py) to 1e-12 in float64 and 1e-5 in float32.

Every registry activation (and the formula-defined swish) is tried at the output, with every loss
it pairs with, and at a hidden layer under an identity/½SSE and a softmax/cross-entropy output.
The pre-activations of the layer under test are exactly the grid below (its weights are the
identity); targets include 0, 1e-12, 1 − 1e-12 and 1. Both entry points of a tiny network's
module are run: the per-sample Python-float code (``loss_and_grad``) and the array kernel
(``loss_and_grad_arrays``).

How errors are measured (see ``reference.relative_error``): the forward output element by element
(softmax rows: against the row's largest entry); J and each gradient against the magnitude of
what was summed (every sum taken over absolute values), since no float evaluation of a sum that
cancels is more accurate than its terms; and differences below the dtype's smallest normal number
are forgiven. NumPy runs with every warning an error and ``np.errstate(all="raise")`` except
underflow: a result below 1e-308 (σ(−1000) = 5e-435) *must* underflow to 0, and IEEE 754 flags
that. How many calls do is counted and printed.
"""

from __future__ import annotations

import functools
import json
import warnings

import numpy as np
import pytest

import symbp
from symbp.codegen.emit import emit_numpy
from symbp.codegen.load import load_module

from ..conftest import ELEMENTWISE, SWISH, allowed_pairs
from .reference import reference, relative_error
from .tally import COUNTS, SOFTMAX_ELEMENTWISE, record_accuracy

LOG_1E12 = 27.631021115928547  # σ(±LOG_1E12) is within 1e-12 of 0 and 1
GRID = [-1000.0, -745.2, -709.8, -88.8, -40.0, -LOG_1E12, -1.0, -1e-8,
        1e-8, 1.0, LOG_1E12, 40.0, 88.8, 709.8, 745.2, 1000.0]
PROBABILITIES = [0.0, 1e-12, 0.5, 1 - 1e-12, 1.0]
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


def _cases():
    for activation, loss in allowed_pairs():
        yield "output", activation, loss, ("output", activation, loss)
    for activation in ELEMENTWISE:
        for out, loss in [("identity", "half_sse"), ("softmax", "softmax_ce")]:
            yield "hidden", activation, f"{out}+{loss}", ("hidden", activation, out, loss)


CASES = list(_cases())


def _spec(key) -> dict:
    if key[0] == "output":
        _, activation, loss = key
        n = 3 if activation == "softmax" else 2
        layers = [{"size": n, "activation": activation}]
    else:
        _, activation, out, loss = key
        n = 3
        layers = [{"size": 3, "activation": activation},
                  {"size": 3 if out == "softmax" else 2, "activation": out}]
    data = {"inputs": n, "loss": loss, "layers": layers}
    if "swish" in json.dumps(layers):
        data["activations"] = SWISH
    return data


@functools.cache
def _kernel(key):
    net = symbp.Network.from_dict(_spec(key))
    return net, load_module(emit_numpy(net), "numerics")


def _inputs(net, dtype):
    """X (the grid, rotated per column), Y (suited to the loss) and params (identity first layer)."""
    n_in, n_out, rows = net.inputs, net.layers[-1].size, len(GRID)
    X = np.array([[GRID[(r + 7 * c) % rows] for c in range(n_in)] for r in range(rows)])
    if net.layers[-1].activation == "softmax":
        base = [[1 - 2e-12, 1e-12, 1e-12], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1e-12, 1 - 1e-12, 0.0]]
        Y = np.array([np.roll(base[r % 4], r % n_out) for r in range(rows)])
    elif net.loss_entry().requires is not None:
        Y = np.array([[PROBABILITIES[(r + 2 * c) % 5] for c in range(n_out)] for r in range(rows)])
    else:
        values = [-1.0, 0.0, 1e-12, 1 - 1e-12, 1.0, 2.0]
        Y = np.array([[values[(r + 3 * c) % 6] for c in range(n_out)] for r in range(rows)])
    params = {}
    for l, layer in enumerate(net.layers, start=1):
        n_prev = net.sizes[l - 1]
        if l == 1:
            W, b = np.eye(layer.size, n_prev), np.zeros(layer.size)
        else:
            W = np.array([[0.5 if i == j else -0.25 for j in range(n_prev)] for i in range(layer.size)])
            b = np.full(layer.size, 0.125)
        params[f"W{l}"], params[f"b{l}"] = W, b
    cast = {k: v.astype(dtype) for k, v in params.items()}
    return X.astype(dtype), Y.astype(dtype), cast


def _call(forward, loss_and_grad, params, X, Y, *, under: str):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under=under):
            return forward(params, X), loss_and_grad(params, X, Y)


def _forward_error(net, A, ref, dtype) -> tuple[float, float]:
    """(the error the test holds the kernel to, the elementwise figure) for the output."""
    elementwise = relative_error(A, ref, dtype, elementwise=True)
    if net.layers[-1].activation != "softmax":
        return elementwise, elementwise
    rows = max(relative_error(A[i], [ref[i]], dtype) for i in range(len(ref)))
    return rows, elementwise


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("position, activation, loss, key", CASES,
                         ids=[f"{p}-{a}-{l}" for p, a, l, _ in CASES])
def test_extreme_inputs_give_finite_accurate_results_without_warnings(position, activation, loss,
                                                                       key, dtype):
    net, module = _kernel(key)
    X, Y, params = _inputs(net, dtype)
    ref_A, ref_J, ref_grads, scale = reference(net, params, X, Y)
    paths = [("loss_and_grad", module.forward, module.loss_and_grad)]
    if hasattr(module, "loss_and_grad_arrays"):
        paths.append(("loss_and_grad_arrays", module.forward_arrays, module.loss_and_grad_arrays))
    worst = 0.0
    for path, forward, loss_and_grad in paths:
        A, (J, grads) = _call(forward, loss_and_grad, params, X, Y, under="ignore")
        assert np.all(np.isfinite(A)) and np.isfinite(J), (path, A, J)
        assert all(np.all(np.isfinite(g)) for g in grads.values()), (path, grads)
        assert np.asarray(J).dtype == dtype and all(g.dtype == dtype for g in grads.values())
        forward_error, elementwise = _forward_error(net, A, ref_A, dtype)
        errors = {"forward": forward_error,
                  "loss": relative_error(J, ref_J, dtype, scale=scale["J"])}
        errors.update({f"d{k}": relative_error(grads[k], ref_grads[k], dtype, scale=scale[k])
                       for k in ref_grads})
        worst = max(worst, *errors.values())
        bad = {k: v for k, v in errors.items() if v > TOLERANCE[dtype]}
        assert not bad, (path, bad)
        if net.layers[-1].activation == "softmax":
            name = np.dtype(dtype).name
            SOFTMAX_ELEMENTWISE[name] = max(SOFTMAX_ELEMENTWISE.get(name, 0.0), elementwise)
        COUNTS["numerics_calls"] += 1
        try:
            _call(forward, loss_and_grad, params, X, Y, under="raise")
        except FloatingPointError as exc:
            assert "underflow" in str(exc), exc
            COUNTS["numerics_underflow"] += 1
    record_accuracy((activation, position, loss, np.dtype(dtype).name), worst)


def test_the_reference_is_exact_where_the_answer_is_known():
    """σ(−1000) = 1/(1 + e^1000) and softplus(1000) = 1000 + log1p(e^-1000), to 50 digits."""
    import mpmath

    net = symbp.Network.from_dict({"inputs": 2, "loss": "bce",
                                   "layers": [{"size": 2, "activation": "sigmoid"}]})
    params = {"W1": np.eye(2), "b1": np.zeros(2)}
    A, J, grads, _ = reference(net, params, np.array([[-1000.0, 1000.0]]), np.array([[0.0, 1.0]]))
    with mpmath.workdps(60):
        assert abs(A[0][0] - 1 / (1 + mpmath.exp(1000))) < mpmath.mpf(10) ** -480
        # bce at z = -1000, y = 0 is softplus(-1000); at z = 1000, y = 1 it is softplus(-1000) too
        expected = 2 * mpmath.log1p(mpmath.exp(-1000)) / 1
        assert abs(J - expected) / expected < mpmath.mpf(10) ** -50
        assert abs(grads["b1"][0][0] - A[0][0]) < mpmath.mpf(10) ** -480  # δ = a − y


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_a_confident_correct_softmax_prediction_keeps_its_tiny_loss(dtype):
    """One sample, logits (40, 0, −40), target class 0: J = log(1 + e^−40 + e^−80) = 4.2e-18.

    log(Σ e^(z − max)) would be log(1.0) = 0; the log-softmax must take log1p of the sum without
    the maximum's 1."""
    net, module = _kernel(("output", "softmax", "softmax_ce"))
    X = np.array([[40.0, 0.0, -40.0]], dtype)
    Y = np.array([[1.0, 0.0, 0.0]], dtype)
    params = {"W1": np.eye(3, dtype=dtype), "b1": np.zeros(3, dtype)}
    J, _ = module.loss_and_grad(params, X, Y)
    _, ref_J, _, _ = reference(net, params, X, Y)
    assert relative_error(J, ref_J, dtype) <= TOLERANCE[dtype], (J, float(ref_J))
