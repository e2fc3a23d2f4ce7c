"""Normalisation backward passes at the tensor level: the derived paths, then their sum simplified.

A normalisation is recognised from its forward formulas: μ = Σ x/m, c = x − μ, v = Σ c²/m,
x̂ = c/√(v + ε) (batch norm over a channel's entries, layer norm over a sample's). The derived
gradient of x is a sum of parts; each leaf part (through x̂, through v, through μ) is inlined
down to the gradient of the layer's output, with every sum over the group written as m·mean(·).
Then sympy does the textbook's algebra: c = σ·x̂ (σ = √(v + ε)), mean is linear, constants of
the group leave it, and mean(x̂) = 0 because c = x − mean(x). The simplified sum is the compact
dx = (γ/σ)(dy − mean(dy) − x̂·mean(dy ⊙ x̂)) for batch norm; layer norm keeps γ inside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import prod

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from symbp.core.textprint import MINUS, TextPrinter

from ..core import naming
from ..core.ir import Compute, Graph, read_name, reads
from .tensor_level import Names, Statement


class Mean(sp.Function):
    """The mean over the normalisation group of an entry-level expression (never evaluated)."""


SIGMA = sp.Symbol("sigma", positive=True)


@dataclass(frozen=True)
class Norm:
    """One recognised normalisation: the names of x, μ, c, v, x̂ and ε."""

    x: str
    mean: str
    centered: str
    var: str
    xhat: str
    eps: sp.Expr
    group: tuple[int, ...]  # the shape of μ and v: one entry per group


def _only(c: Compute) -> sp.Expr | None:
    return c.terms[0].body if len(c.terms) == 1 else None


def _count(c: Compute) -> int:
    return prod(c.ranges[v] for v in c.terms[0].reduce)


def _mean_of(c: Compute) -> str | None:
    """x when c is Σ x/m over the reduced variables (m their count), else None."""
    body = _only(c)
    if body is None or not c.terms[0].reduce:
        return None
    found = reads(body)
    if len(found) == 1 and sp.simplify(body * _count(c) - found[0]) == 0:
        return read_name(found[0])
    return None


def _centers(c: Compute, x: str, mean: str) -> bool:
    """Whether c is x − μ elementwise."""
    body = _only(c)
    if body is None or c.terms[0].reduce:
        return False
    rs = {read_name(r): r for r in reads(body)}
    return set(rs) == {x, mean} and sp.expand(body - rs[x] + rs[mean]) == 0


def _variance_of(k: Compute, centered: str) -> bool:
    """Whether k is Σ c²/m over its reduced variables."""
    body = _only(k)
    if body is None or not k.terms[0].reduce or len(reads(body)) != 1:
        return False
    read = reads(body)[0]
    return read_name(read) == centered and sp.simplify(body * _count(k) - read ** 2) == 0


def recognise(graph: Graph) -> list[Norm]:
    """Every normalisation in the forward graph, from the shape of its four formulas."""
    found = []
    for m in graph.computes:
        x = _mean_of(m)
        for c in (c for c in graph.computes if x is not None and _centers(c, x, m.name)):
            norm = _finish(graph, x, m, c)
            if norm:
                found.append(norm)
    return found


def _finish(graph: Graph, x: str, m: Compute, c: Compute) -> Norm | None:
    """v = Σ c²/m and x̂ = c/√(v + ε) after μ and c, else None."""
    v = next((k for k in graph.computes if _variance_of(k, c.name)), None)
    if v is None:
        return None
    for xh in graph.computes:
        body = _only(xh)
        rs = {read_name(r): r for r in reads(body)} if body is not None else {}
        if set(rs) == {c.name, v.name}:
            eps = sp.simplify((rs[c.name] / body) ** 2 - rs[v.name])
            if not eps.free_symbols:
                return Norm(x, m.name, c.name, v.name, xh.name, eps, m.shape)
    return None


@dataclass
class _Inliner:
    """Inlines derived gradient computes into one entry of the group, in symbols."""

    norm: Norm
    backward: Mapping[str, Compute]
    inline: set[str]  # gradient computes to inline (the rest stay symbols)
    shapes: Mapping[str, tuple[int, ...]]

    def symbol(self, name: str) -> sp.Expr:
        if name == self.norm.centered:
            return SIGMA * sp.Symbol(self.norm.xhat, real=True)
        if name == self.norm.var:
            return SIGMA ** 2 - self.norm.eps
        return sp.Symbol(name, real=True)

    def value(self, name: str) -> sp.Expr:
        if name not in self.inline:
            return self.symbol(name)
        c = self.backward[name]
        term = c.terms[0]
        body = term.body.xreplace({r: self.value(read_name(r)) for r in reads(term.body)})
        return _count(c) * self.mean(body) if term.reduce else body

    def constant(self, factor: sp.Expr) -> bool:
        """Whether a factor is the same for every entry of the group."""
        names = {s.name for s in factor.free_symbols if s is not SIGMA}
        return isinstance(factor, Mean) or all(self.shapes.get(n) == self.norm.group for n in names)

    def mean(self, expr: sp.Expr) -> sp.Expr:
        """mean(expr): linear, constants of the group taken out, mean(x̂) = 0 (c = x − mean x)."""
        total = sp.Integer(0)
        for term in sp.Add.make_args(sp.expand(expr)):
            factors = sp.Mul.make_args(term)
            constant = sp.Mul(*(f for f in factors if self.constant(f)))
            rest = sp.Mul(*(f for f in factors if not self.constant(f)))
            if rest == sp.Symbol(self.norm.xhat, real=True):
                continue
            total += constant * (Mean(rest) if rest != 1 else 1)
        return total


def _leaves(name: str, backward: Mapping[str, Compute]) -> list[str]:
    """The parts a gradient sums, through copies and sums of parts, down to the paths."""
    c = backward[name]
    body = c.terms[0].body if len(c.terms) == 1 and not c.terms[0].reduce else None
    parts = sp.Add.make_args(body) if body is not None else ()
    if not parts or not all(isinstance(p, sp.Indexed) and p.indices == tuple(c.index) for p in parts):
        return [name]
    return [leaf for p in parts for leaf in _leaves(read_name(p), backward)]


def _compact(total: sp.Expr) -> sp.Expr:
    """The common factor taken out, the rest ordered as textbooks write it: the entry's own
    term first, then the means (an unevaluated product, for printing)."""
    common, rest = sp.factor_terms(sp.expand(total)).as_coeff_Mul()
    factors = sp.Mul.make_args(rest)
    inner = next((f for f in factors if isinstance(f, sp.Add)), None)
    if inner is None:
        return total
    outer = common * sp.Mul(*(f for f in factors if f is not inner))
    terms = sorted(sp.Add.make_args(inner), key=lambda t: (len(t.atoms(Mean)), sp.count_ops(t)))
    if terms[0].could_extract_minus_sign():
        outer, terms = -outer, [-t for t in terms]
    return sp.Mul(outer, sp.Add(*terms, evaluate=False), evaluate=False)


@dataclass(frozen=True)
class NormPaths:
    """The derived paths into one normalisation's input, and their simplified sum."""

    norm: Norm
    gradient: str  # the name of ∂J/∂x
    paths: list[tuple[str, sp.Expr]]  # (part name, inlined value)
    compact: sp.Expr


