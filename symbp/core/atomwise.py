"""An exact zero test for chain-rule expressions: every transcendental atom one free symbol.

A derived backward pass and ``sympy.diff`` of the expanded loss are both built by the chain rule
from the same elementary functions, so their difference is a rational function of the leaf
symbols and of the atoms tanh(u), exp(u), … once each atom is one symbol, provided the atoms'
derivatives are written in the atoms themselves: tanh′(u) = 1 − tanh²(u) is (sympy writes it
so), and exp(w) is written as (1 − s)/s with s = 1/(1 + exp(w)), which makes the logistic
sigmoid 1/(1 + exp(−z)) the single symbol s and σ′ = s(1 − s) a polynomial. Nested atoms never
swell: an atom's argument only names the atom. The test then asks whether that rational function
is zero with the atoms as independent symbols (``zero.rational_is_zero``).

Independence makes the test stronger, not weaker: a rational function that vanishes for all
values of independent symbols vanishes in particular where each atom takes the value of the
function it stands for, so the original expression is zero wherever it is defined. The price is
completeness: an identity that needs a relation between atoms (tanh(x) = (e^{2x} − 1)/(e^{2x} + 1),
exp(x)·exp(−x) = 1) is not established here; ``zero.is_zero`` knows those.
"""

from __future__ import annotations

import sympy as sp

from .zero import rational_is_zero

MAX_TERMS = 4_000_000  # the size gate: no product of polynomials beyond this many term pairs


class Atoms:
    """Replaces atoms by symbols innermost first, one symbol per (function, converted arguments).

    * tanh(u): a symbol T, and tanh(−u) = −T (odd);
    * exp(w): (1 − s)/s with s the symbol for 1/(1 + exp(w)) (so 1/(1 + exp(w)) becomes s);
    * u^(p/q) for a non-integer rational exponent: r^p with r the symbol for u^(1/q);
    * Floats become the exact rationals they hold; every other function is one symbol.

    Each replacement is an identity wherever the expression is defined. The table is shared
    between calls, so both sides of a comparison name the same atom by the same symbol.
    """

    def __init__(self) -> None:
        self.table: dict[sp.Basic, sp.Symbol] = {}
        self.cache: dict[sp.Expr, sp.Expr] = {}

    def symbol(self, key: sp.Basic) -> sp.Symbol:
        found = self.table.get(key)
        if found is None:
            found = self.table[key] = sp.Dummy(f"atom{len(self.table)}")
        return found

    def convert(self, e: sp.Expr) -> sp.Expr:
        """``e`` with every atom replaced: a rational expression in leaves and atom symbols."""
        if e.is_Symbol or e.is_Rational:
            return e
        if e.is_Float:
            return sp.Rational(e)
        hit = self.cache.get(e)
        if hit is None:
            hit = self.cache[e] = self._convert(e)
        return hit

    def _convert(self, e: sp.Expr) -> sp.Expr:
        if isinstance(e, (sp.Add, sp.Mul)):
            return e.func(*[self.convert(arg) for arg in e.args])
        if isinstance(e, sp.Pow) and e.exp.is_Integer:
            return self.convert(e.base) ** e.exp
        if isinstance(e, sp.Pow) and e.exp.is_Rational:
            root = self.symbol(sp.Tuple(sp.Symbol("root"), self.convert(e.base), e.exp.q))
            return root**e.exp.p
        args = [self.convert(arg) for arg in e.args]
        if isinstance(e, sp.exp):
            s = self.symbol(sp.Tuple(sp.Symbol("logistic"), *args))  # 1/(1 + exp(w))
            return (1 - s) / s
        if isinstance(e, sp.tanh) and args[0].could_extract_minus_sign():
            return -self.symbol(sp.Tuple(sp.Symbol("tanh"), -args[0]))
        return self.symbol(sp.Tuple(sp.Symbol(type(e).__name__), *args))


def is_zero_atomwise(expr: sp.Expr, atoms: Atoms | None = None, max_terms: int = MAX_TERMS) -> bool:
    """True when ``expr`` is proven identically zero with its atoms as independent symbols.

    False means "not established": a nonzero rational function, a division by zero, or a
    polynomial product past the size gate ``max_terms`` (a count of term pairs, never a time).
    Both the conversion and the polynomial evaluation cache per subexpression, so a shared
    subexpression (a forward value read by many chain-rule terms) is worked out once.
    """
    atoms = atoms if atoms is not None else Atoms()
    try:
        return rational_is_zero(atoms.convert(expr), max_terms=max_terms)
    except (ValueError, TypeError, ZeroDivisionError, RecursionError):
        return False
