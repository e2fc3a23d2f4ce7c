"""Print a graph's computes (forward and derived backward) as NumPy statements for a kernel module.

Each compute becomes one statement: a sum of products of reads is one ``np.einsum`` over strided
views (``_view``: the im2col view without a copy, zero-padded and dilated as the index asks);
any other term is its body printed elementwise on the grid of its index variables, then reduced.
The batch size is the one extent the module learns at run time: the graph is built for a batch
of ``BATCH`` samples, a number no other extent can take, and every number built from it is
printed in terms of ``B`` (the batch's 1/N as ``1/B``).
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence

import sympy as sp

from symbp.codegen.printing import NumpyPrinter
from symbp.core.errors import DerivationError
from symbp.core.textprint import text as plain

from ..core.ir import Compute, Shape, Term, affine, index_vars, read_index, read_name, reads
from .numeric import _integer_map

BATCH = 1_000_000_007  # a prime above every extent a spec allows (engine.spec: MAX_SAMPLE)
B = sp.Symbol("B", positive=True, integer=True)


class KernelPrinter(NumpyPrinter):
    """NumpyPrinter with the engine's piecewise forms (a max's arg-max test, relu) as np.where."""

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:  # noqa: N802
        out = self._print(expr.args[-1][0])
        for value, condition in reversed(expr.args[:-1]):
            out = f"np.where({self._print(condition)}, {self._print(value)}, {out})"
        return out

    def _print_Relational(self, expr) -> str:  # noqa: N802
        return f"({self._print(expr.lhs)} {expr.rel_op} {self._print(expr.rhs)})"

    def _print_Symbol(self, expr: sp.Symbol) -> str:  # noqa: N802
        return expr.name


_PRINTER = KernelPrinter({"standard": "python3"})


def extent(n: int) -> str:
    """An extent as code: the batch size is ``B``."""
    if n == BATCH:
        return "B"
    if n >= BATCH:
        raise DerivationError(f"an extent {n} mixes the batch size with others")
    return str(n)


def _batch_numbers(expr: sp.Expr) -> sp.Expr:
    """Numbers made from the batch size (1/(N·k), the mean over a batch) in terms of B."""
    swap = {}
    for r in expr.atoms(sp.Rational):
        p, q = int(r.p), int(r.q)
        if q % BATCH == 0:
            swap[r] = sp.Rational(p, q // BATCH) / B
        elif abs(p) % BATCH == 0:
            swap[r] = sp.Rational(p // BATCH, q) * B
    expr = expr.xreplace(swap)
    if any(abs(int(r.p)) >= BATCH or int(r.q) >= BATCH for r in expr.atoms(sp.Rational)):
        raise DerivationError(f"a number in {expr} mixes the batch size with others")
    return expr


def _maps(index: Sequence[sp.Expr], used: Sequence[sp.Symbol]) -> str:
    """Per dimension (dilation, integer coefficients over ``used``, integer constant), as code."""
    out = []
    for scale, coeffs, const in _integer_map(index, used):
        out.append(f"({scale}, ({''.join(f'{coeffs.get(v, 0)}, ' for v in used)}), {const})")
    return "(" + "".join(f"{m}, " for m in out) + ")"


def _used(read: sp.Expr, grid: Sequence[sp.Symbol]) -> list[sp.Symbol]:
    found = set().union(*(index_vars(i) for i in read_index(read)))
    return [v for v in grid if v in found]


def _extents(used: Sequence[sp.Symbol], ranges) -> str:
    return "(" + "".join(f"{extent(ranges[v])}, " for v in used) + ")"


def view(read: sp.Expr, grid: Sequence[sp.Symbol], ranges, shapes: Mapping[str, Shape]) -> str:
    """A read as a strided view with one axis per grid variable it uses."""
    name = repr(read_name(read))
    if not read_index(read):
        return f"v[{name}]"
    used = _used(read, grid)
    whole = tuple(ranges[v] for v in used) == shapes[read_name(read)]
    if tuple(read_index(read)) == tuple(used) and whole:  # read where it is stored: the array itself
        return f"v[{name}]"
    return f"_view(v[{name}], {_maps(read_index(read), used)}, {_extents(used, ranges)})"


def _on_grid(code: str, used: Sequence[sp.Symbol], grid: Sequence[sp.Symbol]) -> str:
    if list(used) == list(grid):
        return code
    return f"{code}[{', '.join(':' if v in used else 'None' for v in grid) or '()'}]"


def mask(guard, grid: Sequence[sp.Symbol], ranges) -> str:
    """1 where the guard's expression is an integer in [0, E) over the grid, as code."""
    e, bound = guard
    used = [v for v in grid if v in e.free_symbols]
    (scale, coeffs, const), = _integer_map([e], used)
    return (f"_mask({scale}, ({''.join(f'{coeffs[v]}, ' for v in used)}), {const}, {extent(bound)}, "
            f"{_extents(used, ranges)}, {tuple(grid.index(v) for v in used)!r}, {len(grid)}, dtype)")


