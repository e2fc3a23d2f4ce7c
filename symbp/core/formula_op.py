"""A new op from an index formula typed by a user, read by our own grammar (never eval).

    z[n, c, i, j] = sum(p, q) W[c, p, q] * x[n, c, i + p, j + q] + b[c]

The left side names the output and its index variables. The right side is a sum of terms;
a term may open with ``sum(vars)``, ``mean(vars)`` or ``max(vars)``, which reduces the
product that follows (up to the next + or −); ``sum(p:3)`` gives p the range 0..2. Reads
index tensors by affine expressions of index variables (``2*i + p - 1``); elementwise
functions come from the formula function table. Tensors are the op's inputs (shapes known
when the graph is built) and its declared parameters, whose dimensions are numbers or index
variable names. Every other range is inferred: from a dimension the variable indexes alone,
else (an output index) as the largest range whose reads stay inside the inputs, as a
"valid" convolution has it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import sympy as sp
from lark import Lark, Transformer, v_args
from lark.exceptions import LarkError, VisitError

from symbp.core.errors import FormulaError
from symbp.core.formula import FUNCTIONS, MAX_DEPTH, MAX_DIGITS, MAX_LENGTH

from .graph_build import Layer
from .ir import Tensor, Term, affine, index_vars, read_index, read_name, reads, var

MAX_INDEX = 10_000  # integers in an index (offsets, strides): arrays are padded by as much
MAX_POWER = 16  # |exponent| of ^, a number: x^2, x^-0.5
MAX_SCALE = 300  # |e| of a number's e-notation

GRAMMAR = r"""
start: NAME "[" names "]" "=" sum
names: NAME ("," NAME)*
bound: NAME (":" INT)?
sum: signed_term (ADDOP term)*
signed_term: SUBOP? term
term: REDUCE "(" bound ("," bound)* ")" product -> reduced
    | product
product: power (MULOP power)*
power: atom ("^" atom)?
atom: NUMBER -> number
    | NAME "[" indices "]" -> read
    | NAME "(" inner ")" -> call
    | NAME -> name
    | "(" inner ")"
