"""A graph from a spec's layer list: each entry added by its op's builder, in order.

The forward model only; ``symbp.backprop.graph`` derives its backward pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import DerivationError
from .graph_build import Layer
from .ir import Graph, Shape, Tensor
from .ops import OPS, OpDef
from .recurrent import CELLS


def build(inputs: Shape, layers: Sequence[dict], loss: str | None = None, reduction: str = "mean",
          ops: Mapping[str, OpDef] | None = None, time_reduction: str = "mean") -> Graph:
    """A graph from an input shape and layer entries ``{"type": …, "id": …, "from": […], …}``.

    As in the spec: a layer reads the previous one unless ``from`` names ids; ``activation``
    on a layer adds that activation after it; positions count from 1 over all layers.
    ``ops`` adds user-defined ops (``formula_op.FormulaOp``) to the registry.
    """
    registry = {**OPS, **(ops or {})}
    graph = Graph()
    x = Layer(graph, "input", 0).data("X", inputs, numbered=False)
    by_id: dict[str, Tensor] = {}
    for position, entry in enumerate(layers, start=1):
        entry = dict(entry)
        kind, name, sources = entry.pop("type", "dense"), entry.pop("id", None), entry.pop("from", None)
        act = None if kind in CELLS else entry.pop("activation", None)  # a cell's own g
        op = registry.get(kind)
        if op is None:
            known = ", ".join(registry)
            raise DerivationError(f"layers[{position - 1}].type: unknown op {kind!r}; known: {known}")
        args = [by_id[s] for s in sources] if sources else [x]
        x = op.build(Layer(graph, kind, position), *args, **entry)
        if act is not None:
            x = OPS["activation"].build(Layer(graph, "act", position), x, name=act)
        if name is not None:
            by_id[name] = x
    if loss is not None:
        OPS["loss"].build(Layer(graph, "loss", len(layers) + 1), x, name=loss, reduction=reduction,
                            time_reduction=time_reduction)
    return graph
