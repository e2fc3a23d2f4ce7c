"""The figure of a graph spec: its layers as boxes with their output shapes, top to bottom, and
an arrow for every read; a read that skips layers (a residual or skip connection, a fan-out)
curves round the right of the boxes. Deterministic SVG (``templates/graph_network.svg.j2``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.graph_spec import GraphSpec

BOX_HEIGHT, GAP, LEFT, TOP = 34, 22, 30, 20
CHAR = 6.6  # width of one character at the label's font size (13 px), a safe over-estimate
SKIP = 26  # how far a skip connection's curve reaches right of the boxes, per layer it spans
FIELDS_SHOWN = ("size", "channels", "kernel", "stride", "padding", "rate", "eps")


@dataclass(frozen=True)
class Box:
    y: int
    label: str
    shape: str


@dataclass(frozen=True)
class Edge:
    path: str
    skip: bool


def _value(v) -> str:
    return "×".join(map(str, v)) if isinstance(v, list) else str(v)


def label(layer: dict) -> str:
    """The layer as one line, as the spec writes it: id, type, the fields set, activation."""
    fields = ", ".join(f"{k} {_value(layer[k])}" for k in FIELDS_SHOWN if k in layer)
    text = layer.get("type", "dense") + (f" ({fields})" if fields else "")
    text = f"{layer['id']}: {text}" if "id" in layer else text
    return text + (f", {layer['activation']}" if "activation" in layer else "")


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape[1:])) if len(shape) > 1 else "scalar"


def _outputs(spec: GraphSpec) -> list[tuple[int, ...]]:
    """Each layer's output shape (batch first), from the graph built for one sample."""
    graph = spec.graph(1)
    out = []
    for position, layer in enumerate(spec.layers, start=1):
        own = re.compile(rf"({re.escape(layer['type'])}|act){position}_")
        out.append(next(c.shape for c in reversed(graph.computes) if own.match(c.name)))
    return out


def _sources(spec: GraphSpec) -> list[list[int]]:
    """The boxes each layer reads (0 is the input)."""
    ids = {layer["id"]: k for k, layer in enumerate(spec.layers, start=1) if "id" in layer}
    return [[ids[s] for s in layer["from"]] if "from" in layer else [k - 1]
            for k, layer in enumerate(spec.layers, start=1)]


def _edge(top: int, bottom: int, right: int, width: int) -> Edge:
    """An arrow from box ``top`` down to box ``bottom``: straight between neighbours, else a
    curve round the right whose reach grows with the layers it spans."""
    y1, y2 = TOP + top * (BOX_HEIGHT + GAP), TOP + bottom * (BOX_HEIGHT + GAP)
    if bottom == top + 1:
        x = LEFT + width // 2
        return Edge(f"M {x} {y1 + BOX_HEIGHT} L {x} {y2 - 2}", False)
    reach = right + SKIP * (bottom - top - 1)
    a, b = y1 + BOX_HEIGHT // 2, y2 + BOX_HEIGHT // 2
    return Edge(f"M {right} {a} C {reach} {a}, {reach} {b}, {right + 2} {b}", True)


def svg_context(spec: GraphSpec) -> dict:
    """Boxes, edges and the canvas size for the template."""
    written = spec.source.get("layers", spec.layers)
    labels = ["input", *(label(layer) for layer in written), f"loss {spec.loss}"]
    shapes = [_shape((1, *spec.inputs)), *(_shape(s) for s in _outputs(spec)), "scalar"]
    width = int(max(CHAR * (len(a) + len(b)) for a, b in zip(labels, shapes))) + 40
    boxes = [Box(TOP + k * (BOX_HEIGHT + GAP), a, b) for k, (a, b) in enumerate(zip(labels, shapes))]
    right = LEFT + width
    reads = [*_sources(spec), [len(spec.layers)]]
    edges = [_edge(s, k, right, width) for k, sources in enumerate(reads, start=1) for s in sources]
    span = max((k - s for k, sources in enumerate(reads, start=1) for s in sources), default=1)
    return {"boxes": boxes, "edges": edges, "box_width": width, "box_height": BOX_HEIGHT, "left": LEFT,
            "width": right + SKIP * span + 20, "height": boxes[-1].y + BOX_HEIGHT + TOP}


def svg(spec: GraphSpec, command: str) -> str:
    """The figure as a standalone SVG."""
    from symbp._version import __version__
    from symbp.codegen.emit import environment
    from symbp.core.spec import one_line

    template = "graph_network.svg.j2"
    info = {"version": __version__, "template": template, "network": one_line(spec.name),
            "spec_hash": spec.spec_hash(), "description": one_line(spec.description or spec.name),
            "command": one_line(command)}
    return environment().get_template(template).render(
        info=info, title=f"The network {spec.name}", **svg_context(spec))


def figure_name(spec: GraphSpec) -> str:
    return f"{spec.name}_network.svg"
