"""Reverse accumulation over a DAG of computes: where a tensor is read several times, the
contributions to its gradient add (a residual connection's fan-out is the sum of two paths).

``backward`` walks the computes from the loss back, asks ``adjoint`` for one contribution per
read, and sums each tensor's contributions into ``naming.grad(name)`` once all are known.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import sympy as sp

from symbp.core.errors import DerivationError

from ..core import naming
from ..core.graph_build import index_set
from ..core.ir import Compute, Graph, Shape, Tensor, Term, read_name, reads
from .adjoint import adjoint, max_share


@dataclass(eq=False)
class Backward:
    """The derived backward pass: computes in evaluation order and the gradient of each target."""

    computes: list[Compute]
    grads: dict[str, str]  # tensor -> name of ∂J/∂tensor


def _needs_gradient(graph: Graph, wrt: Iterable[str]) -> set[str]:
    """Tensors that depend on a target through differentiable computes (targets included)."""
    live = set(wrt)
    for c in graph.computes:
        if c.differentiable and any(read_name(r) in live for t in c.terms for r in reads(t.body)):
            live.add(c.name)
    return live


def accumulate(name: str, shape: Shape, parts: Sequence[str]) -> Compute:
    """∂J/∂X = Σ of its parts, each part from one read of X."""
    idx, R = index_set("abcdefgh"[: len(shape)], shape)
    body = sp.Add(*(Tensor(p, shape)[tuple(idx)] for p in parts))
    return Compute(name, shape, tuple(idx), (Term(body),), R, role="grad")


def backward(graph: Graph, wrt: Iterable[str]) -> Backward:
    """Derive ∂J/∂(each of ``wrt``) for the graph's scalar output J."""
    wrt = list(wrt)
    shapes = graph.shapes()
    if graph.output not in shapes or shapes[graph.output] != ():
        raise DerivationError("the graph needs a scalar output (a loss) to differentiate")
    live = _needs_gradient(graph, wrt)
    parts: dict[str, list[str]] = {graph.output: []}
    out: list[Compute] = [Compute(naming.grad(graph.output), (), (), (Term(sp.Integer(1)),), {}, role="grad")]
    done: dict[str, str] = {graph.output: naming.grad(graph.output)}
    for c in reversed(graph.computes):
        if c.name not in done:
            if not parts.get(c.name):
                continue  # J does not depend on it
            _finish(c.name, c.shape, parts[c.name], out)
            done[c.name] = naming.grad(c.name)
        if not c.differentiable:
            continue
        upstream = done[c.name]
        if c.terms[0].kind == "max":
            out += max_share(c, upstream, naming.share(c.name))
            upstream = out[-1].name
        for t, term in enumerate(c.terms):
            for r, read in enumerate(reads(term.body)):
                x = read_name(read)
                if x not in live:
                    continue
                part = naming.grad_part(x, c.name, t, r)
                out.append(adjoint(c, term, read, upstream, part, {**shapes, **_shapes(out)}))
                parts.setdefault(x, []).append(part)
    for x in wrt:
        if x not in done:
            _finish(x, shapes[x], parts.get(x, []), out)
            done[x] = naming.grad(x)
    return Backward(out, {x: done[x] for x in wrt})


def _shapes(computes: Sequence[Compute]) -> dict[str, Shape]:
    return {c.name: c.shape for c in computes}


def _finish(x: str, shape: Shape, parts: Sequence[str], out: list[Compute]) -> None:
    """Add the gradient of x: its one part renamed, or the sum of its parts (zero if none)."""
    if len(parts) == 1:
        k = next(k for k, c in enumerate(out) if c.name == parts[0])
        out[k] = replace(out[k], name=naming.grad(x))
        return
    if not parts:
        idx, R = index_set("abcdefgh"[: len(shape)], shape)
        out.append(Compute(naming.grad(x), shape, tuple(idx), (Term(sp.Integer(0)),), R, role="grad"))
        return
    out.append(accumulate(naming.grad(x), shape, parts))
