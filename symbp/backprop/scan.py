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

Layers read earlier ones by id (``from``), also across recurrent layers: a segment reads such a
tensor as an input of its own, and the segment (or scan) that made it adds up the gradients
of its readers, a term g·x of its pseudo-loss each (a scan: the sum its loop starts from).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import sympy as sp

from symbp.core.errors import DerivationError

from ..core import naming
from ..core.graph_build import Layer, index_set
from ..core.ir import Compute, Graph, Tensor, Term, read_name, reads
from ..core.ops import OPS, OpDef
from ..core.recurrent import CELLS, StepLayer, parameters, project
from .graph import Backward, accumulate, backward

FEATURE_LETTERS = "jklmpqrsuvwxyzabcdefgio"  # every letter but n, t, h (batch, step, image axes)


@dataclass(eq=False)
class Segment:
    """Ordinary computes reading ``sources`` (X, recurrent layers' outputs, earlier segments'
    tensors) up to the loss, or up to a recurrent layer's projection with the pseudo-loss
    Σ ``upstream``·P (and Σ g·x for each of its tensors a later stage reads) at the end."""

    graph: Graph
    backward: Backward
    sources: tuple[str, ...]
    upstream: str | None = None
    output: str = ""  # the last segment: the tensor the loss reads, the network's output


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
    output: str  # the layer's output, read by the segments after it
    grad_output: str = ""  # ∂J/∂output: one reader's gradient, or the sum ``gather`` computes
    gather: list[Compute] = field(default_factory=list)

    @property
    def params(self) -> list[str]:
        return list(self.graph.params)


def _pseudo_loss(graph: Graph, tag: str, position: int, pairs: Sequence[tuple[Tensor, Tensor]]) -> None:
    """J = Σ g·y over the given (g, y) pairs: reverse accumulation from y with ∂J/∂y = g.
    Pairs of different feature sizes sum their last axis with different index letters."""
    terms = []
    R: dict[sp.Symbol, int] = {}
    letters: dict[int, str] = {}
    for g, y in pairs:
        if y.shape[-1] not in letters and len(letters) == len(FEATURE_LETTERS):
            raise DerivationError(f"layer {position}: later layers read tensors of more than "
                                  f"{len(FEATURE_LETTERS)} feature sizes from before it")
        letter = letters.setdefault(y.shape[-1], FEATURE_LETTERS[len(letters)])
        idx, r = index_set("nth"[: len(y.shape) - 1] + letter, y.shape)
        R.update(r)
        terms.append(Term(g[tuple(idx)] * y[tuple(idx)], tuple(idx)))
    graph.output = Layer(graph, tag, position).compute("J", (), (), terms, R, role="loss").name


@dataclass(eq=False)
class _Open:
    """A segment being built: ``opened`` is the scan before it (None for the first)."""

    graph: Graph
    opened: Scan | None
    sources: list[str] = field(default_factory=list)
    projection: tuple[Tensor, Tensor] | None = None  # (gP, P)
    cut: int = 0  # the position of the recurrent layer whose projection ends the segment
    made: dict[str, Tensor] = field(default_factory=dict)  # tensors later layers may read


