"""Building a graph: ops add their index formulas through a ``Layer`` that names things.

Parameters are keyed by the layer's position l (``W{l}``, ``b{l}``, ``gamma{l}``, …) as the
kernel interface has them; a layer's intermediate tensors are ``{kind}{l}_{part}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sympy as sp

from symbp.core.errors import DerivationError

from . import naming
from .ir import Compute, Graph, Shape, Tensor, Term, var


class Layer:
    """The naming scope of one op instance inside a ``Graph``."""

    def __init__(self, graph: Graph, kind: str, position: int):
        self.graph, self.kind, self.position = graph, kind, position

    def param(self, stem: str, shape: Sequence[int]) -> Tensor:
        """A trained parameter, e.g. ``W3``."""
        return _declare(self.graph.params, self.graph, naming.param(stem, self.position), shape)

    def data(self, stem: str, shape: Sequence[int], *, numbered: bool = True) -> Tensor:
        """An input that is not trained: ``mask3``, or unnumbered ``X`` and ``Y``."""
        name = naming.param(stem, self.position) if numbered else stem
        return _declare(self.graph.inputs, self.graph, name, shape)

    def compute(self, part: str, shape: Sequence[int], index: Iterable[sp.Expr], terms: Iterable[Term],
                ranges: dict[sp.Symbol, int], *, differentiable: bool = True, role: str = "") -> Tensor:
        """Add ``{kind}{l}_{part}[index] = Σ terms`` to the graph and return its tensor."""
        name = naming.compute(self.kind, self.position, part)
        shape = tuple(int(n) for n in shape)
        self.graph.computes.append(Compute(name, shape, tuple(index), tuple(terms), dict(ranges),
                                           differentiable, role or part))
        return Tensor(name, shape)


def _declare(table: dict[str, Shape], graph: Graph, name: str, shape: Sequence[int]) -> Tensor:
    if name in graph.shapes():
        raise DerivationError(f"tensor {name} is defined twice")
    table[name] = tuple(int(n) for n in shape)
    return Tensor(name, table[name])


def index_set(letters: str, shape: Sequence[int]) -> tuple[list[sp.Symbol], dict[sp.Symbol, int]]:
    """Index variables named by ``letters`` with the given extents, and their ranges."""
    names = [var(c) for c in letters]
    return names, dict(zip(names, (int(n) for n in shape)))
