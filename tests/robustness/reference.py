"""A high-precision reference for small dense networks, written from the textbook equations.

Activations and losses come from their sympy *definitions* (g and ℓ, differentiated by sympy
here, not the derivation's simplified or stable forms), evaluated with mpmath at 600 digits:
enough that 1 − σ(1000) = 5·10⁻⁴³⁵ keeps 165 digits, so for pre-activations up to ±1e3 every
quantity the tests compare is correct to well over 50 digits. Inputs are taken exactly as the
float32 or float64 values the kernel sees.

Backpropagation is the plain chain rule: δ^L = r·u ⊙ g'(z^L) (softmax: δ_i = r·a_i(u_i − Σ_k u_k a_k)
with u = ∂ℓ/∂a), δ^l = (δ^{l+1} W^{l+1}) ⊙ g'(z^l), ∂J/∂W^l = δ^lᵀ a^{l−1}, ∂J/∂b^l = Σ_n δ^l.
"""

from __future__ import annotations

from functools import cache

import mpmath
import numpy as np
import sympy as sp

from symbp.core import activations as act
from symbp.core import losses

DIGITS = 600  # 1 − σ(1000) = 5e-435 keeps 165 digits; see the module docstring
MP = mpmath.mp  # every function below runs inside MP.workdps(DIGITS)


def magnitude(expr: sp.Expr) -> sp.Expr:
    """|expr| with every sum replaced by the sum of its terms' absolute values: the scale that
    rounding errors in evaluating expr are proportional to (1 − a² at a ≈ 1 is 0, but any
    float evaluation of it is only good to ε·(1 + a²))."""
    return sp.Abs(expr.replace(lambda e: isinstance(e, sp.Add),
                               lambda e: sp.Add(*[sp.Abs(t) for t in e.args])))


_MODULES = [{"Heaviside": lambda v, h0=0: _heaviside(v, h0)}, "mpmath"]


@cache
def _elementwise(expr: sp.Expr):
    """(g, g', |g'| with absolute terms) as mpmath functions of one number."""
    dexpr = sp.diff(expr, act.x)
    g = sp.lambdify(act.x, expr, modules=_MODULES)
    dg = sp.lambdify(act.x, dexpr, modules=_MODULES)
    dg_mag = sp.lambdify(act.x, magnitude(dexpr), modules=_MODULES)
    return g, dg, dg_mag


def _heaviside(v, h0=0):  # H(0) = 0: the subgradient autodiff tools (and the kernels) use
    return MP.mpf(1) if v > 0 else MP.mpf(0) if v < 0 else MP.mpf(h0)


@cache
def _loss(term: sp.Expr):
    """(ℓ, ∂ℓ/∂a, and their absolute-term magnitudes) as mpmath functions of (a, y)."""
    du = sp.diff(term, losses.a)
    args = (losses.a, losses.y)
    return tuple(sp.lambdify(args, e, modules="mpmath")
                 for e in (term, du, magnitude(term), magnitude(du)))


def _mat(array) -> list[list]:
    array = np.asarray(array)
    if array.ndim == 0:
        return [[MP.mpf(float(array))]]
    if array.ndim == 1:
        return [[MP.mpf(float(v)) for v in array]]
    return [[MP.mpf(float(v)) for v in row] for row in array]


def _matmul_t(a, w):
    """a @ wᵀ for lists of rows."""
    return [[MP.fsum(x * y for x, y in zip(row, wrow)) for wrow in w] for row in a]


def reference(net, params: dict, X: np.ndarray, Y: np.ndarray):
    """(output a^L, J, grads, magnitudes) as lists of mpf rows, for a network with weights stored
    (out, in). ``magnitudes`` holds, for J and each gradient, the same computation with every
    sum taken over absolute values (``magnitude``): the scale that rounding errors are measured
    against, since a sum that cancels (a − y at a ≈ y, 1 − a² at a ≈ 1) can be no more accurate
    than its terms."""
    with MP.workdps(DIGITS):
        return _reference(net, params, X, Y)


def _weights(net, params: dict, l: int) -> list[list]:
    """W^l as (out, in) rows, whatever the spec's layout."""
    W = np.asarray(params[f"W{l}"])
    return _mat(W if net.weight_layout == "out_in" else W.T)


