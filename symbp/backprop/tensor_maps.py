"""Tensor-level recognisers for computes that move one tensor's entries without products.

Each looks at the index of a single read, as derived. A read at (u − p)/s summed over a window
(p, q) and scaled is an even spread over each window (average pooling's δ: upsampled when the
windows tile, a full correlation with a kernel of ones when they overlap or skip). A read whose
index packs several of the output's indices with row-major strides (or the output's index
packing the read's) is a reshape (flatten and its δ). A read at the output's indices shifted by
constants, over a smaller or shifted range, is a slice (a concatenation's δ split back).
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from ..core.ir import Compute, affine, index_vars, read_index, read_name
from .tensor_level import FORMATS, Names, Statement, _outer, _steps, _window, _wrap


def _one_read(c: Compute) -> tuple[sp.Rational, sp.Indexed] | None:
    """(coefficient, read) when the compute is one term, a number times one read."""
    if len(c.terms) != 1 or c.terms[0].guards or c.terms[0].kind != "sum":
        return None
    coeff, read = c.terms[0].body.as_coeff_Mul()
    return (coeff, read) if isinstance(read, sp.Indexed) else None


# ---------------------------------------------------------------- even spread (average pooling's δ)


def _ones(sizes: Sequence[int], fmt: str) -> str:
    times = r"\times " if fmt == "tex" else "×"
    shape = times.join(map(str, sizes))
    return rf"\mathbf{{1}}_{{{shape}}}" if fmt == "tex" else f"1_{shape}"


def _scaled(coeff: sp.Rational, inner: str, fmt: str) -> str:
    if coeff == 1:
        return inner
    if fmt == "tex":
        return rf"{sp.latex(coeff)}\,{inner}"
    return f"({coeff})·{inner}"


def even_spread(c: Compute, names: Names) -> list[Statement]:
    """Σ over a window of c·R[(u − p)/s]: each window's δ spread evenly over its entries."""
    found = _one_read(c)
    if not found or not c.terms[0].reduce:
        return []
    coeff, r = found
    window = set(c.terms[0].reduce)
    axes = [e for e in read_index(r) if not isinstance(e, sp.Symbol)]
    windows = [_window(e, window, c.ranges) for e in axes]
    if not axes or not all(w and w.kind == "flipped" for w in windows):
        return []
    sizes = [c.ranges[next(iter(index_vars(e) & window))] for e in axes]
    window_vars = set().union(*(index_vars(e) for e in axes))
    tiles = all(w.step == k and w.pad == k - 1 for w, k in zip(windows, sizes))
    steps = _steps([w.step for w in windows])
    right = {}
    for fmt in FORMATS:
        delta = names.show(read_name(r), _outer(read_index(r), window_vars), fmt)
        if tiles:
            inner = _wrap(fmt, "upsample", steps, delta)
        else:
            star = r" \star " if fmt == "tex" else " ⋆ "
            spread = _wrap(fmt, "dil", steps, delta) if steps != "1" else delta
            inner = _ones(sizes, fmt) + star + _wrap(fmt, "pad", _steps([w.pad for w in windows]), spread)
        right[fmt] = _scaled(coeff, inner, fmt)
    what = ("spread evenly over each window: δ upsampled" if tiles else
            "spread evenly over each window: a full correlation with a kernel of ones")
    return [Statement(c.name, what, names.both(c.name, _outer(c.index, window_vars)), right)]


# ---------------------------------------------------------------- reshape (flatten)


def _packs(packed: sp.Expr, parts: Sequence[sp.Symbol], c: Compute) -> bool:
    """Whether ``packed`` is Σ stride_i·v_i over ``parts`` with row-major strides."""
    if not parts or index_vars(packed) != set(parts):
        return False
    coeffs, const = affine(packed, parts)
    stride = 1
    for v in reversed(parts):
        if coeffs.get(v) != stride:
            return False
        stride *= c.ranges[v]
    return const == 0


def _reshaped(outer: Sequence[sp.Expr], inner: Sequence[sp.Expr], c: Compute) -> bool:
    """Whether ``outer`` is ``inner`` with its last indices packed into one."""
    if not 0 < len(outer) < len(inner) or not all(isinstance(i, sp.Symbol) for i in inner):
        return False
    head = len(outer) - 1
    return list(outer[:head]) == list(inner[:head]) and _packs(outer[head], list(inner[head:]), c)


def _dims(shape: Sequence[int], batch_size: int) -> str:
    return "(" + ", ".join("B" if n == batch_size else str(n) for n in shape) + ")"


def reshape(c: Compute, names: Names, batch_size: int) -> list[Statement]:
    """A read with some indices packed row-major into one, or the output so packed: a reshape."""
    found = _one_read(c)
    if not found or found[0] != 1 or c.terms[0].reduce:
        return []
    r = found[1]
    if not (_reshaped(read_index(r), c.index, c) or _reshaped(c.index, read_index(r), c)):
        return []
    right = {f: _wrap(f, "reshape", "", names.show(read_name(r), (), f) + ", " + _dims(c.shape, batch_size))
             for f in FORMATS}
    return [Statement(c.name, "a reshape (a sample's entries in row-major order, as NumPy's)",
                      names.both(c.name), right)]


# ---------------------------------------------------------------- slice (a concatenation's δ)


def _offsets(c: Compute, r: sp.Indexed) -> list[int] | None:
    """The constant shift of each read index from the output's, else None."""
    if len(read_index(r)) != len(c.index) or not all(isinstance(i, sp.Symbol) for i in c.index):
        return None
    shifts = [sp.expand(e - v) for e, v in zip(read_index(r), c.index)]
    return [int(s) for s in shifts] if all(s.is_Integer for s in shifts) else None


def _axis(offset: int, size: int, whole: int) -> str:
    return ":" if offset == 0 and size == whole else f"{offset}:{offset + size}"


def tensor_slice(c: Compute, names: Names, shapes: dict[str, tuple[int, ...]]) -> list[Statement]:
    """A read at the output's indices shifted by constants, over part of the read's range."""
    found = _one_read(c)
    if not found or found[0] != 1 or c.terms[0].reduce:
        return []
    r = found[1]
    offsets, whole = _offsets(c, r), shapes.get(read_name(r))
    if offsets is None or whole is None or (not any(offsets) and tuple(whole) == tuple(c.shape)):
        return []
    axes = [_axis(o, n, w) for o, n, w in zip(offsets, c.shape, whole)]
    right = {"tex": f"{{{names.tex(read_name(r))}}}_{{" + r",\,".join(axes) + "}",
             "text": f"{read_name(r)}[{', '.join(axes)}]"}
    return [Statement(c.name, "a slice: the entries this tensor occupies in the one it was joined into",
                      names.both(c.name), right)]