inner: sum
indices: index ("," index)*
index: SUBOP? index_term (ADDOP index_term)*
index_term: INT "*" NAME | NAME | INT
REDUCE.2: "sum" | "mean" | "max"
ADDOP: "+" | "-"
SUBOP: "-"
MULOP: "*" | "/"
NAME: /[A-Za-z][A-Za-z0-9]*/
INT: /[0-9]+/
NUMBER: /[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/
%ignore /[ \t]+/
"""


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", maybe_placeholders=False)


@dataclass(frozen=True)
class _Parsed:
    output: str
    index: tuple[sp.Symbol, ...]
    terms: tuple[Term, ...]
    extents: dict[sp.Symbol, int]


def _negated(term: Term) -> Term:
    if term.kind == "max":
        raise FormulaError("a max term cannot be negated (−max is not a max); negate inside it")
    return Term(-term.body, term.reduce, term.kind)


@v_args(inline=True)
class _Build(Transformer):
    """lark tree → sympy, only through constructors; tensors must be declared."""

    def __init__(self, tensors: Mapping[str, int]):
        super().__init__()
        self.tensors = tensors  # name -> number of dimensions
        self.extents: dict[sp.Symbol, int] = {}  # ranges given in the text: sum(p:3)

    def start(self, name, names, terms):
        return _Parsed(str(name), tuple(names), tuple(terms), dict(self.extents))

    def names(self, *tokens):
        return [var(str(t)) for t in tokens]

    def sum(self, first, *rest):
        terms = list(first)
        for op, term in zip(rest[::2], rest[1::2]):
            terms += [_negated(t) if str(op) == "-" else t for t in term]
        return terms

    def signed_term(self, *parts):
        (term,) = parts[-1]
        return [_negated(term) if len(parts) == 2 else term]

    def term(self, product):
        return [Term(product)]

    def bound(self, name, extent=None):
        if extent is not None:
            self.extents[var(str(name))] = int(extent)
        return var(str(name))

    def reduced(self, kind, *rest):
        *names, product = rest
        return [Term(product, tuple(names), str(kind))]  # a mean is divided once ranges are known

    def product(self, first, *rest):
        out = first
        for op, factor in zip(rest[::2], rest[1::2]):
            out = out * factor if str(op) == "*" else out / factor
        return out

    def power(self, base, exponent=None):
        if exponent is None:
            return base
        if not (exponent.is_Rational and abs(exponent) <= MAX_POWER):
            raise FormulaError(f"an exponent must be a number from -{MAX_POWER} to {MAX_POWER}")
        return base**exponent

    def number(self, token):
        mantissa, _, exponent = str(token).lower().partition("e")
        if len(mantissa) > MAX_DIGITS or abs(int(exponent or 0)) > MAX_SCALE:
            raise FormulaError(f"number {token} is too long or too large (at most {MAX_DIGITS} digits, "
                               f"e±{MAX_SCALE})")
        f = Fraction(str(token))
        return sp.Rational(f.numerator, f.denominator)

    def read(self, name, indices):
        if str(name) not in self.tensors:
            raise FormulaError(f"unknown tensor {str(name)!r}; declared: {', '.join(self.tensors)}")
        if len(indices) != self.tensors[str(name)]:
            raise FormulaError(f"{name} has {self.tensors[str(name)]} indices, not {len(indices)}")
        return Tensor(str(name), (0,) * len(indices))[tuple(indices)]

    def call(self, name, inner):
        if str(name) not in FUNCTIONS or FUNCTIONS[str(name)][0] != (1, 1):
            raise FormulaError(f"unknown function {str(name)!r} in an index formula")
        if any(t.reduce for t in inner):
            raise FormulaError("a sum, mean or max may only open a term, not sit inside a function")
        return FUNCTIONS[str(name)][1](sum(t.body for t in inner))

    def name(self, token):
        raise FormulaError(f"{token!r} is used as a value; read a tensor as {token}[…]")

    def inner(self, terms):
        return terms

    def atom(self, inner):
        if any(t.reduce for t in inner):
            raise FormulaError("a sum, mean or max may only open a term, not sit inside parentheses")
        return sum(t.body for t in inner)

    def indices(self, *items):
        return list(items)

    def index(self, *parts):
        sign = -1 if parts and str(parts[0]) == "-" else 1
        parts = parts[1:] if sign == -1 else parts
        out = sign * parts[0]
        for op, term in zip(parts[1::2], parts[2::2]):
            out = out + term if str(op) == "+" else out - term
        return out

    def index_term(self, *tokens):
        if tokens[0].type == "INT" and int(tokens[0]) > MAX_INDEX:  # the text is at most MAX_LENGTH
            raise FormulaError(f"index numbers must be at most {MAX_INDEX}, not {tokens[0]}")
        if len(tokens) == 2:
            return int(tokens[0]) * var(str(tokens[1]))
        token = tokens[0]
        return sp.Integer(int(token)) if token.type == "INT" else var(str(token))


def parse_index_formula(text: str, tensors: Mapping[str, int]) -> _Parsed:
    """Parse a formula whose reads may name ``tensors`` (name → number of dimensions)."""
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"index formula is too long ({len(text)} characters; limit {MAX_LENGTH})")
    if text.count("(") + text.count("[") > MAX_DEPTH:
        raise FormulaError(f"index formula is nested too deeply (limit {MAX_DEPTH})")
    try:
        return _Build(tensors).transform(_parser().parse(text))
    except VisitError as error:
        if isinstance(error.orig_exc, FormulaError):
            raise error.orig_exc from None
        raise FormulaError(f"cannot read index formula: {error.orig_exc}") from None
    except LarkError as error:
        where = getattr(error, "column", None)
        at = f" at column {where}" if where else ""
        raise FormulaError(f"cannot read index formula {text!r}{at}") from None


def _bare_extents(parsed: _Parsed, shapes: Mapping[str, Sequence]) -> dict[sp.Symbol, int]:
    """Ranges of variables that index a dimension of known size alone (the smallest such)."""
    known: dict[sp.Symbol, int] = dict(parsed.extents)
    for term in parsed.terms:
        for r in reads(term.body):
            for e, size in zip(read_index(r), shapes[read_name(r)]):
                if isinstance(e, sp.Symbol) and isinstance(size, int) and e not in parsed.extents:
                    known[e] = min(known.get(e, size), size)
    return known


def _valid_extents(parsed: _Parsed, shapes: Mapping[str, Sequence], known: dict[sp.Symbol, int]) -> None:
    """Ranges of the rest: the largest keeping every read of s·v + rest inside its tensor."""
    for _ in range(len(parsed.index) + 1):
        for term in parsed.terms:
            for r in reads(term.body):
                for e, size in zip(read_index(r), shapes[read_name(r)]):
                    loose = [v for v in index_vars(e) if v not in known]
                    if len(loose) != 1 or not isinstance(size, int):
                        continue
                    v = loose[0]
                    coeffs, const = affine(e, index_vars(e))
                    rest = const + sum(max(0, c * (known[u] - 1)) for u, c in coeffs.items() if u != v)
                    if coeffs[v] > 0 and rest >= 0:
                        known[v] = int((size - 1 - rest) // coeffs[v]) + 1


@dataclass(frozen=True)
class FormulaOp:
    """A user op: the formula, its inputs in order and its parameters' dimensions."""

    formula: str
    inputs: tuple[str, ...] = ("x",)
    params: tuple[tuple[str, tuple], ...] = ()

    def __call__(self, layer: Layer, *xs: Tensor) -> Tensor:
        """Add the op to ``layer``'s graph, reading ``xs`` (bound to ``inputs`` in order)."""
        if len(xs) != len(self.inputs):
            raise FormulaError(f"the index formula reads {len(self.inputs)} inputs, got {len(xs)}")
        dims = {**{n: len(x.shape) for n, x in zip(self.inputs, xs)}, **{n: len(d) for n, d in self.params}}
        parsed = parse_index_formula(self.formula, dims)
        shapes = {**{n: x.shape for n, x in zip(self.inputs, xs)}, **dict(self.params)}
        known = _bare_extents(parsed, shapes)
        _valid_extents(parsed, shapes, known)
        found = {v for t in parsed.terms for v in index_vars(t.body)} | set(parsed.index)
        missing = sorted(str(v) for v in found if v not in known or known[v] < 1)
        if missing:
            raise FormulaError(f"cannot infer the range of index {', '.join(missing)} in {self.formula!r}")
        names = {**{n: x for n, x in zip(self.inputs, xs)}}
        for n, d in self.params:
            names[n] = layer.param(n, [known[var(k)] if isinstance(k, str) else k for k in d])
        rename = {sp.IndexedBase(n): sp.IndexedBase(t.name) for n, t in names.items()}
        terms = [Term(t.body.xreplace(rename) / _count(t, known), t.reduce,
                      "max" if t.kind == "max" else "sum")
                 for t in parsed.terms]
        shape = [known[v] for v in parsed.index]
        return layer.compute(parsed.output, shape, parsed.index, terms, known)


def _count(term: Term, known: Mapping[sp.Symbol, int]) -> int:
    """A mean divides by the number of entries it reduces over; sum and max by 1."""
    if term.kind != "mean":
        return 1
    total = 1
    for v in term.reduce:
        total *= known[v]
    return total


def formula_op(formula: str, inputs: Sequence[str] = ("x",), params: Mapping[str, Sequence] | None = None):
    """A registry entry (``ops.OpDef``) for a user op given by an index formula."""
    from .ops import OpDef

    op = FormulaOp(formula, tuple(inputs), tuple((n, tuple(d)) for n, d in (params or {}).items()))
    return OpDef(op, len(op.inputs) if len(op.inputs) == 1 else None)
