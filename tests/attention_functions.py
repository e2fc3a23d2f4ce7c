"""Hand-written loss-and-gradient functions for attention → flatten → dense softmax (softmax CE),
as a person writes them from the matrix forms: one right, and with the slips ``verify`` names.

Each is ``fn(params, X, Y) -> (loss, grads)`` with the kernel's names (Wq1, Wk1, Wv1, Wo1, W3, b3).
"""

from __future__ import annotations

import numpy as np


def _step(params, X, Y, causal=False, forward_scale=True, backward_scale=True, rowsum=True):
    Wq, Wk, Wv, Wo, W, b = (params[k] for k in ("Wq1", "Wk1", "Wv1", "Wo1", "W3", "b3"))
    B, T, D = X.shape
    c_fwd = 1 / np.sqrt(D) if forward_scale else 1.0
    c_bwd = c_fwd if backward_scale else 1.0
    Q, K, V = X @ Wq.T, X @ Wk.T, X @ Wv.T
    S = Q @ K.transpose(0, 2, 1) * c_fwd
    if causal:
        S = np.where(np.tril(np.ones((T, T), bool)), S, -np.inf)
    P = np.exp(S - S.max(axis=2, keepdims=True))
    P /= P.sum(axis=2, keepdims=True)
    O = P @ V
    A = (O @ Wo.T).reshape(B, -1)
    Z = A @ W.T + b
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    prob = E / E.sum(axis=1, keepdims=True)
    loss = -np.sum(Y * np.log(prob)) / B
    dZ = (prob * Y.sum(axis=1, keepdims=True) - Y) / B
    dA = (dZ @ W).reshape(B, T, D)
    dO = dA @ Wo
    dV = P.transpose(0, 2, 1) @ dO
    dP = dO @ V.transpose(0, 2, 1)
    dS = P * (dP - np.sum(dP * P, axis=2, keepdims=True)) if rowsum else P * dP
    dQ, dK = dS @ K * c_bwd, dS.transpose(0, 2, 1) @ Q * c_bwd
    flat = X.reshape(-1, D)
    grads = {"Wq1": dQ.reshape(-1, D).T @ flat, "Wk1": dK.reshape(-1, D).T @ flat,
             "Wv1": dV.reshape(-1, D).T @ flat, "Wo1": dA.reshape(-1, D).T @ O.reshape(-1, D),
             "W3": dZ.T @ A, "b3": dZ.sum(axis=0)}
    return loss, grads


def correct(params, X, Y):
    return _step(params, X, Y)


def correct_causal(params, X, Y):
    return _step(params, X, Y, causal=True)


def no_scale_in_backward(params, X, Y):
    """dQ = dS·K and dK = dSᵀ·Q: the 1/√D of the scores forgotten in the backward pass."""
    return _step(params, X, Y, backward_scale=False)


def no_scale_causal(params, X, Y):
    """Scores Q·Kᵀ without 1/√D, forward and backward (consistent, but not the spec's network)."""
    return _step(params, X, Y, causal=True, forward_scale=False)


def wrong_softmax_jacobian(params, X, Y):
    """dS = P ⊙ dP: the row sum of the softmax Jacobian left out (not a slip verify knows)."""
    return _step(params, X, Y, rowsum=False)
