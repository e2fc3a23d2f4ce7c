"""Kernel forms that stay accurate where a bounded activation saturates.

An output a = g(z) in (L, U) rounds to U (or L) once z is large: then U − a, and any a − y with y
near U, cancel to 0 although the true values are e^{−|z|}-small (σ′ = a(1 − a) at z = 40 is 0
instead of 4.2e-18). The cure is to carry the distances p = a − L and q = U − a, computed from z
with no subtraction, and to write every kernel formula in them: each factor linear in a becomes
c·p, −c·q or, for a − r with r not a bound, the cancellation-free
    a − r = [p·(U − r) − q·(r − L)] / (U − L)     (both products ≥ 0 for r in [L, U]).
The distances are derived by sympy from g (U − g(x), rewritten in exp) and are c·σ(k·x) for the
registry's sigmoid and tanh; every rewrite is checked by substituting p and q back.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from ..core import activations as act
from ..core.losses import LOG_A

a, x = act.a, act.x


class logistic(sp.Function):  # noqa: N801 (printed as the kernels' sigmoid helpers)
    """σ(u) = 1/(1 + e^{−u}), kept whole so that kernels call their overflow-free helper."""

    is_real = True

    def _eval_rewrite_as_exp(self, u, **kwargs):
        return 1 / (1 + sp.exp(-u))

    def fdiff(self, argindex=1):
        u = self.args[0]
        return logistic(u) * logistic(-u)


P = sp.Symbol("p_low", real=True)  # a − L, the distance to the lower bound
Q = sp.Symbol("q_up", real=True)  # U − a, the distance to the upper bound


@dataclass(frozen=True)
class Distance:
    """A distance to a bound as c·σ(k·x) (elementwise g), or as an expression in log a (softmax)."""

    scale: sp.Expr
    rate: sp.Expr
    in_log_a: sp.Expr | None = None

    def expr(self) -> sp.Expr:
        """The distance as a function of x (or of log a for softmax)."""
        if self.in_log_a is not None:
            return self.in_log_a
        return self.scale * logistic(self.rate * x)


@dataclass(frozen=True)
class Bounds:
    lower: sp.Expr
    upper: sp.Expr
    below: Distance  # a − L
    above: Distance  # U − a


def _as_logistic(d: sp.Expr) -> Distance | None:
    """c·σ(k·x) = c/(1 + e^{−k·x}) when d is of that form: k from d's exponentials, c = d·(1 + e^{−k·x})
    simplified, accepted only when free of x (so the form equals d by construction)."""
    d = d.rewrite(sp.exp)
    rates = {e.args[0].coeff(x) for e in d.atoms(sp.exp)} | {0}
    candidates = {r - s for r in rates for s in rates} - {0}  # tanh: e^x, e^{−x} give k = ±2
    for k in sorted(candidates, key=sp.default_sort_key):
        c = sp.simplify(d * (1 + sp.exp(-k * x)))
        if x not in c.free_symbols:
            return Distance(c, k)
    return None


@cache
def bounds(name: str, g: sp.Expr | None) -> Bounds | None:
    """The bounds and distance forms of a registry activation that saturates, else None.

    Softmax's distance to 1 is 1 − e^{log a} (printed −expm1(log a)), exact where a ≈ 1.
    """
    entry = act.REGISTRY.get(name)
    if entry is None or entry.bounds is None:
        return None
    low, up = (sp.Integer(v) for v in entry.bounds)
    if g is None:
        return Bounds(low, up, Distance(1, 1, sp.exp(LOG_A) - low), Distance(1, 1, up - sp.exp(LOG_A)))
    below, above = _as_logistic(g - low), _as_logistic(up - g)
    if below is None or above is None:
        return None
    return Bounds(low, up, below, above)


def _linear(factor: sp.Expr, b: Bounds) -> sp.Expr:
    """One factor c1·a + c0 in the distances (see the module docstring); others unchanged."""
    if a not in factor.free_symbols or not act.tidiable(factor) or not factor.is_polynomial(a):
        return factor
    poly = sp.Poly(factor, a)
    if poly.degree() != 1 or any(a in c.free_symbols for c in poly.all_coeffs()):
        return factor
    c1, c0 = poly.all_coeffs()
    r = sp.cancel(-c0 / c1)
    if r == b.lower:
        return c1 * P
    if r == b.upper:
        return -c1 * Q
    if not r.free_symbols:
        return factor  # a − r for a constant r inside the range: no saturation cancels there
    width = b.upper - b.lower
    out = P * sp.factor(c1 * (b.upper - r) / width) - Q * sp.factor(c1 * (r - b.lower) / width)
    back = out.xreplace({P: a - b.lower, Q: b.upper - a})
    return out if sp.expand(back - factor) == 0 else factor


def _rewrite(expr: sp.Expr, b: Bounds) -> sp.Expr:
    if isinstance(expr, sp.Mul):
        return sp.Mul(*[_rewrite(f, b) for f in expr.args])
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer:
        return _rewrite(expr.base, b) ** expr.exp
    return _linear(expr, b)


def in_distances(expr: sp.Expr, b: Bounds) -> sp.Expr:
    """``expr`` (in a, y, …) with its factors in a written in the distances p and q.

    The result equals ``expr`` once p = a − L and q = U − a: only factors of a product (or of an
    integer power) are rewritten, each checked on its own (a linear factor: cheap to expand,
    where expanding the whole of 99(a − y)^98 is not). For L = 0, p is a itself.
    """
    if a not in expr.free_symbols:
        return expr
    factored = act.bounded(lambda e: act.frozen_atoms(sp.factor, e), expr)
    out = _rewrite(factored, b)
    return out.xreplace({P: a}) if b.lower == 0 else out


def kernel_form(expr: sp.Expr, b: Bounds | None) -> sp.Expr:
    """``expr`` as a kernel computes it: factors in a rewritten in the distances, each distance
    then replaced by its form in x (or log a); p stays a where L = 0. Equal to ``expr``."""
    if b is None:
        return expr
    out = in_distances(expr, b)
    return out.xreplace({P: b.below.expr(), Q: b.above.expr()})