def _reference(net, params: dict, X: np.ndarray, Y: np.ndarray):
    from symbp.backprop.matrix import B as BATCH
    from symbp.backprop.matrix import reg_coefficient

    Xm, Ym = _mat(X), _mat(Y)
    B = len(Xm)
    r = MP.mpf(1) / B if net.reduction == "mean" else MP.mpf(1)
    coefficient = sp.Rational(reg_coefficient(net).subs(BATCH, B))  # c in c·ΣW², exact
    c = MP.mpf(int(coefficient.p)) / int(coefficient.q)
    a_prev, zs, a_s = Xm, [], [Xm]
    for l in range(1, net.depth + 1):
        W = _weights(net, params, l)
        z = _matmul_t(a_prev, W)
        if f"b{l}" in params:
            b = _mat(params[f"b{l}"])[0]
            z = [[v + (b[0] if len(b) == 1 else b[k]) for k, v in enumerate(row)] for row in z]
        expr = net.activation_expr(l)
        if expr is None:  # softmax, shifted by the row maximum (exact either way at 1000 digits)
            a_next = []
            for row in z:
                m = max(row)
                e = [MP.exp(v - m) for v in row]
                s = MP.fsum(e)
                a_next.append([v / s for v in e])
        else:
            g = _elementwise(expr)[0]
            a_next = [[g(v) for v in row] for row in z]
        zs.append(z)
        a_s.append(a_next)
        a_prev = a_next
    term = net.loss_entry().term.subs(losses.N_OUT, net.layers[-1].size)
    ell, du, ell_mag, du_mag = _loss(term)
    out = a_s[-1]
    pairs = [list(zip(row, yrow)) for row, yrow in zip(out, Ym)]
    squares = MP.fsum(w * w for l in range(1, net.depth + 1) for row in _weights(net, params, l)
                      for w in row)
    J = r * MP.fsum(ell(a, y) for row in pairs for a, y in row) + c * squares
    magnitudes = {"J": r * MP.fsum(ell_mag(a, y) for row in pairs for a, y in row) + abs(c) * squares}
    u = [[du(a, y) for a, y in row] for row in pairs]
    um = [[du_mag(a, y) for a, y in row] for row in pairs]
    L = net.depth
    expr = net.activation_expr(L)
    if expr is None:  # δ_i = r·a_i(u_i − Σ_k u_k a_k)
        delta, dmag = [], []
        for urow, umrow, arow in zip(u, um, out):
            dot = MP.fsum(uk * ak for uk, ak in zip(urow, arow))
            dot_mag = MP.fsum(uk * ak for uk, ak in zip(umrow, arow))
            delta.append([r * ai * (ui - dot) for ui, ai in zip(urow, arow)])
            dmag.append([r * ai * (ui + dot_mag) for ui, ai in zip(umrow, arow)])
    else:
        _, dg, dg_mag = _elementwise(expr)
        delta = [[r * uk * dg(zk) for uk, zk in zip(urow, zrow)] for urow, zrow in zip(u, zs[L - 1])]
        dmag = [[r * uk * dg_mag(zk) for uk, zk in zip(urow, zrow)] for urow, zrow in zip(um, zs[L - 1])]
    grads = {}
    for l in range(L, 0, -1):
        prev = a_s[l - 1]
        n_out, n_in = len(delta[0]), len(prev[0])
        W = _weights(net, params, l)
        dW = [[MP.fsum(delta[n][i] * prev[n][j] for n in range(B)) + 2 * c * W[i][j]
               for j in range(n_in)] for i in range(n_out)]
        grads[f"W{l}"] = dW if net.weight_layout == "out_in" else [list(col) for col in zip(*dW)]
        magnitudes[f"W{l}"] = max(MP.fsum(dmag[n][i] * abs(prev[n][j]) for n in range(B))
                                  + 2 * abs(c * W[i][j]) for j in range(n_in) for i in range(n_out))
        layer = net.layers[l - 1]
        if layer.bias != "none" and layer.train_bias:
            sums = [MP.fsum(delta[n][i] for n in range(B)) for i in range(n_out)]
            grads[f"b{l}"] = [[MP.fsum(sums)]] if layer.bias == "shared" else [sums]
            magnitudes[f"b{l}"] = max(MP.fsum(dmag[n][i] for n in range(B)) for i in range(n_out))
            if layer.bias == "shared":
                magnitudes[f"b{l}"] = MP.fsum(dmag[n][i] for n in range(B) for i in range(n_out))
        if l > 1:
            _, dg, dg_mag = _elementwise(net.activation_expr(l - 1))
            z = zs[l - 2]
            delta, dmag = (
                [[MP.fsum(delta[n][i] * W[i][j] for i in range(n_out)) * dg(z[n][j])
                  for j in range(n_in)] for n in range(B)],
                [[MP.fsum(dmag[n][i] * abs(W[i][j]) for i in range(n_out)) * dg_mag(z[n][j])
                  for j in range(n_in)] for n in range(B)])
    return out, J, grads, magnitudes


def relative_error(kernel, ref, dtype, *, scale=None, elementwise: bool = False) -> float:
    """The error of a kernel array against the reference, as a fraction of its scale.

    Normwise: max |k − r| / max(scale, tiny), the scale being max |r| unless given (the terms'
    magnitude for a sum). Elementwise: each element against its own |r|. Differences up to the
    dtype's smallest normal number (2.2e-308, 1.2e-38) are forgiven: a value that small is
    subnormal or flushed to zero in any float format, with no relative accuracy to speak of.
    inf when the kernel's value is not finite.
    """
    with MP.workdps(DIGITS):
        return _relative_error(kernel, ref, dtype, scale, elementwise)


def _relative_error(kernel, ref, dtype, scale, elementwise: bool) -> float:
    k = np.asarray(kernel, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(k)):
        return float("inf")
    flat = [v for row in ref for v in row] if isinstance(ref, list) else [ref]
    assert len(flat) == len(k), (len(flat), len(k))
    tiny = MP.mpf(float(np.finfo(dtype).tiny))
    gaps = [max(abs(MP.mpf(float(kv)) - rv) - tiny, 0) for kv, rv in zip(k, flat)]
    if elementwise:
        return float(max(gap / max(abs(rv), tiny) for gap, rv in zip(gaps, flat)))
    if scale is None:
        scale = max(abs(v) for v in flat)
    return float(max(gaps) / max(scale, tiny))
