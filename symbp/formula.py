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
MAX_MIN_MAX_CALLS = 8  # sympy's Max/Min compare all arguments pairwise, so cap their use


def _sigmoid(x: sympy.Expr) -> sympy.Expr:
    return sympy.Integer(1) / (1 + sympy.exp(-x))


def _softplus(x: sympy.Expr) -> sympy.Expr:
    return sympy.log(1 + sympy.exp(x))


# name -> (min args, max args, constructor); `where` is deliberately absent.
FUNCTIONS: dict[str, tuple[int, int, Callable[..., sympy.Expr]]] = {
    "exp": (1, 1, sympy.exp),
    "log": (1, 1, sympy.log),
    "ln": (1, 1, sympy.log),
    "sqrt": (1, 1, sympy.sqrt),
    "abs": (1, 1, sympy.Abs),
    "tanh": (1, 1, sympy.tanh),
    "sinh": (1, 1, sympy.sinh),
    "cosh": (1, 1, sympy.cosh),
    "sin": (1, 1, sympy.sin),
    "cos": (1, 1, sympy.cos),
    "atan": (1, 1, sympy.atan),
    "arctan": (1, 1, sympy.atan),
    "erf": (1, 1, sympy.erf),
    "sigmoid": (1, 1, _sigmoid),
    "softplus": (1, 1, _softplus),
    "max": (2, 2, sympy.Max),
    "min": (2, 2, sympy.Min),
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


class _Parser:
    """Recursive descent over the token list; every method returns (expression, number bits)."""

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

    def nest(self, pos: int, step: int = 1) -> None:
        self.depth += step
        if self.depth > MAX_DEPTH:
            self.fail(f"{self.what} is nested too deeply (limit {MAX_DEPTH} levels)", pos)

    def sized(self, expr: sympy.Expr, bits: int, pos: int) -> tuple[sympy.Expr, int]:
        if bits > MAX_NUMBER_BITS:
            self.fail(f"numbers in {self.what} would grow too large", pos)
        return expr, bits

    def unexpected(self) -> NoReturn:
        tok = self.tok
        if tok.kind in ("number", "name") or tok.text == "(":
            self.fail(f"missing operator before {tok.text!r} (implicit multiplication is not supported; use '*')")
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
        return expr

    def expression(self, min_prec: int = 1) -> tuple[sympy.Expr, int]:
        """Binary + - * / by precedence climbing (all left-associative)."""
        left, bits = self.unary()
        while self.tok.kind == "op" and _BINARY.get(self.tok.text, (0,))[0] >= min_prec:
            op = self.tok
            prec, build = _BINARY[op.text]
            self.index += 1
            right, right_bits = self.expression(prec + 1)
            left, bits = self.sized(build(left, right), bits + right_bits, op.pos)
        return left, bits

    def unary(self) -> tuple[sympy.Expr, int]:
        """Unary signs bind looser than ^ on their right, so -x^2 is -(x^2)."""
        sign = self.take("+", "-")
        if sign is None:
            return self.power()
        self.nest(sign.pos)
        operand, bits = self.unary()
        self.depth -= 1
        return (-operand if sign.text == "-" else operand), bits

    def power(self) -> tuple[sympy.Expr, int]:
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
            self.check_exponent(exponent, op.pos)
            estimate = base_bits + exp_bits
        self.sized(base, estimate, op.pos)  # refuse before sympy computes a huge number
        result = sympy.Pow(base, exponent)
        return self.sized(result, max(estimate, _bits(result)), op.pos)

    def check_exponent(self, exponent: sympy.Expr, pos: int) -> None:
        """sympy rewrites e**(k*log(n)) as n**k; keep k and n small so that stays cheap."""
        if exponent.has(sympy.log) and any(
            abs(r.p) > MAX_EXPONENT or r.q > MAX_EXPONENT for r in exponent.atoms(sympy.Rational)
        ):
            self.fail(f"numbers in an exponent containing log must be at most {MAX_EXPONENT}", pos)

    def primary(self) -> tuple[sympy.Expr, int]:
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
                self.fail(f"function {tok.text!r} must be called with parentheses, e.g. {tok.text}(x)", tok.pos)
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

    def call(self, name: _Token) -> tuple[sympy.Expr, int]:
        if name.text not in FUNCTIONS:
            if name.text in self.variables:
                self.fail(f"{name.text!r} is a variable, not a function; use '*' to multiply", name.pos)
            allowed = ", ".join(sorted(FUNCTIONS))
            self.fail(f"unknown function {name.text!r} in {self.what}; allowed functions: {allowed}", name.pos)
        low, high, build = FUNCTIONS[name.text]
        opening = self.tokens[self.index]
        self.index += 1
        self.nest(name.pos)
        args = []
        if self.tok.text != ")":
            args.append(self.expression())
            while self.take(","):
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
        if name.text in _EXPONENTIAL:
            self.check_exponent(args[0][0], name.pos)
        result = build(*(expr for expr, _ in args))
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