class _Builder:
    """Builds the stages layer by layer; ``close`` adds the pseudo-losses once every reader is known."""

    def __init__(self, inputs: Sequence[int]):
        graph = Graph()
        x = Layer(graph, "input", 0).data("X", tuple(inputs), numbered=False)
        self.stages: list[_Open | Scan] = [_Open(graph, None, ["X"])]
        self.home: dict[str, int] = {"X": 0}  # tensor -> the stage that makes it
        self.shapes: dict[str, tuple[int, ...]] = {"X": x.shape}
        self.readers: dict[str, list[str]] = {}  # tensor -> its readers' names for ∂J/∂tensor

    @property
    def open(self) -> _Open:
        return self.stages[-1]

    def read(self, name: str) -> Tensor:
        """``name`` in the open segment: its own tensor, or an input read from an earlier stage."""
        seg, shape = self.open, self.shapes[name]
        if self.home[name] == len(self.stages) - 1 or name in seg.sources:
            return Tensor(name, shape)
        seg.graph.inputs[name] = shape
        seg.sources.append(name)
        self.readers.setdefault(name, []).append(_gradient_of_source(seg, name))
        return Tensor(name, shape)

    def made(self, x: Tensor) -> str:
        self.home[x.name], self.shapes[x.name] = len(self.stages) - 1, x.shape
        self.open.made[x.name] = x
        return x.name

    def scan(self, layer: Layer, x: Tensor, entry: dict) -> str:
        """Cut at a recurrent layer: the open segment ends with its projection; add the step."""
        kind, position, graph = layer.kind, layer.position, layer.graph
        cell, size, returns = CELLS[kind], entry["size"], entry.get("returns", "sequence")
        params = parameters(cell, layer, x, size)
        P = project(layer, x, params)
        self.open.projection = Layer(graph, "grad", position).data("gP", P.shape), P
        self.open.cut = position
        step_params = {k: t for k, t in params.items() if k in ("Wh", "bh")}
        for t in step_params.values():
            del graph.params[t.name]
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
        shape = (N, x.shape[1], size) if returns == "sequence" else (N, size)
        output = f"{'hseq' if returns == 'sequence' else 'hlast'}{position}"
        done = Scan(kind, position, x.shape[1], size, returns, cg, b, P.name, pt.name,
                    {s: t.name for s, t in prev.items()}, {s: t.name for s, t in new.items()},
                    {s: t.name for s, t in grads.items()}, output)
        self.stages.append(done)
        self.home[output], self.shapes[output] = len(self.stages) - 1, shape
        self.stages.append(_Open(Graph(), done))
        return output

    def close(self, output: str) -> list[Segment | Scan]:
        """Every stage with its backward pass, each tensor read later with its readers' sum."""
        out: list[Segment | Scan] = []
        for stage in self.stages:
            if isinstance(stage, Scan):
                out.append(self._gathered(stage))
                continue
            if stage.projection is not None:
                later = [(Layer(stage.graph, "", 0).data(g, x.shape, numbered=False), x)
                         for name, x in stage.made.items() for g in self.readers.get(name, [])]
                _pseudo_loss(stage.graph, "seg", stage.cut, [stage.projection, *later])
            out.append(_close(stage, output if stage is self.open else ""))
        return out

    def _gathered(self, scan: Scan) -> Scan:
        parts = self.readers.get(scan.output, [])
        if not parts:
            raise DerivationError(f"layer {scan.position}'s output is never read")
        if len(parts) == 1:
            return replace(scan, grad_output=parts[0])
        total = accumulate(f"up_{scan.output}", self.shapes[scan.output], parts)
        return replace(scan, grad_output=total.name, gather=[total])


def _gradient_of_source(segment: _Open, name: str) -> str:
    """The name of a segment's ∂J/∂(a tensor it reads): grad_x for the output of the scan just
    before it, as for a chain; grad_x_after{l} for a tensor from further back, l that scan's
    layer (segments after several scans may read the same tensor)."""
    if segment.opened is None or segment.opened.output == name:
        return naming.grad(name)
    return naming.grad_after(name, segment.opened.position)


def _close(stage: _Open, output: str) -> Segment:
    """A segment with its backward pass (its parameters and what it reads from earlier stages)."""
    graph = stage.graph
    used = {read_name(r) for c in graph.computes for t in c.terms for r in reads(t.body)}
    for name in [p for p in graph.params if p not in used]:
        del graph.params[name]
    sources = [s for s in stage.sources if s != "X"]
    b = backward(graph, [*graph.params, *sources])
    for name in sources:
        renamed = _gradient_of_source(stage, name)
        if renamed != b.grads[name]:  # a tensor read, not made, here: its gradient is final
            k = next(k for k, c in enumerate(b.computes) if c.name == b.grads[name])
            b.computes[k] = replace(b.computes[k], name=renamed)
            b.grads[name] = renamed
    upstream = None if stage.projection is None else stage.projection[0].name
    return Segment(graph, b, tuple(stage.sources), upstream, output)


def stages(inputs: Sequence[int], layers: Sequence[dict], loss: str, reduction: str = "mean",
           time_reduction: str = "mean", ops: dict[str, OpDef] | None = None) -> list[Segment | Scan]:
    """Segments and scans of a sequence spec's layers, each with its backward pass; a layer reads
    the previous one, or the layers its ``from`` names by ``id``."""
    registry = {**OPS, **(ops or {})}
    built = _Builder(inputs)
    last, by_id = "X", {}
    for position, entry in enumerate(layers, start=1):
        entry = dict(entry)
        kind, name, sources = entry.pop("type", "dense"), entry.pop("id", None), entry.pop("from", None)
        args = [built.read(by_id[s]) for s in sources] if sources else [built.read(last)]
        layer = Layer(built.open.graph, kind, position)
        if kind in CELLS:
            last = built.scan(layer, args[0], entry)
        else:
            act = entry.pop("activation", None)
            x = registry[kind].build(layer, *args, **entry)
            if act is not None:
                x = OPS["activation"].build(Layer(layer.graph, "act", position), x, name=act)
            last = built.made(x)
        if name is not None:
            by_id[name] = last
    x = built.read(last)
    OPS["loss"].build(Layer(built.open.graph, "loss", len(layers) + 1), x, name=loss, reduction=reduction,
                      time_reduction=time_reduction)
    return built.close(x.name)
