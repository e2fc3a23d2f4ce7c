"""Sequence ops: embedding and the recurrent layers (rnn, lstm, gru), each defined once by index
formulas. Sequences are (n, t, features); token ids are (n, t).

A recurrent layer is three formulas: its parameters, the input projection of every step at once
(P[n, t, g] = Σ_k Wx[g, k]·x[n, t, k] + bias[g], one product for all steps and gates) and one
step of the cell, which reads P at its step and the previous states. ``unroll`` writes the
steps out with shared weights, so the engine's reverse accumulation is backpropagation through
time; the kernel (``scan``) runs the same step formulas in a loop over t. The gate order and
parameter shapes are PyTorch's, so weights carry over both ways.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy as sp

from symbp.core import activations
from symbp.core.errors import DerivationError

from .graph_build import Layer, index_set
from .ir import Tensor, Term

Read = Callable[[sp.Expr, sp.Expr], sp.Expr]  # p(n, g): the step's projection, entry (n, g)
States = Mapping[str, Tensor | None]  # None: the zero initial state


class StepLayer(Layer):
    """A layer's naming scope for one time step: ``rnn2_h_t3`` (no suffix when ``step`` is None)."""

    def __init__(self, layer: Layer, step: int | None):
        super().__init__(layer.graph, layer.kind, layer.position)
        self.step = step

    def compute(self, part, shape, index, terms, ranges, **kwargs) -> Tensor:
        suffix = "" if self.step is None else f"_t{self.step}"
        return super().compute(f"{part}{suffix}", shape, index, terms, ranges, **kwargs)


def _act(name: str, arg: sp.Expr) -> sp.Expr:
    """g(arg) for an elementwise activation of the registry."""
    entry = activations.REGISTRY.get(name)
    if entry is None or entry.vector:
        known = ", ".join(k for k, e in activations.REGISTRY.items() if not e.vector)
        raise DerivationError(f"activation must be an elementwise activation ({known}), not {name!r}")
    return entry.instantiate().xreplace({activations.x: arg})


def _gate(layer: Layer, part: str, fn: str, s: Tensor, offset: int, size: int) -> Tensor:
    """gate[n, j] = fn(s[n, offset + j]): one block of a stacked pre-activation."""
    (n, j), R = index_set("nj", (s.shape[0], size))
    return layer.compute(part, (s.shape[0], size), (n, j), [Term(_act(fn, s[n, offset + j]))], R)


def _recurrent_term(Wh: Tensor, h: Tensor | None, n, g, m) -> list[Term]:
    """Σ_m Wh[g, m]·h[n, m], or nothing for the zero initial state."""
    return [] if h is None else [Term(Wh[g, m] * h[n, m], (m,))]


def rnn_step(layer: Layer, p: Read, prev: States, params: Mapping[str, Tensor], N: int, size: int,
             activation: str = "tanh") -> dict[str, Tensor]:
    """h_t[n, j] = g(P_t[n, j] + Σ_m Wh[j, m]·h_{t−1}[n, m])."""
    (n, j, m), R = index_set("njm", (N, size, size))
    terms = [Term(p(n, j)), *_recurrent_term(params["Wh"], prev["h"], n, j, m)]
    z = layer.compute("z", (N, size), (n, j), terms, R)
    h = layer.compute("h", (N, size), (n, j), [Term(_act(activation, z[n, j]))], R)
    return {"h": h}


