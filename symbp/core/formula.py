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

from symbp.core.errors import FormulaError
from symbp.core.functions import BY_SPELLING
from symbp.core.precedence import BINARY

MAX_LENGTH = 2000  # characters of formula text
MAX_DEPTH = 64  # nesting of parentheses, unary signs, function calls and powers
MAX_DIGITS = 50  # digits in one number literal
MAX_EXPONENT = 1000  # |exponent| of a numeric power and of a literal's e-notation
MAX_NUMBER_BITS = 12_000  # rough bound on the total size of the exact numbers in the result
MAX_MAGNITUDE_LOG10 = 1000  # constants built along the way lie in 1e-1000..1e1000 (or are 0)
# What sympy may raise on odd input (e.g. a comparison it cannot decide); reported as FormulaError.
_SYMPY_ERRORS = (ArithmeticError, AttributeError, TypeError, ValueError, RecursionError)


def _sigmoid(x: sympy.Expr) -> sympy.Expr:
    return sympy.Integer(1) / (1 + sympy.exp(-x))


def _softplus(x: sympy.Expr) -> sympy.Expr:
    return sympy.log(1 + sympy.exp(x))


_ONE = (1, 1)
# name -> ((min, max) number of arguments, constructor): the elementary functions of the one
# table (symbp.core.functions) under their formula spellings, and two compositions of them.
# `where` is parsed apart (its first argument is a comparison), and only where the caller allows.
FUNCTIONS: dict[str, tuple[tuple[int, int], Callable[..., sympy.Expr]]] = {
    **{spelling: ((f.arity, f.arity), f.build) for spelling, f in BY_SPELLING.items()},
    "sigmoid": (_ONE, _sigmoid), "softplus": (_ONE, _softplus),
}
CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "e": sympy.E}
# Functions whose argument acts as an exponent (their operands get the tighter limits).
_EXPONENTIAL = {spelling for spelling, f in BY_SPELLING.items() if f.grows} | {"sigmoid", "softplus"}
_CONSTRUCT = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_BINARY = {op: (BINARY[op], construct) for op, construct in _CONSTRUCT.items()}
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
_COMPARISONS = {"<": sympy.StrictLessThan, "<=": sympy.LessThan, ">": sympy.StrictGreaterThan,
                ">=": sympy.GreaterThan}
WHERE_EXAMPLE = "where(x > 0, x, exp(x) - 1)"

_TOKEN = re.compile(
    r"(?P<space>[ \t\r\n]+)"
    r"|(?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|<=|>=|[-+*/^(),<>])"
)
_BAD_CHARS = {
    **dict.fromkeys("'\"", "strings are not allowed"),
    **dict.fromkeys("[]{}", "brackets are not allowed; use parentheses"),
    ".": "'.' is only allowed inside a number (no attribute access)",
    "=": "'=' is not allowed: a formula is an expression, not an assignment or comparison",
}


class _Token(NamedTuple):
    kind: str  # "number", "name", "op" or "end"
    text: str
    pos: int


def _shown(text: str) -> str:
    """The text as quoted in an error message: one line, each line break, tab or other control
    character replaced by one visible stand-in, so that positions still line up."""
    return "".join(c if c.isprintable() else (" " if c.isspace() else "\ufffd") for c in text)


