"""The meaning of a claim's syntax tree: sympy values in the names of a ``System``.

``Evaluator`` holds the rules both levels share (numbers, arithmetic with shapes, functions,
derivatives ∂X/∂Y, Σ over an index); ``NeuronEvaluator`` reads names such as ``a_{o_1}`` or
``w_5`` as the spec's neuron-level names, and ``symbp.check.matrix`` reads ``W^{l+1}``,
``delta[l]``, ``w_{ij}^l`` as layers, matrices and their entries. Values are sympy scalars or
immutable matrices, built only through sympy constructors.

Products: ``⊙ ∘ .*`` are elementwise; ``@`` and juxtaposition are matrix products; ``* · × \\cdot``
are elementwise between equal shapes and a matrix product otherwise (seed 000 writes
(W^{l+1})^T * δ^{l+1} for a matrix product, seed 003 writes · for one). A number times or plus
a matrix acts on every entry; a function of a matrix acts on every entry.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import NoReturn

import sympy as sp

from ..core import activations as act
from ..core.claim_vocabulary import (
    ACTIVATION_NAMES,
    CONSTANTS,
    DERIVATIVE_NAMES,
    FUNCTIONS,
    IGNORED_ARGUMENTS,
    LAYER_FUNCTIONS,
    LOSS_ALIASES,
    TRANSPOSE_MARKS,
)
from ..core.precedence import power_applies_to_call
from .claims import (
    Accent,
    BigSum,
    ClaimError,
    Frac,
    Group,
    Index,
    Name,
    Neg,
    Node,
    Num,
    Partial,
    Prime,
    Product,
    Script,
    SumNode,
    Transpose,
    TupleNode,
)
from .system import System

Value = sp.Expr | sp.ImmutableMatrix
MAX_POWER = 64  # |exponent| of a numeric power
MAX_NUMBER_BITS = 4000
MAX_SUM_TERMS = 2000  # Σ terms of one claim in all: every nested sum, layer and instantiation
_SUM_TERMS: ContextVar[list[int] | None] = ContextVar("sum_terms", default=None)


@contextmanager
def claim_budget() -> Iterator[None]:
    """One budget of Σ terms for every evaluator made inside (one claim check)."""
    token = _SUM_TERMS.set([0])
    try:
        yield
    finally:
        _SUM_TERMS.reset(token)


class ShapeError(Exception):
    """The claim's shapes do not fit (a wrong claim, not bad input): message and position."""

    def __init__(self, message: str, pos: int):
        super().__init__(message)
        self.pos = pos


class UnboundIndexError(Exception):
    """An index variable (i, j) was met unbound; ``size`` is the length of the axis it indexes."""

    def __init__(self, var: str, size: int):
        super().__init__(var)
        self.var, self.size = var, size


@dataclass(frozen=True)
class Fn:
    """A function name waiting for its argument: ``sigma``, ``g`` or, with prime, ``g'``."""

    name: str
    prime: bool
    pos: int


@dataclass(frozen=True)
class Derivative(Node):
    """∂num/∂den found in a quotient or a \\frac."""

    num: Node
    den: Node


def canon(text: str) -> str:
    """A name with every separator removed: a_{o_1}, a_o1 and ao1 all read as ao1."""
    return re.sub(r"[^0-9A-Za-z]", "", text)


def flatten(node: Node) -> str | None:
    """The text of a name-like node (``E_{total}`` → E_total, ``z_{h 1}`` → z_h1), else None."""
    if isinstance(node, Name):
        return node.text
    if isinstance(node, Num):
        return node.text if node.text.isdigit() else None
    if isinstance(node, Group):
        return flatten(node.body)
    if isinstance(node, TupleNode):  # w_{2,11}, as documents print w2_11
        parts = [flatten(n) for n in node.items]
        return None if None in parts else "_".join(parts)
    if isinstance(node, Product) and all(op in ("", "juxt") for op, _ in node.factors):
        parts = [flatten(n) for _, n in node.factors]
        return None if None in parts else "".join(parts)
    if isinstance(node, Script) and node.sup is None and node.sub is not None:
        base, sub = flatten(node.base), flatten(node.sub)
        return None if base is None or sub is None else f"{base}_{sub}"
    return None


