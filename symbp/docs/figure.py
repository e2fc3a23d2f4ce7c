"""The network figure: one layout (plain coordinates) drawn as SVG and as a LaTeX picture.

Like seed 000's figure: a column per layer, a circle per neuron labelled with its name, bias
nodes below the layer they feed, and each weight's name on its edge, at the first place along it
(from the neuron it leaves) whose box is clear of every other name and neuron, in the SVG and in
the LaTeX picture alike. Wide layers are drawn with their first and last neurons and a ⋮ between
them; a layer's edges carry names only when every one of them finds such a place. Frozen
(untrained) biases are dashed.

The LaTeX picture uses the LaTeX kernel's picture mode (``\\circle`` up to 40pt), an edge of any
slope as a rule turned by ``\\rotatebox`` (graphicx; dashed with ``\\xleaders``) and
``\\colorbox`` behind edge labels (color): all in texlive-latex-base, so it needs neither TikZ
nor pict2e, and the PDF stays small. Coordinates are in pt with y pointing up; the SVG
uses the same numbers with y pointing down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.naming import NeuronNames
from ..core.spec import Network
from ..core.texprint import tex_escape, tex_name

COLUMN_GAP = 150.0
ROW_GAP = 64.0
RADIUS = 15.0
MARGIN = 40.0
SIDE = 75.0  # room left and right of the outer columns for their captions
CAPTION_GAP = 20.0
MAX_SHOWN = 6  # neurons drawn per column; wider layers show 3 + ⋮ + 2
# Where an edge label may sit, as a fraction of the way from the neuron the edge leaves: the
# first place whose box is clear of every other label and neuron wins (seed 000 puts it at 0.3).
LABEL_PLACES = (0.3, 0.2, 0.4, 0.25, 0.35, 0.15, 0.45, 0.5, 0.1, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
LABEL_GAP = 1.0  # clearance between label boxes
SVG_LABEL_SIZE = 11  # font size of edge labels in the SVG
# An edge label in the LaTeX picture is \scriptstyle in a \colorbox (10pt document), in pt
# measured with pdflatex: about 4.5 per letter of the base, 3.2 per subscript character, 4 of
# padding, 11 high. Text is not scaled with \unitlength, so in layout units it grows by 1/unit.
TEX_LABEL_BASE, TEX_LABEL_SUB, TEX_LABEL_PAD, TEX_LABEL_HEIGHT = 4.5, 3.2, 4.0, 11.0
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
    lx: float  # the label's centre
    ly: float
    dashed: bool
    lw: float = 0.0  # the label's box, in layout units
    lh: float = 0.0


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    captions: tuple[tuple[float, float, str], ...]  # x, y, plain text
    crowded: tuple[int, ...] = ()  # layers whose weights' names found no room on the edges

    def label_boxes(self) -> list[Box]:
        """The box every edge label covers, in layout units (for the SVG and the LaTeX picture)."""
        return [_box(e.lx, e.ly, e.lw, e.lh) for e in self.edges if e.label is not None]

    def node_boxes(self) -> list[Box]:
        return [_box(n.x, n.y, 2 * RADIUS, 2 * RADIUS) for n in self.nodes]


Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def _box(x: float, y: float, w: float, h: float) -> Box:
    return (x - w / 2, y - h / 2, x + w / 2, y + h / 2)


def overlap(p: Box, q: Box, gap: float = 0.0) -> bool:
    """True when the boxes come closer than ``gap``."""
    return p[0] < q[2] + gap and q[0] < p[2] + gap and p[1] < q[3] + gap and q[1] < p[3] + gap


def picture_unit(width: float, height: float) -> float:
    """The LaTeX picture's \\unitlength in pt: 1, or less so that the picture fits the page."""
    return min(1.0, TEXT_WIDTH / width, TEXT_HEIGHT / height)


def svg_label_width(lbl: Label, size: float) -> float:
    """Width of the white box behind a label in the SVG: about 0.55 em per character."""
    return 0.6 * size * (len(lbl.base) + 0.7 * len(lbl.sub)) + 4


def label_size(lbl: Label, unit: float) -> tuple[float, float]:
    """(width, height) of an edge label in layout units: the larger of its SVG and LaTeX boxes."""
    tex_w = TEX_LABEL_BASE * len(lbl.base) + TEX_LABEL_SUB * len(lbl.sub) + TEX_LABEL_PAD
    return (max(svg_label_width(lbl, SVG_LABEL_SIZE), tex_w / unit),
            max(1.4 * SVG_LABEL_SIZE, TEX_LABEL_HEIGHT / unit))


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
    taken = [_box(n.x, n.y, 2 * RADIUS, 2 * RADIUS) for n in nodes]
    edges, crowded = _edges(net, names if named else None, columns, at,
                            picture_unit(width, height), taken)
    captions = tuple((position(l, 0, 1)[0], MARGIN / 2, _caption(net, l))
                     for l in range(net.depth + 1))
    return Layout(width, height, tuple(nodes), tuple(edges), captions, tuple(crowded))


Point = tuple[float, float]


def _ends(p: Point, q: Point) -> tuple[float, float, float, float]:
    """The segment between two circles (not their centres)."""
    dx, dy = q[0] - p[0], q[1] - p[1]
    length = math.hypot(dx, dy)
    ux, uy = dx / length, dy / length
    return p[0] + RADIUS * ux, p[1] + RADIUS * uy, q[0] - RADIUS * ux, q[1] - RADIUS * uy


