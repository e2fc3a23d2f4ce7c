"""The tensor level: derived index formulas recognised as the operations textbooks write.

Nothing here is typed per op: each recogniser looks at the shape of a derived compute's index
formula. A sum of a product of two reads whose indices are bare variables is a matrix product
(z = a·Wᵀ, W̄ = z̄ᵀ·a); a product where one read slides over the other (an index p + s·i) is a
correlation, its kernel dilated when the kernel's index carries the stride, and flipped with
the other read dilated when the index is solved as (u + pad − p)/s (a full correlation with
rot180 of the kernel); a δ gated by an equality with a max is routed to the arg-max; a sum of
gradient parts at one index is a fan-out. The other shapes (entrywise gradients, sums over
broadcast axes, spreads, reshapes, slices, softmax) live in their own modules; ``tensor_table``
tries them all in order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sympy as sp

from ..core.ir import Compute, Term, affine, index_vars, read_index, read_name, reads

FORMATS = ("tex", "text")


@dataclass(frozen=True)
class Statement:
    """One compute restated at the tensor level; ``left``, ``right`` and ``note`` map a
    format ("tex", "text") to its writing."""

    name: str
    what: str
    left: Mapping[str, str]
    right: Mapping[str, str]
    note: Mapping[str, str] | None = None

    def show(self, fmt: str) -> str:
        note = self.note[fmt] if self.note else ""
        return f"{self.left[fmt]} = {self.right[fmt]}{note}"

    @property
    def tex(self) -> str:
        return self.show("tex")

    @property
    def text(self) -> str:
        return self.show("text")


@dataclass(frozen=True)
class Names:
    """How tensors are written: LaTeX names from ``tex``, text names as they are."""

    tex: Callable[[str], str]

    def show(self, name: str, index: Sequence[sp.Expr], fmt: str) -> str:
        idx = ",".join(map(str, index))
        if fmt == "tex":
            return f"{{{self.tex(name)}}}_{{{idx}}}" if idx else f"{{{self.tex(name)}}}"
        return f"{name}[{idx}]" if idx else name

    def both(self, name: str, index: Sequence[sp.Expr] = ()) -> dict[str, str]:
        return {fmt: self.show(name, index, fmt) for fmt in FORMATS}


def _single(term: Term) -> bool:
    return not term.reduce and not term.guards and isinstance(term.body, sp.Indexed)


def _two_reads(c: Compute):
    """(coefficient, read A, read B, added reads) when the compute is one sum of a product of
    two reads, plus terms that are each one read (a bias)."""
    first, *rest = c.terms
    if first.kind != "sum" or first.guards or not all(_single(t) for t in rest):
        return None
    found = reads(first.body)
    if len(found) != 2 or not all(isinstance(r, sp.Indexed) for r in found):
        return None
    coeff = sp.simplify(first.body / (found[0] * found[1]))
    if coeff != 1:
        return None
    return found[0], found[1], [t.body for t in rest]


def _bare(read: sp.Indexed) -> bool:
    return all(isinstance(i, sp.Symbol) for i in read_index(read))


def _plus(extras: Sequence[sp.Indexed], names: Names, fmt: str, indexed: bool = True) -> str:
    return "".join(" + " + names.show(read_name(e), read_index(e) if indexed else (), fmt) for e in extras)


# ---------------------------------------------------------------- matrix products

Factor = tuple[str, bool]  # a matrix: tensor name, transposed


def _show_product(factors: Sequence[Factor], names: Names, fmt: str) -> str:
    dot, top = (r" \cdot ", r"^\top") if fmt == "tex" else ("·", "ᵀ")
    return dot.join(names.show(name, (), fmt) + (top if transposed else "") for name, transposed in factors)


def _columns(factors: Sequence[Factor], batch: set[str], out_batch: bool) -> list[Factor]:
    """The same product with one sample per column, as textbooks write it: a batch-first T
    is the transpose of its column form, and a batch-first result is transposed whole."""
    flipped = [(name, transposed != (name in batch)) for name, transposed in factors]
    return [(name, not t) for name, t in reversed(flipped)] if out_batch else flipped


def _matrix_factors(c: Compute, a: sp.Indexed, b: sp.Indexed) -> list[Factor] | None:
    """out[i, j] = Σ_k A·B as [A or Aᵀ, B or Bᵀ] with rows i, columns j."""
    if len(c.index) != 2 or len(c.terms[0].reduce) != 1 or not all(isinstance(i, sp.Symbol) for i in c.index):
        return None
    if not (_bare(a) and _bare(b) and len(read_index(a)) == len(read_index(b)) == 2):
        return None
    (k,), (row, col) = c.terms[0].reduce, c.index
    left = next((r for r in (a, b) if row in read_index(r) and k in read_index(r)), None)
    right = next((r for r in (a, b) if r is not left and col in read_index(r) and k in read_index(r)), None)
    if left is None or right is None:
        return None
    return [(read_name(left), read_index(left)[0] != row), (read_name(right), read_index(right)[0] != k)]


def matrix_product(c: Compute, names: Names, batch_size: int) -> list[Statement]:
    """A product of matrices, transposed as needed, shown with one sample per row (as the
    kernel stores it) and per column (W̄ = δ·aᵀ, as textbooks write it)."""
    found = _two_reads(c)
    rows = found and _matrix_factors(c, found[0], found[1])
    if not rows:
        return []
    a, b, extras = found
    batch = {read_name(r) for r in (a, b) if c.ranges[read_index(r)[0]] == batch_size}
    cols = _columns(rows, batch, c.ranges[c.index[0]] == batch_size)
    right = {f: _show_product(rows, names, f) + _plus(extras, names, f, False) for f in FORMATS}
    per_column = {f: _show_product(cols, names, f) + _plus(extras, names, f, False) for f in FORMATS}
    note = {"tex": rf" \quad \left(\text{{per column: }} {per_column['tex']}\right)",
            "text": f"   (one sample per column: {per_column['text']})"}
    return [Statement(c.name, "a matrix product (one sample per row, as the kernel stores it)",
                      names.both(c.name), right, note)]


# ---------------------------------------------------------------- correlations


@dataclass(frozen=True)
class Window:
    """One sliding axis of a correlation: R[α·slide + β·kernel + γ]."""

    kind: str  # "stride": K ⋆ R; "dilated": dil_β(K) ⋆ R; "flipped": rot180(K) ⋆ dil_s(R)
    step: int  # stride, dilation of the kernel, or dilation of R
    pad: int  # zeros around R


def _window(e: sp.Expr, kernel_vars: set[sp.Symbol], ranges: Mapping[sp.Symbol, int]) -> Window | None:
    """Classify one index of the sliding read. With unit steps the variable of the longer range
    runs over the kernel that slides: δ is the kernel of W̄ = δ ⋆ x, as textbooks write it."""
    variables = index_vars(e)
    kernel = variables & kernel_vars
    if len(variables) != 2 or len(kernel) != 1:
        return None
    (kv,), (sv,) = kernel, variables - kernel
    coeffs, const = affine(e, variables)
    alpha, beta = coeffs[sv], coeffs[kv]
    long_kernel = ranges[kv] > ranges[sv]
    if beta == 1 and alpha.is_Integer and alpha >= 1 and const.is_Integer and (alpha > 1 or not long_kernel):
        return Window("stride", int(alpha), int(-const))
    if alpha == 1 and beta.is_Integer and beta >= 1 and const.is_Integer:
        return Window("dilated", int(beta), int(-const))
    if beta == -alpha and alpha > 0 and (1 / alpha).is_Integer and (const / alpha).is_Integer:
        return Window("flipped", int(1 / alpha), ranges[kv] - 1 - int(const / alpha))
    return None


def _spatial(read: sp.Indexed) -> list[int]:
    return [d for d, e in enumerate(read_index(read)) if not isinstance(e, sp.Symbol)]


def _sliding(c: Compute):
    """(sliding read R, kernel read K, windows, added reads) for a correlation, else None."""
    found = _two_reads(c)
    if not found:
        return None
    a, b, extras = found
    for r, k in ((a, b), (b, a)):
        axes = _spatial(r)
        if not axes or not _bare(k):
            continue
        kernel_vars = set(read_index(k)) & set(c.terms[0].reduce + c.free)
        windows = [_window(read_index(r)[d], kernel_vars, c.ranges) for d in axes]
        if all(windows) and len({w.kind for w in windows}) == 1:
            return r, k, windows, extras
    return None


def _outer(index: Sequence[sp.Expr], window_vars: set[sp.Symbol]) -> tuple[sp.Expr, ...]:
    """The indices that are not window variables (batch and channels)."""
    return tuple(i for i in index if isinstance(i, sp.Symbol) and i not in window_vars)


def _steps(values: Sequence[int]) -> str:
    return str(values[0]) if len(set(values)) == 1 else "(" + ",".join(map(str, values)) + ")"


def _wrap(fmt: str, op: str, arg: str, inner: str) -> str:
    if fmt == "tex":
        sub = f"_{{{arg}}}" if arg else ""
        return rf"\operatorname{{{op}}}{sub}\left({inner}\right)"
    return f"{op}_{arg}({inner})" if arg else f"{op}({inner})"


_WHAT = {
    "stride": "a correlation of the input with the kernel",
    "dilated": "a correlation of the input with δ as the kernel",
    "flipped": "a full correlation of δ with the kernel rotated by 180°",
}
_IM2COL = {  # the same sum as one matrix product over the im2col matrix of the sliding read
    "stride": (r"{k}_{{\mathrm{{row}}}} \cdot {r}_{{\mathrm{{col}}}}", "{k}_row·{r}_col"),
    "dilated": (r"{k}_{{\mathrm{{col}}}} \cdot {r}_{{\mathrm{{col}}}}^\top", "{k}_col·{r}_colᵀ"),
    "flipped": (r"\operatorname{{col2im}}\left({k}_{{\mathrm{{row}}}}^\top"
                r" \cdot {r}_{{\mathrm{{col}}}}\right)", "col2im({k}_rowᵀ·{r}_col)"),
}
_ROW = {"stride": "_row", "dilated": "_row", "flipped": ""}


def _correlation_right(r, k, windows, summed, fmt: str, names: Names, window_vars) -> str:
    kind = windows[0].kind
    steps, pads = _steps([w.step for w in windows]), _steps([w.pad for w in windows])
    kernel = names.show(read_name(k), _outer(read_index(k), window_vars), fmt)
    slider = names.show(read_name(r), _outer(read_index(r), window_vars), fmt)
    star = r" \star " if fmt == "tex" else " ⋆ "
    if kind == "stride" and steps != "1":
        star = rf" \star_{{{steps}}} " if fmt == "tex" else f" ⋆_{steps} "
    if kind == "dilated" and steps != "1":
        kernel = _wrap(fmt, "dil", steps, kernel)
    if kind == "flipped":
        kernel = _wrap(fmt, "rot180", "", kernel)
        slider = _wrap(fmt, "dil", steps, slider) if steps != "1" else slider
    slider = _wrap(fmt, "pad", pads, slider) if pads != "0" else slider
    over = ",".join(map(str, summed))
    total = (rf"\sum_{{{over}}} " if fmt == "tex" else f"Σ_{{{over}}} ") if summed else ""
    return f"{total}{kernel}{star}{slider}"


def correlation(c: Compute, names: Names) -> list[Statement]:
    """A correlation and its im2col view (two statements), from the sliding read's indices."""
    found = _sliding(c)
    if not found:
        return []
    r, k, windows, extras = found
    window_vars = set().union(*(index_vars(read_index(r)[d]) for d in _spatial(r)))
    summed = [v for v in c.terms[0].reduce if v not in window_vars]
    kind = windows[0].kind
    right = {f: _correlation_right(r, k, windows, summed, f, names, window_vars) + _plus(extras, names, f)
             for f in FORMATS}
    left = names.both(c.name, _outer(c.index, window_vars))
    view = {f: p.format(k=names.show(read_name(k), (), f), r=names.show(read_name(r), (), f))
            for p, f in zip(_IM2COL[kind], FORMATS)}
    view_left = {"tex": names.show(c.name, (), "tex") + (r"_{\mathrm{row}}" if _ROW[kind] else ""),
                 "text": names.show(c.name, (), "text") + _ROW[kind]}
    steps = _steps([w.step for w in windows])
    what = _WHAT[kind] + (f" (δ dilated by the stride {steps})" if kind != "stride" and steps != "1" else "")
    return [Statement(c.name, what, left, right),
            Statement(c.name, "the same sum as one matrix product (the im2col view)", view_left, view)]


