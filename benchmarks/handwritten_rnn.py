"""Careful hand-written NumPy training steps for the sequence networks (CS231n ``rnn_layers`` style).

The embedding is a row lookup (its gradient one unbuffered add per token), the input projections of
all steps are one GEMM, the forward loop over time stores each step's states, the backward loop
runs in reverse time with the state's gradient carried to the step before and the recurrent
weights' gradient summed; softmax cross-entropy over all steps goes through log-softmax.
Parameters are keyed as the generated kernels key them (PyTorch's layout and LSTM gate order
i, f, g, o; one bias per layer).
"""

from __future__ import annotations

import numpy as np


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _rnn_forward(P: np.ndarray, Wh: np.ndarray):
    """tanh RNN over (T, B, H) input projections: states (T, B, H) and the tape for backward."""
    T, B, H = P.shape
    hs = np.empty((T, B, H), P.dtype)
    h = np.zeros((B, H), P.dtype)
    for t in range(T):
        h = hs[t] = np.tanh(P[t] + h @ Wh.T)
    return hs, hs


def _rnn_backward(dhs: np.ndarray, hs: np.ndarray, Wh: np.ndarray):
    """(dP, dWh) from the states' gradients (T, B, H): BPTT in reverse time."""
    T, B, H = dhs.shape
    dP = np.empty_like(dhs)
    dWh = np.zeros_like(Wh)
    dh = np.zeros((B, H), dhs.dtype)
    zero = np.zeros((B, H), dhs.dtype)
    for t in range(T - 1, -1, -1):
        dz = dP[t] = (dhs[t] + dh) * (1 - hs[t] * hs[t])
        dWh += dz.T @ (hs[t - 1] if t else zero)
        dh = dz @ Wh
    return dP, dWh


def _lstm_forward(P: np.ndarray, Wh: np.ndarray):
    """LSTM over (T, B, 4H) input projections: states (T, B, H) and the tape (gates, cells)."""
    T, B, H4 = P.shape
    H = H4 // 4
    hs = np.empty((T, B, H), P.dtype)
    gates = np.empty((T, B, H4), P.dtype)
    cs = np.empty((T, B, H), P.dtype)
    h = np.zeros((B, H), P.dtype)
    c = np.zeros((B, H), P.dtype)
    for t in range(T):
        a = P[t] + h @ Wh.T
        g = gates[t]
        g[:, :2 * H] = _sigmoid(a[:, :2 * H])
        g[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])
        g[:, 3 * H:] = _sigmoid(a[:, 3 * H:])
        c = cs[t] = g[:, H:2 * H] * c + g[:, :H] * g[:, 2 * H:3 * H]
        h = hs[t] = g[:, 3 * H:] * np.tanh(c)
    return hs, (hs, gates, cs)


def _lstm_backward(dhs: np.ndarray, tape, Wh: np.ndarray):
    """(dP, dWh) from the states' gradients: BPTT through h and the cell c in reverse time."""
    hs, gates, cs = tape
    T, B, H = dhs.shape
    dP = np.empty((T, B, 4 * H), dhs.dtype)
    dWh = np.zeros_like(Wh)
    dh = np.zeros((B, H), dhs.dtype)
    dc = np.zeros((B, H), dhs.dtype)
    zero = np.zeros((B, H), dhs.dtype)
    for t in range(T - 1, -1, -1):
        i, f, g, o = (gates[t][:, k * H:(k + 1) * H] for k in range(4))
        tc = np.tanh(cs[t])
        dht = dhs[t] + dh
        dc = dc + dht * o * (1 - tc * tc)
        da = dP[t]
        da[:, :H] = dc * g * i * (1 - i)
        da[:, H:2 * H] = dc * (cs[t - 1] if t else zero) * f * (1 - f)
        da[:, 2 * H:3 * H] = dc * i * (1 - g * g)
        da[:, 3 * H:] = dht * tc * o * (1 - o)
        dc = dc * f
        dWh += da.T @ (hs[t - 1] if t else zero)
        dh = da @ Wh
    return dP, dWh


CELLS = {"rnn": (_rnn_forward, _rnn_backward), "lstm": (_lstm_forward, _lstm_backward)}


def make_step(cell: str):
    """loss_and_grad(params, X, Y) for embedding → ``cell`` ("rnn" or "lstm") → dense softmax at
    every step, cross-entropy averaged over all B·T steps; X (B, T) ids, Y (B, T, V) one-hot."""
    forward, backward = CELLS[cell]

    def loss_and_grad(params, X, Y):
        E, Wx, b, Wh, W, c = (params[k] for k in ("E1", "Wx2", "b2", "Wh2", "W3", "b3"))
        ids = X.T  # time-major, as the loops run
        e = E[ids]  # (T, B, D)
        T, B, D = e.shape
        P = (e.reshape(-1, D) @ Wx.T + b).reshape(T, B, -1)
        hs, tape = forward(P, Wh)
        z = hs.reshape(T * B, -1) @ W.T + c
        m = z.max(axis=1, keepdims=True)
        log_p = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
        Yt = Y.transpose(1, 0, 2).reshape(T * B, -1)
        n = T * B
        J = -(Yt * log_p).sum() / n
        dz = (np.exp(log_p) - Yt) / n  # each row of Y one-hot
        grads = {"W3": dz.T @ hs.reshape(n, -1), "b3": dz.sum(axis=0)}
        dP, grads["Wh2"] = backward((dz @ W).reshape(hs.shape), tape, Wh)
        dP2 = dP.reshape(n, -1)
        grads["Wx2"] = dP2.T @ e.reshape(n, D)
        grads["b2"] = dP2.sum(axis=0)
        dE = np.zeros_like(E)
        np.add.at(dE, ids.reshape(-1), dP2 @ Wx)
        grads["E1"] = dE
        return J, grads

    return loss_and_grad
