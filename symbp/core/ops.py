"""The op registry: each op is one entry whose forward pass is written as index formulas.

Nothing here says how to differentiate: backward passes come from ``adjoint`` and ``graph``.
Shapes are batch-first: vectors (N, F), images (N, C, H, W).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import prod

import sympy as sp

from symbp.core import activations, losses
from symbp.core.errors import DerivationError

from .attention import attention
from .graph_build import Layer, index_set
from .ir import Tensor, Term
from .recurrent import CELLS, embedding, unroll


def pair(value: int | Sequence[int], what: str) -> tuple[int, int]:
    """(rows, columns) from one integer or two."""
    values = (value, value) if isinstance(value, int) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, int) and v >= 0 for v in values):
        raise DerivationError(f"{what} must be a non-negative integer or two of them, not {value!r}")
    return values


def _rank(x: Tensor, ranks: Sequence[int], op: str) -> None:
    if len(x.shape) not in ranks:
        allowed = " or ".join(map(str, ranks))
        raise DerivationError(f"{op} takes inputs of rank {allowed}, not shape {x.shape}")


AXIS_LETTERS = {1: "n", 2: "nf", 3: "ncl", 4: "nchw"}  # vectors (n, f), images (n, c, h, w)


def _elementwise(shape: Sequence[int]):
    """One index variable per axis, named as the axes of vectors and images are."""
    if len(shape) not in AXIS_LETTERS:
        raise DerivationError(f"tensors have 1 to 4 axes, not shape {tuple(shape)}")
    return index_set(AXIS_LETTERS[len(shape)], shape)


def _window(size: int, kernel: int, stride: int, pad: int, op: str) -> int:
    """Output length floor((size + 2·pad − kernel)/stride) + 1, which must be at least 1."""
    if stride < 1 or kernel < 1:
        raise DerivationError(f"{op}: kernel and stride must be at least 1")
    out = (size + 2 * pad - kernel) // stride + 1
    if out < 1:
        raise DerivationError(f"{op}: kernel {kernel} does not fit an input of size {size} (padding {pad})")
    return out


def dense(layer: Layer, x: Tensor, *, size: int, bias: bool = True) -> Tensor:
    """z[n, c] = Σ_k W[c, k]·x[n, k] + b[c]; on a sequence (n, t, k) the same W, b at every step."""
    _rank(x, [2, 3], "dense")
    lead = x.shape[:-1]
    (*outer, c, k), R = index_set("nt"[: len(lead)] + "ck", (*lead, size, x.shape[-1]))
    W = layer.param("W", (size, x.shape[-1]))
    terms = [Term(W[c, k] * x[(*outer, k)], (k,))]
    if bias:
        terms.append(Term(layer.param("b", (size,))[c]))
    return layer.compute("z", (*lead, size), (*outer, c), terms, R)


def conv2d(layer: Layer, x: Tensor, *, channels: int, kernel, stride=1, padding=0,
           bias: bool = True) -> Tensor:
    """z[n, c, i, j] = Σ_{k,p,q} W[c, k, p, q]·x[n, k, s·i + p − pad, s·j + q − pad] + b[c]."""
    _rank(x, [4], "conv2d")
    N, C, H, Wd = x.shape
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel, "kernel"), pair(stride, "stride"), pair(padding, "padding")
    Ho, Wo = _window(H, kh, sh, ph, "conv2d"), _window(Wd, kw, sw, pw, "conv2d")
    (n, c, i, j, k, p, q), R = index_set("ncijkpq", (N, channels, Ho, Wo, C, kh, kw))
    W = layer.param("W", (channels, C, kh, kw))
    terms = [Term(W[c, k, p, q] * x[n, k, sh * i + p - ph, sw * j + q - pw], (k, p, q))]
    if bias:
        terms.append(Term(layer.param("b", (channels,))[c]))
    return layer.compute("z", (N, channels, Ho, Wo), (n, c, i, j), terms, R)


def _pool(layer: Layer, x: Tensor, kernel, stride, op: str, kind: str) -> Tensor:
    _rank(x, [4], op)
    N, C, H, Wd = x.shape
    (kh, kw) = pair(kernel, "kernel")
    (sh, sw) = pair(kernel if stride is None else stride, "stride")
    Ho, Wo = _window(H, kh, sh, 0, op), _window(Wd, kw, sw, 0, op)
    (n, c, i, j, p, q), R = index_set("ncijpq", (N, C, Ho, Wo, kh, kw))
    window = x[n, c, sh * i + p, sw * j + q]
    body = window if kind == "max" else window / (kh * kw)
    return layer.compute("pool", (N, C, Ho, Wo), (n, c, i, j), [Term(body, (p, q), kind)], R)


def maxpool2d(layer: Layer, x: Tensor, *, kernel, stride=None) -> Tensor:
    """out[n, c, i, j] = max_{p,q} x[n, c, s·i + p, s·j + q] (no padding)."""
    return _pool(layer, x, kernel, stride, "maxpool2d", "max")


def avgpool2d(layer: Layer, x: Tensor, *, kernel, stride=None) -> Tensor:
    """out[n, c, i, j] = Σ_{p,q} x[n, c, s·i + p, s·j + q] / (kh·kw)."""
    return _pool(layer, x, kernel, stride, "avgpool2d", "sum")


def _normalise(layer: Layer, x: Tensor, stat_axes: Sequence[int], eps: float) -> Tensor:
    """x̂ = (x − mean)/sqrt(var + eps) over the axes not in ``stat_axes`` (biased variance)."""
    idx, R = _elementwise(x.shape)
    kept = [idx[a] for a in stat_axes]
    summed = tuple(v for v in idx if v not in kept)
    stat_shape = [x.shape[a] for a in stat_axes]
    count = prod(x.shape) // prod(stat_shape)
    mean = layer.compute("mean", stat_shape, kept, [Term(x[tuple(idx)] / count, summed)], R)
    xc = layer.compute("centered", x.shape, idx, [Term(x[tuple(idx)] - mean[tuple(kept)])], R)
    var = layer.compute("var", stat_shape, kept, [Term(xc[tuple(idx)] ** 2 / count, summed)], R)
    eps = sp.nsimplify(eps, rational=True)
    return layer.compute("xhat", x.shape, idx, [Term(xc[tuple(idx)] / sp.sqrt(var[tuple(kept)] + eps))], R)


def _affine_out(layer: Layer, xhat: Tensor, axes: Sequence[int]) -> Tensor:
    """y = γ·x̂ + β with γ, β indexed by ``axes`` of x̂."""
    idx, R = _elementwise(xhat.shape)
    shape = [xhat.shape[a] for a in axes]
    gamma, beta = layer.param("gamma", shape), layer.param("beta", shape)
    at = tuple(idx[a] for a in axes)
    return layer.compute("y", xhat.shape, idx, [Term(gamma[at] * xhat[tuple(idx)] + beta[at])], R)


def batchnorm(layer: Layer, x: Tensor, *, eps: float = 1e-5) -> Tensor:
    """Training mode: batch statistics per channel (or feature), biased variance; γ, β per channel."""
    _rank(x, [2, 4], "batchnorm")
    return _affine_out(layer, _normalise(layer, x, [1], eps), [1])


def layernorm(layer: Layer, x: Tensor, *, eps: float = 1e-5) -> Tensor:
    """Statistics over all of a sample's features; γ, β shaped like one sample. A sequence
    (n, t, k) is normalised at every step over its features, γ, β (k,): nn.LayerNorm(k)."""
    _rank(x, [2, 3, 4], "layernorm")
    if len(x.shape) == 3:
        return _affine_out(layer, _normalise(layer, x, [0, 1], eps), [2])
    sample = list(range(1, len(x.shape)))
    return _affine_out(layer, _normalise(layer, x, [0], eps), sample)


def dropout(layer: Layer, x: Tensor, *, rate: float) -> Tensor:
    """Inverted dropout: y = x·mask/(1 − rate), the 0/1 mask an input."""
    if not 0 <= rate < 1:
        raise DerivationError(f"dropout rate must lie in [0, 1), not {rate!r}")
    idx, R = _elementwise(x.shape)
    mask = layer.data("mask", x.shape)
    keep = 1 - sp.nsimplify(rate, rational=True)
    return layer.compute("y", x.shape, idx, [Term(x[tuple(idx)] * mask[tuple(idx)] / keep)], R)


def add(layer: Layer, *xs: Tensor) -> Tensor:
    """y = Σ_i x_i (equal shapes): a residual or skip connection."""
    if len({x.shape for x in xs}) != 1:
        raise DerivationError(f"add needs inputs of one shape, not {[x.shape for x in xs]}")
    idx, R = _elementwise(xs[0].shape)
    return layer.compute("sum", xs[0].shape, idx, [Term(sum(x[tuple(idx)] for x in xs))], R)


def concat(layer: Layer, *xs: Tensor) -> Tensor:
    """Join along features/channels: y[n, c] = Σ_i x_i[n, c − offset_i] (out-of-range reads are 0);
    sequences (n, t, k) join their features at every step, y[n, t, k] = Σ_i x_i[n, t, k − offset_i]."""
    axis = 2 if len(xs[0].shape) == 3 else 1  # rank 3 is a sequence, as for dense and the loss
    rest = {x.shape[:axis] + x.shape[axis + 1:] for x in xs}
    if len(rest) != 1:
        shapes = [x.shape for x in xs]
        raise DerivationError(f"concat needs inputs that differ in axis {axis} only, not {shapes}")
    offsets = [sum(x.shape[axis] for x in xs[:i]) for i in range(len(xs))]
    shape = (*xs[0].shape[:axis], sum(x.shape[axis] for x in xs), *xs[0].shape[axis + 1:])
    idx, R = _elementwise(shape)
    body = sum(x[(*idx[:axis], idx[axis] - off, *idx[axis + 1:])] for x, off in zip(xs, offsets))
    return layer.compute("cat", shape, idx, [Term(body)], R)


def flatten(layer: Layer, x: Tensor) -> Tensor:
    """y[n, c·H·W + h·W + w] = x[n, c, h, w]: a sample's (C, H, W) order, as NumPy's reshape."""
    idx, R = _elementwise(x.shape)
    strides = [prod(x.shape[a + 1:]) for a in range(1, len(x.shape))]
    flat = sum(s * v for s, v in zip(strides, idx[1:]))
    return layer.compute("flat", (x.shape[0], prod(x.shape[1:])), (idx[0], flat), [Term(x[tuple(idx)])], R)


def activation(layer: Layer, x: Tensor, *, name: str) -> Tensor:
    """a = g(z) elementwise, g from the activation registry; softmax over the features."""
    entry = activations.REGISTRY.get(name)
    if entry is None:
        raise DerivationError(f"unknown activation {name!r}; known: {', '.join(activations.REGISTRY)}")
    if entry.vector:
        return softmax(layer, x)
    idx, R = _elementwise(x.shape)
    body = entry.instantiate().xreplace({activations.x: x[tuple(idx)]})
    return layer.compute("a", x.shape, idx, [Term(body)], R)


def softmax(layer: Layer, x: Tensor) -> Tensor:
    """a[n, k] = exp(L[n, k]) with the log-softmax L[n, k] = z[n, k] − m[n] − log Σ_j exp(z[n, j] − m[n]),
    m = max_k z[n, k]: every exp is at most 1 and the sum at least 1, so L is finite for any z.

    The shift m leaves L unchanged (proven in the tests), so no gradient flows through it.
    A loss that takes log(a) reads L instead (``log_of_exp``).
    """
    _rank(x, [2, 3], "softmax")
    (*n, k), R = index_set("nt"[: len(x.shape) - 1] + "k", x.shape)  # a sequence: per step
    n, at = tuple(n), (*n, k)
    m = layer.compute("shift", x.shape[:-1], n, [Term(x[at], (k,), "max")], R, differentiable=False)
    e = layer.compute("exp", x.shape, at, [Term(sp.exp(x[at] - m[n]))], R)
    s = layer.compute("total", x.shape[:-1], n, [Term(e[at], (k,))], R)
    log_a = layer.compute("log", x.shape, at, [Term(x[at] - m[n] - sp.log(s[n]))], R)
    return layer.compute("a", x.shape, at, [Term(sp.exp(log_a[at]))], R)


def log_of_exp(graph, expr: sp.Expr) -> sp.Expr:
    """expr with log(t[i]) replaced by u[i] wherever t is computed elementwise as exp(u): a loss
    then reads the log-softmax itself, finite where a probability underflows to 0."""
    defined = {c.name: c for c in graph.computes}
    swap = {}
    for log in expr.atoms(sp.log):
        arg = log.args[0]
        c = defined.get(arg.base.label.name) if isinstance(arg, sp.Indexed) else None
        if c is None or len(c.terms) != 1 or c.terms[0].reduce or tuple(c.index) != c.free:
            continue
        if isinstance(c.terms[0].body, sp.exp):
            swap[log] = c.terms[0].body.args[0].xreplace(dict(zip(c.index, arg.indices)))
    return expr.xreplace(swap)


def loss(layer: Layer, a: Tensor, *, name: str, reduction: str = "mean",
         time_reduction: str = "mean") -> Tensor:
    """J = (1/N) Σ_{n,k} ℓ(a[n, k], Y[n, k]) with ℓ from the loss registry (sum: no 1/N).

    On a sequence a[n, t, k] the terms of every step count, divided by T for a time mean.
    """
    _rank(a, [2, 3], "loss")
    entry = losses.REGISTRY.get(name)
    if entry is None:
        raise DerivationError(f"unknown loss {name!r}; known: {', '.join(losses.REGISTRY)}")
    idx, R = index_set("nt"[: len(a.shape) - 1] + "k", a.shape)
    at = tuple(idx)
    y = layer.data("Y", a.shape, numbered=False)
    term = entry.term.subs(losses.N_OUT, a.shape[-1]).xreplace({losses.a: a[at], losses.y: y[at]})
    term = log_of_exp(layer.graph, term)
    scale = sp.Rational(1, a.shape[0]) if reduction == "mean" else sp.Integer(1)
    if len(a.shape) == 3 and time_reduction == "mean":
        scale /= a.shape[1]
    out = layer.compute("J", (), (), [Term(term * scale, at)], R, role="loss")
    layer.graph.output = out.name
    return out


@dataclass(frozen=True)
class OpDef:
    """One registry entry: the builder and how many inputs it reads (None: two or more)."""

    build: Callable[..., Tensor]
    inputs: int | None = 1


OPS: dict[str, OpDef] = {
    "dense": OpDef(dense), "conv2d": OpDef(conv2d), "maxpool2d": OpDef(maxpool2d),
    "avgpool2d": OpDef(avgpool2d), "batchnorm": OpDef(batchnorm), "layernorm": OpDef(layernorm),
    "dropout": OpDef(dropout), "add": OpDef(add, None), "concat": OpDef(concat, None),
    "flatten": OpDef(flatten), "activation": OpDef(activation), "softmax": OpDef(softmax),
    "loss": OpDef(loss), "attention": OpDef(attention), "embedding": OpDef(embedding),
    **{kind: OpDef(unroll(kind)) for kind in CELLS},
}
