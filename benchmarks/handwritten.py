"""Careful hand-written baselines: what a competent person writes without a code generator.

``numpy_step`` is vectorized NumPy for all five networks: biases broadcast, derivatives from the
stored activations (σ' = a(1 − a), tanh' = 1 − a², relu' = [a > 0]), the fused output errors
(softmax + cross-entropy: p − y; sigmoid + logistic loss: a − y), log-sum-exp, a stable
softplus, in-place updates where they are natural (``*=``), bias gradients as column sums. It
allocates its arrays afresh on every call, as ordinary NumPy code does.

``mazur_floats`` is seed 000's network written neuron by neuron on Python floats (floats in,
floats out): the reference for what the unrolled kernel's arithmetic costs without the
conversion from and to arrays.
"""

from __future__ import annotations

import math

import numpy as np
from nets import Case


def _act(name: str, Z: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return np.tanh(Z, out=Z)
    if name == "relu":
        return np.maximum(Z, 0, out=Z)
    if name == "sigmoid":  # 1/(1 + e^-z) = (1 + tanh(z/2))/2: no overflow, one transcendental
        Z *= 0.5
        np.tanh(Z, out=Z)
        Z += 1.0
        Z *= 0.5
        return Z
    raise ValueError(name)


def _gprime(name: str, A: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return 1.0 - A * A
    if name == "relu":
        return A > 0
    if name == "sigmoid":
        return A * (1.0 - A)
    raise ValueError(name)


def numpy_step(case: Case):
    """loss_and_grad(params, X, Y) for ``case``, written by hand."""
    net = case.net
    L = net.depth
    acts = [layer.activation for layer in net.layers]
    loss = net.loss
    shared = [layer.bias == "shared" for layer in net.layers]
    trains_bias = [layer.trains_bias for layer in net.layers]
    lam = net.regularization.strength if net.regularization.convention == "lambda_over_2m" else 0.0

    def loss_and_grad(params, X, Y):
        B = X.shape[0]
        A = [X]
        for l in range(1, L + 1):
            Z = A[-1] @ params[f"W{l}"].T
            Z += params[f"b{l}"]
            if l < L:
                A.append(_act(acts[l - 1], Z))
        if loss == "softmax_ce":
            Z -= Z.max(axis=1, keepdims=True)
            logP = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
            J = -np.sum(Y * logP) / B
            delta = (np.exp(logP) - Y) / B
        elif loss == "bce":  # softplus(z) − y z, with softplus = max(z, 0) + log1p(e^−|z|)
            J = np.sum(np.maximum(Z, 0) + np.log1p(np.exp(-np.abs(Z))) - Y * Z) / B
            P = _act("sigmoid", Z.copy())
            delta = (P - Y) / B
        elif loss == "half_sse":
            P = _act(acts[-1], Z)
            diff = P - Y
            J = 0.5 * np.sum(diff * diff) / B
            delta = diff * _gprime(acts[-1], P) / B
        else:
            raise ValueError(loss)
        grads = {}
        if lam:
            J += lam / (2 * B) * sum(np.sum(params[f"W{l}"] ** 2) for l in range(1, L + 1))
        for l in range(L, 0, -1):
            dW = delta.T @ A[l - 1]
            if lam:
                dW += (lam / B) * params[f"W{l}"]
            grads[f"W{l}"] = dW
            if trains_bias[l - 1]:
                grads[f"b{l}"] = np.asarray(delta.sum()) if shared[l - 1] else delta.sum(axis=0)
            if l > 1:
                delta = delta @ params[f"W{l}"]
                delta *= _gprime(acts[l - 2], A[l - 1])
        return J, grads

    return loss_and_grad


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def mazur_floats(w1, w2, w3, w4, w5, w6, w7, w8, b1, b2, i1, i2, t1, t2):
    """Seed 000's forward pass, E_total and ∂E/∂w1…w8 for one sample, on Python floats."""
    h1 = _sigmoid(w1 * i1 + w2 * i2 + b1)
    h2 = _sigmoid(w3 * i1 + w4 * i2 + b1)
    o1 = _sigmoid(w5 * h1 + w6 * h2 + b2)
    o2 = _sigmoid(w7 * h1 + w8 * h2 + b2)
    E = 0.5 * (t1 - o1) ** 2 + 0.5 * (t2 - o2) ** 2
    d1 = (o1 - t1) * o1 * (1 - o1)
    d2 = (o2 - t2) * o2 * (1 - o2)
    e1 = (w5 * d1 + w7 * d2) * h1 * (1 - h1)
    e2 = (w6 * d1 + w8 * d2) * h2 * (1 - h2)
    return E, (e1 * i1, e1 * i2, e2 * i1, e2 * i2, d1 * h1, d1 * h2, d2 * h1, d2 * h2)
