"""Elementwise formulas printed as NumPy ufunc calls that write into an existing array.

``1 - A1*A1`` makes two temporary arrays. When A1 is not needed afterwards, the same value can be
computed in A1's own memory, ``np.subtract(1, np.square(A1, out=A1), out=A1)``: every operation on
the path from the formula's root down to A1 writes its result over A1, and every operand off that
path (Y, B, constants) is printed by the ordinary ``NumpyPrinter``. This is sound only when A1
occurs exactly once in the formula (after the innermost operation its old values are gone);
``inplace_code`` and ``inplace_statements`` return None for anything else, or for a node with no
ufunc form, and the caller then falls back to ``numpy_code`` (temporaries, same value).

``out`` may also be the name of a variable holding None (activation helpers take ``out=None``):
the ufuncs then allocate, and the code is still correct.
"""

from __future__ import annotations

import sympy as sp

from ..core.printing import FUNCTIONS, expm1_form, numpy_code

AUGMENTED = {"np.add": "+=", "np.subtract": "-=", "np.multiply": "*=", "np.divide": "/="}
CHAIN = "\0"  # stands for the value computed so far, in an operation's argument list


class NoUfuncFormError(Exception):
    """The formula has a node with no ufunc form."""


def occurrences(expr: sp.Expr, symbol: sp.Symbol) -> int:
    """How many times ``symbol`` appears as a leaf of ``expr``'s tree."""
    return sum(1 for node in sp.preorder_traversal(expr) if node == symbol)


def _steps(expr: sp.Expr, target: sp.Symbol) -> list[tuple[str, tuple[str, ...]]] | None:
    if occurrences(expr, target) != 1:
        return None
    try:
        return _Chain(target).steps(expr)
    except NoUfuncFormError:
        return None


def inplace_code(expr: sp.Expr, target: sp.Symbol, out: str) -> str | None:
    """``expr`` as nested ufunc calls writing into ``out``, or None if that is not possible.

    ``target`` (already named like the array, e.g. ``A1``) must occur exactly once in ``expr``.
    """
    steps = _steps(expr, target)
    if steps is None:
        return None
    code = str(target)
    for fn, args in steps:
        code = f"{fn}({', '.join(code if a == CHAIN else a for a in args)}, out={out})"
    return code


def inplace_statements(expr: sp.Expr, target: sp.Symbol, name: str) -> list[str] | None:
    """``expr`` as statements computing it into ``target``'s memory, the result named ``name``.

    One statement per operation, innermost first; ``x op= v`` where the operation is one
    (``delta3 = np.subtract(A3, Y, out=A3)`` then ``delta3 /= B``).
    """
    steps = _steps(expr, target)
    if steps is None:
        return None
    if not steps:
        return [f"{name} = {target}"]
    lines = []
    current = str(target)
    for fn, args in steps:
        if lines and fn in AUGMENTED and args[0] == CHAIN:
            lines.append(f"{name} {AUGMENTED[fn]} {args[1]}")
        else:
            call = ", ".join(current if a == CHAIN else a for a in args)
            lines.append(f"{name} = {fn}({call}, out={target})")
        current = name
    return lines


class _Chain:
    """The operations on the path from the root to ``target``, innermost first."""

    def __init__(self, target: sp.Symbol):
        self.target = target

    def steps(self, e: sp.Expr) -> list[tuple[str, tuple[str, ...]]]:
        if e == self.target:
            return []
        if isinstance(e, sp.Add):
            return self._add(e)
        if isinstance(e, sp.Mul):
            return self._mul(e)
        if isinstance(e, sp.Pow):
            return self._pow(e)
        if isinstance(e, sp.Heaviside):
            arg, h0 = e.args if len(e.args) == 2 else (e.args[0], sp.Rational(1, 2))
            if h0 == 0:  # H(u, 0) is u > 0, written as 1.0 / 0.0 into a float array
                return self.steps(arg) + [("np.greater", (CHAIN, "0"))]
            return self.steps(arg) + [("np.heaviside", (CHAIN, numpy_code(h0)))]
        if isinstance(e, (sp.Max, sp.Min)):
            on, off = self._split(e)
            fn = "np.maximum" if isinstance(e, sp.Max) else "np.minimum"
            return self.steps(on) + [(fn, (CHAIN, numpy_code(e.func(*off))))]
        if isinstance(e, sp.log):
            rest = e.args[0] - 1  # log(1 + exp(u)) is softplus: np.logaddexp(0, u)
            if isinstance(rest, sp.exp):
                return self.steps(rest.args[0]) + [("np.logaddexp", ("0", CHAIN))]
        if isinstance(e, sp.Function) and len(e.args) == 1 and type(e).__name__ in FUNCTIONS:
            return self.steps(e.args[0]) + [(FUNCTIONS[type(e).__name__], (CHAIN,))]
        raise NoUfuncFormError(str(e))

    def _split(self, e: sp.Expr) -> tuple[sp.Expr, list[sp.Expr]]:
        """The one argument on the path to the target, and the others."""
        on = [arg for arg in e.args if arg.has(self.target)]
        return on[0], [arg for arg in e.args if not arg.has(self.target)]

    def _add(self, e: sp.Add) -> list:
        form = expm1_form(e)
        if form is not None:  # k·(e^u − 1) as k·expm1(u), as NumpyPrinter prints it
            k, u = form
            scale = ([] if k == 1 else [("np.negative", (CHAIN,))] if k == -1
                     else [("np.multiply", (CHAIN, numpy_code(k)))])
            return self.steps(u) + [("np.expm1", (CHAIN,))] + scale
        on, off = self._split(e)
        rest = sp.Add(*off)
        if on.could_extract_minus_sign():  # rest − u
            return self.steps(-on) + [("np.subtract", (numpy_code(rest), CHAIN))]
        if rest.could_extract_minus_sign():  # u − r
            return self.steps(on) + [("np.subtract", (CHAIN, numpy_code(-rest)))]
        return self.steps(on) + [("np.add", (CHAIN, numpy_code(rest)))]

    def _mul(self, e: sp.Mul) -> list:
        on, off = self._split(e)
        rest = sp.Mul(*off)
        if rest == -1:
            return self.steps(on) + [("np.negative", (CHAIN,))]
        num, den = sp.fraction(rest)
        if num == 1 and den != 1:
            return self.steps(on) + [("np.divide", (CHAIN, numpy_code(den)))]
        return self.steps(on) + [("np.multiply", (CHAIN, numpy_code(rest)))]

    def _pow(self, e: sp.Pow) -> list:
        base, exp = e.args
        if not base.has(self.target):
            return self.steps(exp) + [("np.power", (numpy_code(base), CHAIN))]
        if exp == 2:
            return self.steps(base) + [("np.square", (CHAIN,))]
        if exp == -1:
            return self.steps(base) + [("np.divide", ("1", CHAIN))]
        if exp == sp.Rational(1, 2):
            return self.steps(base) + [("np.sqrt", (CHAIN,))]
        return self.steps(base) + [("np.power", (CHAIN, numpy_code(exp)))]
