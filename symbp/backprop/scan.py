"""A sequence spec as the kernel runs it: segments of ordinary computes between recurrent layers,
and for each recurrent layer one step of its cell, run in a loop over time.

The layers are cut at each recurrent layer: the segment before it ends with the input
projection P of all steps (one product); the cell graph is one step of the layer's own formulas
(``recurrent``) reading P_t and the previous states; the next segment starts from the layer's
output. Each piece is differentiated by the engine on its own: a piece that does not end in the
loss ends in Σ g·out, g the gradient arriving from the piece after it, so its backward pass is
the vector–Jacobian product that reverse accumulation through the whole network needs. The
kernel's backward loop over steps in reverse is then backpropagation through time, with the
cell's derived backward statements, as the engine derives it for the unrolled graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from ..core.graph_build import Layer, index_set
from ..core.ir import Graph, Tensor, Term, read_name, reads
from ..core.ops import OPS, OpDef
from ..core.recurrent import CELLS, StepLayer, parameters, project
from .graph import Backward, backward


@dataclass(eq=False)
class Segment:
    """Ordinary computes from ``source`` (X or a recurrent layer's output) to the loss, or to a
    recurrent layer's projection with the pseudo-loss Σ ``upstream``·P at the end."""

    graph: Graph
    backward: Backward
    source: str
    upstream: str | None = None


@dataclass(eq=False)
class Scan:
    """One recurrent layer: its cell graph for one step (inputs ``pt`` and ``prev``, pseudo-loss
    Σ ``upstream``·new state) and the derived backward pass of that step."""

    kind: str
    position: int
    steps: int
    size: int
    returns: str
    graph: Graph
    backward: Backward
    projection: str  # P (batch, steps, gates·size) in the segment before
    pt: str
    prev: dict[str, str]  # state -> the data tensor holding it at t − 1
    new: dict[str, str]  # state -> the compute giving it at t
    upstream: dict[str, str]  # state -> the data tensor holding ∂J/∂(new state)
    output: str  # the next segment's source

    @property
    def params(self) -> list[str]:
        return list(self.graph.params)


def _pseudo_loss(graph: Graph, tag: str, position: int, pairs: Sequence[tuple[Tensor, Tensor]]) -> None:
    """J = Σ g·y over the given (g, y) pairs: reverse accumulation from y with ∂J/∂y = g."""
    terms = []
    R: dict[sp.Symbol, int] = {}
    for g, y in pairs:
        idx, r = index_set("nth"[: len(y.shape) - 1] + "j", y.shape)
        R.update(r)
        terms.append(Term(g[tuple(idx)] * y[tuple(idx)], tuple(idx)))
    graph.output = Layer(graph, tag, position).compute("J", (), (), terms, R, role="loss").name


def _close(graph: Graph, source: str, upstream: str | None = None) -> Segment:
    """A segment with its backward pass (its parameters and, after a scan, its source)."""
    used = {read_name(r) for c in graph.computes for t in c.terms for r in reads(t.body)}
    for name in [p for p in graph.params if p not in used]:
        del graph.params[name]
    wrt = [*graph.params, *([source] if source != "X" else [])]
    return Segment(graph, backward(graph, wrt), source, upstream)


def _scan(layer: Layer, x: Tensor, entry: dict, done: list) -> tuple[Graph, Tensor]:
    """Cut the network at a recurrent layer: close the segment with its projection, add the
    step, and return the next segment's graph and its source."""
    kind, position, graph = layer.kind, layer.position, layer.graph
    cell, size, returns = CELLS[kind], entry["size"], entry.get("returns", "sequence")
    params = parameters(cell, layer, x, size)
    P = project(layer, x, params)
    upstream = Layer(graph, "grad", position).data("gP", P.shape)
    _pseudo_loss(graph, "seg", position, [(upstream, P)])
    step_params = {k: t for k, t in params.items() if k in ("Wh", "bh")}
    for t in step_params.values():
        del graph.params[t.name]
    done.append(_close(graph, _source(done), upstream.name))
    cg = Graph()
    cl = Layer(cg, kind, position)
    N, G = x.shape[0], P.shape[2]
    pt = cl.data("pt", (N, G))
    prev = {s: cl.data(f"{s}prev", (N, size)) for s in cell.states}
    for t in step_params.values():
        cg.params[t.name] = t.shape
    new = cell.step(StepLayer(cl, None), lambda n, g: pt[n, g], prev, step_params, N, size,
                    entry.get("activation", "tanh"))
    grads = {s: cl.data(f"g{s}", (N, size)) for s in cell.states}
    _pseudo_loss(cg, "cell", position, [(grads[s], new[s]) for s in cell.states])
    b = backward(cg, [pt.name, *(p.name for p in prev.values()), *cg.params])
    nxt = Graph()
    shape = (N, x.shape[1], size) if returns == "sequence" else (N, size)
    out = Layer(nxt, kind, position).data("hseq" if returns == "sequence" else "hlast", shape)
    done.append(Scan(kind, position, x.shape[1], size, returns, cg, b, P.name, pt.name,
                       {s: t.name for s, t in prev.items()}, {s: t.name for s, t in new.items()},
                       {s: t.name for s, t in grads.items()}, out.name))
    return nxt, out


def _source(done: list) -> str:
    """The source of the segment being built: X, or the last scan's output."""
    return next((s.output for s in reversed(done) if isinstance(s, Scan)), "X")


def stages(inputs: Sequence[int], layers: Sequence[dict], loss: str, reduction: str = "mean",
           time_reduction: str = "mean", ops: dict[str, OpDef] | None = None) -> list[Segment | Scan]:
    """Segments and scans of a chain of layers (a sequence spec), each with its backward pass."""
    registry = {**OPS, **(ops or {})}
    graph = Graph()
    x = Layer(graph, "input", 0).data("X", tuple(inputs), numbered=False)
    out: list[Segment | Scan] = []
    for position, entry in enumerate(layers, start=1):
        entry = dict(entry)
        kind = entry.pop("type", "dense")
        if kind in CELLS:
            graph, x = _scan(Layer(graph, kind, position), x, entry, out)
            continue
        act = entry.pop("activation", None)
        x = registry[kind].build(Layer(graph, kind, position), x, **entry)
        if act is not None:
            x = OPS["activation"].build(Layer(graph, "act", position), x, name=act)
    OPS["loss"].build(Layer(graph, "loss", len(layers) + 1), x, name=loss, reduction=reduction,
                      time_reduction=time_reduction)
    out.append(_close(graph, _source(out)))
    return out
