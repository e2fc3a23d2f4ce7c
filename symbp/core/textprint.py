"""Plain-text math as people write it, for the text documents and the comments of generated code.

One printer, sympy's ``StrPrinter`` with an override per expression class, never string edits
after printing: ``(a − y)²/2``, ``a·(1 − a)``, ``−y·log a³``, ``max(0, z)`` for relu's
Piecewise, ``[a > 0]`` (an Iverson bracket) for the step function H(a) with H(0) = 0, powers as
superscript digits when the exponent is a small integer and ``^`` otherwise, and ``−`` (U+2212)
for minus.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

MINUS = "−"
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_SUPERSCRIPTS = set("⁰¹²³⁴⁵⁶⁷⁸⁹ᵀ")


def superscript(n: int | str) -> str:
    """``2`` → ``²``: a layer index or an exponent written above the line."""
    return str(n).translate(_SUPERSCRIPT)


def _factors(expr: sp.Expr) -> list[sp.Expr]:
    """The factors of a product other than 1, with x¹ (left by an exact ``fraction``) as x."""
    out = [f.base if f.is_Pow and f.exp == 1 else f for f in sp.Mul.make_args(expr)]
    return [f for f in out if f != 1]


class TextPrinter(StrPrinter):
    """``StrPrinter`` with symbp's names and the overrides listed in the module docstring.

    ``names`` renames symbols (a → ``a²``); ``functional`` are symbols that stand for a function
    applied to something (``log a³``), which a product writes after its other factors.
    """

    def __init__(self, names: dict[sp.Symbol, str] | None = None,
                 functional: frozenset[sp.Symbol] = frozenset()):
        super().__init__({"order": "none"})
        self._names = names or {}
        self._functional = functional

    def _print_Symbol(self, expr: sp.Symbol) -> str:  # noqa: N802
        return self._names.get(expr, expr.name)

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:  # noqa: N802
        """Terms in sympy's order, but starting with a positive one: ``y − a``, ``1 − a²``."""
        terms = list(expr.as_ordered_terms())
        positive = [t for t in terms if not t.could_extract_minus_sign()]
        if positive and terms[0].could_extract_minus_sign():
            terms.remove(positive[0])
            terms.insert(0, positive[0])
        out = ""
        for k, term in enumerate(terms):
            negative = term.could_extract_minus_sign()
            body = self.parenthesize(-term if negative else term, PRECEDENCE["Add"])
            if k == 0:
                out = MINUS + body if negative else body
            else:
                out += f" {MINUS} {body}" if negative else f" + {body}"
        return out

    def _rank(self, factor: sp.Expr) -> int:
        """Where a factor goes in a product: numbers, symbols and powers, sums, functions
        (``2·a·(1 − y)·log(1 − a)``)."""
        if factor.is_Number:
            return 0
        if isinstance(factor, sp.Add):
            return 2
        if factor in self._functional or isinstance(factor, sp.Function):
            return 3
        return 1

    def _product(self, factors: list[sp.Expr]) -> str:
        ordered = sorted(factors, key=self._rank)  # stable: sympy's order within a rank
        return "·".join(self.parenthesize(f, PRECEDENCE["Mul"], strict=False) for f in ordered)

    def _print_Mul(self, expr: sp.Mul) -> str:  # noqa: N802
        if expr.could_extract_minus_sign():
            return MINUS + self.parenthesize(-expr, PRECEDENCE["Mul"], strict=True)
        num, den = (_factors(part) for part in sp.fraction(expr, exact=True))
        top = self._product(num) if num else "1"
        if not den:
            return top
        bottom = self._product(den)
        if len(den) > 1:  # (a sum alone is parenthesised as a factor already)
            bottom = f"({bottom})"
        return f"{top}/{bottom}"

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:  # noqa: N802
        base, exp = expr.args
        if exp == sp.Rational(1, 2):
            return f"√({self._print(base)})"
        if exp.is_Integer and exp < 0:
            inverse = base if exp == -1 else sp.Pow(base, -exp, evaluate=False)
            return "1/" + self.parenthesize(inverse, PRECEDENCE["Mul"], strict=True)
        shown = self.parenthesize(base, PRECEDENCE["Pow"], strict=True)
        if shown[-1:] in _SUPERSCRIPTS:  # a layer's a² squared is (a²)²
            shown = f"({shown})"
        if exp.is_Integer:
            return shown + superscript(int(exp))
        return f"{shown}^{self.parenthesize(exp, PRECEDENCE['Pow'], strict=True)}"

    def _print_Integer(self, expr: sp.Integer) -> str:  # noqa: N802
        return MINUS + str(-expr.p) if expr < 0 else str(expr.p)

    def _print_Rational(self, expr: sp.Rational) -> str:  # noqa: N802
        sign = MINUS if expr < 0 else ""
        return f"{sign}{abs(expr.p)}/{expr.q}"

    def _print_Float(self, expr: sp.Float) -> str:  # noqa: N802
        text = repr(float(expr))
        return MINUS + text[1:] if text.startswith("-") else text

    def _print_log(self, expr: sp.log) -> str:
        (arg,) = expr.args
        return f"log {self._print(arg)}" if arg.is_Symbol else f"log({self._print(arg)})"

    def _print_Abs(self, expr: sp.Abs) -> str:  # noqa: N802
        return f"|{self._print(expr.args[0])}|"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:  # noqa: N802
        """H(u) with H(0) = 0 is the Iverson bracket [u > 0]."""
        if len(expr.args) == 2 and expr.args[1] == 0:
            return f"[{self._print(expr.args[0])} > 0]"
        return f"H({', '.join(self._print(a) for a in expr.args)})"

    def _print_Max(self, expr: sp.Max) -> str:  # noqa: N802
        return f"max({', '.join(self._print(a) for a in expr.args)})"

    def _print_Min(self, expr: sp.Min) -> str:  # noqa: N802
        return f"min({', '.join(self._print(a) for a in expr.args)})"

    def _print_Relational(self, expr: sp.core.relational.Relational) -> str:  # noqa: N802
        op = {"<=": "≤", ">=": "≥", "!=": "≠"}.get(expr.rel_op, expr.rel_op)
        return f"{self._print(expr.lhs)} {op} {self._print(expr.rhs)}"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:  # noqa: N802
        """(p if u ≤ 0, else q) is max(p, q) when q − p = k·u with k > 0 (relu, leaky relu
        with α < 1), min(p, q) when k < 0; otherwise the cases are listed."""
        folded = _as_max_min(expr)
        if folded is not None:
            return self._print(folded)
        cases = [f"{self._print(e)} if {self._print(c)}" if c is not sp.true
                 else f"{self._print(e)} otherwise" for e, c in expr.args]
        return "{" + "; ".join(cases) + "}"


