"""Slips of hand-written backpropagation through time, made on purpose in the derived backward
pass of the unrolled graph, so that every reference gradient ``verify`` compares with is derived.

The unrolled graph's backward pass sums each gradient from its parts, one part per read
(``grad_x__reader_term_read``), and a reader inside the loop over time carries its step
(``rnn1_z_t2``). Leaving out the sum over time keeps one step's parts of the recurrent weights'
gradients; leaving out the LSTM's forget-gate path drops the part that c_t sends back to c_{t−1}.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import sympy as sp

from ..core import naming
from ..core.ir import Compute, Term, read_index, read_name, reads
from ..core.recurrent import CELLS

Mutation = Callable[[list[Compute]], list[Compute]]
_STEP = re.compile(r"_t(\d+)\Z")


def recurrent_layers(layers: Sequence[dict]) -> list[tuple[str, str]]:
    """(kind, name prefix) of every recurrent layer: ("rnn", "rnn1")."""
    return [(d["type"], f"{d['type']}{l}") for l, d in enumerate(layers, start=1) if d["type"] in CELLS]


def reader(part: str) -> str:
    """The compute a gradient part comes from: grad_rnn1_h_t1__rnn1_z_t2_1_1 → rnn1_z_t2."""
    return part.split("__", 1)[1].rsplit("_", 2)[0] if "__" in part else ""


def step_of(tensor: str) -> int | None:
    """The time step of a tensor of the unrolled loop (rnn1_z_t2: 2), None outside it."""
    m = _STEP.search(tensor)
    return int(m.group(1)) if m else None


def _parts(c: Compute) -> list[sp.Expr]:
    """The part reads of a gradient summed from its parts (empty for any other compute)."""
    if len(c.terms) != 1 or c.terms[0].reduce:
        return []
    found = reads(c.terms[0].body)
    return found if found and all("__" in read_name(r) for r in found) else []


def _keep(c: Compute, keep: Callable[[str], bool], name: str | None = None) -> Compute:
    """The sum of ``c``'s parts whose reader ``keep`` accepts (zero if none)."""
    kept = [r for r in _parts(c) if keep(reader(read_name(r)))]
    return replace(c, name=name or c.name, terms=(Term(sp.Add(*kept)),))


def _rename_reads(c: Compute, old: str, new: str) -> Compute:
    """``c`` reading ``new`` wherever it read ``old`` (same shape)."""
    def swap(body: sp.Expr) -> sp.Expr:
        found = [r for r in reads(body) if read_name(r) == old]
        return body.xreplace({r: sp.IndexedBase(new)[read_index(r)] for r in found})
    return replace(c, terms=tuple(replace(t, body=swap(t.body)) for t in c.terms))


def one_step_only(layers: Sequence[dict], params: Sequence[str], pick: Callable[[int], int]) -> Mutation:
    """Each recurrent layer's weight gradients (Wx, Wh, biases) from step ``pick(T)`` alone:
    the parts read at that step, and for the projection's weights (Wx, b: one product over all
    steps) the projection's gradient at that step only; every other gradient stays right."""

    def mutate(computes: list[Compute]) -> list[Compute]:
        steps = [s for c in computes for r in _parts(c) if (s := step_of(reader(read_name(r)))) is not None]
        if not steps:
            return computes
        s = pick(max(steps) + 1)
        at_step = lambda rd: step_of(rd) == s  # noqa: E731
        for _, prefix in recurrent_layers(layers):
            grad_p, layer = naming.grad(f"{prefix}_P"), re.search(r"\d+\Z", prefix).group()
            mine = {naming.grad(str(p)) for p in params if re.fullmatch(rf"[A-Za-z]+{layer}", p)}
            out = []
            for c in computes:
                if c.name in mine:
                    c = _keep(c, at_step) if _parts(c) else _rename_reads(c, grad_p, f"{grad_p}_t{s}")
                out.append(c)
                if c.name == grad_p:
                    out.append(_keep(c, at_step, f"{grad_p}_t{s}"))
            computes = out
        return computes

    return mutate


def no_forget_path(layers: Sequence[dict]) -> Mutation:
    """δc_{t−1} without the part c_t sends back through the forget gate (δc_t ⊙ f_t)."""
    prefixes = [p for kind, p in recurrent_layers(layers) if kind == "lstm"]

    def cell_from_next(target: str, rd: str) -> bool:
        s = step_of(target)
        return any(target == naming.grad(f"{p}_c_t{s}") and rd == f"{p}_c_t{s + 1}" for p in prefixes)

    return lambda computes: [_keep(c, lambda rd, c=c: not cell_from_next(c.name, rd)) if _parts(c) else c
                             for c in computes]


@dataclass(frozen=True)
class BackwardSlip:
    """A BPTT slip made in the backward pass only: its name, the recurrent layer kinds it can
    occur in, and the mutation (from the spec's layers and the graph's parameter names)."""

    name: str
    kinds: frozenset[str]
    mutation: Callable[[Sequence[dict], Sequence[str]], Mutation]


SUM_OVER_TIME = "the sum over time left out: ∂J/∂Wh, ∂J/∂Wx and ∂J/∂b of the recurrent layer"
BACKWARD_SLIPS: tuple[BackwardSlip, ...] = (
    BackwardSlip(f"{SUM_OVER_TIME} take only the last step's term (∂J/∂Wh = Σ_t δz_t h_(t−1)ᵀ)",
                 frozenset(CELLS), lambda layers, params: one_step_only(layers, params, lambda T: T - 1)),
    BackwardSlip(f"{SUM_OVER_TIME} take only the first step's term (a loop over steps in reverse that "
                 "assigns dWh = … instead of adding dWh += …)",
                 frozenset(CELLS), lambda layers, params: one_step_only(layers, params, lambda T: 0)),
    BackwardSlip("the LSTM's forget-gate path through c_(t−1) missing: δc_(t−1) = δh_(t−1) ⊙ o ⊙ "
                 "(1 − tanh²c) without + δc_t ⊙ f_t", frozenset({"lstm"}),
                 lambda layers, params: no_forget_path(layers)),
)