def is_matrix(v: object) -> bool:
    return isinstance(v, sp.MatrixBase)


def shape_text(v: Value) -> str:
    return f"{v.rows}×{v.cols}" if is_matrix(v) else "scalar"


def scalar(v: Value) -> Value:
    """A 1×1 matrix (such as δᵀδ) is a number."""
    return v[0, 0] if is_matrix(v) and v.shape == (1, 1) else v


def elementwise(v: Value, f) -> Value:
    return sp.ImmutableMatrix(v.applyfunc(f)) if is_matrix(v) else f(v)


def add(a: Value, b: Value, pos: int) -> Value:
    if is_matrix(a) and is_matrix(b):
        if a.shape != b.shape:
            raise ShapeError(f"cannot add a {shape_text(a)} and a {shape_text(b)} matrix", pos)
        return sp.ImmutableMatrix(a + b)
    if is_matrix(a):
        return elementwise(a, lambda e: e + b)
    if is_matrix(b):
        return elementwise(b, lambda e: a + e)
    return a + b


def multiply(kind: str, a: Value, b: Value, pos: int) -> Value:
    """One product of the flat product list, by the rules in the module docstring."""
    if not is_matrix(a) or not is_matrix(b):
        if kind == "div":
            if is_matrix(b):
                raise ShapeError(f"cannot divide by a {shape_text(b)} matrix", pos)
            return elementwise(a, lambda e: e / b) if is_matrix(a) else a / b
        return sp.ImmutableMatrix(a * b) if is_matrix(a) or is_matrix(b) else a * b
    same = a.shape == b.shape
    if kind == "div" or kind == "odot" or (kind == "mul" and same):
        if not same:
            raise ShapeError(f"elementwise product of a {shape_text(a)} and a {shape_text(b)} "
                             "matrix: the shapes differ", pos)
        if kind == "div":
            return sp.ImmutableMatrix(a.rows, a.cols, lambda i, j: a[i, j] / b[i, j])
        return sp.ImmutableMatrix(a.multiply_elementwise(b))
    if a.cols != b.rows:
        hint = "; for an elementwise product write * or ⊙" if same else ""
        if a.rows == b.rows and not same:
            hint = "; is a transpose ^T missing on the left factor?"
        raise ShapeError(f"matrix product of a {shape_text(a)} and a {shape_text(b)} matrix: "
                         f"the inner sizes differ{hint}", pos)
    return sp.ImmutableMatrix(a * b)