def _as_max_min(expr: sp.Piecewise) -> sp.Expr | None:
    if len(expr.args) != 2 or expr.args[1][1] is not sp.true:
        return None
    (p, cond), (q, _) = expr.args
    if not isinstance(cond, (sp.LessThan, sp.StrictLessThan)) or cond.rhs != 0:
        return None
    k = sp.simplify((q - p) / cond.lhs)
    if not k.is_number or k == 0:
        return None
    pair = (p, q)
    return sp.Max(*pair, evaluate=False) if k > 0 else sp.Min(*pair, evaluate=False)


def text(expr: sp.Expr, names: dict[sp.Symbol, str] | None = None,
         functional: frozenset[sp.Symbol] = frozenset()) -> str:
    """Plain-text math for ``expr`` (see ``TextPrinter``)."""
    return TextPrinter(names, functional).doprint(expr)


def definition(name: str, expr: sp.Expr, x: sp.Symbol) -> str:
    """``name(z) = g(z)`` for a docstring or a table; a function that would be its own
    definition (``tanh(z) = tanh(z)``) is written out in exponentials instead."""
    z = sp.Symbol("z", real=True)
    g = expr.subs(x, z)
    if isinstance(g, sp.Function) and g.args == (z,):
        g = g.rewrite(sp.exp)
    return f"{name}(z) = {text(g)}"
