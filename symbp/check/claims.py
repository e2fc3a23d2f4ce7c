"""The claim grammar: plain and LaTeX formulas → a small syntax tree, never executed.

A claim is ``left = right``; each side is an expression in one notation that accepts what people
type and what they write in LaTeX:

* plain:  ``dE_total/dw5 = -(target_o1 - a_o1)*a_o1*(1 - a_o1)*a_h1``,
  ``delta[l] = W[l+1]^T delta[l+1] * a[l]*(1 - a[l])``, ``dW[l] = delta[l] a[l-1]^T``
* LaTeX:  ``\\frac{\\partial E_{total}}{\\partial w_5} = \\delta_{o_1} \\cdot a_{h_1}``,
  ``\\delta^l = ((W^{l+1})^T \\delta^{l+1}) \\odot \\sigma'(z^l)``

The text is read by a LALR grammar (lark) into the node classes below; *meaning* (which name is
which quantity, whether ``a^l`` is a power or a layer index) is decided later, by
``symbp.check.values``, where the network's names are known. Nothing here calls eval, exec or a
sympy string parser, and limits on length and nesting keep time and memory bounded.

Operators, loosest first: ``+ -``; then a flat product of factors joined by ``* / · × ⊙ ∘ @ .*``
or by juxtaposition (``2 x``, ``W^T delta``); then unary signs and ``\\sum``; then postfix
``_sub ^sup ' [index] .T ᵀ``. Products are read left to right.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

import sympy as sp
from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..core.errors import SymbpError

MAX_LENGTH = 2000  # characters of one claim
MAX_DEPTH = 60  # nesting of the syntax tree (parentheses, braces, signs, scripts)
MAX_DIGITS = 40  # digits of one number literal
MAX_E_EXPONENT = 100  # |k| in a literal such as 1e-5

GRAMMAR = r"""
claim: sum EQUALS sum
expression: sum

?sum: product (ADDOP product)*
?product: signed tail*
tail: MULOP signed     -> op_tail
    | power            -> juxt_tail
    | bigsum           -> juxt_tail
?signed: ADDOP signed  -> unary
       | bigsum
       | power
bigsum: SUM limits product
limits: lower? upper?
lower: "_" "{" NAME (EQUALS sum)? "}"
     | "_" NAME
upper: POW script

?power: atom post*
post: "_" script       -> sub
    | POW script       -> sup
    | PRIME            -> prime
    | "[" sum ("," sum)* "]" -> index
    | DOT_T            -> dot_t
    | SUPCHARS         -> supchars
?script: atom
       | ADDOP script  -> unary

?atom: NAME            -> name
     | NUMBER          -> number
     | CMD             -> command
     | GREEK           -> greek
     | "(" sum ")"     -> paren
     | "(" sum ("," sum)+ ")" -> tuple
     | "{" sum "}"     -> brace
     | "{" sum ("," sum)+ "}" -> brace_tuple
     | FRAC braced braced -> frac
     | WRAP braced     -> wrap
     | PARTIAL power   -> partial
braced: "{" sum "}"

EQUALS: "="
ADDOP: "+" | "-" | "\u2212"
MULOP.3: "*" | "/" | "\u00f7" | "@" | "\u00b7" | "\u22c5" | "\u00d7" | "\u2299" | "\u2218"
       | ".*" | "./" | /\\(cdot|times|odot|circ|div|ast)(?![A-Za-z])/
POW.4: "^" | "**"
PRIME: "'" | "\u2032"
DOT_T: /\.T(?![A-Za-z0-9_])/
SUPCHARS: /[\u2070\u00b9\u00b2\u00b3\u2074-\u2079\u1d40\u207b]+/
SUM.3: /\\sum(?![A-Za-z])/ | "\u03a3" | "\u2211"
FRAC.3: /\\[dt]?frac(?![A-Za-z])/
WRAP.3: /\\(hat|bar|tilde|widehat|widetilde|vec|mathbf|mathrm|mathit|mathsf|text|textrm|textit)(?![A-Za-z])/
      | /\\(operatorname|boldsymbol|bm)(?![A-Za-z])/