# ---------------------------------------------------------------- max routing and fan-out


def _is_hit(expr: sp.Expr) -> bool:
    return isinstance(expr, sp.Piecewise) and isinstance(expr.args[0][1], sp.Eq)


def max_routing(c: Compute, names: Names) -> list[Statement]:
    """δ gated by [x = max of its window]: the gradient routed to the arg-max."""
    if len(c.terms) != 1 or not c.terms[0].reduce:
        return []
    hits = [f for f in sp.Mul.make_args(c.terms[0].body) if _is_hit(f)]
    if len(hits) != 1:
        return []
    eq = hits[0].args[0][1]
    own = next((s for s in (eq.lhs, eq.rhs) if list(read_index(s)) == list(c.index)), None)
    pooled = eq.rhs if own is eq.lhs else eq.lhs
    share = next((r for r in reads(c.terms[0].body) if r not in (eq.lhs, eq.rhs)), None)
    if own is None or share is None:
        return []
    right = {}
    for fmt in FORMATS:
        x = names.show(read_name(own), c.index, fmt)
        p, s = names.show(read_name(pooled), ("w",), fmt), names.show(read_name(share), ("w",), fmt)
        right[fmt] = (rf"\sum_{{\text{{windows }} w \ni {x}}} {s}\,[{x} = {p}]" if fmt == "tex"
                      else f"Σ_(windows w holding {x}) {s}·[{x} = {p}]")
    return [Statement(c.name, "routed to the arg-max: each window's δ (shared among ties) goes to "
                              "the entries equal to its max", names.both(c.name, c.index), right)]


