"""Common subexpressions computed once and read by name: the one place emitted code shares them.

A kernel computes a subexpression once into a name, and every formula containing it reads the
name instead: the dense kernel's mask H^l = [a^l > 0] and the σ(−z^l) its forward pass leaves in
z^l's buffer, the unrolled kernel's pair σ(±k·z) from one exp, an optimiser's array-free scalars
(bias corrections, 1 − β₁) hoisted out of the loop over parameters. ``read_shared`` is that
substitution; ``Hoisted`` names subexpressions as they are first met and keeps each one's line.
Graph and sequence kernels need neither: the engine makes every intermediate tensor (softmax's
exponentials, a norm's mean and variance) a compute of its own, computed once and read by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import sympy as sp


def read_shared(expr: sp.Expr, names: Mapping[sp.Expr, str | sp.Symbol]) -> sp.Expr:
    """``expr`` with each subexpression of ``names`` replaced by its name (a real symbol)."""
    return expr.xreplace({e: n if isinstance(n, sp.Symbol) else sp.Symbol(n, real=True)
                          for e, n in names.items()})


@dataclass
class Hoisted:
    """Subexpressions named ``{prefix}0``, ``{prefix}1``, … as first met, each computed once by
    the line ``line(name, expr)`` gives."""

    prefix: str
    line: Callable[[str, sp.Expr], str]
    names: dict[sp.Expr, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def name(self, expr: sp.Expr) -> str:
        if expr not in self.names:
            self.names[expr] = f"{self.prefix}{len(self.names)}"
            self.lines.append(self.line(self.names[expr], expr))
        return self.names[expr]
