"""Evaluate a scalar sympy expression elementwise on NumPy arrays, by a table per node class.

Numbers become scalars of the working dtype, so float32 arrays stay float32. Leaves (reads,
index variables) come from a mapping; nothing is printed and executed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import reduce

import numpy as np
import sympy as sp

from symbp.core.errors import DerivationError

UNARY: dict[type, Callable] = {
    sp.exp: np.exp, sp.log: np.log, sp.tanh: np.tanh, sp.sinh: np.sinh, sp.cosh: np.cosh,
    sp.sin: np.sin, sp.cos: np.cos, sp.atan: np.arctan, sp.Abs: np.abs, sp.sign: np.sign,
}
RELATIONS: dict[type, Callable] = {
    sp.Eq: np.equal, sp.Ne: np.not_equal, sp.Lt: np.less, sp.Le: np.less_equal,
    sp.Gt: np.greater, sp.Ge: np.greater_equal,
}


def _pow(base, exponent: sp.Expr, dtype):
    if exponent == sp.Rational(1, 2):
        return np.sqrt(base)
    if exponent == -sp.Rational(1, 2):
        return dtype.type(1) / np.sqrt(base)
    if exponent.is_Integer:
        return dtype.type(1) / base ** (-int(exponent)) if exponent < 0 else base ** int(exponent)
    return np.power(base, dtype.type(float(exponent)))


def _piecewise(pieces, dtype):
    """np.where from the last piece back; the first true condition wins, as in sympy."""
    value = pieces[-1][0]
    for piece_value, condition in reversed(pieces[:-1]):
        value = np.where(condition, piece_value, value)
    return value


def _heaviside(arg, h0, dtype):
    one, zero = dtype.type(1), dtype.type(0)
    return np.where(arg > 0, one, np.where(arg == 0, h0, zero))


def evaluate(expr: sp.Expr, leaves: Mapping[sp.Expr, np.ndarray], dtype) -> np.ndarray:
    """expr with each leaf (a read or index variable) replaced by its array."""
    dtype = np.dtype(dtype)

    def ev(e):
        if e in leaves:
            return leaves[e]
        if e.is_Number:
            return dtype.type(float(e))
        if e is sp.true or e is sp.false:
            return bool(e)
        if isinstance(e, sp.Add):
            return reduce(np.add, map(ev, e.args))
        if isinstance(e, sp.Mul):
            return reduce(np.multiply, map(ev, e.args))
        if isinstance(e, sp.Pow):
            return _pow(ev(e.base), e.exp, dtype)
        if isinstance(e, sp.Piecewise):
            return _piecewise([(ev(v), ev(c)) for v, c in e.args], dtype)
        if isinstance(e, sp.Heaviside):
            return _heaviside(ev(e.args[0]), ev(e.args[1]) if len(e.args) > 1 else dtype.type(0.5), dtype)
        if isinstance(e, (sp.Max, sp.Min)):
            return reduce(np.maximum if isinstance(e, sp.Max) else np.minimum, map(ev, e.args))
        if type(e) in RELATIONS:
            return RELATIONS[type(e)](ev(e.lhs), ev(e.rhs))
        if isinstance(e, (sp.And, sp.Or)):
            return reduce(np.logical_and if isinstance(e, sp.And) else np.logical_or, map(ev, e.args))
        if e.func in UNARY:
            return UNARY[e.func](ev(e.args[0]))
        raise DerivationError(f"cannot evaluate {type(e).__name__} numerically: {e}")

    return ev(expr)
