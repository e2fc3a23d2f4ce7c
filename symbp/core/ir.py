"""The index-expression IR: each tensor is computed elementwise by an index formula.

``out[index] = Σ_terms reduce_{term.reduce} term.body`` where a body is a sympy expression in
tensor reads (``sympy.Indexed``) and index variables (integer ``Symbol``s with a range kept
in ``Compute.ranges``). A read whose index is out of bounds or not an integer is 0: that one
rule is zero padding, concatenation and the zeros of a dilated (strided) gradient.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import sympy as sp

from symbp.core.errors import DerivationError

Shape = tuple[int, ...]
Guard = tuple[sp.Expr, int]  # (e, E): the term counts only where e is an integer in [0, E)
KINDS = ("sum", "max")


def var(name: str) -> sp.Symbol:
    """An index variable (its range lives in the Compute that uses it)."""
    return sp.Symbol(name, integer=True)


@dataclass(frozen=True)
class Tensor:
    """A named tensor of known shape; ``t[i, j]`` is a read of it in an index formula."""

    name: str
    shape: Shape

    def __getitem__(self, index) -> sp.Indexed:
        index = index if isinstance(index, tuple) else (index,)
        if len(index) != len(self.shape):
            raise DerivationError(f"tensor {self.name} has {len(self.shape)} indices, got {len(index)}")
        return sp.IndexedBase(self.name)[index] if index else sp.Symbol(self.name, real=True)


@dataclass(frozen=True)
class Term:
    """One reduction: ``kind`` (sum or max) of ``body`` over ``reduce``, where guards hold."""

    body: sp.Expr
    reduce: tuple[sp.Symbol, ...] = ()
    kind: str = "sum"
    guards: tuple[Guard, ...] = ()


@dataclass(frozen=True)
class Scatter:
    """The same gradient part written on the forward grid: Σ over the grid of ``body``, each
    entry added at ``index`` (its read's index). A kernel sums window offsets this way (col2im)
    instead of gathering through dilated, padded views."""

    body: sp.Expr
    index: tuple[sp.Expr, ...]
    ranges: Mapping[sp.Symbol, int]
    reduce: tuple[sp.Symbol, ...]  # the forward term's reduced variables


@dataclass(frozen=True, eq=False)
class Compute:
    """``name[index] = Σ terms``; the free variables of ``index`` range over ``ranges``.

    ``differentiable=False`` marks a value the result does not depend on (softmax's shift),
    proven so in the tests; reverse accumulation does not pass through it.
    """

    name: str
    shape: Shape
    index: tuple[sp.Expr, ...]
    terms: tuple[Term, ...]
    ranges: Mapping[sp.Symbol, int]
    differentiable: bool = True
    role: str = ""  # what the tensor is, for documents: "z", "mean", "var", "delta", …
    scatter: Scatter | None = None  # a gradient part's equal form on the forward grid

    def __post_init__(self):
        if len(self.index) != len(self.shape):
            raise DerivationError(f"{self.name}: index has {len(self.index)} entries for shape {self.shape}")
        for term in self.terms:
            if term.kind not in KINDS:
                raise DerivationError(f"{self.name}: unknown reduction {term.kind!r}")
            if term.kind == "max" and len(self.terms) != 1:
                raise DerivationError(f"{self.name}: a max must be the only term")
            loose = term_vars(term) - set(term.reduce) - set(self.free)
            if loose:
                names = ", ".join(sorted(map(str, loose)))
                raise DerivationError(f"{self.name}: index {names} is neither free nor summed")
            if any(v not in self.ranges for v in (*term.reduce, *self.free)):
                raise DerivationError(f"{self.name}: an index variable has no range")

    @property
    def free(self) -> tuple[sp.Symbol, ...]:
        """The output's index variables, in order of first appearance in ``index``."""
        return tuple(dict.fromkeys(v for e in self.index for v in sorted(e.free_symbols, key=str)))

    def read(self) -> sp.Expr:
        """This tensor read at its own index (``out[o]``)."""
        return Tensor(self.name, self.shape)[self.index]


@dataclass(eq=False)
class Graph:
    """Inputs, parameters and computes in evaluation order; ``output`` is the scalar loss."""

    inputs: dict[str, Shape] = field(default_factory=dict)
    params: dict[str, Shape] = field(default_factory=dict)
    computes: list[Compute] = field(default_factory=list)
    output: str = ""

    def shapes(self) -> dict[str, Shape]:
        """The shape of every tensor in the graph."""
        return {**self.inputs, **self.params, **{c.name: c.shape for c in self.computes}}


def reads(expr: sp.Expr) -> list[sp.Expr]:
    """The tensor reads in expr (``Indexed`` and scalar tensors), in a fixed order."""
    # an Indexed's base label is a plain Symbol; scalar tensors are real Symbols
    scalars = {s for s in expr.free_symbols if isinstance(s, sp.Symbol) and s.is_real and not s.is_integer}
    found = expr.atoms(sp.Indexed) | scalars
    return sorted(found, key=sp.default_sort_key)


def read_name(read: sp.Expr) -> str:
    return str(read.base) if isinstance(read, sp.Indexed) else read.name


def read_index(read: sp.Expr) -> tuple[sp.Expr, ...]:
    return tuple(read.indices) if isinstance(read, sp.Indexed) else ()


def index_vars(expr: sp.Expr) -> set[sp.Symbol]:
    """Index variables in expr, inside reads or not."""
    return {s for s in expr.free_symbols if isinstance(s, sp.Symbol) and s.is_integer}


def term_vars(term: Term) -> set[sp.Symbol]:
    found = index_vars(term.body)
    for e, _ in term.guards:
        found |= index_vars(e)
    return found


def affine(expr: sp.Expr, variables: Iterable[sp.Symbol]) -> tuple[dict[sp.Symbol, sp.Rational], sp.Rational]:
    """(coefficients, constant) of an index expression affine in ``variables``, else an error."""
    expr = sp.expand(sp.Integer(expr) if isinstance(expr, int) else expr)
    variables = [v for v in variables if v in expr.free_symbols]
    coeffs = {v: expr.coeff(v) for v in variables}
    const = expr.xreplace(dict.fromkeys(variables, sp.Integer(0)))
    rest = sp.expand(expr - sum(c * v for v, c in coeffs.items()) - const)
    if rest != 0 or not all(c.is_Rational for c in (*coeffs.values(), const)):
        raise DerivationError(f"index {expr} is not affine in {', '.join(map(str, variables))}")
    return coeffs, const


def bounds(expr: sp.Expr, ranges: Mapping[sp.Symbol, int]) -> tuple[sp.Rational, sp.Rational]:
    """Least and greatest value of an affine index expression over the ranges' box."""
    coeffs, const = affine(expr, index_vars(expr))
    low = const + sum(min(0, c * (ranges[v] - 1)) for v, c in coeffs.items())
    high = const + sum(max(0, c * (ranges[v] - 1)) for v, c in coeffs.items())
    return low, high
