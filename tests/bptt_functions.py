"""Hand-written BPTT loss-and-gradient functions, as course code writes them (CS231n's
``rnn_step_backward`` style: a loop over steps forward, a loop in reverse with one step's
backward pass at a time), for [embedding →] rnn | lstm | gru → dense softmax at every step,
softmax cross-entropy averaged over all B·T steps. One right version of each cell, and the
slips ``verify`` names, planted on purpose (test oracles, not symbp's code).

Each ``fn(params, X, Y) -> (loss, grads)`` uses the kernel's names: Wx1, Wh1, b1 (bx1, bh1 for
a GRU), W2, b2; with an embedding first, E1 and every later number shifted by one.
"""

from __future__ import annotations

from functools import partial

import numpy as np


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


# One step of each cell: forward (x, state, P) -> (h, state, cache); backward
# (dh, dstate, cache, P, grads, slip) -> (dx, dh_prev, dstate_prev), adding into grads.

def rnn_forward(x, h, c, P, reset):
    h_new = np.tanh(x @ P["Wx"].T + h @ P["Wh"].T + P["b"])
    return h_new, None, (x, h, h_new)


def rnn_backward(dh, dc, cache, P, add, slip):
    x, h_prev, h = cache
    dz = dh * ((1 - h) if slip.get("tanh_prime_wrong") else (1 - h**2))
    add({"Wx": dz.T @ x, "Wh": dz.T @ h_prev, "b": dz.sum(axis=0)})
    return dz @ P["Wx"], dz @ P["Wh"], None


def lstm_forward(x, h, c, P, reset):
    H = h.shape[1]
    s = x @ P["Wx"].T + h @ P["Wh"].T + P["b"]
    i, f = _sigmoid(s[:, :H]), _sigmoid(s[:, H:2 * H])
    g, o = np.tanh(s[:, 2 * H:3 * H]), _sigmoid(s[:, 3 * H:])
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)
    return h_new, c_new, (x, h, c, i, f, g, o, c_new)


def lstm_backward(dh, dc_next, cache, P, add, slip):
    x, h_prev, c_prev, i, f, g, o, c = cache
    tc = np.tanh(c)
    dc = dh * o * (1 - tc**2)
    if not slip.get("no_forget_path"):
        dc = dc + dc_next  # the path through c_t: dc_next is δc_{t+1} ⊙ f_{t+1}
    ds = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g**2),
                         dh * tc * o * (1 - o)], axis=1)
    add({"Wx": ds.T @ x, "Wh": ds.T @ h_prev, "b": ds.sum(axis=0)})
    return ds @ P["Wx"], ds @ P["Wh"], dc * f


def gru_forward(x, h, c, P, reset):
    H = h.shape[1]
    gx, hw = x @ P["Wx"].T + P["bx"], h @ P["Wh"].T
    gh = hw + P["bh"]
    r, z = _sigmoid(gx[:, :H] + gh[:, :H]), _sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
    if reset == "after":  # PyTorch: r ⊙ (Wh_n h + bh_n)
        v = gx[:, 2 * H:] + r * gh[:, 2 * H:]
    elif reset == "outside":  # r ⊙ (Wh_n h) + bh_n
        v = gx[:, 2 * H:] + r * hw[:, 2 * H:] + P["bh"][2 * H:]
    else:  # "before": Wh_n (r ⊙ h) + bh_n
        v = gx[:, 2 * H:] + (r * h) @ P["Wh"][2 * H:].T + P["bh"][2 * H:]
    n = np.tanh(v)
    return (1 - z) * n + z * h, None, (x, h, r, z, n, hw, gh, reset)


def gru_backward(dh, dc, cache, P, add, slip):
    x, h, r, z, n, hw, gh, reset = cache
    H = h.shape[1]
    dv = dh * (1 - z) * (1 - n**2)
    dz = dh * (h - n) * z * (1 - z)
    dh_prev = dh * z
    Wh_n = P["Wh"][2 * H:]
    if reset == "after":
        dr, dq_n, dbh_n, dWh_n = dv * gh[:, 2 * H:], dv * r, dv * r, (dv * r).T @ h
    elif reset == "outside":
        dr, dq_n, dbh_n, dWh_n = dv * hw[:, 2 * H:], dv * r, dv, (dv * r).T @ h
    else:
        drh = dv @ Wh_n
        dr, dq_n, dbh_n, dWh_n = drh * h, None, dv, dv.T @ (r * h)
        dh_prev = dh_prev + drh * r
    dr = dr * r * (1 - r)
    dgx = np.concatenate([dr, dz, dv], axis=1)
    dgh_rz = np.concatenate([dr, dz], axis=1)
    dh_prev = dh_prev + dgh_rz @ P["Wh"][:2 * H] + (dq_n @ Wh_n if dq_n is not None else 0)
    add({"Wx": dgx.T @ x, "bx": dgx.sum(axis=0),
         "Wh": np.concatenate([dgh_rz.T @ h, dWh_n]),
         "bh": np.concatenate([dgh_rz.sum(axis=0), dbh_n.sum(axis=0)])})
    return dgx @ P["Wx"], dh_prev, None