def _edge(p: Point, q: Point, dashed: bool, lbl: Label | None = None,
          at: tuple[float, float, float, float] = (0, 0, 0, 0)) -> Edge:
    x1, y1, x2, y2 = _ends(p, q)
    lx, ly, lw, lh = at
    return Edge(round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2), lbl,
                round(lx, 2), round(ly, 2), dashed, round(lw, 2), round(lh, 2))


def _place(lbl: Label, p: Point, q: Point, unit: float,
           taken: list[Box]) -> tuple[float, float, float, float] | None:
    """The first of ``LABEL_PLACES`` on the edge where the label's box is clear of ``taken``:
    (centre x, centre y, width, height), or None when there is none."""
    x1, y1, x2, y2 = _ends(p, q)
    w, h = label_size(lbl, unit)
    for t in LABEL_PLACES:
        # rounded as the Edge stores it, so that the check is on the coordinates drawn
        x, y = round(x1 + t * (x2 - x1), 2), round(y1 + t * (y2 - y1), 2)
        box = _box(x, y, round(w, 2), round(h, 2))
        if not any(overlap(box, other, LABEL_GAP) for other in taken):
            return x, y, w, h
    return None


def _layer_edges(l: int, net: Network, names: NeuronNames | None, columns,
                 ) -> list[tuple[tuple[int, int | str], tuple[int, int], str | None, bool]]:
    """(from, to, weight or bias name to label it with, dashed) for each edge into layer l."""
    targets = [i for i in columns[l] if i is not None]
    sources = [j for j in columns[l - 1] if j is not None]
    labelled = names is not None and len(targets) * len(sources) <= MAX_LABELLED_EDGES
    out = [((l - 1, j), (l, i), names.weights[l - 1][i][j] if labelled else None, False)
           for j in sources for i in targets]
    layer = net.layers[l - 1]
    if layer.bias != "none":
        named_bias = labelled and layer.bias == "neuron"
        out += [((l - 1, "bias"), (l, i), names.biases[l - 1][i] if named_bias else None,
                 not layer.train_bias) for i in targets]
    return out


Spot = tuple[float, float, float, float]  # a label's centre x, y, width, height


def _spots(specs, at, unit: float, taken: list[Box]) -> list[Spot | None] | None:
    """A clear place for the name of every edge of one layer (None for an edge without one),
    or None when some name finds none; the places found are added to ``taken``."""
    placed: list[Box] = []
    spots: list[Spot | None] = []
    for src, dst, name, _ in specs:
        spot = None if name is None else _place(label(name), at[src], at[dst], unit, taken + placed)
        if name is not None and spot is None:
            return None
        if spot is not None:
            placed.append(_box(spot[0], spot[1], round(spot[2], 2), round(spot[3], 2)))
        spots.append(spot)
    taken += placed
    return spots


def _edges(net: Network, names: NeuronNames | None, columns, at, unit: float,
           taken: list[Box]) -> tuple[list[Edge], list[int]]:
    """Every edge, and the layers left unlabelled: a layer's edges carry their names only if
    every name finds a clear place."""
    edges, crowded = [], []
    for l in range(1, net.depth + 1):
        specs = _layer_edges(l, net, names, columns)
        spots = _spots(specs, at, unit, taken)
        if spots is None:
            crowded.append(l)
            spots = [None] * len(specs)
        edges += [_edge(at[s], at[d], dashed, label(name) if spot else None, spot or (0, 0, 0, 0))
                  for (s, d, name, dashed), spot in zip(specs, spots)]
    return edges, crowded


def caption(lay: Layout) -> str:
    """What the figure shows, in words (plain text)."""
    text = "Neurons and biases of each layer"
    if any(e.label for e in lay.edges):
        text += "; each weight's name is on its edge"
        if lay.crowded:
            text += " where all names of its layer have room"
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
        width = svg_label_width(lbl, size)
        return {"x": round(x, 2), "y": round(y + size * 0.35, 2), "base": lbl.base,
                "sub": lbl.sub, "italic": lbl.italic, "size": size,
                "box_x": round(x - width / 2, 2), "box_y": round(y - 0.7 * size, 2),
                "box_w": round(width, 2), "box_h": round(1.4 * size, 2)}

    return {
        "width": lay.width, "height": lay.height, "radius": RADIUS,
        "nodes": [{"x": n.x, "y": _svg_y(lay, n.y), "kind": n.kind,
                   "text": text(n.label, n.x, _svg_y(lay, n.y), 13 if n.kind != "more" else 16)}
                  for n in lay.nodes],
        "edges": [{"x1": e.x1, "y1": _svg_y(lay, e.y1), "x2": e.x2, "y2": _svg_y(lay, e.y2),
                   "dashed": e.dashed,
                   "label": text(e.label, e.lx, _svg_y(lay, e.ly), SVG_LABEL_SIZE) if e.label else None}
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
        "unit": _pt(picture_unit(lay.width, lay.height)), "width": _pt(lay.width),
        "height": _pt(lay.height), "diameter": _pt(2 * RADIUS),
        "nodes": [{"at": f"({_pt(n.x)},{_pt(n.y)})", "circle": n.kind != "more",
                   "label": tex_label(n.label)} for n in lay.nodes],
        "edges": edges,
        "labels": [{"at": f"({_pt(e.lx)},{_pt(e.ly)})", "label": e.label.tex}
                   for e in lay.edges if e.label is not None],
        "captions": [{"at": f"({_pt(x)},{_pt(y)})", "text": tex_escape(t)}
                     for x, y, t in lay.captions],
    }
