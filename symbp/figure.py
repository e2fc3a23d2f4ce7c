"""The network figure: one layout (plain coordinates) drawn as SVG and as a LaTeX picture.

Like seed 000's figure: a column per layer, a circle per neuron labelled with its name, bias
nodes below the layer they feed, and each weight's name on its edge near the neuron it leaves.
Wide layers are drawn with their first and last neurons and a ⋮ between them; names on edges are
drawn only when every edge can carry one legibly. Frozen (untrained) biases are dashed.

The LaTeX picture uses the LaTeX kernel's picture mode (``\\circle`` up to 40pt), an edge of any
slope as a rule turned by ``\\rotatebox`` (graphicx; dashed with ``\\xleaders``) and
``\\colorbox`` behind edge labels (color): all in texlive-latex-base, so it needs neither TikZ
nor pict2e, and the PDF stays small. Coordinates are in pt with y pointing up; the SVG
uses the same numbers with y pointing down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .naming import NeuronNames
from .spec import Network
from .texprint import tex_escape, tex_name

COLUMN_GAP = 150.0
ROW_GAP = 64.0
RADIUS = 15.0
MARGIN = 40.0
SIDE = 75.0  # room left and right of the outer columns for their captions
CAPTION_GAP = 20.0
MAX_SHOWN = 6  # neurons drawn per column; wider layers show 3 + ⋮ + 2
LABEL_AT = 0.3  # edge labels sit 30 % of the way from the neuron the edge leaves
MAX_LABELLED_EDGES = 16  # per layer
TEXT_WIDTH = 440.0  # pt available in the LaTeX document; larger pictures are scaled down
TEXT_HEIGHT = 300.0


@dataclass(frozen=True)
class Label:
    """A name as an italic base with an optional subscript (``w`` + ``5``), and its LaTeX."""

    base: str
    sub: str
    tex: str
    italic: bool = True


@dataclass(frozen=True)
class Node:
    x: float
    y: float
    label: Label
    kind: str  # input, neuron, bias, more (the ⋮ of a wide layer)


@dataclass(frozen=True)
class Edge:
    x1: float
    y1: float
    x2: float
    y2: float
    label: Label | None
    lx: float
    ly: float
    dashed: bool


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    captions: tuple[tuple[float, float, str], ...]  # x, y, plain text


def label(name: str) -> Label:
    """Split a spec name the way ``tex_name`` does: ``a_o1`` → a + o1."""
    head, _, rest = name.partition("_")
    digits = len(head) - len(head.rstrip("0123456789"))
    if digits and digits < len(head):
        base, sub = head[:-digits], head[-digits:] + ("," + rest.replace("_", ",") if rest else "")
    else:
        base, sub = head, rest.replace("_", ",")
    return Label(base, sub, tex_name(name))


def _plain(text: str) -> Label:
    return Label(text, "", text, italic=False)


def _shown(size: int) -> list[int | None]:
    """Indices (0-based) of the neurons drawn for a layer of ``size``; None is the ⋮."""
    if size <= MAX_SHOWN:
        return list(range(size))
    return [0, 1, 2, None, size - 2, size - 1]


def _caption(net: Network, l: int) -> str:
    if l == 0:
        return f"input ({net.inputs})"
    layer = net.layers[l - 1]
    kind = "output" if l == net.depth else f"layer {l}"
    return f"{kind} ({layer.size}, {layer.activation})"


def layout(net: Network, names: NeuronNames | None = None) -> Layout:
    """Coordinates of every node, edge and label; ``names`` labels neurons and weights."""
    columns = [_shown(n) for n in net.sizes]
    named = names is not None and all(None not in c for c in columns)
    bias_rows = [1 if l < net.depth and net.layers[l].bias != "none" else 0
                 for l in range(net.depth + 1)]
    rows = max(len(c) + b for c, b in zip(columns, bias_rows))
    height = 2 * MARGIN + (rows - 1) * ROW_GAP + CAPTION_GAP
    width = 2 * SIDE + net.depth * COLUMN_GAP
    top = height - MARGIN

    def position(l: int, row: int, count: int) -> tuple[float, float]:
        offset = (rows - count) * ROW_GAP / 2  # centre each column vertically
        return SIDE + l * COLUMN_GAP, top - offset - row * ROW_GAP

    nodes: list[Node] = []
    at: dict[tuple[int, int | str], tuple[float, float]] = {}
    for l, shown in enumerate(columns):
        count = len(shown) + bias_rows[l]
        for row, i in enumerate(shown):
            x, y = position(l, row, count)
            if i is None:
                nodes.append(Node(x, y, _plain("⋮"), "more"))
                continue
            at[(l, i)] = (x, y)
            if named:
                name = names.inputs[i] if l == 0 else names.activations[l - 1][i]
                nodes.append(Node(x, y, label(name), "input" if l == 0 else "neuron"))
            else:
                nodes.append(Node(x, y, _plain(str(i + 1)), "input" if l == 0 else "neuron"))
        if bias_rows[l]:
            x, y = position(l, len(shown), count)
            at[(l, "bias")] = (x, y)
            layer = net.layers[l]
            shared = layer.bias == "shared" and named
            nodes.append(Node(x, y, label(names.biases[l][0]) if shared else _plain("+1"), "bias"))
    edges = _edges(net, names if named else None, columns, at)
    captions = tuple((position(l, 0, 1)[0], MARGIN / 2, _caption(net, l))
                     for l in range(net.depth + 1))
    return Layout(width, height, tuple(nodes), tuple(edges), captions)


def _edge(p: tuple[float, float], q: tuple[float, float], name: str | None, dashed: bool) -> Edge:
    """The segment between two circles (not their centres), its label near ``p``."""
    dx, dy = q[0] - p[0], q[1] - p[1]
    length = math.hypot(dx, dy)
    ux, uy = dx / length, dy / length
    x1, y1 = p[0] + RADIUS * ux, p[1] + RADIUS * uy
    x2, y2 = q[0] - RADIUS * ux, q[1] - RADIUS * uy
    lx, ly = x1 + LABEL_AT * (x2 - x1), y1 + LABEL_AT * (y2 - y1)
    return Edge(round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2),
                label(name) if name else None, round(lx, 2), round(ly, 2), dashed)


def _edges(net: Network, names: NeuronNames | None, columns, at) -> list[Edge]:
    edges = []
    for l in range(1, net.depth + 1):
        targets = [i for i in columns[l] if i is not None]
        sources = [j for j in columns[l - 1] if j is not None]
        labelled = names is not None and len(targets) * len(sources) <= MAX_LABELLED_EDGES
        for j in sources:
            for i in targets:
                w = names.weights[l - 1][i][j] if labelled else None
                edges.append(_edge(at[(l - 1, j)], at[(l, i)], w, False))
        layer = net.layers[l - 1]
        if layer.bias == "none":
            continue
        for i in targets:
            name = None
            if labelled and layer.bias == "neuron":
                name = names.biases[l - 1][i]
            edges.append(_edge(at[(l - 1, "bias")], at[(l, i)], name, not layer.train_bias))
    return edges


def caption(lay: Layout) -> str:
    """What the figure shows, in words (plain text)."""
    text = "Neurons and biases of each layer"
    if any(e.label for e in lay.edges):
        text += "; each weight's name is on its edge, next to the neuron it leaves"
    if any(n.kind == "more" for n in lay.nodes):
        text += "; wide layers are drawn with their first and last neurons"
    text += "."
    if any(e.dashed for e in lay.edges):
        text += " Dashed edges carry biases that are not trained."
    return text


def _svg_y(lay: Layout, y: float) -> float:
    return round(lay.height - y, 2)


def svg_context(lay: Layout) -> dict:
    """Plain data for ``network.svg.j2`` (y flipped to point down)."""

    def text(lbl: Label, x: float, y: float, size: float) -> dict:
        # Width of the white box behind an edge label: about 0.55 em per character.
        chars = len(lbl.base) + 0.7 * len(lbl.sub)
        return {"x": round(x, 2), "y": round(y + size * 0.35, 2), "base": lbl.base,
                "sub": lbl.sub, "italic": lbl.italic, "size": size,
                "box_x": round(x - 0.3 * size * chars - 2, 2), "box_y": round(y - 0.7 * size, 2),
                "box_w": round(0.6 * size * chars + 4, 2), "box_h": round(1.4 * size, 2)}

    return {
        "width": lay.width, "height": lay.height, "radius": RADIUS,
        "nodes": [{"x": n.x, "y": _svg_y(lay, n.y), "kind": n.kind,
                   "text": text(n.label, n.x, _svg_y(lay, n.y), 13 if n.kind != "more" else 16)}
                  for n in lay.nodes],
        "edges": [{"x1": e.x1, "y1": _svg_y(lay, e.y1), "x2": e.x2, "y2": _svg_y(lay, e.y2),
                   "dashed": e.dashed,
                   "label": text(e.label, e.lx, _svg_y(lay, e.ly), 11) if e.label else None}
                  for e in lay.edges],
        "captions": [{"x": x, "y": _svg_y(lay, y), "text": t} for x, y, t in lay.captions],
    }


def _pt(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def picture_context(lay: Layout) -> dict:
    """Plain data for the LaTeX picture: every coordinate printed, every label in LaTeX."""

    def tex_label(lbl: Label) -> str:
        return r"\vdots" if lbl.base == "⋮" else lbl.tex

    edges = []
    for e in lay.edges:
        angle = math.degrees(math.atan2(e.y2 - e.y1, e.x2 - e.x1))
        edges.append({"at": f"({_pt(e.x1)},{_pt(e.y1)})", "angle": _pt(angle),
                      "length": _pt(math.hypot(e.x2 - e.x1, e.y2 - e.y1)), "dashed": e.dashed})
    return {
        "unit": _pt(min(1.0, TEXT_WIDTH / lay.width, TEXT_HEIGHT / lay.height)), "width": _pt(lay.width),
        "height": _pt(lay.height), "diameter": _pt(2 * RADIUS),
        "nodes": [{"at": f"({_pt(n.x)},{_pt(n.y)})", "circle": n.kind != "more",
                   "label": tex_label(n.label)} for n in lay.nodes],
        "edges": edges,
        "labels": [{"at": f"({_pt(e.lx)},{_pt(e.ly)})", "label": e.label.tex}
                   for e in lay.edges if e.label is not None],
        "captions": [{"at": f"({_pt(x)},{_pt(y)})", "text": tex_escape(t)}
                     for x, y, t in lay.captions],
    }
