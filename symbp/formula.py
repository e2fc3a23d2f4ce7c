"""Safe parser turning a user-typed math formula (activation, loss) into a sympy expression.

The text is never handed to Python's or sympy's own string parsers: a small tokenizer and a
recursive-descent (precedence-climbing) parser build the expression only through sympy
constructors, from a fixed table of functions and constants. Hostile input can therefore at
worst raise FormulaError, and size limits keep parsing time and memory bounded.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import NamedTuple, NoReturn

import sympy

from symbp.errors import FormulaError

MAX_LENGTH = 2000  # characters of formula text
MAX_DEPTH = 64  # nesting of parentheses, unary signs, function calls and powers
MAX_DIGITS = 50  # digits in one number literal
MAX_EXPONENT = 1000  # |exponent| of a numeric power and of a literal's e-notation
MAX_NUMBER_BITS = 12_000  # rough bound on the total size of the numbers in the result
MAX_MAGNITUDE = sympy.Integer(10) ** 4000  # bound on variable-free operands of functions and powers
MAX_MIN_MAX_CALLS = 8  # sympy's Max/Min compare all arguments pairwise, so cap their use


def _sigmoid(x: sympy.Expr) -> sympy.Expr:
    return sympy.Integer(1) / (1 + sympy.exp(-x))


def _softplus(x: sympy.Expr) -> sympy.Expr:
    return sympy.log(1 + sympy.exp(x))


_ONE, _TWO = (1, 1), (2, 2)
# name -> ((min, max) number of arguments, constructor); `where` is deliberately absent.
FUNCTIONS: dict[str, tuple[tuple[int, int], Callable[..., sympy.Expr]]] = {
    "exp": (_ONE, sympy.exp), "log": (_ONE, sympy.log), "ln": (_ONE, sympy.log),
    "sqrt": (_ONE, sympy.sqrt), "abs": (_ONE, sympy.Abs), "erf": (_ONE, sympy.erf),
    "tanh": (_ONE, sympy.tanh), "sinh": (_ONE, sympy.sinh), "cosh": (_ONE, sympy.cosh),
    "sin": (_ONE, sympy.sin), "cos": (_ONE, sympy.cos),
    "atan": (_ONE, sympy.atan), "arctan": (_ONE, sympy.atan),
    "sigmoid": (_ONE, _sigmoid), "softplus": (_ONE, _softplus),
    "max": (_TWO, sympy.Max), "min": (_TWO, sympy.Min),
}
CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "e": sympy.E}
# Functions whose argument acts as an exponent: sympy turns exp(k*log(n)) into n**k at once.
_EXPONENTIAL = {"exp", "sigmoid", "softplus"}
_BINARY = {"+": (1, operator.add), "-": (1, operator.sub), "*": (2, operator.mul), "/": (2, operator.truediv)}

_TOKEN = re.compile(
    r"(?P<space>[ \t\r\n]+)"
    r"|(?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^(),])"
)
_BAD_CHARS = {
    "'": "strings are not allowed",
    '"': "strings are not allowed",
    ".": "'.' is only allowed inside a number (no attribute access)",
    "=": "'=' is not allowed: a formula is an expression, not an assignment or comparison",
    **dict.fromkeys("[]{}", "brackets are not allowed; use parentheses"),
}


class _Token(NamedTuple):
    kind: str  # "number", "name", "op" or "end"
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    """Split text into tokens, rejecting anything outside the formula alphabet."""
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            char = text[pos]
            raise FormulaError(_BAD_CHARS.get(char, f"unexpected character {char!r}"), text, pos)
        kind = match.lastgroup
        if kind == "name" and (match[0].startswith("_") or "__" in match[0]):
            message = f"name {match[0]!r} is not allowed (names may not start with '_' or contain '__')"
            raise FormulaError(message, text, pos)
        if kind != "space":
            tokens.append(_Token(kind, match[0], pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _bits(expr: sympy.Basic) -> int:
    """Total bit length of the exact numbers inside expr (a cheap measure of their size)."""
    return sum(abs(r.p).bit_length() + r.q.bit_length() for r in expr.atoms(sympy.Rational))


_Node = tuple[sympy.Expr, int]  # an expression and a bound on the bits of its numbers


class _Parser:
    """Recursive descent over the token list, tracking nesting depth and number sizes."""

    def __init__(self, text: str, variables: Mapping[str, sympy.Symbol], what: str):
        self.text, self.variables, self.what = text, variables, what
        self.tokens = _tokenize(text)
        self.index = self.depth = self.min_max_calls = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.index]

    def fail(self, message: str, pos: int | None = None) -> NoReturn:
        raise FormulaError(message, self.text, self.tok.pos if pos is None else pos)

    def take(self, *texts: str) -> _Token | None:
        """Consume and return the current token if it is one of the given operators."""
        tok = self.tok
        if tok.kind == "op" and tok.text in texts:
            self.index += 1
            return tok
        return None

    def nest(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"{self.what} is nested too deeply (limit {MAX_DEPTH} levels)", pos)

    def sized(self, expr: sympy.Expr, bits: int, pos: int) -> _Node:
        if bits > MAX_NUMBER_BITS:
            self.fail(f"numbers in {self.what} would grow too large", pos)
        return expr, bits

    def build(self, construct: Callable[..., sympy.Expr], operands: list[sympy.Expr], pos: int) -> sympy.Expr:
        """Call a sympy constructor, reporting its errors (e.g. complex Max) as FormulaError."""
        try:
            return construct(*operands)
        except (ArithmeticError, TypeError, ValueError, RecursionError) as error:
            self.fail(f"cannot build this part of {self.what}: {error}", pos)

    def check_operand(self, expr: sympy.Expr, role: str, pos: int, exponent: bool = False) -> None:
        """Guard the operands of functions and powers before sympy sees them.

        sympy decides signs of variable-free expressions numerically, which takes forever for
        huge or complex values (abs(sin(exp(exp(20))))), so those must be moderate reals; and
        it rewrites e**(k*log(n)) as n**k at once, so k and n must stay small.
        """
        if exponent and expr.has(sympy.log):
            if any(abs(r.p) > MAX_EXPONENT or r.q > MAX_EXPONENT for r in expr.atoms(sympy.Rational)):
                self.fail(f"numbers in an exponent containing log must be at most {MAX_EXPONENT}", pos)
        if expr.free_symbols or expr.is_Rational:
            return  # exact numbers are bounded by MAX_NUMBER_BITS instead
        real, imag = self.build(lambda e: e.evalf(15).as_real_imag(), [expr], pos)
        if imag != 0 or not real.is_Number or not abs(real) <= MAX_MAGNITUDE:
            self.fail(f"{role} is not a moderate real constant (it is complex or astronomically large)", pos)

    def unexpected(self) -> NoReturn:
        tok = self.tok
        if tok.kind in ("number", "name") or tok.text == "(":
            self.fail(f"missing operator before {tok.text!r} (implicit multiplication is not supported)")
        if tok.text == ",":
            self.fail("',' is only allowed between function arguments")
        if tok.text == ")":
            self.fail("unbalanced parentheses: unmatched ')'")
        self.fail(f"unexpected {tok.text!r}")

    def parse(self) -> sympy.Expr:
        expr, _ = self.expression()
        if self.tok.kind != "end":
            self.unexpected()
        if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            raise FormulaError(f"{self.what} is undefined (division by zero or log(0)?)", self.text)
        if expr.has(sympy.I):
            raise FormulaError(f"{self.what} has complex values (e.g. sqrt or log of a negative number)")
        return expr

    def expression(self, min_prec: int = 1) -> _Node:
        """Binary + - * / by precedence climbing (all left-associative)."""
        left, bits = self.unary()
        while self.tok.kind == "op" and _BINARY.get(self.tok.text, (0,))[0] >= min_prec:
            op = self.tok
            prec, construct = _BINARY[op.text]
            self.index += 1
            right, right_bits = self.expression(prec + 1)
            left, bits = self.sized(self.build(construct, [left, right], op.pos), bits + right_bits, op.pos)
        return left, bits

    def unary(self) -> _Node:
        """Unary signs bind looser than ^ on their right, so -x^2 is -(x^2)."""
        sign = self.take("+", "-")
        if sign is None:
            return self.power()
        self.nest(sign.pos)
        operand, bits = self.unary()
        self.depth -= 1
        return (-operand if sign.text == "-" else operand), bits

    def power(self) -> _Node:
        """`^` / `**`, right-associative: the exponent is itself a signed power."""
        base, base_bits = self.primary()
        op = self.take("^", "**")
        if op is None:
            return base, base_bits
        self.nest(op.pos)
        exponent, exp_bits = self.unary()
        self.depth -= 1
        if exponent.is_Rational:
            if abs(exponent.p) > MAX_EXPONENT * exponent.q:
                self.fail(f"exponent {exponent} is too large (limit {MAX_EXPONENT})", op.pos)
            estimate = base_bits * max(abs(exponent.p), 1) + exp_bits
        else:
            estimate = base_bits + exp_bits
        self.sized(base, estimate, op.pos)  # refuse before sympy computes a huge number
        self.check_operand(base, f"the base of {op.text!r}", op.pos)
        self.check_operand(exponent, f"the exponent of {op.text!r}", op.pos, exponent=True)
        result = self.build(sympy.Pow, [base, exponent], op.pos)
        return self.sized(result, max(estimate, _bits(result)), op.pos)

    def primary(self) -> _Node:
        tok = self.tok
        if tok.kind == "number":
            self.index += 1
            value = self.number(tok)
            return value, _bits(value)
        if tok.kind == "name":
            self.index += 1
            if self.tok.text == "(":
                return self.call(tok)
            if tok.text in self.variables:
                return self.variables[tok.text], 0
            if tok.text in CONSTANTS:
                return CONSTANTS[tok.text], 2
            if tok.text in FUNCTIONS:
                self.fail(f"function {tok.text!r} must be called with parentheses", tok.pos)
            allowed = ", ".join(sorted(self.variables)) or "(none)"
            self.fail(f"unknown name {tok.text!r} in {self.what}; allowed variables: {allowed}", tok.pos)
        if self.take("("):
            self.nest(tok.pos)
            inner = self.expression()
            self.close(tok)
            self.depth -= 1
            return inner
        where = "at end of " + self.what if tok.kind == "end" else f"before {tok.text!r}"
        self.fail(f"missing operand {where}")

    def close(self, opening: _Token) -> None:
        """Expect the ')' matching the '(' at opening."""
        if self.take(")"):
            return
        if self.tok.kind == "end":
            self.fail("unbalanced parentheses: this '(' is never closed", opening.pos)
        self.unexpected()

    def call(self, name: _Token) -> _Node:
        if name.text not in FUNCTIONS:
            if name.text in self.variables:
                self.fail(f"{name.text!r} is a variable, not a function; use '*' to multiply", name.pos)
            allowed = ", ".join(sorted(FUNCTIONS))
            self.fail(f"unknown function {name.text!r} in {self.what}; allowed: {allowed}", name.pos)
        (low, high), construct = FUNCTIONS[name.text]
        opening = self.take("(")
        self.nest(name.pos)
        args = [] if self.tok.text == ")" else [self.expression()]
        while args and self.take(","):
            args.append(self.expression())
        self.close(opening)
        self.depth -= 1
        if not low <= len(args) <= high:
            plural = "" if high == 1 else "s"
            self.fail(f"{name.text}() takes {high} argument{plural}, got {len(args)}", name.pos)
        if name.text in ("max", "min"):
            self.min_max_calls += 1
            if self.min_max_calls > MAX_MIN_MAX_CALLS:
                self.fail(f"too many max/min calls in {self.what} (limit {MAX_MIN_MAX_CALLS})", name.pos)
        for arg, _ in args:
            self.check_operand(arg, f"the argument of {name.text}()", name.pos, name.text in _EXPONENTIAL)
        result = self.build(construct, [arg for arg, _ in args], name.pos)
        return self.sized(result, max(sum(bits for _, bits in args), _bits(result)), name.pos)

    def number(self, tok: _Token) -> sympy.Rational:
        """Exact value of a numeric literal: 0.01 is Rational(1, 100), never a float."""
        mantissa, _, exp_text = tok.text.lower().partition("e")
        whole, _, fraction = mantissa.partition(".")
        if len(whole + fraction) > MAX_DIGITS:
            self.fail(f"number has more than {MAX_DIGITS} digits", tok.pos)
        if exp_text and abs(int(exp_text)) > MAX_EXPONENT:
            self.fail(f"exponent of number is too large (limit {MAX_EXPONENT})", tok.pos)
        scale = int(exp_text or 0) - len(fraction)
        digits = int(whole + fraction)
        if scale >= 0:
            return sympy.Integer(digits * 10**scale)
        return sympy.Rational(digits, 10**-scale)


def parse_formula(text: str, variables: Mapping[str, sympy.Symbol], *, what: str = "formula") -> sympy.Expr:
    """Parse a user-typed formula into a sympy expression over the given variables.

    Only the names in `variables`, the functions in FUNCTIONS and the constants pi and e are
    accepted (case-sensitive; a variable shadows a constant of the same name). Numbers become
    exact rationals. Any problem raises FormulaError; `what` names the formula in messages.
    """
    if not isinstance(text, str):
        raise FormulaError(f"{what} must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"{what} is too long ({len(text)} characters; limit {MAX_LENGTH})")
    if not text.strip():
        raise FormulaError(f"{what} is empty")
    return _Parser(text, variables, what).parse()


def free_variable_names(expr: sympy.Expr) -> set[str]:
    """Names of the free symbols of expr, e.g. to check which inputs a loss really uses."""
    return {symbol.name for symbol in expr.free_symbols if isinstance(symbol, sympy.Symbol)}