def lstm_step(layer: Layer, p: Read, prev: States, params: Mapping[str, Tensor], N: int, size: int,
              activation: str = "tanh") -> dict[str, Tensor]:
    """PyTorch's LSTM: s = P_t + Wh·h_{t−1} stacked (i, f, g, o); c_t = f⊙c_{t−1} + i⊙g;
    h_t = o⊙tanh(c_t)."""
    H = size
    (n, g, m), R = index_set("ngm", (N, 4 * H, H))
    terms = [Term(p(n, g)), *_recurrent_term(params["Wh"], prev["h"], n, g, m)]
    s = layer.compute("s", (N, 4 * H), (n, g), terms, R)
    i, f = _gate(layer, "i", "sigmoid", s, 0, H), _gate(layer, "f", "sigmoid", s, H, H)
    cand, o = _gate(layer, "g", "tanh", s, 2 * H, H), _gate(layer, "o", "sigmoid", s, 3 * H, H)
    (n, j), R = index_set("nj", (N, H))
    terms = [Term(i[n, j] * cand[n, j])] + ([] if prev["c"] is None else [Term(f[n, j] * prev["c"][n, j])])
    c = layer.compute("c", (N, H), (n, j), terms, R)
    tc = layer.compute("tc", (N, H), (n, j), [Term(_act("tanh", c[n, j]))], R)
    h = layer.compute("h", (N, H), (n, j), [Term(o[n, j] * tc[n, j])], R)
    return {"h": h, "c": c}


def _reset_misplaced(inside: bool) -> Callable[..., list[Term]]:
    """The candidate's recurrent terms with the reset gate placed as a slip places it: on
    W_h,n·h only, the bias b_h,n added outside (``inside=False``), or on h inside the product."""

    def terms(p: Read, r: Tensor, q: Tensor, params: Mapping[str, Tensor], h: Tensor | None, n, j, m,
              H: int) -> list[Term]:
        Wh, bh = params["Wh"], params["bh"]
        first = [Term(p(n, 2 * H + j) + bh[2 * H + j])]
        if h is None:  # the zero initial state
            return first
        return [*first, Term(Wh[2 * H + j, m] * r[n, m if inside else j] * h[n, m], (m,))]

    return terms


# v = P_t,n + (the reset gate's product): PyTorch's r⊙(W_h,n·h + b_h,n), and the slips ``verify``
# names (built only there, on purpose)
RESETS: dict[str, Callable[..., list[Term]]] = {
    "after": lambda p, r, q, params, h, n, j, m, H: [Term(p(n, 2 * H + j) + r[n, j] * q[n, 2 * H + j])],
    "outside": _reset_misplaced(inside=False),
    "before": _reset_misplaced(inside=True),
}


def gru_step(layer: Layer, p: Read, prev: States, params: Mapping[str, Tensor], N: int, size: int,
             activation: str = "tanh", reset: str = "after") -> dict[str, Tensor]:
    """PyTorch's GRU: q = Wh·h_{t−1} + bh stacked (r, z, n); r, z = σ(P_t + q);
    n = tanh(P_t,n + r⊙q_n); h_t = (1 − z)⊙n + z⊙h_{t−1}. ``reset`` other than "after" places
    the reset gate as a slip does (``RESETS``)."""
    H = size
    (n, g, m), R = index_set("ngm", (N, 3 * H, H))
    terms = [*_recurrent_term(params["Wh"], prev["h"], n, g, m), Term(params["bh"][g])]
    q = layer.compute("q", (N, 3 * H), (n, g), terms, R)
    (n, g), R = index_set("ng", (N, 2 * H))
    u = layer.compute("u", (N, 2 * H), (n, g), [Term(p(n, g) + q[n, g])], R)
    r, z = _gate(layer, "r", "sigmoid", u, 0, H), _gate(layer, "zg", "sigmoid", u, H, H)
    (n, j), R = index_set("nj", (N, H))
    terms = RESETS[reset](p, r, q, params, prev["h"], n, j, m, H)
    v = layer.compute("v", (N, H), (n, j), terms, {**R, m: H} if any(t.reduce for t in terms) else R)
    cand = _gate(layer, "n", "tanh", v, 0, H)
    keep = [] if prev["h"] is None else [Term(z[n, j] * prev["h"][n, j])]
    terms = [Term((1 - z[n, j]) * cand[n, j]), *keep]
    h = layer.compute("h", (N, H), (n, j), terms, R)
    return {"h": h}


@dataclass(frozen=True)
class Cell:
    """A recurrent layer: its states (the first is the output), gates stacked in the projection,
    the bias the projection adds (``bias``) and the one the step adds (``step_bias``)."""

    states: tuple[str, ...]
    gates: int
    step: Callable[..., dict[str, Tensor]]
    bias: str = "b"
    step_bias: str | None = None