def _tokenize(text: str) -> list[_Token]:
    """Split text into tokens, rejecting anything outside the formula alphabet."""
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            char = text[pos]
            raise FormulaError(_BAD_CHARS.get(char, f"unexpected character {char!r}"), _shown(text), pos)
        kind = match.lastgroup
        if kind == "name" and (match[0].startswith("_") or "__" in match[0]):
            message = f"name {match[0]!r} is not allowed (names may not start with '_' or contain '__')"
            raise FormulaError(message, _shown(text), pos)
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
    """Recursive descent over the token list, tracking nesting depth and the size of numbers.

    sympy settles the sign of a variable-free expression numerically, which can run for minutes
    on huge, tiny or complex constants (abs(sin(exp(exp(20))))), and it computes exact powers
    eagerly (9**9**9). So every node is vetted as it is built: exact numbers stay under
    MAX_NUMBER_BITS, other constants stay moderate reals, exponents stay small.
    """

    def __init__(self, text: str, variables: Mapping[str, sympy.Symbol], what: str, where: bool = False):
        self.text, self.variables, self.what, self.where = text, variables, what, where
        self.tokens = _tokenize(text)
        self.index = self.depth = 0
        self.approximations: dict[sympy.Expr, sympy.Expr] = {}

    @property
    def tok(self) -> _Token:
        return self.tokens[self.index]

    def fail(self, message: str, pos: int | None = None) -> NoReturn:
        raise FormulaError(message, _shown(self.text), self.tok.pos if pos is None else pos)

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

    def check_bits(self, bits: int, pos: int) -> int:
        if bits > MAX_NUMBER_BITS:
            self.fail(f"numbers in {self.what} would grow too large", pos)
        return bits

    def real_value(self, const: sympy.Expr, pos: int) -> sympy.Expr:
        """Approximate value of a variable-free expression, which must be finite and real."""
        try:
            real, imag = self.approx(const).as_real_imag()
        except _SYMPY_ERRORS as error:
            self.fail(f"cannot evaluate a constant in {self.what}: {error}", pos)
        if not (real.is_finite and imag.is_finite) or const.has(sympy.zoo, sympy.nan):
            self.fail(f"{self.what} is undefined here (division by zero or log(0)?)", pos)
        if imag != 0:
            self.fail(f"{self.what} has a complex value here (root or log of a negative number?)", pos)
        return real

    def approx(self, const: sympy.Expr) -> sympy.Expr:
        """Floating-point value of a constant, evaluated bottom-up and memoised (sympy's evalf
        starts afresh each time, which is quadratic over a long formula)."""
        value = self.approximations.get(const)
        if value is None:
            args = [self.approx(arg) for arg in const.args]
            value = self.approximations[const] = (const.func(*args) if args else const).evalf(15)
        return value

    def check_exponent(self, expr: sympy.Expr, role: str, pos: int) -> None:
        """A constant exponent must be small, and so must numbers beside a log in any exponent:
        sympy rewrites exp(k*log(n)) as n**k at once."""
        numbers = expr.atoms(sympy.Rational) if expr.has(sympy.log) else ()
        if any(abs(r.p) > MAX_EXPONENT or r.q > MAX_EXPONENT for r in numbers):
            self.fail(f"numbers beside log in {role} must be at most {MAX_EXPONENT}", pos)
        if not expr.free_symbols and abs(self.real_value(expr, pos)) > MAX_EXPONENT:
            self.fail(f"{role} must be at most {MAX_EXPONENT} in magnitude", pos)

    def build(self, construct: Callable[..., sympy.Expr], operands: list[sympy.Expr], bits: int, pos: int,
              *, measure: bool = True, vet: bool = True) -> _Node:
        """Apply a sympy constructor, reporting its errors as FormulaError, and check the result:
        bits are recounted if `measure`; if `vet`, its constant factor must be a moderate real."""
        try:
            result = construct(*operands)
        except _SYMPY_ERRORS as error:
            self.fail(f"cannot build this part of {self.what}: {error}", pos)
        bits = self.check_bits(max(bits, _bits(result)) if measure else bits, pos)
        if vet and (result.is_Mul or not result.free_symbols):
            const = sympy.Mul(*(arg for arg in sympy.Mul.make_args(result) if not arg.free_symbols))
            size = abs(self.real_value(const, pos))
            if size > 10**MAX_MAGNITUDE_LOG10 or 0 < size < sympy.Rational(1, 10**MAX_MAGNITUDE_LOG10):
                bounds = f"1e-{MAX_MAGNITUDE_LOG10}..1e{MAX_MAGNITUDE_LOG10}"
                self.fail(f"a constant in {self.what} has a magnitude outside {bounds}", pos)
        return result, bits

    def unexpected(self) -> NoReturn:
        tok = self.tok
        if tok.kind in ("number", "name") or tok.text == "(":
            self.fail(f"missing operator before {tok.text!r} (implicit multiplication is not supported)")
        if tok.text == ",":
            self.fail("',' is only allowed between function arguments")
        if tok.text == ")":
            self.fail("unbalanced parentheses: unmatched ')'")
        if tok.text in _COMPARISONS:
            self.fail(f"a comparison is only allowed as the condition of where(), as in {WHERE_EXAMPLE}")
        self.fail(f"unexpected {tok.text!r}")

    def parse(self) -> sympy.Expr:
        expr, _ = self.expression()
        if self.tok.kind != "end":
            self.unexpected()
        if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.I):  # vetted already; be sure
            raise FormulaError(f"{self.what} is undefined or complex", self.text)
        return expr

    def expression(self, min_prec: int = 1) -> _Node:
        """Binary + - * / by precedence climbing (all left-associative)."""
        left, bits = self.unary()
        while self.tok.kind == "op" and _BINARY.get(self.tok.text, (0,))[0] >= min_prec:
            op = self.tok
            prec, construct = _BINARY[op.text]
            self.index += 1
            right, right_bits = self.expression(prec + 1)
            # a sum's constants are no bigger than its terms', so only products are vetted
            left, bits = self.build(construct, [left, right], bits + right_bits, op.pos,
                                    measure=False, vet=prec == 2)
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
        self.check_exponent(exponent, f"the exponent of {op.text!r}", op.pos)
        factor = max(abs(exponent.p), 1) if exponent.is_Rational else 1
        estimate = self.check_bits(base_bits * factor + exp_bits, op.pos)  # before sympy computes it
        return self.build(sympy.Pow, [base, exponent], estimate, op.pos)

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
        if name.text == "where" and self.where:
            return self.where_call(name)
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
        if name.text in _EXPONENTIAL:
            self.check_exponent(args[0][0], f"the argument of {name.text}()", name.pos)
        return self.build(construct, [arg for arg, _ in args], sum(bits for _, bits in args), name.pos)

    def where_call(self, name: _Token) -> _Node:
        """where(v op c, then, otherwise): a variable compared with a number picks a branch; the
        branches must meet at c, so that the function has no jump."""
        opening = self.take("(")
        self.nest(name.pos)
        cond_pos = self.tok.pos
        lhs, lhs_bits = self.expression()
        op = self.tok
        if not (op.kind == "op" and op.text in _COMPARISONS):
            self.fail(f"where() needs a condition such as x > 0 first, as in {WHERE_EXAMPLE}")
        self.index += 1
        rhs, rhs_bits = self.expression()
        branches = []
        for _ in range(2):
            if not self.take(","):
                self.fail(f"where() takes a condition and two values, as in {WHERE_EXAMPLE}")
            branches.append(self.expression())
        self.close(opening)
        self.depth -= 1
        construct = _COMPARISONS[op.text]
        if lhs.is_Symbol and not rhs.free_symbols:
            var, bound = lhs, rhs
        elif rhs.is_Symbol and not lhs.free_symbols:
            var, bound, construct = rhs, lhs, _COMPARISONS[_FLIPPED[op.text]]
        else:
            self.fail("the condition of where() must compare a variable with a number, as in "
                      f"{WHERE_EXAMPLE}", cond_pos)
        self.real_value(bound, cond_pos)
        (then, then_bits), (other, other_bits) = branches
        jump = (then - other).xreplace({var: bound})
        if jump != 0 and abs(self.real_value(jump, name.pos)) > sympy.Rational(1, 10**12):
            self.fail(f"where() jumps at {var} = {bound}: its branches must be equal there", name.pos)
        bits = lhs_bits + rhs_bits + then_bits + other_bits
        return self.build(lambda c, t, o: sympy.Piecewise((t, c), (o, True)),
                          [construct(var, bound), then, other], bits, name.pos)

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


def parse_formula(text: str, variables: Mapping[str, sympy.Symbol], *, what: str = "formula",
                  where: bool = False) -> sympy.Expr:
    """Parse a user-typed formula into a sympy expression over the given variables.

    Only the names in `variables`, the functions in FUNCTIONS and the constants pi and e are
    accepted (case-sensitive; a variable shadows a constant of the same name), and with `where`
    the piecewise where(x > c, …, …). Numbers become exact rationals. Any problem raises
    FormulaError; `what` names the formula in messages.
    """
    if not isinstance(text, str):
        raise FormulaError(f"{what} must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"{what} is too long ({len(text)} characters; limit {MAX_LENGTH})")
    if not text.strip():
        raise FormulaError(f"{what} is empty")
    return _Parser(text, variables, what, where).parse()


def free_variable_names(expr: sympy.Expr) -> set[str]:
    """Names of the free symbols of expr, e.g. to check which inputs a loss really uses."""
    return {symbol.name for symbol in expr.free_symbols if isinstance(symbol, sympy.Symbol)}
