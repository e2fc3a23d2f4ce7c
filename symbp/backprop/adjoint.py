"""Differentiation over the index algebra: one read of X in one term gives one part of ∂J/∂X.

For ``out[o] = Σ_r body`` and a read ``X[e(o, r)]`` in body,

    ∂J/∂X[u] = Σ_{o, r : e(o, r) = u} δ[o] · ∂body/∂X[e(o, r)],    δ = ∂J/∂out.

The constraint e(o, r) = u is removed one dimension at a time by solving it for one of its
variables (Kronecker-delta elimination). Solving ``h = s·i + p − pad`` for i gives
i = (h + pad − p)/s: the read δ[…, (h + pad − p)/s, …] is the flipped kernel (p enters with
a minus sign), the division by s is the dilation of δ for strides (a read at a non-integer
index is 0), and the range of i becomes the padding bounds. A max passes δ to its arg-max,
shared equally between ties (the subgradient autograd uses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sympy as sp

from symbp.core import activations

from ..core.ir import (
    Compute,
    Guard,
    Scatter,
    Shape,
    Tensor,
    Term,
    affine,
    bounds,
    index_vars,
    read_index,
    read_name,
    reads,
    var,
)

NAMES = "uvwhtgfedm"  # fresh index names for the gradient's own dimensions


def local_derivative(body: sp.Expr, read: sp.Expr) -> sp.Expr:
    """∂body/∂read, every other read held fixed (reads are stood in for by plain symbols)."""
    stand_in = {r: sp.Dummy(read_name(r), real=True) for r in reads(body)}
    back = {d: r for r, d in stand_in.items()}
    return sp.diff(body.xreplace(stand_in), stand_in[read]).xreplace(back)


def tidy_indices(expr: sp.Expr) -> sp.Expr:
    """Every read's index expanded: 2·((h − p)/2) + p reads as h."""
    return expr.xreplace({r: r.base[tuple(sp.expand(i) for i in r.indices)] for r in expr.atoms(sp.Indexed)})


def output_form(compute: Compute, term: Term, partial: sp.Expr) -> sp.Expr:
    """∂out/∂read written in the output where that is exact: exp(u)' = exp(u) is the output
    itself, σ' = a(1 − a), tanh' = 1 − a² (the activation registry's derived output forms).

    A kernel then reuses the forward values, and σ' stays finite where e^{−z} overflows.
    """
    out = compute.read()
    if len(compute.terms) != 1 or term.reduce or term.kind != "sum":
        return partial
    found = reads(term.body)
    if len(found) == 1:
        form = activations.derivative(term.body.xreplace({found[0]: activations.x}))
        if form.variable == "a":
            return form.expr.xreplace({activations.a: out})
    return partial.xreplace({term.body: out})


def _fresh_names(compute: Compute, read: sp.Expr) -> list[sp.Symbol]:
    """One index variable per dimension of the read tensor: a bare forward variable used in
    that dimension only keeps its name (x[n, k] gives ∂J/∂x[n, k]); others get fresh names."""
    index = read_index(read)
    taken = {str(v) for v in compute.ranges}
    out, pool = [], iter(n for n in NAMES + "".join(f"u{k}" for k in range(32)) if n not in taken)
    for d, e in enumerate(index):
        others = set().union(*(index_vars(f) for k, f in enumerate(index) if k != d))
        bare = isinstance(e, sp.Symbol) and e not in others
        out.append(e if bare else var(next(pool)))
    return out


def _choose(eq: sp.Expr, candidates: list[sp.Symbol], ranges: Mapping[sp.Symbol, int],
            outputs: Sequence[sp.Symbol]) -> sp.Symbol:
    """The variable to solve for: the widest range (leaving short sums), then an output index
    (leaving the sum over the kernel, as textbooks write it), then a unit coefficient."""
    coeffs, _ = affine(eq, index_vars(eq))
    return max(candidates, key=lambda v: (ranges[v], v in outputs, abs(coeffs[v]) == 1, str(v)))