def fan_out(c: Compute, names: Names, known: Mapping[str, Statement]) -> list[Statement]:
    """∂J/∂h as the sum of its parts, one per reader; each part as the tensor level has it."""
    if c.role != "grad" or len(c.terms) != 1 or c.terms[0].reduce:
        return []
    parts = sp.Add.make_args(c.terms[0].body)
    if len(parts) < 2 or not all(isinstance(p, sp.Indexed) and list(p.indices) == list(c.index)
                                 for p in parts):
        return []
    right = {f: " + ".join(_part(read_name(p), names, known, f) for p in parts) for f in FORMATS}
    return [Statement(c.name, f"a fan-out: the sum of the {len(parts)} paths that read the tensor",
                      names.both(c.name), right)]


def _part(name: str, names: Names, known: Mapping[str, Statement], fmt: str) -> str:
    """One part of a gradient: its tensor-level right side if recognised, else its name."""
    if name not in known:
        return names.show(name, (), fmt)
    right = known[name].right[fmt]
    if " " not in right:
        return right
    return rf"\left({right}\right)" if fmt == "tex" else f"({right})"


def copy_of(c: Compute, names: Names, shapes: Mapping[str, tuple[int, ...]]) -> Statement | None:
    """A compute that passes a tensor on unchanged (δ of an add's input is δ of its sum)."""
    if len(c.terms) != 1 or c.terms[0].reduce or c.terms[0].guards:
        return None
    body = c.terms[0].body
    if not (isinstance(body, sp.Indexed) and list(body.indices) == list(c.index)):
        return None
    if shapes.get(read_name(body), c.shape) != c.shape:  # part of a larger tensor: a slice
        return None
    return Statement(c.name, "a copy", names.both(c.name), names.both(read_name(body)))
