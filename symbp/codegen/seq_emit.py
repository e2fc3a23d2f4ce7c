"""The NumPy kernel module of a sequence spec: segments printed statement by statement, each
recurrent layer as a loop over steps running its cell's derived statements (``scan``), into
``templates/seq_module.py.j2``."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from ..backprop.recurrence import equations
from ..backprop.scan import Scan, Segment, stages
from ..core import naming
from ..core.graph_spec import GraphSpec
from ..core.ir import Compute
from .graph_code import BATCH, shape_code
from .seq_step import StepPrinter

TEMPLATE = "seq_module.py.j2"


@dataclass(frozen=True)
class SeqDerived:
    """A sequence spec's stages (for a batch of ``BATCH``), each with its derived backward pass."""

    spec: GraphSpec
    stages: list[Segment | Scan]

    @property
    def params(self) -> dict[str, tuple[int, ...]]:
        """Every parameter, in layer order."""
        found = {}
        for stage in self.stages:
            found.update(stage.graph.params)
        return dict(sorted(found.items(), key=lambda kv: _position(kv[0])))

    @property
    def grads(self) -> dict[str, str]:
        return {k: v for stage in self.stages for k, v in stage.backward.grads.items() if k in self.params}

    def sections(self) -> list[tuple[str, list[Compute]]]:
        """(title, computes) for documents: each piece forward in order, backward in reverse."""
        forward, backward = [], []
        for stage in self.stages:
            if isinstance(stage, Scan):
                l, T = stage.position, stage.steps
                forward.append((f"Layer {l} ({stage.kind}): one step, run for t = 0, ..., {T - 1} "
                                f"(pt{l} is the projection at step t; the previous states are zero at t = 0)",
                                stage.graph.computes[:-1]))
                backward.append((f"Layer {l} ({stage.kind}): backward through one step, run for "
                                 f"t = {T - 1}, ..., 0 (gh{l} is dJ/dh at step t: from the layers above "
                                 f"plus what step t + 1 sends back as hprev{l}'s gradient; Wh{l}'s "
                                 "gradient sums over t)", stage.gather + stage.backward.computes))
            else:
                end = "the loss" if stage.upstream is None else "the next recurrent layer's projection"
                reads = ", ".join(stage.sources)
                forward.append((f"Forward pass from {reads} to {end}", stage.graph.computes[:-1]))
                backward.append((f"Backward pass from {end} to {reads}"
                                 + (f" ({stage.upstream} is dJ/dP, collected by the loop over steps)"
                                    if stage.upstream else "") + _later(stage), stage.backward.computes))
        last = self.stages[-1].graph.computes[-1]
        matrix = [(f"Layer {s.position} ({s.kind}): backpropagation through time at the matrix level "
                   "(one sample's vectors, recognised from the derived step below; weight gradients "
                   "also sum over the batch)", equations(s)) for s in self.stages if isinstance(s, Scan)]
        return [*forward, ("The loss", [last]), *matrix, *reversed(backward)]


def _later(segment: Segment) -> str:
    """The note on gradients a segment receives from layers after the next recurrent layer."""
    later = [n for n in segment.graph.inputs if naming.gradient_of(n) is not None]
    note = "dJ/d of its tensors from their readers after later recurrent layers"
    return f" ({', '.join(later)}: {note})" if later else ""


def _position(param: str) -> int:
    """The layer position a parameter name ends in (Wh12: 12)."""
    return naming.param_of(param)[1]


def derive_sequence(spec: GraphSpec) -> SeqDerived:
    return SeqDerived(spec, stages((BATCH, *spec.inputs), [dict(d) for d in spec.layers], spec.loss,
                                   spec.reduction, spec.time_reduction, spec.registry()))


SEGMENT_SLOT = "_buffer(ws, {name}, {shape}, dtype)"  # a segment's arrays: the workspace's


def _lines(computes: list[Compute], shapes: dict) -> list[dict]:
    """A segment's computes printed as the step's are (in place, numbers folded, renames as the
    same array), without taking parts into sums: a later stage may read any of them."""
    return StepPrinter(computes, shapes, SEGMENT_SLOT, frozenset(c.name for c in computes)).lines()


def _init(name: str, shape: tuple[int, ...], recurrent: dict[int, int]) -> str:
    """PyTorch's recurrent init (±1/sqrt(hidden)), N(0, 1) embeddings, He-scaled dense weights,
    zero biases, layernorm's unit γ and zero β."""
    stem, layer = name.rstrip("0123456789"), _position(name)
    if layer in recurrent:
        bound = f"1.0 / np.sqrt({recurrent[layer]})"
        return f"rng.uniform(-{bound}, {bound}, {shape}).astype(dtype)"
    if stem == "E":
        return f"rng.standard_normal({shape}).astype(dtype)"
    if stem in ("b", "beta"):
        return f"np.zeros({shape}, dtype=dtype)"
    if stem == "gamma":
        return f"np.ones({shape}, dtype=dtype)"
    return f"(rng.standard_normal({shape}) * np.sqrt(2.0 / {max(1, prod(shape[1:]))})).astype(dtype)"