def solve_index(index: tuple[sp.Expr, ...], targets: list[sp.Symbol], ranges: Mapping[sp.Symbol, int],
                outputs: Sequence[sp.Symbol] = ()) -> tuple[dict[sp.Symbol, sp.Expr], list[Guard]]:
    """Solve index = targets for forward variables; (solutions, guards on what was solved).

    ``outputs`` are the forward output's index variables, preferred on equal ranges.
    """
    solved: dict[sp.Symbol, sp.Expr] = {}
    equations: list[sp.Expr] = []
    for e, u in zip(index, targets):
        if e == u:  # a bare variable kept its name: only its own range is left to check
            solved[u] = u
            continue
        eq = sp.expand(e.xreplace(solved) - u)
        candidates = [v for v in sorted(index_vars(eq), key=str) if v in ranges and v not in solved
                      and v not in targets]
        if not candidates:
            equations.append(eq)  # all its variables are solved already: a diagonal read
            continue
        v = _choose(eq, candidates, ranges, outputs)
        coeffs, _ = affine(eq, index_vars(eq))
        solution = sp.expand(v - eq / coeffs[v])
        solved = {k: sp.expand(s.xreplace({v: solution})) for k, s in solved.items()}
        solved[v] = solution
    guards = [(sp.expand(s), ranges[v]) for v, s in solved.items()]
    guards += [(sp.expand(eq.xreplace(solved)), 1) for eq in equations]  # eq is an integer in [0, 1)
    return solved, guards


def _implied(guard: Guard, body: sp.Expr, shapes: Mapping[str, Shape],
             ranges: Mapping[sp.Symbol, int]) -> bool:
    """A guard is redundant if it always holds, or if a read that is a factor of the body
    carries the same bound (an out-of-range read is 0, so the whole term is)."""
    e, extent = guard
    coeffs, const = affine(e, index_vars(e))
    if all(c.is_integer for c in (*coeffs.values(), const)):
        low, high = bounds(e, ranges)
        if low >= 0 and high < extent:
            return True
    factors = [f for f in sp.Mul.make_args(body) if isinstance(f, sp.Indexed)]
    return any(idx == e and shapes[read_name(f)][d] == extent
               for f in factors for d, idx in enumerate(read_index(f)))


def _hit(compute: Compute, term: Term) -> sp.Expr:
    """1 where the body attains the max, else 0."""
    return sp.Piecewise((1, sp.Eq(term.body, compute.read())), (0, True))


def max_share(compute: Compute, upstream: str, name: str) -> list[Compute]:
    """What each arg-max of a max receives: δ[o] / (number of entries attaining the max).

    Two computes: the tie count (1 unless values repeat) and the share itself.
    """
    term = compute.terms[0]
    ties = Compute(f"{name}_ties", compute.shape, compute.index,
                   (Term(_hit(compute, term), term.reduce, "sum", term.guards),),
                   compute.ranges, differentiable=False, role="ties")
    at = compute.index
    share = Tensor(upstream, compute.shape)[at] / Tensor(ties.name, compute.shape)[at]
    return [ties, Compute(name, compute.shape, at, (Term(share),), compute.ranges, role="share")]


def adjoint(compute: Compute, term: Term, read: sp.Expr, upstream: str, name: str,
            shapes: Mapping[str, Shape]) -> Compute:
    """The part of ∂J/∂X contributed by ``read`` (of X) in ``term`` of ``compute``.

    ``upstream`` names ∂J/∂out, or for a max the share of it each arg-max gets (``max_share``).
    """
    x_shape = shapes[read_name(read)]
    partial = output_form(compute, term, local_derivative(term.body, read))
    if term.kind == "max":
        partial *= _hit(compute, term)
    body = Tensor(upstream, compute.shape)[compute.index] * partial
    scatter = None if term.guards else Scatter(body, read_index(read), compute.ranges, term.reduce)
    targets = _fresh_names(compute, read)
    solved, new_guards = solve_index(read_index(read), targets, compute.ranges, compute.free)
    ranges = {v: r for v, r in compute.ranges.items() if v not in solved}
    ranges.update(zip(targets, x_shape))
    body = tidy_indices(body.xreplace(solved))
    old_guards = [(sp.expand(e.xreplace(solved)), n) for e, n in term.guards]
    guards = tuple(g for g in dict.fromkeys([*old_guards, *new_guards])
                   if not _implied(g, body, {**shapes, upstream: compute.shape}, ranges))
    remaining = tuple(v for v in (*compute.free, *term.reduce) if v not in solved and v not in targets)
    return Compute(name, x_shape, tuple(targets), (Term(body, remaining, "sum", guards),),
                   ranges, role="grad", scatter=scatter)
