"""Evaluate computes entry by entry on sympy values: exact, slow, for small instances.

This is the element level: every entry of every tensor as a sympy expression in named symbols
or exact numbers. The proof tests differentiate its loss with ``sympy.diff`` and compare with
the derived backward pass run here too; documents can show its entries with names and numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import sympy as sp

from ..core.ir import Compute, Term, read_index, read_name, reads


def symbols(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """An object array of real symbols ``name_i_j…`` (a scalar: one symbol)."""
    out = np.empty(shape, dtype=object)
    for pos in np.ndindex(*shape):
        out[pos] = sp.Symbol("_".join([name, *map(str, pos)]), real=True)
    return out


def _value(arr: np.ndarray, position: tuple[sp.Expr, ...]) -> sp.Expr:
    """arr at an exact position; 0 outside the array or at a non-integer position."""
    if not all(p.is_Integer and 0 <= p < n for p, n in zip(position, arr.shape)):
        return sp.Integer(0)
    return arr[tuple(int(p) for p in position)]


def _term_values(term: Term, point: dict, ranges: Mapping, env: Mapping[str, np.ndarray]) -> list[sp.Expr]:
    """The body at every reduction point where the guards hold."""
    found = reads(term.body)
    out = []
    for combo in itertools.product(*(range(ranges[v]) for v in term.reduce)):
        at = {**point, **{v: sp.Integer(k) for v, k in zip(term.reduce, combo)}}
        if not all(_holds(e.xreplace(at), n) for e, n in term.guards):
            continue
        values = {r: _value(env[read_name(r)], tuple(i.xreplace(at) for i in read_index(r))) for r in found}
        out.append(term.body.xreplace({**values, **at}))
    return out


def _holds(e: sp.Expr, extent: int) -> bool:
    return bool(e.is_Integer and 0 <= e < extent)


def _branch(expr: sp.Expr, at: Mapping[sp.Symbol, sp.Expr]) -> sp.Expr:
    """The Piecewise branch taken at the point ``at`` (a ReLU is z or 0 on an open region)."""
    def pick(*pieces):
        return next(value for value, condition in pieces if condition.xreplace(at) == sp.true)
    return expr.replace(lambda e: isinstance(e, sp.Piecewise), lambda e: pick(*e.args))


def _max(values: list[sp.Expr], at: Mapping[sp.Symbol, sp.Expr] | None) -> sp.Expr:
    """max of values; with a point ``at``: the value that is largest there (its branch)."""
    if at is None:
        return sp.Max(*values)
    numbers = [v.xreplace(at) for v in values]
    best = max(numbers)
    if numbers.count(best) > 1:
        raise ValueError("the point lies on a tie of a max; pick another point")
    return values[numbers.index(best)]


def evaluate_compute(c: Compute, env: Mapping[str, np.ndarray],
                     at: Mapping[sp.Symbol, sp.Expr] | None = None) -> np.ndarray:
    """Every entry of one compute (entries no index reaches stay 0).

    With a point ``at`` (a value for every symbol), each max and Piecewise is replaced by the
    branch it takes there: the loss as an analytic function on the open region around ``at``.
    """
    out = np.full(c.shape, sp.Integer(0), dtype=object)
    free = c.free
    for combo in itertools.product(*(range(c.ranges[v]) for v in free)):
        point = {v: sp.Integer(k) for v, k in zip(free, combo)}
        total = sp.Integer(0)
        for term in c.terms:
            values = _term_values(term, point, c.ranges, env)
            if at is not None:
                values = [_branch(v, at) for v in values]
            total += _max(values, at) if term.kind == "max" else sp.Add(*values)
        out[tuple(int(e.xreplace(point)) for e in c.index)] = total
    return out


def run(computes: Sequence[Compute], env: Mapping[str, np.ndarray],
        at: Mapping[sp.Symbol, sp.Expr] | None = None) -> dict[str, np.ndarray]:
    """Evaluate computes in order on object arrays of sympy values (``at``: see above)."""
    env = {k: np.asarray(v, dtype=object) for k, v in env.items()}
    for c in computes:
        env[c.name] = evaluate_compute(c, env, at)
    return env
