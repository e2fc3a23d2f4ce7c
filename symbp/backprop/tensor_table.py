"""The tensor level's recognisers in the order they are tried, and the statements they make.

Each recogniser looks at the shape of one derived compute's index formula (``tensor_level``,
``tensor_maps``, ``tensor_entrywise``); the first that knows it restates it.
The more specific shapes come first: a correlation or matrix product before an entrywise
product, a slice or reshape before a copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..core.ir import Compute
from . import tensor_entrywise, tensor_maps
from .tensor_level import Names, Statement, copy_of, correlation, fan_out, matrix_product, max_routing


@dataclass
class Context:
    """What recognisers may need besides the compute: names, the batch extent, every tensor's
    shape, which tensors are gradients, and the statements made so far (a fan-out shows its
    parts through them)."""

    names: Names
    batch_size: int
    shapes: dict[str, tuple[int, ...]]
    gradients: set[str]  # the derived gradient tensors (role "grad")
    known: dict[str, Statement] = field(default_factory=dict)


Recogniser = Callable[[Compute, Context], list[Statement]]

RECOGNISERS: tuple[Recogniser, ...] = (
    lambda c, x: correlation(c, x.names),
    lambda c, x: matrix_product(c, x.names, x.batch_size),
    lambda c, x: max_routing(c, x.names),
    lambda c, x: tensor_maps.even_spread(c, x.names),
    lambda c, x: tensor_maps.reshape(c, x.names, x.batch_size),
    lambda c, x: tensor_maps.tensor_slice(c, x.names, x.shapes),
    lambda c, x: tensor_entrywise.entrywise(c, x.names, x.gradients),
    lambda c, x: tensor_entrywise.axis_sum(c, x.names, x.gradients),
    lambda c, x: fan_out(c, x.names, x.known),
)


def statements(computes: Sequence[Compute], names: Names, batch_size: int,
               shapes: dict[str, tuple[int, ...]]) -> list[Statement]:
    """Every compute a recogniser knows, restated at the tensor level, in order."""
    context = Context(names, batch_size, {**shapes, **{c.name: c.shape for c in computes}},
                      {c.name for c in computes if c.role == "grad"})
    out: list[Statement] = []
    for c in computes:
        found = next((s for s in (r(c, context) for r in RECOGNISERS) if s), [])
        copy = None if found else copy_of(c, names, context.shapes)
        if copy:
            context.known[c.name] = copy
        if found:
            context.known[c.name] = found[0]
            out += found
    return out
