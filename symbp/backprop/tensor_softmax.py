"""The softmax's backward pass at the tensor level: the derived parts inlined, then simplified.

A softmax is recognised from its forward formulas: e = exp(z − m) with m a max over the row,
S = Σ_k e, L = z − m − log S and a = exp(L). Its input's derived gradient is a sum of parts
(through e, through L); each is inlined back to the gradient entering the softmax (of a, or of
L when the loss reads the log-softmax), with a sum over the row kept as Σ_k(·). Since a = e/S,
e is written a·S; sums are linear and a row's constants leave them. The result is the Jacobian
row form δz = a ⊙ (δa − Σ_k a ⊙ δa), or δz = δL − a ⊙ Σ_k δL. When the entering gradient is
itself an entry-by-entry formula of the targets, it is inlined too, and shown where the row sums
cancel for targets whose rows sum to 1 (cross-entropy: δz = (a ⊙ Σ_k Y − Y)/B, there (a − Y)/B).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sympy as sp

from ..core import naming
from ..core.ir import Compute, Graph, read_index, read_name, reads
from ..core.texprint import TexPrinter
from ..core.textprint import TextPrinter
from .tensor_level import Names, Statement


class RowSum(sp.Function):
    """Σ over the softmax's axis of an entry-level expression (never evaluated)."""


@dataclass(frozen=True)
class Softmax:
    """One recognised softmax: the names of z, m, e, S, L, a and the summed axis."""

    z: str
    shift: str
    exp: str
    total: str
    log: str
    a: str
    axis: sp.Symbol
    row: tuple[int, ...]  # the shape of m and S: one entry per row


def _body(c: Compute) -> sp.Expr | None:
    return c.terms[0].body if len(c.terms) == 1 and not c.terms[0].guards else None


def _read(name: str, index: Sequence[sp.Expr]) -> sp.Expr:
    return sp.IndexedBase(name)[tuple(index)] if index else sp.Symbol(name, real=True)


def _is_log_softmax(c: Compute, z: str, shift: str, total: str) -> bool:
    """Whether c is L = z − m − log S entry by entry."""
    body, row = _body(c), c.index[:-1]
    return body is not None and not c.terms[0].reduce and sp.expand(
        body - _read(z, c.index) + _read(shift, row) + sp.log(_read(total, row))) == 0


def _exp_of_shifted(e: Compute, by_name: Mapping[str, Compute]) -> tuple[str, Compute] | None:
    """(z, m) when e = exp(z − m) entry by entry and m is a max of z over the last axis."""
    body = _body(e)
    if body is None or e.terms[0].reduce or not isinstance(body, sp.exp):
        return None
    found = [r for r in reads(body.args[0]) if isinstance(r, sp.Indexed)]
    for z, m in ((a, b) for a in found for b in found if a is not b and read_name(b) in by_name):
        shift = by_name[read_name(m)]
        if shift.terms[0].kind == "max" and sp.expand(body.args[0] - z + m) == 0 \
                and list(read_index(z)) == list(e.index) and list(read_index(m)) == list(e.index[:-1]):
            return read_name(z), shift
    return None


def recognise(graph: Graph) -> list[Softmax]:
    """Every softmax in the forward graph, from the shape of its formulas."""
    by_name = {c.name: c for c in graph.computes}
    found = []
    for e in graph.computes:
        shifted = _exp_of_shifted(e, by_name)
        total = next((c for c in graph.computes if shifted and len(c.terms[0].reduce) == 1
                      and _body(c) == _read(e.name, (*c.index, *c.terms[0].reduce))), None)
        if total is None:
            continue
        z, shift = shifted
        log = next((c for c in graph.computes if _is_log_softmax(c, z, shift.name, total.name)), None)
        a = log and next((c for c in graph.computes if _body(c) == sp.exp(_read(log.name, c.index))), None)
        if a is not None:
            found.append(Softmax(z, shift.name, e.name, total.name, log.name, a.name,
                                 total.terms[0].reduce[0], total.shape))
    return found


@dataclass
class _Inliner:
    """Inlines derived gradient computes into one entry of a row, in symbols."""

    soft: Softmax
    backward: Mapping[str, Compute]
    inline: set[str]
    shapes: Mapping[str, tuple[int, ...]]

    def value(self, name: str) -> sp.Expr:
        if name == self.soft.exp:  # e = a·S, since a = exp(z − m − log S)
            return sp.Symbol(self.soft.a, real=True) * sp.Symbol(self.soft.total, real=True)
        if name not in self.inline:
            return sp.Symbol(name, real=True)
        term = self.backward[name].terms[0]
        body = term.body.xreplace({r: self.value(read_name(r)) for r in reads(term.body)})
        return self.row_sum(body) if term.reduce else body

    def constant(self, factor: sp.Expr) -> bool:
        """Whether a factor is the same for every entry of the row."""
        return isinstance(factor, RowSum) or all(self.shapes.get(s.name) in (self.soft.row, ())
                                                 for s in factor.free_symbols)

    def row_sum(self, expr: sp.Expr) -> sp.Expr:
        """Σ_k expr: linear, the row's constants taken out."""
        total = sp.Integer(0)
        for term in sp.Add.make_args(sp.expand(expr)):
            factors = sp.Mul.make_args(term)
            constant = sp.Mul(*(f for f in factors if self.constant(f)))
            rest = sp.Mul(*(f for f in factors if not self.constant(f)))
            total += constant * RowSum(rest)
        return total


