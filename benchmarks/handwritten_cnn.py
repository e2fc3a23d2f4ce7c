"""Careful hand-written NumPy training steps for the graph networks (CS231n "fast layers" style).

Convolution is im2col + one GEMM forward, and one GEMM for each gradient with col2im (one
strided add per kernel offset) for the input's; max pooling with stride = kernel is a reshape,
its backward routes δ to the window's maximum; batchnorm uses the compact backward
dx = (γ/σ)(dŷ − mean(dŷ) − x̂·mean(dŷ ⊙ x̂)); softmax cross-entropy goes through log-softmax.
The layer list is a graph spec's; parameters are keyed as the generated kernels key them.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

EPS = 1e-5


def _im2col(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, ho: int, wo: int) -> np.ndarray:
    """(C·kh·kw, N·Ho·Wo) columns of a padded (N, C, H, W) input: one copy of a strided view."""
    n, c, _, _ = xp.shape
    s = xp.strides
    view = as_strided(xp, (c, kh, kw, n, ho, wo), (s[1], s[2], s[3], s[0], s[2] * sh, s[3] * sw))
    return view.reshape(c * kh * kw, n * ho * wo)


def _col2im(cols: np.ndarray, shape: tuple, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int,
            ho: int, wo: int) -> np.ndarray:
    """The adjoint of _im2col: each kernel offset's column block added back at its window."""
    n, c, h, w = shape
    out = np.zeros((n, c, h + 2 * ph, w + 2 * pw), cols.dtype)
    blocks = cols.reshape(c, kh, kw, n, ho, wo)
    for p in range(kh):
        for q in range(kw):
            out[:, :, p:p + sh * ho:sh, q:q + sw * wo:sw] += blocks[:, p, q].transpose(1, 0, 2, 3)
    return out[:, :, ph:ph + h, pw:pw + w]


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _padding(layer: dict) -> tuple[int, int]:
    pad = layer.get("padding", 0)
    if pad == "same":
        kh, kw = _pair(layer["kernel"])
        return (kh - 1) // 2, (kw - 1) // 2
    return (0, 0) if pad == "valid" else _pair(pad)


def make_step(layers: list[dict]):
    """loss_and_grad(params, X, Y, masks) for a chain of conv2d, batchnorm, maxpool2d (stride =
    kernel), flatten, dropout and dense layers with relu / softmax activations."""

    def loss_and_grad(params, X, Y, masks):
        caches, x = [], X
        for pos, layer in enumerate(layers, start=1):
            x, cache = FORWARD[layer.get("type", "dense")](x, params, pos, layer, masks)
            caches.append(cache)
            if layer.get("activation") == "relu":
                x = np.maximum(x, 0)
                caches.append(("relu", x))
        m = x.max(axis=1, keepdims=True)
        log_p = x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))
        B = len(X)
        J = -(Y * log_p).sum() / B
        d = (np.exp(log_p) * Y.sum(axis=1, keepdims=True) - Y) / B
        grads = {}
        for pos in range(len(layers), 0, -1):
            layer = layers[pos - 1]
            if layer.get("activation") == "relu":
                d = d * (caches.pop()[1] > 0)
            d = BACKWARD[layer.get("type", "dense")](d, caches.pop(), params, pos, layer, grads)
        return J, grads

    return loss_and_grad


def _conv_fwd(x, params, pos, layer, masks):
    W, b = params[f"W{pos}"], params[f"b{pos}"]
    f, c, kh, kw = W.shape
    (sh, sw), (ph, pw) = _pair(layer.get("stride", 1)), _padding(layer)
    n, _, h, w = x.shape
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    cols = _im2col(np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))), kh, kw, sh, sw, ho, wo)
    out = (W.reshape(f, -1) @ cols).reshape(f, n, ho, wo).transpose(1, 0, 2, 3) + b[None, :, None, None]
    return out, (cols, x.shape, (kh, kw, sh, sw, ph, pw, ho, wo))


def _conv_bwd(d, cache, params, pos, layer, grads):
    cols, shape, geometry = cache
    W = params[f"W{pos}"]
    f = W.shape[0]
    d2 = d.transpose(1, 0, 2, 3).reshape(f, -1)
    grads[f"W{pos}"] = (d2 @ cols.T).reshape(W.shape)
    grads[f"b{pos}"] = d.sum(axis=(0, 2, 3))
    if pos == 1:
        return None  # the input's gradient is not needed
    return _col2im(W.reshape(f, -1).T @ d2, shape, *geometry)


def _pool_fwd(x, params, pos, layer, masks):
    k = _pair(layer["kernel"])
    if _pair(layer.get("stride", layer["kernel"])) != k:
        raise ValueError("the hand-written max pooling takes stride = kernel")
    n, c, h, w = x.shape
    r = x[:, :, :h - h % k[0], :w - w % k[1]].reshape(n, c, h // k[0], k[0], w // k[1], k[1])
    out = r.max(axis=3).max(axis=4)
    return out, (r, out, x.shape)


def _pool_bwd(d, cache, params, pos, layer, grads):
    r, out, shape = cache
    hit = r == out[:, :, :, None, :, None]
    dx = np.zeros(shape, d.dtype)
    n, c, ho, kh, wo, kw = r.shape
    dx[:, :, :ho * kh, :wo * kw] = (hit * d[:, :, :, None, :, None]).reshape(n, c, ho * kh, wo * kw)
    return dx


def _bn_fwd(x, params, pos, layer, masks):
    axes = (0, 2, 3) if x.ndim == 4 else (0,)
    shape = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
    mean = x.mean(axis=axes).reshape(shape)
    inv = 1 / np.sqrt(x.var(axis=axes).reshape(shape) + EPS)
    xhat = (x - mean) * inv
    out = params[f"gamma{pos}"].reshape(shape) * xhat + params[f"beta{pos}"].reshape(shape)
    return out, (xhat, inv, axes, shape)


def _bn_bwd(d, cache, params, pos, layer, grads):
    xhat, inv, axes, shape = cache
    grads[f"gamma{pos}"] = (d * xhat).sum(axis=axes)
    grads[f"beta{pos}"] = d.sum(axis=axes)
    dxhat = d * params[f"gamma{pos}"].reshape(shape)
    return inv * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                  - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))


def _flatten_fwd(x, params, pos, layer, masks):
    return x.reshape(len(x), -1), x.shape


def _flatten_bwd(d, shape, params, pos, layer, grads):
    return d.reshape(shape)


def _dropout_fwd(x, params, pos, layer, masks):
    scale = masks[f"mask{pos}"] / (1 - layer["rate"])
    return x * scale, scale


def _dropout_bwd(d, scale, params, pos, layer, grads):
    return d * scale


def _dense_fwd(x, params, pos, layer, masks):
    return x @ params[f"W{pos}"].T + params[f"b{pos}"], x


def _dense_bwd(d, x, params, pos, layer, grads):
    grads[f"W{pos}"] = d.T @ x
    grads[f"b{pos}"] = d.sum(axis=0)
    return d @ params[f"W{pos}"]


FORWARD = {"conv2d": _conv_fwd, "maxpool2d": _pool_fwd, "batchnorm": _bn_fwd, "flatten": _flatten_fwd,
           "dropout": _dropout_fwd, "dense": _dense_fwd}
BACKWARD = {"conv2d": _conv_bwd, "maxpool2d": _pool_bwd, "batchnorm": _bn_bwd, "flatten": _flatten_bwd,
            "dropout": _dropout_bwd, "dense": _dense_bwd}
