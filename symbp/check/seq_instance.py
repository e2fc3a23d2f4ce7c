"""A tiny instance of a sequence spec for checking claims: T = 3 steps, recurrent layers of 2
units, one sample; its unrolled graph, the derived backward pass, and the values of every
tensor entry at a few random points, right and with each backward-pass slip made on purpose.

Entries are named reads (``rnn1_h_t1[0, 1]``); a claim's sides are sympy expressions in them.
``definitions`` gives each entry's formula one step down (``exact`` on named tensors), so a
claim can be proven by substituting gradients (and then forward values) until both sides meet.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import sympy as sp

from ..backprop.graph import Backward, backward
from ..codegen import exact, numeric
from ..core import naming
from ..core.errors import SymbpError
from ..core.graph_spec import GraphSpec
from ..core.ir import Compute, Graph, read_name, reads
from ..core.recurrent import CELLS
from ..docs.element_level import named
from .bptt_slips import BACKWARD_SLIPS, BackwardSlip
from .slips import random_values

STEPS, UNITS, FEATURES, VOCAB, OUTPUTS = 3, 2, 2, 4, 3
POINTS = 3  # random points a claim is compared at
Numbers = dict[sp.Expr, float]


def tiny(spec: GraphSpec) -> GraphSpec:
    """The spec's layers with T = 3, 2 recurrent units, 2 features (or 4 token ids), dense 3."""
    sizes = {"embedding": {"vocab": VOCAB, "size": FEATURES}, "dense": {"size": OUTPUTS},
             **{kind: {"size": UNITS} for kind in CELLS}}
    layers = tuple(dict(d, **sizes.get(d["type"], {})) for d in spec.layers)
    inputs = (STEPS,) if len(spec.inputs) == 1 else (STEPS, FEATURES)
    return replace(spec, name=f"{spec.name}_tiny", inputs=inputs, layers=layers)


@dataclass
class Instance:
    """The tiny instance of one sequence spec and its first recurrent layer."""

    spec: GraphSpec
    graph: Graph
    backward: Backward
    kind: str
    position: int
    seed: int = 0  # the first random point's seed

    @property
    def prefix(self) -> str:
        return f"{self.kind}{self.position}"

    @cached_property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {**self.graph.inputs, **self.graph.params, **self.graph.shapes(),
                **{c.name: c.shape for c in self.backward.computes}}

    @cached_property
    def _named(self) -> dict[str, np.ndarray]:
        return {n: named(n, shape) for n, shape in self.shapes.items()}

    def entries(self, name: str) -> np.ndarray:
        """The tensor's entries as named reads (``rnn1_h_t1[0, 1]``)."""
        return self._named[name]

    def source(self) -> str:
        """The tensor the recurrent layer's projection reads (X or the layer below)."""
        P = next(c for c in self.graph.computes if c.name == f"{self.prefix}_P")
        found = {read_name(r) for t in P.terms for r in reads(t.body)} - set(self.graph.params)
        return found.pop()

    def _numbers(self, computes: list[Compute], seed: int) -> Numbers:
        values = random_values(self.spec, 1, seed)
        env = numeric.run(self.graph.computes + computes, {**values, "X": values["X"].astype(np.float64)})
        out: Numbers = {}
        for name, arr in env.items():
            if name in self.shapes:
                entries = self.entries(name)
                for pos in np.ndindex(*np.shape(arr)):
                    out[entries[pos] if entries.shape else entries.item()] = float(np.asarray(arr)[pos])
        return out

    @property
    def seeds(self) -> range:
        return range(self.seed, self.seed + POINTS)

    @cached_property
    def points(self) -> list[Numbers]:
        """Every entry's value at ``POINTS`` random points (parameters, inputs, targets)."""
        return [self._numbers(self.backward.computes, seed) for seed in self.seeds]

    @cached_property
    def slips(self) -> list[tuple[BackwardSlip, list[Numbers]]]:
        """Each applicable backward-pass slip with the entries' values it gives at the points."""
        params = list(self.graph.params)
        out = []
        for slip in BACKWARD_SLIPS:
            if self.kind in slip.kinds:
                computes = slip.mutation(self.spec.layers, params)(self.backward.computes)
                out.append((slip, [self._numbers(computes, seed) for seed in self.seeds]))
        return out

    @cached_property
    def definitions(self) -> tuple[dict[sp.Expr, sp.Expr], dict[sp.Expr, sp.Expr]]:
        """(gradient entries, forward entries) → their formulas in the entries they read."""
        names = self._named
        grads, forward = {}, {}
        for c in self.graph.computes + self.backward.computes:
            into = grads if naming.gradient_of(c.name) is not None else forward
            values = exact.evaluate_compute(c, names)
            for pos in np.ndindex(*c.shape):
                into[names[c.name][pos] if c.shape else names[c.name].item()] = values[pos]
        return grads, forward


def instance(spec: GraphSpec, seed: int = 0) -> Instance:
    """The tiny instance of ``spec`` (a sequence spec) for its first recurrent layer."""
    small = tiny(spec)
    graph = small.graph(1)
    found = [(l, d["type"]) for l, d in enumerate(small.layers, start=1) if d["type"] in CELLS]
    if not found:
        raise SymbpError(f"{spec.name}: claims in sequence notation are about a recurrent layer "
                         "(rnn, lstm, gru), and this spec has none")
    position, kind = found[0]
    return Instance(small, graph, backward(graph, list(graph.params)), kind, position, seed)
