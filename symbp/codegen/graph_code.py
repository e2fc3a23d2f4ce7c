"""Print a graph's computes (forward and derived backward) as NumPy statements for a kernel module.

Each compute becomes one statement in the fast form its shape allows: a sum over shared indices
of two reads is one GEMM (``_dot``, laid out as ``np.tensordot``) over strided views (``_view``:
the im2col view, zero-padded and dilated as the index asks; a view two GEMMs read is copied
once, ``kept_views``); other sums of products one ``np.einsum``; factors free of the summed
variables are taken out of the sum; the gradient through a window (a convolution's or a
pooling's) is scattered back one window offset at a time (``_scatter``, col2im; stored rather
than added where windows do not overlap); any other term is its body printed elementwise on
the grid of its index variables, then reduced (a small window one offset at a time, ``_Slices``).
Helpers take the workspace ``ws`` and a key per call, so a step with a workspace reuses its arrays.
The batch size is the one extent the module learns at run time: the graph is built for a batch
of ``BATCH`` samples, a number no other extent can take, and every number built from it is
printed in terms of ``B`` (the batch's 1/N as ``1/B``).
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from itertools import product
from math import prod

import sympy as sp

from symbp.core.errors import DerivationError
from symbp.core.printing import NumpyPrinter
from symbp.core.textprint import text as plain

from ..core.ir import Compute, Scatter, Shape, Term, affine, bounds, index_vars, read_index, read_name, reads
from .kept_views import KeptViews
from .numeric import _integer_map

BATCH = 1_000_000_007  # a prime above every extent a spec allows (engine.spec: MAX_SAMPLE)
B = sp.Symbol("B", positive=True, integer=True)


# a clamp: (relation of e to k, the branch taken where it holds) -> NumPy function; e.g. relu's
# Piecewise((0, z <= 0), (z, True)) is np.maximum(z, 0)
CLAMPS = {(sp.LessThan, "k"): "np.maximum", (sp.StrictLessThan, "k"): "np.maximum",
          (sp.GreaterThan, "k"): "np.minimum", (sp.StrictGreaterThan, "k"): "np.minimum",
          (sp.LessThan, "e"): "np.minimum", (sp.StrictLessThan, "e"): "np.minimum",
          (sp.GreaterThan, "e"): "np.maximum", (sp.StrictGreaterThan, "e"): "np.maximum"}
STEPS = {0: ">", 1: ">="}  # Heaviside(e, H0) as a comparison, by its value H0 at 0


class KernelPrinter(NumpyPrinter):
    """NumpyPrinter with the engine's piecewise forms: a clamp (relu) as np.maximum/np.minimum,
    an indicator (a max's arg-max test, a step) as a comparison cast to the kernel's dtype,
    anything else as np.where. Each is one pass, and none turns float32 into float64."""

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:  # noqa: N802
        h0 = expr.args[1] if len(expr.args) == 2 else None
        if h0 not in STEPS:
            return super()._print_Heaviside(expr)
        return f"({self._print(expr.args[0])} {STEPS[int(h0)]} 0).astype(dtype)"

    def _clamp(self, expr: sp.Piecewise) -> str | None:
        if len(expr.args) != 2 or not isinstance(expr.args[0].cond, tuple(k for k, _ in CLAMPS)):
            return None
        (value, cond), (other, _) = expr.args
        e, k = cond.lhs, cond.rhs
        taken = "k" if (value, other) == (k, e) else "e" if (value, other) == (e, k) else None
        if taken is None or not k.is_Number:
            return None
        return f"{CLAMPS[type(cond), taken]}({self._print(e)}, {self._print(k)})"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:  # noqa: N802
        clamp = self._clamp(expr)
        if clamp is not None:
            return clamp
        if len(expr.args) == 2 and (expr.args[0].expr, expr.args[1].expr) == (1, 0):
            return f"({self._print(expr.args[0].cond)}).astype(dtype)"
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


def shape_code(shape: Sequence[int]) -> str:
    """A shape as a tuple in code, the batch size as ``B``: (B, 6, 28, 28, )."""
    return "(" + "".join(f"{extent(n)}, " for n in shape) + ")"


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
    return shape_code([ranges[v] for v in used])


def view(read: sp.Expr, grid: Sequence[sp.Symbol], ranges, shapes: Mapping[str, Shape]) -> str:
    """A read as a strided view with one axis per grid variable it uses."""
    name = repr(read_name(read))
    if not read_index(read):
        return f"v[{name}]"
    used = _used(read, grid)
    whole = tuple(ranges[v] for v in used) == shapes[read_name(read)]
    if tuple(read_index(read)) == tuple(used) and whole:  # read where it is stored: the array itself
        return f"v[{name}]"
    return f"_view(v[{name}], {_maps(read_index(read), used)}, {_extents(used, ranges)}, ws, {SLOT!r})"


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
            code, used = operand(factor, order, ranges, shapes)
            operands.append(code)
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


def operand(read: sp.Expr, grid: Sequence[sp.Symbol], ranges, shapes: Mapping[str, Shape]):
    """(code, axis variables) of a read: the stored array itself when its index is distinct bare
    variables over whole axes (any order: the contraction takes the axes as they are), else a view."""
    index = read_index(read)
    bare = all(isinstance(e, sp.Symbol) for e in index) and len(set(index)) == len(index)
    if bare and tuple(ranges[v] for v in index) == shapes[read_name(read)]:
        return f"v[{read_name(read)!r}]", list(index)
    return view(read, grid, ranges, shapes), _used(read, grid)


def _tensordot(term: Term, free, ranges, shapes: Mapping[str, Shape],
               kept: KeptViews | None = None) -> str | None:
    """A sum over shared indices of (number)·A·B as one ``np.tensordot`` (a GEMM; its operand
    order picked so the result needs no transpose where one order allows it), else None."""
    order = [*free, *term.reduce]
    factors = sp.Mul.make_args(term.body)
    found = [f for f in factors if isinstance(f, sp.Indexed) and read_index(f)]
    scale = sp.Mul(*(f for f in factors if f.is_Number))
    if term.guards or len(found) != 2 or len(found) + sum(f.is_Number for f in factors) != len(factors):
        return None
    (ca, va), (cb, vb) = (operand(r, order, ranges, shapes) for r in found)
    summed = list(term.reduce)
    if kept is not None:  # a view another GEMM reads too: copied once
        ca, cb = (c if c.startswith("v[") else kept.operand(r, u, ranges, c, summed)
                  for r, c, u in zip(found, (ca, cb), (va, vb)))
    if set(va) & set(vb) != set(summed) or not set(free) <= set(va) | set(vb):
        return None  # a batched product, or a sum over an index one read lacks: einsum's job
    best = None
    for (c1, v1), (c2, v2) in (((ca, va), (cb, vb)), ((cb, vb), (ca, va))):
        kept = [v for v in v1 if v not in summed] + [v for v in v2 if v not in summed]
        perm = tuple(kept.index(v) for v in free)
        axes = ([v1.index(v) for v in summed], [v2.index(v) for v in summed])
        code = f"_dot({c1}, {c2}, ({axes[0]}, {axes[1]}), ws, {SLOT!r})"
        code += "" if perm == tuple(range(len(perm))) else f".transpose({perm})"
        if best is None or len(code) < len(best):
            best = code
    return best if scale == 1 else f"{best} * ({_PRINTER.doprint(_batch_numbers(scale))})"


def _summed(term: Term, free, ranges, shapes: Mapping[str, Shape]) -> str | None:
    """Σ over indices of (number)·one read: ``.sum`` over its axes, else None."""
    factors = sp.Mul.make_args(term.body)
    found = [f for f in factors if isinstance(f, sp.Indexed) and read_index(f)]
    scale = sp.Mul(*(f for f in factors if f.is_Number))
    if term.guards or len(found) != 1 or len(factors) - 1 != sum(f.is_Number for f in factors):
        return None
    code, used = operand(found[0], [*free, *term.reduce], ranges, shapes)
    if set(used) != {*free, *term.reduce}:
        return None
    kept = [v for v in used if v in free]
    code = f"{code}.sum(axis={tuple(used.index(v) for v in term.reduce)!r})"
    perm = tuple(kept.index(v) for v in free)
    code += "" if perm == tuple(range(len(perm))) else f".transpose({perm})"
    return code if scale == 1 else f"{code} * ({_PRINTER.doprint(_batch_numbers(scale))})"


SMALL_WINDOW = 64  # windows (pooling, kernel offsets) up to this size go one slice at a time:
# NumPy's reductions over small inner axes are many times slower than a loop of whole-array ops


def _slices(body: sp.Expr, grid, ranges, shapes: Mapping[str, Shape], guards=()) -> str:
    """A body on (window offsets, rest) as ``_Slices``: each read (and index variable, and
    guard) is an argument on the grid, the body a lambda of them evaluated one offset at a time."""
    names, args = {}, []
    for r in reads(body):
        names[r] = sp.Symbol(f"r{len(args)}")
        args.append(_on_grid(view(r, grid, ranges, shapes), _used(r, grid), grid))
    body = body.xreplace(names)
    for v in sorted(index_vars(body), key=str):  # an index variable outside the reads
        names[v] = sp.Symbol(f"r{len(args)}")
        args.append(_on_grid(f"np.arange({extent(ranges[v])}, dtype=dtype)", [v], grid))
    code = _PRINTER.doprint(_batch_numbers(body.xreplace(names)))
    keep = []
    for guard in guards:
        keep.append(f"(r{len(args)} != 0)")
        args.append(mask(guard, grid, ranges))
    if keep:  # outside its guards a term does not count (np.where: no 0·inf)
        code = f"np.where({' & '.join(keep)}, {code}, 0)"
    shape = shape_code([ranges[v] for v in grid])
    params = ", ".join(f"r{k}" for k in range(len(args)))
    return f"_Slices(lambda {params}: {code}, ({''.join(a + ', ' for a in args)}), {shape}, dtype)"


def _grid(term: Term, free, ranges, shapes: Mapping[str, Shape]) -> str:
    """Any term: its body on the grid of (free, reduced) variables, then reduced; a small window
    is reduced one offset at a time (``_Slices``), each a whole array with long inner rows."""
    window = prod(BATCH if ranges[v] == BATCH else ranges[v] for v in term.reduce)
    small = term.reduce and window <= SMALL_WINDOW
    if small and not (term.guards and term.kind == "max"):
        op = "np.maximum" if term.kind == "max" else "np.add"
        parts = _slices(term.body, [*term.reduce, *free], ranges, shapes, term.guards)
        return f"_reduce({parts}, {len(term.reduce)}, {op}, ws, {SLOT!r})"
    grid = [*term.reduce, *free] if small else [*free, *term.reduce]
    names = {}
    for r in reads(term.body):
        names[r] = sp.Symbol(f"({_on_grid(view(r, grid, ranges, shapes), _used(r, grid), grid)})")
    for v in index_vars(term.body):
        if v not in names:
            names[v] = sp.Symbol(f"{_on_grid(f'np.arange({extent(ranges[v])}, dtype=dtype)', [v], grid)}")
    body = _PRINTER.doprint(_batch_numbers(term.body.xreplace(names)))
    shape = shape_code([ranges[v] for v in grid])
    keep = " & ".join(f"({mask(guard, grid, ranges)} != 0)" for guard in term.guards)
    if keep and term.kind == "max" and term.reduce:  # the max over the admitted entries only
        axes = tuple(grid.index(v) for v in term.reduce)
        return f"np.broadcast_to({body}, {shape}).max(axis={axes!r}, where=np.broadcast_to({keep}, " \
               f"{shape}), initial=-np.inf)"
    if keep:  # outside its guards a term does not count (np.where: no 0·inf)
        body = f"np.where({keep}, {body}, 0)"
    if not term.reduce:
        return body
    reducer = "max" if term.kind == "max" else "sum"
    return f"np.broadcast_to({body}, {shape}).{reducer}(axis={tuple(range(len(free), len(grid)))!r})"


def _factored(term: Term, free, ranges, shapes: Mapping[str, Shape], kept: KeptViews | None) -> str | None:
    """Σ_r f(o)·g(o, r) as f(o)·Σ_r g(o, r): the factors free of the summed variables (batchnorm's
    (σ² + ε)^(−3/2) in ∂J/∂σ²) multiply the sum once per output, not once per summand; else None."""
    factors = sp.Mul.make_args(term.body)
    outer = [f for f in factors if not f.is_number and not index_vars(f) & set(term.reduce)]
    inner = [f for f in factors if f not in outer]
    if term.kind != "sum" or not term.reduce or not outer or all(f.is_number for f in inner):
        return None
    summed = term_code(Term(sp.Mul(*inner), term.reduce, "sum", term.guards), free, ranges, shapes, kept)
    return f"({summed}) * ({_grid(Term(sp.Mul(*outer)), free, ranges, shapes)})"


def term_code(term: Term, free, ranges, shapes: Mapping[str, Shape], kept: KeptViews | None = None) -> str:
    """One term as code: a GEMM, a sum or an einsum where the term is a product (its factors free
    of the summed variables taken out of the sum first), else on its grid."""
    code = None
    if term.kind == "sum" and term.reduce:
        code = (_factored(term, free, ranges, shapes, kept) or _tensordot(term, free, ranges, shapes, kept)
                or _summed(term, free, ranges, shapes) or _einsum(term, free, ranges, shapes))
    return code if code is not None else _grid(term, free, ranges, shapes)


def _windows(sc: Scatter) -> tuple[list[sp.Symbol], list[sp.Symbol]] | None:
    """(kernel offsets, the other variables of the index in axis order) when every axis of the
    scattered index is step·i + Σ offsets + constant with i its own variable, else None."""
    used = [v for v in sc.ranges if any(v in e.free_symbols for e in sc.index)]
    maps = _integer_map(sc.index, used)
    offsets = [v for v in sc.reduce if any(v in m[1] and len(m[1]) > 1 for m in maps)]
    axes = [[v for v in coeffs if v not in offsets] for _, coeffs, _ in maps]
    if not offsets or any(scale != 1 for scale, _, _ in maps) or any(len(a) > 1 for a in axes):
        return None
    rest = [a[0] for a in axes if a]
    if len(set(rest)) != len(rest) or any(m[1][a[0]] < 1 for m, a in zip(maps, axes) if a):
        return None
    return offsets, rest


def _cover(windows: Sequence[int], maps, parts: Sequence[int], padded: Sequence[int]) -> str:
    """How a scatter's windows meet: "add" where two may share an entry; "set" where the offsets
    of each axis span less than its step and no two offsets land alike (each entry is written by
    one window at most: pooling with stride = kernel); "tile" where they also cover every entry."""
    at = [tuple(const + sum(c * k for c, k in zip(coeffs, w)) for _, _, coeffs, const in maps)
          for w in product(*map(range, windows))]
    spans = [max(p[a] for p in at) - min(p[a] for p in at) for a in range(len(maps))]
    if len(set(at)) < len(at) or any(step and span >= step for (step, *_), span in zip(maps, spans)):
        return "add"
    written = len(at) * prod(parts[axis] for _, axis, _, _ in maps if axis >= 0)
    return "tile" if written == prod(padded) else "set"


def scatter_statement(c: Compute, shapes: Mapping[str, Shape], kept: KeptViews | None = None) -> str | None:
    """A gradient part that sums kernel or pooling windows back onto their input (the adjoint of
    a windowed read) as col2im: its values on the forward grid (one GEMM where the body is a
    product, else evaluated one window offset at a time), then one strided slice per offset,
    added, or stored where the windows do not overlap. None where that does not apply."""
    sc = c.scatter
    found = None if sc is None else _windows(sc)
    window = 0 if found is None else prod(sc.ranges[v] for v in found[0])
    if found is None or window > SMALL_WINDOW:
        return None
    offsets, rest = found
    maps, pads = [], []
    for e, n in zip(sc.index, c.shape):
        (_, coeffs, const), = _integer_map([e], [v for v in sc.ranges if v in e.free_symbols])
        low, high = bounds(e, sc.ranges)
        pads.append((int(max(0, -low)), int(max(0, high - n + 1))))
        axis = next((rest.index(v) for v in coeffs if v in rest), -1)
        step = coeffs[rest[axis]] if axis >= 0 else 0
        maps.append((step, axis, tuple(coeffs.get(v, 0) for v in offsets), const))
    if any(BATCH in p for p in pads):
        return None
    grid = [*offsets, *rest]
    summed = tuple(v for v in sc.ranges if v not in grid)
    if summed:
        parts = term_code(Term(sc.body, summed), grid, sc.ranges, shapes, kept)
    else:
        parts = _slices(sc.body, grid, sc.ranges, shapes)
    shape = shape_code(c.shape)
    padded = [n + lo + hi for n, (lo, hi) in zip(c.shape, pads)]
    cover = _cover([sc.ranges[v] for v in offsets], maps, [sc.ranges[v] for v in rest], padded)
    return (f"v[{c.name!r}] = _scatter({parts}, {_extents(offsets, sc.ranges)}, "
            f"({', '.join(map(repr, maps))}, ), {shape}, {tuple(pads)!r}, dtype, ws, {SLOT!r}"
            + ("" if cover == "add" else f", cover={cover!r}") + ")")


SLOT = "@"  # stands for a helper call's own workspace key until ``statement`` numbers them


def _slots(c: Compute, code: str) -> str:
    """Each helper call of a statement gets its own workspace key: '<name>.<k>'."""
    parts = code.split(repr(SLOT))
    return "".join(p + (repr(f"{c.name}.{k}") if k < len(parts) - 1 else "") for k, p in enumerate(parts))


def statement(c: Compute, shapes: Mapping[str, Shape], kept: KeptViews | None = None) -> str:
    """``v[name] = …``: the compute's value, placed at its index; ``shapes`` of every tensor.
    Helper calls take the workspace ``ws`` (None: fresh arrays) and a key of their own;
    ``kept``: the GEMMs' views of the whole kernel, so that a view read twice is copied once."""
    return _slots(c, _statement(c, shapes, kept))


def _statement(c: Compute, shapes: Mapping[str, Shape], kept: KeptViews | None) -> str:
    scattered = scatter_statement(c, shapes, kept)
    if scattered is not None:
        return scattered
    parts = [term_code(term, c.free, c.ranges, shapes, kept) for term in c.terms]
    free_shape = shape_code([c.ranges[v] for v in c.free])
    value = " + ".join(parts)
    if len(parts) > 1 or not any(term.reduce for term in c.terms):
        value = f"np.broadcast_to({value}, {free_shape})"
    if tuple(c.index) == c.free:
        return f"v[{c.name!r}] = np.asarray({value}, dtype)"
    shape = shape_code(c.shape)
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
