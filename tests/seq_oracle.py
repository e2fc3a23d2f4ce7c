"""An independent forward pass in autograd.numpy for sequence layer lists (a test oracle).

Written the way course code writes it (a Python loop over steps, gates sliced from stacked
matrices, PyTorch's gate order), not from the engine's index formulas.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np

from tests.engine_oracle import ACTIVATIONS, LOSSES


def _sigmoid(z):
    return 1 / (1 + anp.exp(-z))


def rnn(x, P, l, size, returns="sequence", activation="tanh"):
    g, h, out = ACTIVATIONS[activation], anp.zeros((x.shape[0], size)), []
    for t in range(x.shape[1]):
        h = g(x[:, t] @ P[f"Wx{l}"].T + h @ P[f"Wh{l}"].T + P[f"b{l}"])
        out.append(h)
    return h if returns == "last" else anp.stack(out, axis=1)


def lstm(x, P, l, size, returns="sequence"):
    H = size
    h, c, out = anp.zeros((x.shape[0], H)), anp.zeros((x.shape[0], H)), []
    for t in range(x.shape[1]):
        s = x[:, t] @ P[f"Wx{l}"].T + h @ P[f"Wh{l}"].T + P[f"b{l}"]
        i, f = _sigmoid(s[:, :H]), _sigmoid(s[:, H:2 * H])
        g, o = anp.tanh(s[:, 2 * H:3 * H]), _sigmoid(s[:, 3 * H:])
        c = f * c + i * g
        h = o * anp.tanh(c)
        out.append(h)
    return h if returns == "last" else anp.stack(out, axis=1)


def gru(x, P, l, size, returns="sequence"):
    H = size
    h, out = anp.zeros((x.shape[0], H)), []
    for t in range(x.shape[1]):
        gx = x[:, t] @ P[f"Wx{l}"].T + P[f"bx{l}"]
        gh = h @ P[f"Wh{l}"].T + P[f"bh{l}"]
        r, z = _sigmoid(gx[:, :H] + gh[:, :H]), _sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
        n = anp.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
        out.append(h)
    return h if returns == "last" else anp.stack(out, axis=1)


def embedding(ids, P, l, vocab, size):
    return P[f"E{l}"][ids.astype(int)]


def dense(x, P, l, size, bias=True):
    return x @ P[f"W{l}"].T + (P[f"b{l}"] if bias else 0.0)


def layernorm(x, P, l, eps=1e-5):
    """nn.LayerNorm(features): over the last axis, at every step of a sequence."""
    mean = anp.mean(x, axis=-1, keepdims=True)
    var = anp.mean((x - mean) ** 2, axis=-1, keepdims=True)
    return P[f"gamma{l}"] * (x - mean) / anp.sqrt(var + eps) + P[f"beta{l}"]


def softmax(z):
    e = anp.exp(z - anp.max(z, axis=-1, keepdims=True))
    return e / anp.sum(e, axis=-1, keepdims=True)


LOSSES = {**LOSSES, "mse": lambda a, y: (y - a) ** 2 / a.shape[-1]}  # per step: over features
OPS = {"rnn": rnn, "lstm": lstm, "gru": gru, "embedding": embedding, "dense": dense,
       "layernorm": layernorm}
JOINS = {"add": lambda *xs: sum(xs), "concat": lambda *xs: anp.concatenate(xs, axis=-1)}  # features


def forward(layers, loss, P, X, Y, reduction="mean", time_reduction="mean"):
    """The scalar loss of a sequence layer list (the engine's conventions): a layer reads the
    previous one, or the layers its ``from`` names by ``id``."""
    x, by_id = X, {}
    for l, entry in enumerate(layers, start=1):
        entry = dict(entry)
        kind, name, sources = entry.pop("type", "dense"), entry.pop("id", None), entry.pop("from", None)
        act = None if kind in ("rnn", "lstm", "gru") else entry.pop("activation", None)
        args = [by_id[s] for s in sources] if sources else [x]
        x = JOINS[kind](*args) if kind in JOINS else OPS[kind](args[0], P, l, **entry)
        if act == "softmax":
            x = softmax(x)
        elif act is not None:
            x = ACTIVATIONS[act](x)
        if name is not None:
            by_id[name] = x
    total = anp.sum(LOSSES[loss](x, Y))
    scale = X.shape[0] if reduction == "mean" else 1
    if x.ndim == 3 and time_reduction == "mean":
        scale *= X.shape[1]
    return total / scale


def random_values(graph, seed: int, vocab: int | None = None, dtype=np.float64) -> dict[str, np.ndarray]:
    """Token ids (with ``vocab``) or normal inputs, weights scaled by 1/sqrt(fan-in), targets
    one-hot-ish (rows summing to 1 for softmax cross-entropy)."""
    rng = np.random.default_rng(seed)
    values = {}
    for name, shape in {**graph.inputs, **graph.params}.items():
        if name == "X" and vocab is not None:
            values[name] = rng.integers(0, vocab, shape).astype(dtype)
        elif name == "Y":
            k = shape[-1]
            values[name] = (np.eye(k)[rng.integers(0, k, shape[:-1])] * 0.8 + 0.2 / k).astype(dtype)
        else:
            fan_in = shape[-1] if name in graph.params and len(shape) > 1 else 1
            values[name] = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(dtype)
    return values
