"""Single-head scaled dot-product self-attention, written only as index formulas.

X is (N, T, D); q = x·Wqᵀ, k = x·Wkᵀ, v = x·Wvᵀ and the output x'·Woᵀ follow PyTorch's linear
convention (weights (D, D), no biases). Scores are scaled by 1/√D and normalised by a softmax
over the keys of each query row, shifted by the row's max (which passes no gradient, as the
engine's softmax). The causal mask is a guard, 0 ≤ t − s < T: key s counts only up to query t.
"""

from __future__ import annotations

import sympy as sp

from symbp.core.errors import DerivationError

from .graph_build import Layer, index_set
from .ir import Guard, Tensor, Term

PROJECTIONS = ("Wq", "Wk", "Wv")


def _project(layer: Layer, x: Tensor, stem: str, part: str) -> Tensor:
    """out[n, t, e] = Σ_d W[e, d]·x[n, t, d] (x·Wᵀ, the weight (D_out, D_in) as PyTorch's)."""
    N, T, D = x.shape
    (n, t, e, d), R = index_set("nted", (N, T, D, D))
    W = layer.param(stem, (D, D))
    return layer.compute(part, (N, T, D), (n, t, e), [Term(W[e, d] * x[n, t, d], (d,))], R)


def _row_softmax(layer: Layer, scores: Tensor, nts: tuple, guards: tuple[Guard, ...], R: dict) -> Tensor:
    """p[n, t, s] = exp(S[n, t, s] − m[n, t]) / Σ_s exp(S[n, t, s] − m[n, t]) over the keys the
    guards admit, m the row's max over them (a shift the result does not depend on)."""
    n, t, s = nts
    N, T, _ = scores.shape
    m = layer.compute("shift", (N, T), (n, t), [Term(scores[n, t, s], (s,), "max", guards)], R,
                      differentiable=False)
    e = layer.compute("exp", scores.shape, (n, t, s), [Term(sp.exp(scores[n, t, s] - m[n, t]), (), "sum",
                                                            guards)], R)
    total = layer.compute("total", (N, T), (n, t), [Term(e[n, t, s], (s,))], R)
    return layer.compute("p", scores.shape, (n, t, s), [Term(e[n, t, s] / total[n, t])], R)


def attention(layer: Layer, x: Tensor, *, causal: bool = False, scaled: bool = True) -> Tensor:
    """y[n, t, c] = Σ_e Wo[c, e]·Σ_s p[n, t, s]·v[n, s, e], p = softmax_s(q[n, t]·k[n, s]/√D).

    ``scaled=False`` leaves out the 1/√D: only the slip diagnosis builds that on purpose.
    """
    if len(x.shape) != 3:
        raise DerivationError(f"attention takes inputs of shape (batch, time, features), not {x.shape}")
    N, T, D = x.shape
    q, k, v = (_project(layer, x, stem, part) for stem, part in zip(PROJECTIONS, "qkv"))
    (n, t, s, e, c), R = index_set("ntsec", (N, T, T, D, D))
    scale = 1 / sp.sqrt(D) if scaled else sp.Integer(1)
    scores = layer.compute("scores", (N, T, T), (n, t, s), [Term(q[n, t, e] * k[n, s, e] * scale, (e,))], R)
    guards: tuple[Guard, ...] = ((t - s, T),) if causal else ()
    p = _row_softmax(layer, scores, (n, t, s), guards, R)
    mix = layer.compute("mix", (N, T, D), (n, t, e), [Term(p[n, t, s] * v[n, s, e], (s,))], R)
    Wo = layer.param("Wo", (D, D))
    return layer.compute("y", (N, T, D), (n, t, c), [Term(Wo[c, e] * mix[n, t, e], (e,))], R)