def _inside(soft: Softmax, backward: Mapping[str, Compute], entering: str) -> set[str]:
    """The gradients between the one entering the softmax and its input's."""
    tensors = [soft.exp, soft.total, soft.z] + ([soft.log] if entering != naming.grad(soft.log) else [])
    return {n for n in backward if (naming.gradient_of(n) or ("",))[0] in tensors}


def _entrywise_closure(start: str, backward: Mapping[str, Compute]) -> set[str] | None:
    """The gradient computes ``start`` depends on when all are entry-by-entry formulas."""
    todo, seen = [start], set()
    while todo:
        name = todo.pop()
        c = backward.get(name)
        if name in seen or c is None:
            continue
        if len(c.terms) != 1 or c.terms[0].reduce or c.terms[0].guards:
            return None
        seen.add(name)
        todo += [read_name(r) for r in reads(c.terms[0].body) if read_name(r) in backward]
    return seen


@dataclass(frozen=True)
class SoftmaxGradient:
    """The input gradient of one softmax: in the entering gradient, and from the loss."""

    soft: Softmax
    gradient: str
    inside: set[str]
    row_form: sp.Expr
    from_loss: sp.Expr | None


def gradient(soft: Softmax, graph: Graph, backward: Sequence[Compute]) -> SoftmaxGradient | None:
    """∂J/∂z inlined through the softmax and simplified (None if z gets no gradient)."""
    by_name = {c.name: c for c in backward}
    name = naming.grad(soft.z)
    if name not in by_name:
        return None
    entering = naming.grad(soft.a) if naming.grad(soft.a) in by_name else naming.grad(soft.log)
    inside = _inside(soft, by_name, entering)
    shapes = {**graph.shapes(), **{c.name: c.shape for c in backward}}
    row_form = sp.factor_terms(sp.expand(_Inliner(soft, by_name, inside, shapes).value(name)))
    closure = _entrywise_closure(entering, by_name)
    from_loss = None
    if closure is not None:
        full = sp.factor_terms(sp.expand(_Inliner(soft, by_name, inside | closure, shapes).value(name)))
        if not any(s.name in by_name for s in full.free_symbols) and not _rows_of_one(full).atoms(RowSum):
            from_loss = full
    return SoftmaxGradient(soft, name, inside, row_form, from_loss)


def _rows_of_one(expr: sp.Expr) -> sp.Expr:
    """expr for targets whose rows sum to 1: each Σ_k of a single tensor replaced by 1."""
    ones = expr.replace(lambda e: isinstance(e, RowSum) and e.args[0].is_Symbol, lambda e: sp.Integer(1))
    return sp.factor_terms(sp.expand(ones))


# ---------------------------------------------------------------- writing them


class _Tex(TexPrinter):
    def __init__(self, names: Names, axis: sp.Symbol, vectors: frozenset[sp.Symbol]):
        super().__init__({s: f"{{{names.tex(s.name)}}}" for s in vectors}, vectors=vectors)
        self.axis = axis

    def _print_RowSum(self, expr: RowSum) -> str:  # noqa: N802
        return rf"\sum_{{{self.axis}}} \left({self._print(expr.args[0])}\right)"


class _Text(TextPrinter):
    def __init__(self, axis: sp.Symbol):
        super().__init__()
        self.axis = axis

    def _print_RowSum(self, expr: RowSum) -> str:  # noqa: N802
        inner = " ⊙ ".join(self._print(f) for f in sp.Mul.make_args(expr.args[0]))
        return f"Σ_{self.axis}({inner})"


def _show(expr: sp.Expr, axis: sp.Symbol, names: Names, tidy=lambda e: e) -> dict[str, str]:
    """``expr`` in both formats; its symbols are tensors (multiplied entry by entry), and the
    batch size ``tidy`` brings in is not."""
    tensors = frozenset(expr.free_symbols)
    expr = tidy(expr)
    return {"tex": _Tex(names, axis, tensors).doprint(expr), "text": _Text(axis).doprint(expr)}


def statements(found: SoftmaxGradient, names: Names, tidy: Callable[[sp.Expr], sp.Expr]) -> list[Statement]:
    """The Jacobian row form, then (for a loss read entry by entry) the form from the loss;
    ``tidy`` writes numbers made from the batch size in terms of B."""
    soft, left = found.soft, names.both(found.gradient)
    out = [Statement(found.gradient, f"through the softmax {soft.a}: its derived parts inlined and "
                                     "simplified by sympy (the Jacobian row form)",
                     left, _show(found.row_form, soft.axis, names))]
    if found.from_loss is not None:
        shown = _show(_rows_of_one(found.from_loss), soft.axis, names, tidy)
        note = {"tex": rf" \quad \left(\text{{targets whose rows sum to 1: }} {shown['tex']}\right)",
                "text": f"   (for targets whose rows sum to 1: {shown['text']})"}
        out.append(Statement(found.gradient, "the same with the loss's gradient inlined", left,
                             _show(found.from_loss, soft.axis, names, tidy), note))
    return out