class Evaluator:
    """Syntax tree → value. Subclasses say what names, scripts, indices and ∂ mean."""

    def __init__(self, system: System, text: str):
        self.system, self.text = system, text
        self.bound: dict[str, int] = {}  # index variables of Σ and of the claim itself
        self.terms = _SUM_TERMS.get() or [0]  # Σ terms so far, shared by a whole claim check

    def spend_terms(self, n: int, pos: int) -> None:
        """Count n more Σ terms; the total over nested sums, layers and instantiations is bounded
        by a count, so the time a claim takes does not grow with the product of its sums."""
        self.terms[0] += n
        if self.terms[0] > MAX_SUM_TERMS:
            self.fail(f"the sums of this claim need more than {MAX_SUM_TERMS} terms in all (nested sums "
                      "multiply, and each layer and test size counts); use fewer or shorter sums", pos)

    # ------------------------------------------------------------------ helpers

    def fail(self, message: str, pos: int) -> NoReturn:
        raise ClaimError(message, self.text, pos)

    def value(self, node: Node) -> Value:
        v = self.term(node)
        if isinstance(v, Fn):
            self.fail(f"the function {v.name}{chr(39) if v.prime else ''} needs an argument, "
                      f"e.g. {v.name}(z)", v.pos)
        return v

    def term(self, node: Node) -> Value | Fn:
        return getattr(self, f"on_{type(node).__name__}")(node)

    def integer(self, node: Node, what: str) -> int:
        v = self.value(node)
        if is_matrix(v) or not v.is_Integer:
            self.fail(f"{what} must be a whole number", node.pos)
        return int(v)

    # ------------------------------------------------------------------ to be specialised

    def quantity(self, node: Node) -> Value | None:
        """The value of a name-like node that denotes a quantity, or None."""
        raise NotImplementedError

    def names_hint(self) -> str:
        raise NotImplementedError

    def derivative(self, x: Value, y: Value, pos: int) -> Value:
        raise NotImplementedError

    def on_Index(self, node: Index) -> Value:
        self.fail("brackets [ ] are matrix notation (delta[l], W[l+1]); this claim reads as "
                  "neuron level", node.pos)

    def prime_of_value(self, v: Value, node: Node) -> Value:
        self.fail("' may only follow a function (g'(z), \\sigma'(z)); write ^T for a transpose",
                  node.pos)

    # ------------------------------------------------------------------ leaves

    def on_Num(self, node: Num) -> Value:
        return node.value

    def on_Name(self, node: Name) -> Value | Fn:
        q = self.quantity(node)
        if q is not None:
            return q
        fn = self.function(node)
        if fn is not None:
            return fn
        if node.text in CONSTANTS:
            return CONSTANTS[node.text]
        if node.command and node.text not in ACTIVATION_NAMES:
            self.fail(f"unknown LaTeX command \\{node.text}", node.pos)
        self.unknown(node.text, node.pos)

    def unknown(self, text: str, pos: int) -> NoReturn:
        close = difflib.get_close_matches(text, list(self.system.names.all()), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        self.fail(f"unknown name '{text}'{hint} ({self.names_hint()})", pos)

    def function(self, node: Name) -> Fn | None:
        known = (node.text in FUNCTIONS or node.text in ACTIVATION_NAMES or node.text in LAYER_FUNCTIONS
                 or node.text in DERIVATIVE_NAMES or node.text in self.system.network.formulas["activations"]
                 or node.text == "sum" or node.text == "softmax")
        return Fn(node.text, False, node.pos) if known else None

    def on_Accent(self, node: Accent) -> Value:
        text = flatten(node.body)
        if text is None:
            self.fail(f"\\{node.accent}{{…}} must decorate a name", node.pos)
        q = self.quantity(Name(node.pos, f"{text}_{node.accent}"))
        if q is None:
            self.unknown(f"{text}_{node.accent}", node.pos)
        return q

    # ------------------------------------------------------------------ structure

    def on_Group(self, node: Group) -> Value | Fn:
        return self.term(node.body)

    def on_TupleNode(self, node: TupleNode) -> Value:
        self.fail("a list (a, b) is only allowed as the arguments of a function", node.pos)

    def on_Partial(self, node: Partial) -> Value:
        self.fail("∂ is only allowed in a derivative ∂X/∂Y or \\frac{\\partial X}{\\partial Y}", node.pos)

    def on_Neg(self, node: Neg) -> Value:
        return elementwise(self.value(node.operand), lambda e: -e)

    def on_SumNode(self, node: SumNode) -> Value:
        total = None
        for sign, term in node.terms:
            v = self.value(term)
            if sign == "-":
                v = elementwise(v, lambda e: -e)
            total = v if total is None else self.add(total, v, term.pos)
        return total

    def add(self, a: Value, b: Value, pos: int) -> Value:
        """a + b by the module's rules; a batch also broadcasts a bias over the samples."""
        return add(a, b, pos)

    def on_Transpose(self, node: Transpose) -> Value:
        return self.transpose(self.value(node.base))

    def transpose(self, v: Value) -> Value:
        return sp.ImmutableMatrix(v.T) if is_matrix(v) else v

    def on_Prime(self, node: Prime) -> Value | Fn:
        base = self.term(node.base)
        if isinstance(base, Fn):
            if base.prime:
                self.fail("second derivatives are not supported", node.pos)
            return Fn(base.name, True, base.pos)
        return self.prime_of_value(base, node)

    def on_Script(self, node: Script) -> Value | Fn:
        sup = flatten(node.sup) if node.sup is not None else None
        if sup in TRANSPOSE_MARKS and self.quantity(Name(node.pos, "T")) is None:
            return self.transpose(self.value(Script(node.pos, node.base, node.sub, None))
                                  if node.sub is not None else self.value(node.base))
        if sup == "prime":
            return self.on_Prime(Prime(node.pos, Script(node.pos, node.base, node.sub, None)
                                       if node.sub is not None else node.base))
        return self.script(node)

    def script(self, node: Script) -> Value:
        """Neuron reading: base_sub is one name (a_{o_1} → a_o1), ^ is a power."""
        if node.sub is not None:
            text = flatten(Script(node.pos, node.base, node.sub, None))
            if text is None:
                self.fail("cannot read this subscript as part of a name", node.pos)
            base = self.quantity(Name(node.pos, text))
            if base is None:
                self.unknown(text, node.pos)
        else:
            base = self.term(node.base)
            if isinstance(base, Fn):
                self.fail(f"a power of the function {base.name} is not supported", node.pos)
        return base if node.sup is None else self.power(base, node.sup)

    def power(self, base: Value, exponent_node: Node) -> Value:
        exponent = self.value(exponent_node)
        if is_matrix(exponent):
            self.fail("an exponent must be a number, not a matrix", exponent_node.pos)
        if exponent.is_Number:
            if not exponent.is_Rational or abs(exponent) > MAX_POWER:
                self.fail(f"exponent {exponent} is out of range (at most {MAX_POWER})", exponent_node.pos)
        if not is_matrix(base) and base.is_Rational and exponent.is_Rational:
            bits = (abs(base.p).bit_length() + base.q.bit_length()) * max(abs(exponent.p), 1)
            if bits > MAX_NUMBER_BITS:
                self.fail("this number would be too large", exponent_node.pos)
        result = elementwise(base, lambda e: sp.Pow(e, exponent))
        entries = list(result) if is_matrix(result) else [result]
        if any(p.exp.is_Number and abs(p.exp) > MAX_POWER for e in entries for p in e.atoms(sp.Pow)):
            self.fail(f"a power above {MAX_POWER} is not supported", exponent_node.pos)
        return result

    # ------------------------------------------------------------------ products, calls, ∂

    def on_Product(self, node: Product) -> Value:
        items = self.merge_derivatives(list(node.factors))
        acc: Value | None = None
        k = 0
        while k < len(items):
            op, n = items[k]
            signs, inner = 0, n
            while isinstance(inner, Neg):  # -f(u)^2 is -(f(u)^2): the sign takes the whole call
                signs, inner = signs + 1, inner.operand
            v = self.term(inner)
            if isinstance(v, Fn):
                if k + 1 >= len(items) or items[k + 1][0] != "juxt":
                    self.fail(f"the function {v.name} needs an argument, e.g. {v.name}(z)", n.pos)
                v = self.call_operand(v, items[k + 1][1])
                k += 1
            elif k + 1 < len(items) and items[k + 1][0] == "juxt" and self.ignorable(items[k + 1][1]):
                k += 1  # J(θ) is J
            if signs % 2:
                v = elementwise(v, lambda e: -e)
            if acc is None:
                acc = v
            else:
                kind = "matmul" if op == "juxt" else op
                acc = multiply(kind, acc, v, n.pos)
            k += 1
        return scalar(acc)

    def ignorable(self, node: Node) -> bool:
        return (isinstance(node, Group) and not node.brace
                and isinstance(node.body, Name) and node.body.text in IGNORED_ARGUMENTS)

    def merge_derivatives(self, items: list[tuple[str, Node]]) -> list[tuple[str, Node]]:
        """``d X`` → ∂X; then ``∂X / ∂Y`` (or ``dX/dY``) → one Derivative factor."""
        joined: list[tuple[str, Node]] = []
        k = 0
        while k < len(items):
            op, n = items[k]
            if (isinstance(n, Name) and n.text == "d" and self.quantity(n) is None
                    and k + 1 < len(items) and items[k + 1][0] == "juxt"):
                n = Partial(n.pos, items[k + 1][1])
                k += 1
            joined.append((op, n))
            k += 1
        out: list[tuple[str, Node]] = []
        for op, n in joined:
            if op == "div" and out:
                x = self.differential(out[-1][1], numerator=True)
                y = self.differential(n, numerator=False) if x is not None else None
                if y is not None:
                    out[-1] = (out[-1][0], Derivative(out[-1][1].pos, x, y))
                    continue
            out.append((op, n))
        return out

    def differential(self, node: Node, numerator: bool) -> Node | None:
        """X when node reads as ∂X, dX or d X (X a quantity); J(θ) counts as J."""
        if isinstance(node, Partial):
            return node.operand
        if isinstance(node, Group):
            return self.differential(node.body, numerator)
        if isinstance(node, Product):
            first = node.factors[0][1]
            rest = node.factors[1:]
            if all(op == "juxt" and self.ignorable(n) for op, n in rest):
                return self.differential(first, numerator)
            if (len(node.factors) == 2 and isinstance(first, Name) and first.text == "d"
                    and node.factors[1][0] == "juxt"):
                return node.factors[1][1]
            return None
        stripped = _strip_d(node)
        if stripped is None:
            return None
        if self.quantity(stripped) is None:
            return None
        if numerator and self.quantity(node) is not None:
            return None  # a name that starts with d, such as delta_o1 or dW
        return stripped

    def on_Derivative(self, node: Derivative) -> Value:
        return self.derivative(self.value(node.num), self.value(node.den), node.pos)

    def on_Frac(self, node: Frac) -> Value:
        x = self.differential(node.num, numerator=True)
        y = self.differential(node.den, numerator=False) if x is not None else None
        if y is not None:
            return self.derivative(self.value(x), self.value(y), node.pos)
        return multiply("div", self.value(node.num), self.value(node.den), node.den.pos)

    def call_operand(self, fn: Fn, node: Node) -> Value:
        """``f`` applied to the factor after it: ``f(u)^2`` is ``(f(u))^2`` and ``f(u)^T`` is
        ``(f(u))^T``, as ``symbp.core.precedence`` says (and the spec's formula parser reads it)."""
        called = (isinstance(node, Script) and node.sub is None and node.sup is not None
                  and isinstance(node.base, (Group, TupleNode))
                  and not (isinstance(node.base, Group) and node.base.brace))
        if not (called and power_applies_to_call()):
            return self.call(fn, node)
        value = self.call(fn, node.base.body if isinstance(node.base, Group) else node.base)
        if flatten(node.sup) in TRANSPOSE_MARKS and self.quantity(Name(node.pos, "T")) is None:
            return self.transpose(value)
        return self.power(value, node.sup)

    def call(self, fn: Fn, arg_node: Node) -> Value:
        if fn.name == "sum" and not fn.prime:
            return self.plain_sum(arg_node, fn.pos)
        if isinstance(arg_node, TupleNode):
            args = [self.value(n) for n in arg_node.items]
        else:
            args = [self.value(arg_node)]
        return self.apply(fn, args)

    def apply(self, fn: Fn, args: list[Value]) -> Value:
        name = fn.name
        if name in LAYER_FUNCTIONS:
            self.arity(fn, args, 1)
            return elementwise(args[0], lambda z: self.layer_function(z, fn))
        if name == "softmax":
            self.arity(fn, args, 1)
            v = args[0]
            if not is_matrix(v) or fn.prime:
                self.fail("softmax takes a vector (a whole layer's z)", fn.pos)
            total = sp.Add(*[sp.exp(e) for e in v])
            return elementwise(v, lambda e: sp.exp(e) / total)
        prime = fn.prime
        if name in DERIVATIVE_NAMES:
            name, prime = DERIVATIVE_NAMES[name], True
            if fn.prime:
                self.fail("second derivatives are not supported", fn.pos)
        g = self.activation_expr(name)
        if g is not None:
            self.arity(fn, args, 1)
            body = _derivative_in_x(g) if prime else g
            return elementwise(args[0], lambda e: body.xreplace({act.x: e}))
        arity, construct = FUNCTIONS[name]
        self.arity(fn, args, arity)
        if prime:
            if arity != 1:
                self.fail(f"{name}' is not supported", fn.pos)
            body = sp.diff(construct(act.x), act.x)
            return elementwise(args[0], lambda e: body.xreplace({act.x: e}))
        if arity == 1:
            return elementwise(args[0], construct)
        shapes = {a.shape for a in args if is_matrix(a)}
        if len(shapes) > 1:
            raise ShapeError(f"{name} of matrices of different shapes", fn.pos)
        if shapes:  # elementwise, numbers broadcast: max(z[l], 0)
            (rows, cols), = shapes
            pick = lambda a, i, j: a[i, j] if is_matrix(a) else a  # noqa: E731
            return sp.ImmutableMatrix(rows, cols, lambda i, j: construct(*[pick(a, i, j) for a in args]))
        return construct(*args)

    def arity(self, fn: Fn, args: list[Value], n: int) -> None:
        if len(args) != n:
            self.fail(f"{fn.name} takes {n} argument{'s' if n > 1 else ''}, got {len(args)}", fn.pos)

    def activation_expr(self, name: str) -> sp.Expr | None:
        net = self.system.network
        if name in net.formulas["activations"]:
            return act.formula_activation(name, net.formulas["activations"][name]).expr
        if name in ACTIVATION_NAMES:
            return act.REGISTRY[ACTIVATION_NAMES[name]].instantiate()
        return None

    def layer_function(self, z: sp.Expr, fn: Fn) -> sp.Expr:
        """g(z_i) is the neuron's activation a_i; g'(z_i) its derivative in the output form."""
        s = self.system
        if not isinstance(z, sp.Symbol) or s.kind.get(z) != "pre":
            self.fail(f"{fn.name}{chr(39) if fn.prime else ''}(…) needs a pre-activation (a z of some "
                      "layer): it stands for that layer's activation function", fn.pos)
        a_sym = s.activation_of(z)
        if not fn.prime:
            return a_sym
        g = s.network.activation_expr(s.layer[z])
        if g is None:
            self.fail("g' of a softmax layer is a Jacobian, not a function of one z", fn.pos)
        d = act.derivative(g)
        return d.expr.subs(act.a, a_sym) if d.variable == "a" else d.expr.subs(act.x, z)

    # ------------------------------------------------------------------ Σ

    def plain_sum(self, arg_node: Node, pos: int) -> Value:
        """sum(j, body): Σ over j."""
        if not (isinstance(arg_node, TupleNode) and len(arg_node.items) == 2
                and isinstance(arg_node.items[0], Name)):
            self.fail("write a sum as sum(j, expression)", pos)
        index, body = arg_node.items
        return self.on_BigSum(BigSum(pos, index.text, None, None, body))

    def on_BigSum(self, node: BigSum) -> Value:
        var = node.index
        if var in self.bound:
            self.fail(f"the index {var} is already in use", node.pos)
        low = self.integer(node.lower, "the lower limit of a sum") if node.lower is not None else 1
        if node.upper is not None:
            high = self.integer(node.upper, "the upper limit of a sum")
        else:
            try:  # unbound, the index reports the length of the axis it runs over
                self.value(node.body)
                self.fail(f"the sum over {var} does not use {var} as an index; give its limits", node.pos)
            except UnboundIndexError as need:
                if need.var != var:
                    raise
                high = need.size
        if high - low > 1000:
            self.fail("a sum over more than 1000 terms is not supported", node.pos)
        self.spend_terms(max(high - low + 1, 0), node.pos)
        values: list[Value] = []
        try:
            for v in range(low, high + 1):
                self.bound[var] = v
                values.append(self.value(node.body))
        finally:
            self.bound.pop(var, None)
        return _total(values, node.pos)


def _total(values: list[Value], pos: int) -> Value:
    """The sum of the terms of a Σ, built once (adding one term at a time costs n² in sympy)."""
    if not any(is_matrix(v) for v in values):
        return sp.Add(*values)
    shapes = {v.shape for v in values if is_matrix(v)}
    if len(shapes) == 1 and all(is_matrix(v) for v in values):
        (rows, cols), = shapes
        return sp.ImmutableMatrix(rows, cols, lambda i, j: sp.Add(*[v[i, j] for v in values]))
    total: Value = sp.Integer(0)
    for v in values:  # scalars beside matrices, or shapes that differ: add() says which
        total = add(total, v, pos)
    return total


def _derivative_in_x(g: sp.Expr) -> sp.Expr:
    """g'(x) as the registry derives it: σ' = σ(1 − σ); relu' = H(x) (H(a) = H(x), same sign)."""
    d = act.derivative(g)
    if d.variable == "x":
        return d.expr
    return d.expr.xreplace({act.a: act.x if g.has(sp.Piecewise) else g})


def _strip_d(node: Node) -> Node | None:
    """``dE_total`` → ``E_total``; ``dW[l]`` → ``W[l]``; ``dw_{5}`` → ``w_{5}``."""
    if isinstance(node, Name) and not node.command and len(node.text) > 1 and node.text[0] == "d":
        rest = node.text[1:]
        return Name(node.pos + 1, rest[1:] if rest.startswith("_") else rest)
    if isinstance(node, Index):
        base = _strip_d(node.base)
        return Index(node.pos, base, node.args) if base is not None else None
    if isinstance(node, Script):
        base = _strip_d(node.base)
        return Script(node.pos, base, node.sub, node.sup) if base is not None else None
    return None


class NeuronEvaluator(Evaluator):
    """Names are the spec's neuron-level names (exact, or equal once separators are dropped).

    ``delta_o1`` / ``\\delta_{o_1}`` is ∂loss/∂z of the neuron whose names end in o1 (seed 000's
    δ_{o_1}); a named intermediate stands for its definition; ∂X/∂Y is the chain rule.
    """

    def __init__(self, system: System, text: str):
        super().__init__(system, text)
        self.by_canon: dict[str, list[str]] = {}
        for name in system.names.all():
            self.by_canon.setdefault(canon(name), []).append(name)

    def names_hint(self) -> str:
        return "names: " + ", ".join(self.system.names.all())

    def lookup(self, text: str) -> sp.Symbol | None:
        """The spec's name, exactly or once separators are dropped; J, E or C for the loss."""
        if text in self.system.names.all():
            return self.system.symbols[text]
        found = self.by_canon.get(canon(text), [])
        if len(found) == 1:
            return self.system.symbols[found[0]]
        if text in LOSS_ALIASES:
            return self.system.loss
        return None

    def quantity(self, node: Node) -> Value | None:
        text = flatten(node)
        if text is None:
            return None
        found = self.lookup(text)
        if found is not None:
            return found
        return self.delta(text)

    def delta(self, text: str) -> sp.Expr | None:
        """δ_X = ∂loss/∂z_X for the one neuron whose z or a name ends in X."""
        key = canon(text)
        if not key.startswith("delta") or len(key) == len("delta"):
            return None
        suffix = key[len("delta"):]
        s = self.system
        hits = {z for l, zs in enumerate(s.names.pre_activations)
                for i, z in enumerate(zs)
                if canon(z).endswith(suffix) or canon(s.names.activations[l][i]).endswith(suffix)}
        if len(hits) != 1:
            return None
        return s.derivative(s.loss, s.symbols[hits.pop()])

    def derivative(self, x: Value, y: Value, pos: int) -> Value:
        s = self.system
        if not (isinstance(x, sp.Symbol) and x in s.kind and isinstance(y, sp.Symbol) and y in s.kind):
            self.fail("a derivative ∂X/∂Y needs a named quantity X and a named quantity Y", pos)
        if s.kind[y] == "derivative" or s.kind[x] == "derivative":
            self.fail("second derivatives are not supported", pos)
        return s.derivative(x, y)