def _einsum(term: Term, free, ranges, shapes: Mapping[str, Shape]) -> str | None:
    """A sum of (number)·(product of reads)·(guards) as one einsum, else None."""
    order = [*free, *term.reduce]
    letters = dict(zip(order, string.ascii_letters))
    scale, operands, subscripts = sp.Integer(1), [], []
    for factor in sp.Mul.make_args(term.body):
        if factor.is_number:  # a constant such as 1/√D
            scale *= factor
        elif isinstance(factor, sp.Indexed) and read_index(factor):
            used = _used(factor, order)
            operands.append(view(factor, order, ranges, shapes))
            subscripts.append("".join(letters[v] for v in used))
        else:
            return None
    for guard in term.guards:
        used = [v for v in order if v in guard[0].free_symbols]
        operands.append(mask(guard, used, ranges))
        subscripts.append("".join(letters[v] for v in used))
    if not operands or not {letters[v] for v in free} <= set("".join(subscripts)):
        return None
    spec = ",".join(subscripts) + "->" + "".join(letters[v] for v in free)
    call = f"np.einsum({spec!r}, {', '.join(operands)}, optimize=True)"
    return call if scale == 1 else f"{call} * ({_PRINTER.doprint(_batch_numbers(scale))})"


def _grid(term: Term, free, ranges, shapes: Mapping[str, Shape]) -> str:
    """Any term: its body on the grid of (free, reduced) variables, then reduced."""
    grid = [*free, *term.reduce]
    names = {}
    for r in reads(term.body):
        names[r] = sp.Symbol(f"({_on_grid(view(r, grid, ranges, shapes), _used(r, grid), grid)})")
    for v in index_vars(term.body):
        if v not in names:
            names[v] = sp.Symbol(f"{_on_grid(f'np.arange({extent(ranges[v])}, dtype=dtype)', [v], grid)}")
    body = _PRINTER.doprint(_batch_numbers(term.body.xreplace(names)))
    axes = tuple(range(len(free), len(grid)))
    shape = "(" + "".join(f"{extent(ranges[v])}, " for v in grid) + ")"
    keep = " & ".join(f"({mask(guard, grid, ranges)} != 0)" for guard in term.guards)
    if keep and term.kind == "max" and axes:  # the max over the admitted entries only
        return f"np.broadcast_to({body}, {shape}).max(axis={axes!r}, where=np.broadcast_to({keep}, " \
               f"{shape}), initial=-np.inf)"
    if keep:  # outside its guards a term does not count (np.where: no 0·inf)
        body = f"np.where({keep}, {body}, 0)"
    if not axes:
        return body
    reducer = "max" if term.kind == "max" else "sum"
    return f"np.broadcast_to({body}, {shape}).{reducer}(axis={axes!r})"


def statement(c: Compute, shapes: Mapping[str, Shape]) -> str:
    """``v[name] = …``: the compute's value, placed at its index; ``shapes`` of every tensor."""
    parts = []
    for term in c.terms:
        code = _einsum(term, c.free, c.ranges, shapes) if term.kind == "sum" and term.reduce else None
        parts.append(code if code is not None else _grid(term, c.free, c.ranges, shapes))
    free_shape = "(" + "".join(f"{extent(c.ranges[v])}, " for v in c.free) + ")"
    value = " + ".join(parts)
    if len(parts) > 1 or not any(term.reduce for term in c.terms):
        value = f"np.broadcast_to({value}, {free_shape})"
    if tuple(c.index) == c.free:
        return f"v[{c.name!r}] = np.asarray({value}, dtype)"
    shape = "(" + "".join(f"{extent(n)}, " for n in c.shape) + ")"
    return f"v[{c.name!r}] = _place({shape}, {value}, {_maps(c.index, c.free)}, dtype)"


def formula(c: Compute) -> str:
    """The compute as a one-line comment: name[index] = Σ terms."""
    def show(term: Term) -> str:
        over = f"{'Σ' if term.kind == 'sum' else 'max'}_{{{','.join(map(str, term.reduce))}}} " \
            if term.reduce else ""
        text = plain(_batch_numbers(term.body))
        return over + text + (" (where in range)" if term.guards else "")

    index = ", ".join(plain(i) for i in c.index)
    text = f"{c.name}[{index}] = " + " + ".join(show(t) for t in c.terms)
    return " ".join(text.split())


def affine_ok(c: Compute) -> None:
    """Every read's index is affine in the compute's variables (the printer relies on it)."""
    for term in c.terms:
        for r in reads(term.body):
            for e in read_index(r):
                affine(e, index_vars(e))
