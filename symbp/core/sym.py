"""One conversion of our own numbers to sympy, so no module needs sympify (never user text)."""

from __future__ import annotations

import sympy as sp


def as_expr(value: sp.Basic | int) -> sp.Basic:
    """A sympy object for a value symbp produced: sympy objects pass, Python ints become Integers."""
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, int):
        return sp.Integer(value)
    raise TypeError(f"expected a sympy expression or an int, got {type(value).__name__}")