def inside(norm: Norm, backward: Sequence[Compute]) -> set[str]:
    """The gradients inside the normalisation: of μ, c, v, x̂, and their parts."""
    inside = (norm.mean, norm.centered, norm.var, norm.xhat)
    return {c.name for c in backward for g in [naming.gradient_of(c.name)] if g and g[0] in inside}


def paths(norm: Norm, graph: Graph, backward: Sequence[Compute]) -> NormPaths | None:
    """Inline each path into ∂J/∂x and simplify their sum (None if x gets no gradient)."""
    by_name = {c.name: c for c in backward}
    gradient = naming.grad(norm.x)
    if gradient not in by_name:
        return None
    leaves = _leaves(gradient, by_name)
    inline = inside(norm, backward) | set(leaves)
    shapes = {**graph.shapes(), **{c.name: c.shape for c in backward}}
    inliner = _Inliner(norm, by_name, inline, shapes)
    values = [(leaf, sp.expand(inliner.value(leaf))) for leaf in leaves]
    compact = _compact(sum(v for _, v in values))
    return NormPaths(norm, gradient, values, compact)


# ---------------------------------------------------------------- writing them


class _Tex(LatexPrinter):
    def __init__(self, names: Names):
        super().__init__({"order": "none"})
        self.names = names

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:  # noqa: N802
        return r"\sigma" if expr is SIGMA else f"{{{self.names.tex(expr.name)}}}"

    def _print_Mean(self, expr: Mean) -> str:  # noqa: N802
        inner = r" \odot ".join(self._print(f) for f in sp.Mul.make_args(expr.args[0]))
        return rf"\operatorname{{mean}}\left({inner}\right)"


class _Text(TextPrinter):
    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:  # noqa: N802
        """Terms in the order ``_compact`` gave them."""
        out = ""
        for k, term in enumerate(expr.args):
            negative = term.could_extract_minus_sign()
            body = self.parenthesize(-term if negative else term, PRECEDENCE["Add"])
            sign = (MINUS if negative else "") if k == 0 else (f" {MINUS} " if negative else " + ")
            out += sign + body
        return out

    def _print_Symbol(self, expr: sp.Symbol) -> str:  # noqa: N802
        return "σ" if expr is SIGMA else expr.name

    def _print_Mean(self, expr: Mean) -> str:  # noqa: N802
        return "mean(" + " ⊙ ".join(self._print(f) for f in sp.Mul.make_args(expr.args[0])) + ")"


def _show(expr: sp.Expr, names: Names) -> dict[str, str]:
    return {"tex": _Tex(names).doprint(expr), "text": _Text().doprint(expr)}


def _show_compact(expr: sp.Expr, names: Names) -> dict[str, str]:
    """factor·(terms), the parentheses plain in LaTeX so that a long line can break inside."""
    inner = next((f for f in expr.args if isinstance(f, sp.Add)), None) if isinstance(expr, sp.Mul) else None
    if inner is None:
        return _show(expr, names)
    outer = sp.Mul(*(f for f in expr.args if f is not inner))
    shown, out = _show(inner, names), _show(outer, names)
    return {"tex": rf"{out['tex']} \bigl({shown['tex']}\bigr)", "text": f"{out['text']}·({shown['text']})"}


def _through(part: str) -> str:
    """The compute a part of a gradient comes through (``grad_x__{reader}_{term}_{read}``)."""
    return part.partition("__")[2].rsplit("_", 2)[0] or part


def statements(found: NormPaths, names: Names) -> list[Statement]:
    """Each path, then the compact form their sum simplifies to."""
    n = found.norm
    out = [Statement(part, f"path {k} into ∂J/∂{n.x}, through {_through(part)}", names.both(part),
                     _show(value, names)) for k, (part, value) in enumerate(found.paths, start=1)]
    what = f"the {len(found.paths)} paths summed and simplified by sympy, σ = √({n.var} + ε)"
    compact = _show_compact(found.compact, names)
    out.append(Statement(found.gradient, what, names.both(found.gradient), compact))
    return out
