"""An independent forward pass in autograd.numpy for engine layer lists (a test oracle).

Each op is written the usual array way (padding by concatenation, pooling by stacking
strided slices, reshape for flatten), not from the engine's index formulas, so agreement of
gradients checks both the formulas and their derivation.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np

ACTIVATIONS = {
    "sigmoid": lambda z: 1 / (1 + anp.exp(-z)), "tanh": anp.tanh, "relu": lambda z: anp.maximum(z, 0.0),
    "leaky_relu": lambda z: anp.where(z > 0, z, 0.01 * z), "identity": lambda z: z,
    "softplus": lambda z: anp.logaddexp(0.0, z),
    "softmax": lambda z: anp.exp(z - anp.max(z, axis=1, keepdims=True))
    / anp.sum(anp.exp(z - anp.max(z, axis=1, keepdims=True)), axis=1, keepdims=True),
}
LOSSES = {
    "half_sse": lambda a, y: 0.5 * (y - a) ** 2, "sse": lambda a, y: (y - a) ** 2,
    "mse": lambda a, y: (y - a) ** 2 / a.shape[1],
    "bce": lambda a, y: -(y * anp.log(a) + (1 - y) * anp.log(1 - a)),
    "ce": lambda a, y: -y * anp.log(a), "softmax_ce": lambda a, y: -y * anp.log(a),
}


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _pad(x, ph, pw):
    n, c, h, w = x.shape
    if ph:
        z = anp.zeros((n, c, ph, w))
        x = anp.concatenate([z, x, z], axis=2)
    if pw:
        z = anp.zeros((n, c, x.shape[2], pw))
        x = anp.concatenate([z, x, z], axis=3)
    return x


def _windows(x, kernel, stride):
    """Stack of strided slices, one per kernel offset: shape (kh·kw, N, C, Ho, Wo)."""
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    return anp.stack([x[:, :, p:p + sh * (ho - 1) + 1:sh, q:q + sw * (wo - 1) + 1:sw]
                      for p in range(kh) for q in range(kw)])


def conv2d(x, P, l, channels, kernel, stride=1, padding=0):
    (kh, kw), (ph, pw) = _pair(kernel), _pair(padding)
    cols = _windows(_pad(x, ph, pw), (kh, kw), _pair(stride))
    W = P[f"W{l}"].reshape(channels, x.shape[1], kh * kw)
    return anp.einsum("tnkij,ckt->ncij", cols, W) + P[f"b{l}"][None, :, None, None]


def pool(x, kernel, stride, reduce):
    kernel = _pair(kernel)
    return reduce(_windows(x, kernel, _pair(kernel if stride is None else stride)), axis=0)


def norm(x, P, l, axes, param_shape, eps=1e-5):
    mean = anp.mean(x, axis=axes, keepdims=True)
    var = anp.mean((x - mean) ** 2, axis=axes, keepdims=True)
    xhat = (x - mean) / anp.sqrt(var + eps)
    return P[f"gamma{l}"].reshape(param_shape) * xhat + P[f"beta{l}"].reshape(param_shape)


def _batchnorm(x, P, l, eps=1e-5):
    shape = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
    return norm(x, P, l, (0, 2, 3) if x.ndim == 4 else (0,), shape, eps)


def _layernorm(x, P, l, eps=1e-5):
    return norm(x, P, l, tuple(range(1, x.ndim)), (1, *x.shape[1:]), eps)


def attention(x, P, l, causal=False, scaled=True):
    """softmax(Q·Kᵀ/√D + mask)·V·Woᵀ with Q = x·Wqᵀ, …, masked keys at −inf, as courses write it."""
    q, k, v = (anp.einsum("ntd,ed->nte", x, P[f"{w}{l}"]) for w in ("Wq", "Wk", "Wv"))
    scores = anp.einsum("nte,nse->nts", q, k) / (np.sqrt(x.shape[2]) if scaled else 1.0)
    if causal:
        T = x.shape[1]
        scores = anp.where(np.tril(np.ones((T, T), bool)), scores, -np.inf)
    shifted = anp.exp(scores - anp.max(scores, axis=2, keepdims=True))
    p = shifted / anp.sum(shifted, axis=2, keepdims=True)
    return anp.einsum("nte,ce->ntc", anp.einsum("nts,nse->nte", p, v), P[f"Wo{l}"])


OPS = {
    "dense": lambda x, P, l, size, bias=True: x @ P[f"W{l}"].T + (P[f"b{l}"] if bias else 0.0),
    "conv2d": conv2d,
    "maxpool2d": lambda x, P, l, kernel, stride=None: pool(x, kernel, stride, anp.max),
    "avgpool2d": lambda x, P, l, kernel, stride=None: pool(x, kernel, stride, anp.mean),
    "batchnorm": _batchnorm, "layernorm": _layernorm,
    "dropout": lambda x, P, l, rate: x * P[f"mask{l}"] / (1 - rate),
    "flatten": lambda x, P, l: anp.reshape(x, (x.shape[0], -1)),
    "add": lambda *xs_P_l: sum(xs_P_l[:-2]),
    "concat": lambda *xs_P_l: anp.concatenate(xs_P_l[:-2], axis=1),
    "attention": attention,
}


def forward(layers, loss, P, X, Y, reduction="mean", ops=None):
    """The scalar loss of a layer list (the engine's ``build`` conventions); ``ops``
    adds oracles for user-defined ops, called as ``f(*inputs, P, l)``."""
    x, by_id, ops = X, {}, {**OPS, **(ops or {})}
    for l, entry in enumerate(layers, start=1):
        entry = dict(entry)
        kind, name, sources = entry.pop("type", "dense"), entry.pop("id", None), entry.pop("from", None)
        act = entry.pop("activation", None)
        args = [by_id[s] for s in sources] if sources else [x]
        if kind in ("add", "concat") or kind not in OPS:
            x = ops[kind](*args, P, l)
        else:
            x = ops[kind](args[0], P, l, **entry)
        if act is not None:
            x = ACTIVATIONS[act](x)
        if name is not None:
            by_id[name] = x
    total = anp.sum(LOSSES[loss](x, Y))
    return total / X.shape[0] if reduction == "mean" else total


def random_values(graph, seed: int, dtype=np.float64) -> dict[str, np.ndarray]:
    """Inputs and parameters for a graph: normal values, 0/1 masks, targets in (0, 1) or one-hot.

    Weights are scaled by 1/sqrt(fan-in), as initialisers do: unscaled, deep sums saturate
    tanh and σ, where a − 1 and 1 − a² keep only a few correct digits in any float64 code.
    """
    rng = np.random.default_rng(seed)
    values = {}
    for name, shape in {**graph.inputs, **graph.params}.items():
        if name.startswith("mask"):
            values[name] = (rng.random(shape) < 0.7).astype(dtype)
        elif name == "Y":
            values[name] = np.eye(shape[1], dtype=dtype)[rng.integers(0, shape[1], shape[0])] * 0.8 + 0.1
        elif name.startswith("gamma"):
            values[name] = (1 + 0.3 * rng.standard_normal(shape)).astype(dtype)
        else:
            fan_in = int(np.prod(shape[1:])) if name in graph.params and len(shape) > 1 else 1
            values[name] = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(dtype)
    return values