def _stacks(buffers: dict[str, tuple[int, ...]]) -> str:
    """(name, shape) of each compute a loop writes in place, as code (the batch size as B)."""
    return "(" + "".join(f"({name!r}, {shape_code(shape)}), " for name, shape in buffers.items()) + ")"


def _scan_context(scan: Scan, before: Segment, shapes: dict) -> dict:
    """A recurrent layer's loops: ``before`` is the segment whose pseudo-loss reads dJ/dP.
    Forward computes go into arrays S<l>[name][t] of every step (the tape), backward ones into
    K<l>[name][t & 1]: two per compute, so what step t + 1 carries back is not overwritten."""
    forward = scan.graph.computes[:-1]  # the last is the pseudo-loss
    grads = scan.backward.grads
    taped = (scan.pt, *scan.prev.values(), *(c.name for c in forward))
    l = scan.position
    ahead = StepPrinter(forward, shapes, f"S{l}[{{name}}][t]", frozenset(taped))
    sums = tuple((grads[p], scan.graph.params[p]) for p in scan.params)
    keep = {grads[scan.pt], *(grads[n] for n in scan.prev.values()), *(n for n, _ in sums)}
    back = StepPrinter(scan.backward.computes, shapes, f"K{l}[{{name}}][t & 1]", frozenset(keep))
    forward_lines, backward_lines = ahead.lines(), back.lines()
    return {
        "scan": True, "kind": scan.kind, "position": scan.position, "steps": scan.steps,
        "size": scan.size, "returns": scan.returns, "projection": scan.projection, "pt": scan.pt,
        "forward": forward_lines, "backward": backward_lines, "taped": taped,
        "forward_stacks": _stacks(ahead.buffers), "backward_stacks": _stacks(back.buffers),
        "h": scan.new["h"], "new": scan.new, "prev": list(scan.prev.items()),
        "upstream": list(scan.upstream.items()), "output": scan.output,
        "grad_pt": grads[scan.pt], "grad_prev": {s: grads[n] for s, n in scan.prev.items()},
        "sums": sums, "gp": before.upstream, "gather": _lines(scan.gather, shapes),
        "grad_output": scan.grad_output,
    }


def context(d: SeqDerived, command: str, version: str) -> dict:
    from symbp.core.spec import one_line

    shapes = {}
    for stage in d.stages:
        shapes.update(stage.graph.shapes())
        shapes.update({c.name: c.shape for c in stage.backward.computes})
        if isinstance(stage, Scan):
            shapes.update({c.name: c.shape for c in stage.gather})
    staged = []
    for k, stage in enumerate(d.stages):
        if isinstance(stage, Scan):
            item = _scan_context(stage, d.stages[k - 1], shapes)
        else:
            # the last compute, a pseudo-loss or the loss, is not part of the forward pass
            item = {"scan": False, "forward": _lines(stage.graph.computes[:-1], shapes),
                    "backward": _lines(stage.backward.computes, shapes)}
        staged.append(item)
    last = d.stages[-1]
    output = last.output
    recurrent = {s.position: s.size for s in d.stages if isinstance(s, Scan)}
    X, Y = d.stages[0].graph.inputs["X"], last.graph.inputs["Y"]
    embedding = d.spec.layers[0] if d.spec.layers[0]["type"] == "embedding" else None
    return {
        "info": {"version": version, "template": TEMPLATE, "network": one_line(d.spec.name),
                 "spec_hash": d.spec.spec_hash(), "command": one_line(command),
                 "description": one_line(d.spec.description or d.spec.name)},
        "summary": d.spec.summary(), "sample": X[1:], "targets": Y[1:],
        "ids": embedding is not None, "vocab": embedding["vocab"] if embedding else 0,
        "shapes": list(d.params.items()),
        "inits": [(n, _init(n, s, recurrent)) for n, s in d.params.items()],
        "stages": staged, "loss": _lines(last.graph.computes[-1:], shapes),
        "output": output, "loss_name": last.graph.output,
        "grads": [(n, d.grads[n]) for n in d.params],
    }


def render(d: SeqDerived, command: str) -> str:
    """The kernel module of a derived sequence spec as text."""
    from symbp._version import __version__
    from symbp.codegen.emit import environment

    return environment().get_template(TEMPLATE).render(context(d, command, __version__))


def emit_sequence(spec: GraphSpec, command: str | None = None) -> str:
    """The kernel module of a sequence spec as text."""
    return render(derive_sequence(spec), command or f"symbp emit {spec.name} -o {spec.name}.py")
