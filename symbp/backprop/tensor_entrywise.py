"""Tensor-level recognisers for gradients computed entry by entry, and their sums over axes.

A gradient whose formula is a product of reads all at its own index, one of them a gradient,
is that gradient ⊙ the other factors, printed as derived (an activation's g′ such as a(1 − a),
1 − a² or [a > 0]; inverted dropout's mask times 1/(1 − p)). A gradient summed over some of the
axes of such a product is the product summed over those axes: the parameter was broadcast along
them (a bias: Σ δ over the batch and pixels; a norm's γ: Σ δy ⊙ x̂, β: Σ δy).
"""

from __future__ import annotations

from collections.abc import Set

import sympy as sp

from ..core.ir import Compute, read_index, read_name, reads
from ..core.texprint import tex
from ..core.textprint import text
from .tensor_level import FORMATS, Names, Statement


def _entrywise(c: Compute, gradients: Set[str]) -> tuple[sp.Expr, sp.Indexed, list[sp.Expr]] | None:
    """(coefficient, the gradient read, the other factors) when the one term's body is a product
    of factors whose reads all sit at the term's full index, exactly one factor a gradient."""
    if len(c.terms) != 1 or c.terms[0].guards or c.terms[0].kind != "sum" or c.role != "grad":
        return None
    full = [*c.index, *c.terms[0].reduce]
    if not all(isinstance(i, sp.Symbol) for i in full):
        return None
    found = reads(c.terms[0].body)
    if not found or not all(isinstance(r, sp.Indexed) and set(read_index(r)) == set(full)
                            and len(read_index(r)) == len(full) for r in found):
        return None
    coeff, rest = c.terms[0].body.as_coeff_Mul()
    factors = list(sp.Mul.make_args(rest))
    deltas = [f for f in factors if isinstance(f, sp.Indexed) and read_name(f) in gradients]
    others = [f for f in factors if f is not deltas[0]] if len(deltas) == 1 else []
    if len(deltas) != 1 or any(read_name(r) in gradients for f in others for r in reads(f)):
        return None
    return coeff, deltas[0], others


def _bare(expr: sp.Expr) -> sp.Expr:
    """The expression with each read replaced by its tensor's name, entry by entry."""
    return expr.xreplace({r: sp.Symbol(read_name(r), real=True) for r in reads(expr)})


def _product(coeff: sp.Expr, delta: sp.Indexed, others: list[sp.Expr], names: Names) -> dict[str, str]:
    """coefficient·δ ⊙ g′, with g′ the product of the other factors as derived."""
    factor = _bare(sp.Mul(*others))
    shown = {}
    for fmt in FORMATS:
        lead = "" if coeff == 1 else (sp.latex(coeff) + r"\," if fmt == "tex" else f"{coeff}·")
        out = lead + names.show(read_name(delta), (), fmt)
        if factor == 1:
            shown[fmt] = out
        elif fmt == "tex":
            body = tex(factor, {s: f"{{{names.tex(s.name)}}}" for s in factor.free_symbols})
            shown[fmt] = out + r" \odot " + (rf"\left({body}\right)" if factor.is_Add else body)
        else:
            shown[fmt] = out + " ⊙ " + (f"({text(factor)})" if factor.is_Add else text(factor))
    return shown


def entrywise(c: Compute, names: Names, gradients: Set[str]) -> list[Statement]:
    """δ ⊙ (the other factors, as derived): an activation's or dropout's gradient; ``gradients``
    names the derived gradient tensors."""
    found = _entrywise(c, gradients)
    if not found or c.terms[0].reduce or not found[2]:
        return []
    return [Statement(c.name, "entry by entry: the gradient it reads ⊙ the derived factor",
                      names.both(c.name), _product(*found, names))]


def axis_sum(c: Compute, names: Names, gradients: Set[str]) -> list[Statement]:
    """Σ over the axes a parameter is broadcast along, of δ (⊙ the other factors)."""
    found = _entrywise(c, gradients)
    if not found or not c.terms[0].reduce:
        return []
    over = ",".join(map(str, c.terms[0].reduce))
    inner = _product(*found, names)
    right = {"tex": rf"\sum_{{{over}}} {inner['tex']}", "text": f"Σ_{{{over}}} {inner['text']}"}
    return [Statement(c.name, f"summed over the axes ({over}) along which the parameter is broadcast",
                      names.both(c.name), right)]
