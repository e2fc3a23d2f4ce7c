"""The NumPy kernel module of a graph spec: forward computes and the derived backward pass,
printed statement by statement (``codegen``) into ``templates/graph_module.py.j2``."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from ..backprop.graph import backward
from ..core import naming
from ..core.graph_spec import GraphSpec
from ..core.ir import Compute, Graph
from .graph_code import BATCH, extent, formula, statement
from .kept_views import KeptViews
from .seq_emit import SeqDerived, derive_sequence
from .seq_emit import render as render_sequence

TEMPLATE = "graph_module.py.j2"


@dataclass(frozen=True)
class Derived:
    """A graph spec's graph (for a batch of ``BATCH``) and its backward pass, derived once."""

    spec: GraphSpec
    graph: Graph
    computes: list[Compute]  # the backward pass
    grads: dict[str, str]

    def sections(self) -> list[tuple[str, list[Compute]]]:
        """(title, computes) for documents."""
        return [("Forward pass (as the spec defines it)", self.graph.computes),
                ("Backward pass (derived over the index algebra)", self.computes)]


def derive_graph(spec: GraphSpec) -> Derived | SeqDerived:
    """The spec's derivation: a sequence spec as segments and loops over steps (``scan``)."""
    if spec.sequence:
        return derive_sequence(spec)
    graph = spec.graph(BATCH)
    b = backward(graph, list(graph.params))
    return Derived(spec, graph, b.computes, b.grads)


def _lines(computes: list[Compute], shapes: dict, kept: KeptViews) -> list[dict]:
    return [{"comment": formula(c), "code": statement(c, shapes, kept), "name": c.name} for c in computes]


def _kept_views(computes: list[Compute], shapes: dict) -> KeptViews:
    """The GEMMs' views of the whole kernel, counted by printing it once."""
    kept = KeptViews()
    for c in computes:
        statement(c, shapes, kept)
    kept.counting = False
    return kept


def _init(name: str, shape: tuple[int, ...]) -> str:
    """He-scaled weights (fan-in = all but the first axis), unit gamma, zero biases and beta."""
    stem = name.rstrip("0123456789")
    if stem in ("b", "beta"):
        return f"np.zeros({shape}, dtype=dtype)"
    if stem == "gamma":
        return f"np.ones({shape}, dtype=dtype)"
    fan_in = max(1, prod(shape[1:]))
    return f"(rng.standard_normal({shape}) * np.sqrt(2.0 / {fan_in})).astype(dtype)"


def _norms(d: Derived) -> list[dict]:
    """Batchnorm layers: their statistics' computes, stats keys and sample count per channel."""
    out = []
    for c in d.graph.computes:
        kind, layer, part = naming.compute_of(c.name) or ("", 0, "")
        if (kind, part) == ("batchnorm", "mean"):
            count = prod(c.ranges[v] for v in c.terms[0].reduce) // BATCH
            out.append({"mean": c.name, "var": naming.compute(kind, layer, "var"), "shape": c.shape,
                        "key": str(layer), "count": f"B * {count}" if count > 1 else "B"})
    return out


def _dropouts(d: Derived) -> list[dict]:
    out = []
    for layer in (k for k, entry in enumerate(d.spec.layers, start=1) if entry["type"] == "dropout"):
        mask = naming.param("mask", layer)
        shape = "(" + "".join(f"{extent(n)}, " for n in d.graph.inputs[mask]) + ")"
        out.append({"name": mask, "shape": shape, "keep": 1 - d.spec.layers[layer - 1]["rate"]})
    return out


def context(d: Derived, command: str, version: str) -> dict:
    from symbp.core.spec import one_line

    forward = d.graph.computes
    output = forward[-2].name  # the loss reads the last layer's output
    shapes = d.graph.params
    every = {**d.graph.shapes(), **{c.name: c.shape for c in d.computes}}
    kept = _kept_views([*forward, *d.computes], every)
    return {
        "info": {"version": version, "template": TEMPLATE, "network": one_line(d.spec.name),
                 "spec_hash": d.spec.spec_hash(), "command": one_line(command),
                 "description": one_line(d.spec.description or d.spec.name)},
        "summary": d.spec.summary(), "sample": d.graph.inputs["X"][1:],
        "classes": d.graph.inputs["Y"][1], "shapes": list(shapes.items()),
        "inits": [(n, _init(n, s)) for n, s in shapes.items()],
        "norms": _norms(d), "dropouts": _dropouts(d),
        "forward": _lines(forward[:-1], every, kept), "loss": _lines(forward[-1:], every, kept),
        "backward": _lines(d.computes, every, kept),
        "output": output, "loss_name": forward[-1].name,
        "grads": [(n, d.grads[n]) for n in shapes],
    }


def render(d: Derived | SeqDerived, command: str) -> str:
    """The kernel module of a derived graph spec as text."""
    from symbp._version import __version__
    from symbp.codegen.emit import environment

    if isinstance(d, SeqDerived):
        return render_sequence(d, command)

    return environment().get_template(TEMPLATE).render(context(d, command, __version__))


def emit_graph(spec: GraphSpec, command: str | None = None) -> str:
    """The kernel module of a graph spec as text."""
    return render(derive_graph(spec), command or f"symbp emit {spec.name} -o {spec.name}.py")
