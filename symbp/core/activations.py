"""Activation registry: each activation is one sympy expression in ``x``; sympy derives the rest.

The derivative g'(z) is computed with ``sympy.diff`` and, where possible, rewritten in terms of
the stored output a = g(z) (σ' = a(1−a), tanh' = 1−a², relu' = H(a)), which is what people write
and what lets a kernel reuse the forward activations instead of recomputing them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import sympy as sp

from . import functions, interval
from .errors import DerivationError
from .functions import unknown_functions

x = sp.Symbol("x", real=True)
a = sp.Symbol("a", real=True)
ALPHA = sp.Symbol("alpha", positive=True)


@dataclass(frozen=True, eq=False)
class Activation:
    """One registry entry: sympy definition plus how to show and compute it."""

    name: str
    expr: sp.Expr | None  # g(x), elementwise; None for vector activations (softmax)
    latex: str  # the symbol used in documents, e.g. r"\sigma"
    # Stable NumPy form of g in `z`, writing into `out` (an array or None): one expression, or
    # statements ending in `return`. Checked against 40-digit sympy in the tests.
    numpy: str | None = None
    unit_range: bool = False  # outputs lie in (0, 1): allowed under logistic / cross-entropy
    vector: bool = False
    params: dict[str, float] = field(default_factory=dict)
    formula: str | None = None  # the user's text, for formula-defined activations
    # g'(x) written in the output a = g(x), proven equal to sympy's derivative in the tests: the
    # kernel's form, without a search.
    derivative_in_a: sp.Expr | None = None
    # (L, U) for an output that saturates at both ends: kernels then work with a − L and U − a
    # computed from z (saturation.py), since U − a cancels to 0 where a rounds to U.
    bounds: tuple[int, int] | None = None

    def instantiate(self, **values: float) -> sp.Expr:
        """g(x) with its parameters (e.g. leaky_relu's α) replaced by numbers."""
        if self.expr is None:
            raise DerivationError(f"activation '{self.name}' is not elementwise")
        merged = {**self.params, **values}
        return self.expr.subs({ALPHA: sp.nsimplify(merged["alpha"])} if "alpha" in merged else {})


def _relu() -> sp.Expr:
    return sp.Piecewise((0, x <= 0), (x, True))


def _leaky() -> sp.Expr:
    return sp.Piecewise((ALPHA * x, x <= 0), (x, True))


# σ(z) = 1/(1 + e^{-z}) in four in-place passes. For z < -709 (float64) e^{-z} is inf and
# 1/(1 + inf) = 0 exactly, so the overflow is silenced rather than avoided; for z > -709 every
# step is correctly rounded, so σ is within about 2 ulp (relative) down to z = -709.
SIGMOID = """with np.errstate(over="ignore"):
    e = np.exp(np.negative(z, out=out), out=out)
e += 1.0
return np.divide(1.0, e, out=e)"""

# σ(z) into out and σ(−z) into z from one exp, for a hidden sigmoid layer whose g′ = a·σ(−z) is
# formed in the backward pass: with e = e^{−z}, σ(z) = 1/(1 + e) and σ(−z) = 1/(1 + 1/e), where
# 1/inf = 0 gives σ(−z) = 1 for z < −709 and 1/0 = inf gives 0 for z > 745 (each step is
# correctly rounded in between, so both are within a few ulp, relative).
SIGMOID_PAIR = """with np.errstate(over="ignore", divide="ignore"):
    e = np.exp(np.negative(z, out=z), out=z)
    a = np.divide(1.0, np.add(e, 1.0, out=out), out=out)
    np.divide(1.0, e, out=e)
e += 1.0
np.divide(1.0, e, out=e)
return a"""

# log(1 + e^z) = max(z, 0) + log1p(e^{-|z|}): e^{-|z|} ≤ 1 cannot overflow, and log1p keeps
# full relative accuracy where the result is tiny (z ≪ 0); about 7x faster than np.logaddexp.
SOFTPLUS = """tail = np.abs(z)  # log1p(e^-|z|), in one temporary array
np.exp(np.negative(tail, out=tail), out=tail)
np.log1p(tail, out=tail)
return np.add(np.maximum(z, 0.0, out=out), tail, out=out)"""

# relu(z) = max(z, 0) against a row of zeros: NumPy vectorizes maximum with an array operand,
# not with a scalar 0 (about 4x slower per element in NumPy 2.x).
RELU = "np.maximum(z, np.zeros(z.shape[-1:], z.dtype), out=out)"


REGISTRY: dict[str, Activation] = {
    entry.name: entry
    for entry in [
        Activation("sigmoid", 1 / (1 + sp.exp(-x)), r"\sigma", numpy=SIGMOID, unit_range=True,
                   derivative_in_a=a * (1 - a), bounds=(0, 1)),
        Activation("tanh", sp.tanh(x), r"\tanh", derivative_in_a=1 - a**2, bounds=(-1, 1)),
        Activation("relu", _relu(), r"\operatorname{relu}", numpy=RELU),
        # max(z, αz) is relu's leaky form because 0 < α < 1 (the spec validator enforces it).
        Activation("leaky_relu", _leaky(), r"\operatorname{lrelu}",
                   numpy="np.maximum(z, alpha * z, out=out)", params={"alpha": 0.01}),
        Activation("identity", x, r"\operatorname{id}"),
        # σ(z) = 1 − e^{−a}, printed as −expm1(−a): exact also where a = softplus(z) is tiny
        Activation("softplus", sp.log(1 + sp.exp(x)), r"\operatorname{softplus}", numpy=SOFTPLUS,
                   derivative_in_a=1 - sp.exp(-a)),
        Activation("softmax", None, r"\operatorname{softmax}", unit_range=True, vector=True,
                   bounds=(0, 1)),
    ]
}


def formula_activation(name: str, text: str) -> Activation:
    """An activation the user defined as a formula in ``x``, read by the safe parser."""
    from .formula import parse_formula

    expr = parse_formula(text, {"x": x}, what=f"activation '{name}'", where=True)
    if x not in expr.free_symbols:
        raise DerivationError(f"activations.{name}.formula: '{text}' is not a function of x")
    return Activation(name, expr, rf"\operatorname{{{name}}}".replace("_", r"\_"), formula=text)


@dataclass(frozen=True)
class DerivativeForm:
    """g'(z) as a sympy expression in ``a`` (output form) or in ``x`` (input form)."""

    expr: sp.Expr
    variable: str  # "a": in terms of the output; "x": in terms of the pre-activation


def frozen_atoms(fn, expr: sp.Expr) -> sp.Expr:
    """Apply a rational-function routine (cancel, factor) with exp/log/tanh… held fixed.

    Without this, sympy reads exp(851x/500) as (exp(x/500))^851 and factoring never ends.
    """
    atoms = {f: sp.Dummy() for f in expr.atoms(sp.Function)}
    back = {d: f for f, d in atoms.items()}
    return fn(expr.xreplace(atoms)).xreplace(back)


def _tidy(expr: sp.Expr) -> sp.Expr:
    """Factor and flip a leading minus into a factor: -a*(a - 1) -> a*(1 - a)."""
    f = frozen_atoms(sp.factor, expr)
    if f.could_extract_minus_sign():
        for factor in sp.Mul.make_args(-f):
            if isinstance(factor, sp.Add):
                f = (-f).xreplace({factor: -factor})
                break
    expanded = frozen_atoms(sp.expand, expr)
    return expanded if sp.count_ops(expanded) < sp.count_ops(f) else f


# Factoring and cancelling are polynomial algorithms: cheap in low degree, slow beyond (cancel
# expands 99(a − y)^98 and factoring it back takes seconds). Rewrites are skipped above these
# gates, read off the expression itself, so the form never depends on the machine's speed.
MAX_TIDY_DEGREE = 24
MAX_TIDY_OPS = 200


def degree_bound(expr: sp.Expr) -> int:
    """An upper bound on the degree of ``expr`` as a rational function of its symbols and its
    function atoms (frozen as in ``frozen_atoms``), found without expanding anything."""
    if expr.is_Add:
        return max(degree_bound(t) for t in expr.args)
    if expr.is_Mul:
        return sum(degree_bound(f) for f in expr.args)
    if expr.is_Pow and expr.exp.is_Integer:
        return abs(int(expr.exp)) * degree_bound(expr.base)
    return 1 if expr.free_symbols else 0


def tidiable(expr: sp.Expr) -> bool:
    """Whether ``expr`` is small enough in degree and size for cancel and factor."""
    return degree_bound(expr) <= MAX_TIDY_DEGREE and sp.count_ops(expr) <= MAX_TIDY_OPS


def bounded(fn: Callable[[sp.Expr], sp.Expr], expr: sp.Expr) -> sp.Expr:
    """fn(expr) where ``tidiable(expr)``, else expr unchanged.

    Only for rewrites whose result equals expr (cancel, factor, _tidy): skipping one costs
    tidiness, never correctness.
    """
    return fn(expr) if tidiable(expr) else expr


def _inverse(g: sp.Expr) -> sp.Expr | None:
    """x as a function of a = g(x) where x occurs once in g, undoing g one operation at a time:
    shifts, constant factors, reciprocals and the functions with an inverse in the function
    table (exp, log, atan). None for anything else (even powers, cosh: no inverse)."""
    target, node = a, g
    while node != x:
        if node.is_Add or node.is_Mul:
            rest, dependent = node.as_independent(x, as_Add=node.is_Add)
            target, node = (target - rest if node.is_Add else target / rest), dependent
        elif node.is_Pow and node.exp == -1:
            target, node = 1 / target, node.base
        else:
            entry = functions.of(node)
            if entry is None or not entry.inverse:
                return None
            target, node = functions.BY_NAME[entry.inverse].build(target), node.args[0]
    return target


def _output_form_smooth(g: sp.Expr, dg: sp.Expr) -> sp.Expr | None:
    """Rewrite g'(x) in a = g(x) by direct substitution, else through the inverse x = g⁻¹(a).

    Both are bounded by the size of g (no equation solving, no simplify); g'(x) in x is the
    (always correct) fallback.
    """
    candidates = [dg.subs(g, a)]
    if sum(1 for node in sp.preorder_traversal(g) if node == x) == 1:
        inverse = _inverse(g)
        candidates += [] if inverse is None else [bounded(_tidy, dg.subs(x, inverse))]
    return _pick(candidates, g, dg)


def _proven_equal(candidate: sp.Expr, g: sp.Expr, dg: sp.Expr) -> bool:
    from .zero import is_zero

    difference = candidate.subs(a, g) - dg
    return tidiable(difference) and is_zero(difference, allow_simplify=False)


def _pick(candidates: list[sp.Expr], g: sp.Expr, dg: sp.Expr) -> sp.Expr | None:
    """The simplest candidate proven equal to g' that a kernel can compute for every output a.

    A candidate may hold functions with no printed form or overflow where g' does not: it is
    skipped, and g' is then kept in x."""
    outputs = None
    for cand in sorted(candidates, key=sp.count_ops):
        if x in cand.free_symbols or unknown_functions(cand):
            continue
        outputs = outputs or interval.range_of(g, x)
        if outputs is None or interval.first_problem(cand, a, *outputs) is not None:
            continue
        if _proven_equal(cand, g, dg):
            return bounded(_tidy, cand)
    return None


def _output_form_piecewise(g: sp.Expr, dg: sp.Expr) -> sp.Expr | None:
    """Sign-preserving piecewise g (g(0)=0, g increasing): a condition on x is one on a.

    g' = c_neg + (c_pos − c_neg)·H(a) with H(0) = 0, the subgradient autodiff tools use at 0.
    """
    if not isinstance(dg, sp.Piecewise) or g.subs(x, 0) != 0:
        return None
    if any(x in piece.free_symbols for piece, _ in dg.args):
        return None  # g' varies within a piece (an ELU's exp(x)): not a step in a
    c_pos, c_neg = dg.subs(x, 1), dg.subs(x, -1)
    if any(v.free_symbols - {ALPHA} for v in (c_pos, c_neg)) or c_pos.is_negative:
        return None
    return c_neg + (c_pos - c_neg) * sp.Heaviside(a, 0)


@cache
def derivative(g: sp.Expr) -> DerivativeForm:
    """g'(x) derived by sympy, in the output a where that is exact, else in x."""
    for entry in REGISTRY.values():
        if entry.derivative_in_a is not None and entry.expr == g:
            return DerivativeForm(entry.derivative_in_a, "a")
    dg = sp.diff(g, x)
    if x not in dg.free_symbols:
        return DerivativeForm(dg, "a")
    if g.has(sp.Piecewise):
        form = _output_form_piecewise(g, dg)
    else:
        form = _output_form_smooth(g, dg)
    return DerivativeForm(form, "a") if form is not None else DerivativeForm(dg, "x")


@cache
def softmax_jacobian() -> tuple[sp.Expr, sp.Expr]:
    """∂a_k/∂z_i for softmax, derived on three outputs: (diagonal, off-diagonal) in a_i, a_k.

    Returns expressions in symbols a_i, a_k; the diagonal is a_i(1 − a_i), off-diagonal −a_i a_k.
    """
    z = sp.symbols("z1:4", real=True)
    total = sp.Symbol("S", positive=True)
    s = sum(sp.exp(v) for v in z)
    out = [sp.exp(v) / s for v in z]
    ai, ak = sp.symbols("a_i a_k", real=True)
    # exp(z_k) = a_k·S turns each derivative into a polynomial in the outputs.
    to_outputs = {sp.exp(z[0]): ai * total, sp.exp(z[1]): ak * total}
    diag, off = (sp.simplify(sp.diff(out[k], z[0]).subs(s, total).subs(to_outputs)) for k in (0, 1))
    if diag.free_symbols - {ai} or off.free_symbols - {ai, ak}:
        raise DerivationError("could not express the softmax Jacobian in its outputs")
    return _tidy(diag), off