CELLS: dict[str, Cell] = {
    "rnn": Cell(("h",), 1, rnn_step),
    "lstm": Cell(("h", "c"), 4, lstm_step),
    "gru": Cell(("h",), 3, gru_step, bias="bx", step_bias="bh"),
}


def _rank3(x: Tensor, op: str) -> None:
    if len(x.shape) != 3:
        raise DerivationError(f"{op} reads a sequence (batch, steps, features), not shape {x.shape}")


def parameters(cell: Cell, layer: Layer, x: Tensor, size: int) -> dict[str, Tensor]:
    """Wx (G·H, D), Wh (G·H, H) and the biases, declared once for all steps."""
    G = cell.gates * size
    out = {"Wx": layer.param("Wx", (G, x.shape[2])), "Wh": layer.param("Wh", (G, size)),
           "bias": layer.param(cell.bias, (G,)), "batch": x}
    if cell.step_bias:
        out["bh"] = layer.param(cell.step_bias, (G,))
    return out


def project(layer: Layer, x: Tensor, params: Mapping[str, Tensor]) -> Tensor:
    """P[n, t, g] = Σ_k Wx[g, k]·x[n, t, k] + bias[g]: every step's input term in one product."""
    G = params["Wx"].shape[0]
    (n, t, g, k), R = index_set("ntgk", (*x.shape[:2], G, x.shape[2]))
    terms = [Term(params["Wx"][g, k] * x[n, t, k], (k,)), Term(params["bias"][g])]
    return layer.compute("P", (*x.shape[:2], G), (n, t, g), terms, R)


def _stack(layer: Layer, steps: list[Tensor]) -> Tensor:
    """seq[n, t, j] = h_s[n, j] where t = s: the states of every step as one sequence."""
    N, H = steps[0].shape
    (n, t, j), R = index_set("ntj", (N, len(steps), H))
    terms = [Term(h[n, j], (), "sum", ((t - s, 1),)) for s, h in enumerate(steps)]
    return layer.compute("seq", (N, len(steps), H), (n, t, j), terms, R)


def unroll(kind: str) -> Callable[..., Tensor]:
    """The op builder of a recurrent layer: the projection, then T steps with shared weights."""
    cell = CELLS[kind]

    def build(layer: Layer, x: Tensor, *, size: int, returns: str = "sequence",
              activation: str = "tanh", **variant) -> Tensor:
        # variant: a slip's form of the step (gru ``reset``), built only by verify's references
        _rank3(x, kind)
        params = parameters(cell, layer, x, size)
        P = project(layer, x, params)
        prev: dict[str, Tensor | None] = dict.fromkeys(cell.states)
        outputs = []
        for s in range(x.shape[1]):
            at_step = lambda n, g, s=s: P[n, s, g]  # noqa: E731
            prev = cell.step(StepLayer(layer, s), at_step, prev, params, x.shape[0], size, activation,
                             **variant)
            outputs.append(prev["h"])
        return outputs[-1] if returns == "last" else _stack(layer, outputs)

    build.__doc__ = f"{kind} over a whole sequence, unrolled: {cell.step.__doc__}"
    return build


def embedding(layer: Layer, x: Tensor, *, vocab: int, size: int) -> Tensor:
    """e[n, t, d] = Σ_v onehot[n, t, v]·E[v, d] with onehot[n, t, v] = [X[n, t] = v]: the row
    of E for each token id, as one product (its gradient Σ_{n,t} onehot·δe is one too)."""
    if len(x.shape) != 2:
        raise DerivationError(f"embedding reads token ids (batch, steps), not shape {x.shape}")
    E = layer.param("E", (vocab, size))
    (n, t, d, v), R = index_set("ntdv", (*x.shape, size, vocab))
    hit = sp.Piecewise((1, sp.Eq(x[n, t], v)), (0, True))
    onehot = layer.compute("onehot", (*x.shape, vocab), (n, t, v), [Term(hit)], R)
    return layer.compute("e", (*x.shape, size), (n, t, d), [Term(onehot[n, t, v] * E[v, d], (v,))], R)