CELLS = {"rnn": (rnn_forward, rnn_backward), "lstm": (lstm_forward, lstm_backward),
         "gru": (gru_forward, gru_backward)}


def _adder(grads: dict, t: int, T: int, sum_over_time: str):
    """Add one step's weight gradients: "all" sums over t; "last" keeps only t = T − 1's term
    (the sum left out); "assign" overwrites at every step of the reverse loop (leaves t = 0's)."""
    def add(step: dict) -> None:
        for k, v in step.items():
            if sum_over_time == "all":
                grads[k] = grads.get(k, 0) + v
            elif sum_over_time == "assign" or t == T - 1:
                grads[k] = v
            else:
                grads.setdefault(k, np.zeros_like(v))
    return add


def loss_and_grad(params, X, Y, cell="rnn", embedding=False, sum_over_time="all", reset="after", **slip):
    """[embedding →] cell → dense softmax at every step; mean softmax CE over B·T steps."""
    first = 2 if embedding else 1
    names = ("Wx", "Wh", "b", "bx", "bh")
    P = {k: params[f"{k}{first}"] for k in names if f"{k}{first}" in params}
    W, bo = params[f"W{first + 1}"], params[f"b{first + 1}"]
    x = params["E1"][X] if embedding else X
    B, T = X.shape[:2]
    H = P["Wh"].shape[1]
    forward, backward = CELLS[cell]
    h, c, hs, caches = np.zeros((B, H)), np.zeros((B, H)), [], []
    for t in range(T):
        h, c, cache = forward(x[:, t], h, c, P, reset)
        hs.append(h)
        caches.append(cache)
    Hs = np.stack(hs, axis=1)
    Z = Hs @ W.T + bo
    E = np.exp(Z - Z.max(axis=-1, keepdims=True))
    prob = E / E.sum(axis=-1, keepdims=True)
    loss = -np.sum(Y * np.log(prob)) / (B * T)
    dZ = (prob * Y.sum(axis=-1, keepdims=True) - Y) / (B * T)
    grads = {f"W{first + 1}": np.einsum("ntc,ntk->ck", dZ, Hs), f"b{first + 1}": dZ.sum(axis=(0, 1))}
    dHs = dZ @ W
    dx, dh_next, dc_next, cell_grads = np.zeros(x.shape), np.zeros((B, H)), np.zeros((B, H)), {}
    for t in reversed(range(T)):
        add = _adder(cell_grads, t, T, sum_over_time)
        dx[:, t], dh_next, dc_next = backward(dHs[:, t] + dh_next, dc_next, caches[t], P, add, slip)
    grads.update({f"{k}{first}": v for k, v in cell_grads.items()})
    if embedding:
        dE = np.zeros_like(params["E1"])
        np.add.at(dE, X, dx)
        grads["E1"] = dE
    return loss, grads


rnn_right = partial(loss_and_grad, cell="rnn")
rnn_last_step_only = partial(loss_and_grad, cell="rnn", sum_over_time="last")
rnn_assigned = partial(loss_and_grad, cell="rnn", sum_over_time="assign")
rnn_ids_right = partial(loss_and_grad, cell="rnn", embedding=True)
rnn_ids_last_step_only = partial(loss_and_grad, cell="rnn", embedding=True, sum_over_time="last")
lstm_right = partial(loss_and_grad, cell="lstm")
lstm_no_forget_path = partial(loss_and_grad, cell="lstm", no_forget_path=True)
lstm_last_step_only = partial(loss_and_grad, cell="lstm", sum_over_time="last")
gru_right = partial(loss_and_grad, cell="gru")
gru_reset_outside = partial(loss_and_grad, cell="gru", reset="outside")
gru_reset_before = partial(loss_and_grad, cell="gru", reset="before")
rnn_wrong_tanh_derivative = partial(loss_and_grad, cell="rnn", tanh_prime_wrong=True)  # no known slip
