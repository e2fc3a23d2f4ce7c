"""Evaluate computes with NumPy: reads become strided views, sums of products become einsum.

A read ``x[s·i + p − pad, …]`` is a view of x (zero-padded where the index leaves the array,
dilated with zeros where it has a denominator) with one axis per index variable: the im2col
view without a copy. A term that is a product of reads is one ``einsum``; any other term is
evaluated on the grid of its variables and reduced. No Python loop runs over data.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from functools import reduce
from math import lcm

import numpy as np
import sympy as sp
from numpy.lib.stride_tricks import as_strided

from symbp.core.errors import DerivationError

from ..core.ir import Compute, Term, affine, index_vars, read_index, read_name, reads
from .elementwise import evaluate

Ranges = Mapping[sp.Symbol, int]


def _integer_map(index: Sequence[sp.Expr], order: Sequence[sp.Symbol]):
    """Per dimension: (dilation D, integer coefficients of D·e, integer constant of D·e)."""
    maps = []
    for e in index:
        coeffs, const = affine(e, order)
        scale = lcm(*(int(c.q) for c in (*coeffs.values(), const)))
        maps.append((scale, {v: int(c * scale) for v, c in coeffs.items()}, int(const * scale)))
    return maps


def _dilate(arr: np.ndarray, axis: int, factor: int) -> np.ndarray:
    """Insert factor − 1 zeros between neighbours along axis (a strided gradient's zeros)."""
    if factor == 1:
        return arr
    shape = list(arr.shape)
    shape[axis] = (shape[axis] - 1) * factor + 1
    out = np.zeros(shape, arr.dtype)
    out[(slice(None),) * axis + (slice(None, None, factor),)] = arr
    return out


def gather(arr: np.ndarray, index: Sequence[sp.Expr], order: Sequence[sp.Symbol],
           ranges: Ranges) -> np.ndarray:
    """arr read at an affine index: a view with one axis per variable of ``order`` it uses."""
    used = [v for v in order if any(v in e.free_symbols for e in index)]
    maps = _integer_map(index, used)
    for axis, (scale, _, _) in enumerate(maps):
        arr = _dilate(arr, axis, scale)
    pads, starts = [], []
    for axis, (_, coeffs, const) in enumerate(maps):
        low = const + sum(min(0, c * (ranges[v] - 1)) for v, c in coeffs.items())
        high = const + sum(max(0, c * (ranges[v] - 1)) for v, c in coeffs.items())
        pads.append((max(0, -low), max(0, high - arr.shape[axis] + 1)))
        starts.append(const + pads[-1][0])
    if any(lo or hi for lo, hi in pads):
        arr = np.pad(arr, pads)
    base = arr[tuple(slice(s, None) for s in starts)]
    strides = [sum(coeffs.get(v, 0) * arr.strides[axis] for axis, (_, coeffs, _) in enumerate(maps))
               for v in used]
    return as_strided(base, [ranges[v] for v in used], strides, writeable=False)


def _on_grid(arr: np.ndarray, used: Sequence[sp.Symbol], grid: Sequence[sp.Symbol]) -> np.ndarray:
    """An array with axes ``used`` given size-1 axes for the rest of ``grid``."""
    return arr[tuple(slice(None) if v in used else None for v in grid)]


def _mask(guard, grid: Sequence[sp.Symbol], ranges: Ranges, dtype) -> np.ndarray:
    """1 where the guard's expression is an integer in [0, E), else 0, over the grid."""
    e, extent = guard
    (scale, coeffs, const), = _integer_map([e], grid)
    total = sum((c * _on_grid(np.arange(ranges[v]), [v], grid) for v, c in coeffs.items()), np.asarray(const))
    ok = (total % scale == 0) & (total >= 0) & (total < extent * scale)
    return ok.astype(dtype)


def _used(expr: sp.Expr, grid: Sequence[sp.Symbol]) -> list[sp.Symbol]:
    found = set().union(*(index_vars(i) for i in read_index(expr)))
    return [v for v in grid if v in found]


def _read(env: Mapping[str, np.ndarray], read: sp.Expr, grid, ranges) -> np.ndarray:
    arr = env[read_name(read)]
    if not read_index(read):
        return np.asarray(arr)
    return gather(arr, read_index(read), _used(read, grid), ranges)


def _einsum_term(term: Term, free, ranges, env, dtype) -> np.ndarray | None:
    """A term that is (number)·(product of reads)·(guards) as one einsum, else None."""
    letters = dict(zip((*free, *term.reduce), string.ascii_letters))
    scale, operands, subscripts = 1.0, [], []
    for factor in sp.Mul.make_args(term.body):
        if factor.is_number:  # a constant such as 1/√D
            scale *= float(factor)
        elif factor in reads(factor) or isinstance(factor, sp.Indexed):
            operands.append(_read(env, factor, list(letters), ranges))
            subscripts.append("".join(letters[v] for v in _used(factor, list(letters))))
        else:
            return None
    for guard in term.guards:
        used = [v for v in letters if v in guard[0].free_symbols]
        operands.append(_mask(guard, used, ranges, dtype))
        subscripts.append("".join(letters[v] for v in used))
    if not operands or not set(letters[v] for v in free) <= set("".join(subscripts)):
        return None  # a free index no factor reads: the grid path broadcasts it
    spec = ",".join(subscripts) + "->" + "".join(letters[v] for v in free)
    out = np.einsum(spec, *operands, optimize=True)
    return out * dtype.type(scale) if scale != 1.0 else out


def _grid_term(term: Term, free, ranges, env, dtype) -> np.ndarray:
    """Any term: the body on the grid of (free, reduced) variables, then reduced."""
    grid = [*free, *term.reduce]
    shape = [ranges[v] for v in grid]
    values = {r: _on_grid(_read(env, r, grid, ranges), _used(r, grid), grid) for r in reads(term.body)}
    values |= {v: _on_grid(np.arange(ranges[v], dtype=dtype), [v], grid) for v in index_vars(term.body)
               if v not in values}
    body = np.broadcast_to(np.asarray(evaluate(term.body, values, dtype), dtype), shape)
    axes = tuple(range(len(free), len(grid)))
    if term.guards:  # outside its guards a term does not count: no 0·inf, no max over them
        keep = reduce(np.logical_and, (_mask(g, grid, ranges, dtype) != 0 for g in term.guards))
        if term.kind == "max" and axes:
            return body.max(axis=axes, where=np.broadcast_to(keep, shape), initial=-np.inf)
        body = np.where(keep, body, dtype.type(0))
    if not axes:
        return body
    return body.max(axis=axes) if term.kind == "max" else body.sum(axis=axes, dtype=dtype)


def _place(c: Compute, value: np.ndarray, dtype) -> np.ndarray:
    """Store values (axes = free variables) at the compute's index; identity index: as is."""
    if tuple(c.index) == c.free:
        return np.array(value, dtype, order="C", copy=None)
    out = np.zeros(c.shape, dtype)
    maps = _integer_map(c.index, c.free)
    if any(scale != 1 for scale, _, _ in maps):
        raise DerivationError(f"{c.name}: an output index must have integer coefficients")
    base = out[tuple(slice(const, None) for _, _, const in maps)]
    strides = [sum(coeffs.get(v, 0) * out.strides[d] for d, (_, coeffs, _) in enumerate(maps))
               for v in c.free]
    as_strided(base, [c.ranges[v] for v in c.free], strides)[...] = value
    return out


def evaluate_compute(c: Compute, env: Mapping[str, np.ndarray], dtype) -> np.ndarray:
    """The values of one compute, given every tensor it reads."""
    dtype = np.dtype(dtype)
    parts = []
    for term in c.terms:
        product = term.kind == "sum" and term.reduce
        part = _einsum_term(term, c.free, c.ranges, env, dtype) if product else None
        parts.append(_grid_term(term, c.free, c.ranges, env, dtype) if part is None else part)
    shape = [c.ranges[v] for v in c.free]
    total = reduce(np.add, (np.broadcast_to(p, shape) for p in parts))
    return _place(c, total, dtype)


def run(computes: Sequence[Compute], env: Mapping[str, np.ndarray], dtype=None) -> dict[str, np.ndarray]:
    """Evaluate computes in order; returns env extended by their values (dtype of the inputs)."""
    env = dict(env)
    if dtype is None:
        dtype = np.result_type(*(v for v in env.values() if np.asarray(v).dtype.kind == "f"))
    for c in computes:
        env[c.name] = evaluate_compute(c, env, dtype)
    return env