PARTIAL.3: /\\partial(?![A-Za-z])/ | "\u2202"
CMD.1: /\\[A-Za-z]+/
NAME: /[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*/
GREEK: /[\u03b1-\u03c9\u0391-\u03a1\u03a4-\u03a9]/
NUMBER: /([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?/
SIZING.4: /\\(left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|big|Big|bigg|Bigg)(?![A-Za-z])/
SPACING.4: /\\[,;:! ]/ | /\\(quad|qquad|displaystyle|textstyle|limits|nolimits)(?![A-Za-z])/
WS: /[ \t\r\n]+/
%ignore WS
%ignore SIZING
%ignore SPACING
"""

# Operator spellings → one kind each: "mul" (* · × \cdot: elementwise between equal shapes,
# else a matrix product), "div", "odot" (always elementwise), "matmul" (always a matrix product).
OPERATORS: dict[str, str] = {
    "*": "mul", "\u00b7": "mul", "\u22c5": "mul", "\u00d7": "mul", "\\cdot": "mul",
    "\\times": "mul", "\\ast": "mul",
    "/": "div", "\u00f7": "div", "\\div": "div", "./": "div",
    "\u2299": "odot", "\u2218": "odot", "\\odot": "odot", "\\circ": "odot", ".*": "odot",
    "@": "matmul",
}
SUPERSCRIPT_DIGITS = str.maketrans("\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207b",
                                   "0123456789-")
# Accents that make a new single symbol: \hat{y} is the name y_hat, never a product.
ACCENTS = {"hat": "hat", "widehat": "hat", "bar": "bar", "tilde": "tilde", "widetilde": "tilde",
           "vec": "vec"}


class ClaimError(SymbpError):
    """A claim cannot be read or understood; ``position`` indexes the claim text."""

    def __init__(self, message: str, text: str = "", position: int | None = None):
        self.reason, self.text, self.position = message, text, position
        where = f" (column {position + 1})" if position is not None and text else ""
        super().__init__(f"{message}{where}")

    def caret(self) -> str:
        """The claim and a caret under the offending position, for a terminal."""
        if self.position is None or not self.text or "\n" in self.text:
            return ""
        pos = min(self.position, len(self.text))
        pad = "".join("\t" if ch == "\t" else " " for ch in self.text[:pos])
        return f"  {self.text}\n  {pad}^"


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Node:
    pos: int


@dataclass(frozen=True)
class Num(Node):
    value: sp.Rational
    text: str


@dataclass(frozen=True)
class Name(Node):
    """An identifier: ``a_o1``, ``W``; LaTeX commands and Greek letters become names too
    (``\\sigma`` and ``σ`` are both ``sigma``), marked ``command`` when written with a backslash."""

    text: str
    command: bool = False


@dataclass(frozen=True)
class Group(Node):
    body: Node
    brace: bool  # {…} rather than (…)


@dataclass(frozen=True)
class TupleNode(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class SumNode(Node):
    terms: tuple[tuple[str, Node], ...]  # ("+" or "-", term)


@dataclass(frozen=True)
class Product(Node):
    factors: tuple[tuple[str, Node], ...]  # (operator kind or "juxt"; "" for the first factor)


@dataclass(frozen=True)
class Neg(Node):
    operand: Node


@dataclass(frozen=True)
class Script(Node):
    """``base_sub^sup``: a power, a subscripted name or a layer-indexed quantity (decided later)."""

    base: Node
    sub: Node | None
    sup: Node | None


@dataclass(frozen=True)
class Prime(Node):
    base: Node


@dataclass(frozen=True)
class Transpose(Node):
    base: Node


@dataclass(frozen=True)
class Index(Node):
    base: Node
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Frac(Node):
    num: Node
    den: Node


@dataclass(frozen=True)
class Partial(Node):
    operand: Node


@dataclass(frozen=True)
class Accent(Node):
    accent: str
    body: Node


@dataclass(frozen=True)
class BigSum(Node):
    index: str
    lower: Node | None
    upper: Node | None
    body: Node


@dataclass(frozen=True)
class Claim:
    """``lhs = rhs`` and the text it was read from (for messages with a caret)."""

    lhs: Node
    rhs: Node
    text: str
    latex: bool  # the claim used LaTeX (a backslash or braces): answers are shown in LaTeX too
    eq: int = -1  # where its '=' is in text


# --------------------------------------------------------------------------- lark → nodes


def _number(tok: Token) -> Num:
    """A literal as an exact rational: 0.01 is 1/100, never a binary float."""
    text = tok.value
    mantissa, _, exponent = text.lower().partition("e")
    whole, _, fraction = mantissa.partition(".")
    if len((whole + fraction).lstrip("0")) > MAX_DIGITS:
        raise ClaimError(f"number has more than {MAX_DIGITS} digits", "", tok.start_pos)
    if exponent and abs(int(exponent)) > MAX_E_EXPONENT:
        raise ClaimError(f"exponent of {text} is out of range (limit {MAX_E_EXPONENT})", "", tok.start_pos)
    scale = int(exponent or 0) - len(fraction)
    digits = int(whole + fraction or "0")
    value = sp.Integer(digits) * sp.Integer(10) ** scale if scale >= 0 else sp.Rational(digits, 10**-scale)
    return Num(tok.start_pos, value, text)


def _greek(tok: Token) -> Name:
    """σ → sigma, δ → delta, Θ → Theta (from the Unicode character name)."""
    words = unicodedata.name(tok.value).split()  # e.g. GREEK SMALL LETTER DELTA
    letter = words[-1].lower()
    return Name(tok.start_pos, letter.capitalize() if words[1] == "CAPITAL" else letter)


@v_args(inline=True)
class _Build(Transformer):
    """lark tree → the node classes above (pure data)."""

    def claim(self, lhs, eq, rhs):
        return (lhs, rhs, eq.start_pos)

    def expression(self, body):
        return body

    def name(self, tok):
        return Name(tok.start_pos, tok.value)

    def number(self, tok):
        return _number(tok)

    def command(self, tok):
        return Name(tok.start_pos, tok.value[1:], command=True)

    def greek(self, tok):
        return _greek(tok)

    @v_args(inline=True, meta=True)
    def paren(self, meta, body):
        return Group(meta.start_pos, body, brace=False)

    @v_args(inline=True, meta=True)
    def brace(self, meta, body):
        return Group(meta.start_pos, body, brace=True)

    @v_args(inline=True, meta=True)
    def brace_tuple(self, meta, *items):
        """``{2,11}``: a subscript of several indices, as documents print w_{2,11}."""
        return Group(meta.start_pos, TupleNode(items[0].pos, tuple(items)), brace=True)

    def braced(self, body):
        return body

    def tuple(self, *items):
        return TupleNode(items[0].pos, tuple(items))

    def frac(self, tok, num, den):
        return Frac(tok.start_pos, num, den)

    def wrap(self, tok, body):
        word = tok.value[1:]
        if word in ACCENTS:
            return Accent(tok.start_pos, ACCENTS[word], body)
        return body  # \mathrm{d}, \text{total}, \operatorname{relu}: the text itself

    def partial(self, tok, operand):
        return Partial(tok.start_pos, operand)

    def unary(self, sign, operand):
        return Neg(sign.start_pos, operand) if sign.value != "+" else operand

    def sum(self, first, *rest):
        terms = [("+", first)]
        for sign, term in zip(rest[::2], rest[1::2]):
            terms.append(("+" if sign.value == "+" else "-", term))
        return SumNode(first.pos, tuple(terms))

    def product(self, first, *tails):
        return Product(first.pos, (("", first),) + tails)

    def op_tail(self, op, operand):
        return (OPERATORS[op.value], operand)

    def juxt_tail(self, operand):
        return ("juxt", operand)

    def bigsum(self, tok, limits, body):
        index, lower, upper = limits
        if index is None:
            raise ClaimError("a sum needs its index, e.g. \\sum_{j} or sum_j", "", tok.start_pos)
        return BigSum(tok.start_pos, index, lower, upper, body)

    def limits(self, *parts):
        index = lower = upper = None
        for kind, a, b in parts:
            if kind == "lower":
                index, lower = a, b
            else:
                upper = a
        return index, lower, upper

    def lower(self, name, *rest):
        return ("lower", name.value, rest[1] if rest else None)

    def upper(self, _pow, script):
        return ("upper", script, None)

    def power(self, base, *posts):
        node = base
        for kind, value, pos in posts:
            node = _apply_post(node, kind, value, pos)
        return node

    def sub(self, script):
        return ("sub", script, script.pos)

    def sup(self, op, script):
        return ("sup", script, op.start_pos)

    def prime(self, tok):
        return ("prime", None, tok.start_pos)

    def index(self, *args):
        return ("index", tuple(args), args[0].pos)

    def dot_t(self, tok):
        return ("transpose", None, tok.start_pos)

    def supchars(self, tok):
        return ("supchars", tok.value, tok.start_pos)


def _apply_post(node: Node, kind: str, value: Any, pos: int) -> Node:
    """Attach one postfix operation; ``x^2^3`` and ``x_1_2`` are refused as in LaTeX."""
    if kind in ("sub", "sup"):
        base, sub, sup = (node.base, node.sub, node.sup) if isinstance(node, Script) else (node, None, None)
        if (kind == "sub" and sub is not None) or (kind == "sup" and sup is not None):
            what = "subscript" if kind == "sub" else "superscript"
            raise ClaimError(f"double {what}; use braces or parentheses to group", "", pos)
        return Script(node.pos, base, value if kind == "sub" else sub, value if kind == "sup" else sup)
    if kind == "prime":
        return Prime(node.pos, node)
    if kind == "index":
        return Index(node.pos, node, value)
    if kind == "transpose":
        return Transpose(node.pos, node)
    # superscript characters: ² ³ are powers, ᵀ a transpose
    text = value
    if "\u1d40" in text:
        if text != "\u1d40":
            raise ClaimError("mix of superscript characters; write ^T or ^2", "", pos)
        return Transpose(node.pos, node)
    digits = text.translate(SUPERSCRIPT_DIGITS)
    try:
        exponent = int(digits)
    except ValueError:
        raise ClaimError(f"cannot read the superscript {text!r}", "", pos) from None
    return _apply_post(node, "sup", Num(pos, sp.Integer(exponent), digits), pos)


# --------------------------------------------------------------------------- entry points


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", start=["claim", "expression"], maybe_placeholders=False,
                propagate_positions=True)


def _depth(tree: Tree) -> tuple[int, int]:
    """Depth of a lark tree and the text position of its deepest token, without recursion."""
    deepest, where = 0, 0
    stack: list[tuple[Any, int]] = [(tree, 1)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, Tree):
            stack.extend((child, d + 1) for child in node.children)
        elif d > deepest:
            deepest, where = d, node.start_pos
    return deepest, where


def _describe(tok: Token) -> str:
    if tok.type == "$END":
        return "end of input"
    return repr(tok.value)


def _syntax_error(exc: UnexpectedInput, text: str, start: str) -> ClaimError:
    """A one-line message for a lark error, with the position of the offending character."""
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream]
        hint = {"'": " (strings are not claims)", '"': " (strings are not claims)",
                ".": " (only .T and .* may follow a name: no attribute access)",
                "_": " (names may not start with '_')", ":": "", ";": "", "!": ""}.get(char, "")
        return ClaimError(f"unexpected character {char!r}{hint}", text, exc.pos_in_stream)
    if isinstance(exc, UnexpectedEOF):
        return ClaimError("the claim ends too early", text, len(text))
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    pos = tok.start_pos if tok.type != "$END" else len(text)
    if tok.type == "$END":
        if start == "claim" and "EQUALS" in exc.expected:
            return ClaimError("a claim needs '=' between its two sides", text, pos)
        return ClaimError("the claim ends too early (something is missing here)", text, pos)
    if tok.type == "EQUALS":
        what = "a claim has exactly one '='" if start == "claim" else "'=' is not allowed here"
        return ClaimError(what, text, pos)
    if tok.type == "RPAR" or tok.type == "RBRACE" or tok.type == "RSQB":
        return ClaimError(f"unbalanced brackets: unexpected {_describe(tok)}", text, pos)
    return ClaimError(f"unexpected {_describe(tok)}", text, pos)


def _parse(text: Any, start: str) -> Any:
    if not isinstance(text, str):
        raise ClaimError(f"a claim must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ClaimError(f"the claim is too long ({len(text)} characters; limit {MAX_LENGTH})")
    if not text.strip():
        raise ClaimError("the claim is empty")
    _check_brackets(text)
    try:
        tree = _parser().parse(text, start=start)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, start) from None
    depth, where = _depth(tree)
    if depth > MAX_DEPTH:
        raise ClaimError(f"the claim is nested too deeply (limit {MAX_DEPTH} levels)", text, where)
    try:
        return _Build().transform(tree)
    except ClaimError as exc:
        raise ClaimError(exc.reason, text, exc.position) from None
    except Exception as exc:  # lark wraps errors raised in callbacks
        inner = getattr(exc, "orig_exc", None)
        if isinstance(inner, ClaimError):
            raise ClaimError(inner.reason, text, inner.position) from None
        raise


def _check_brackets(text: str) -> None:
    """Refuse deep nesting before the parser builds a tree for it (time and memory bound)."""
    depth = 0
    for pos, char in enumerate(text):
        if char in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ClaimError(f"the claim is nested too deeply (limit {MAX_DEPTH} levels)", text, pos)
        elif char in ")]}":
            depth -= 1


def is_latex(text: str) -> bool:
    return "\\" in text or "{" in text


def parse_claim(text: str) -> Claim:
    """Read ``left = right`` into syntax trees; raises ClaimError with the column on failure."""
    lhs, rhs, eq = _parse(text, "claim")
    return Claim(lhs, rhs, text, is_latex(text), eq)


def parse_expression(text: str) -> Node:
    """Read one expression (no '='), e.g. a row name of a worked-example table."""
    return _parse(text, "expression")
