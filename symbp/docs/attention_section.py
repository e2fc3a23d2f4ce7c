"""The attention backward pass at matrix level, recognised in the derived index-level result.

Courses write attention's backward pass with matrices: dV = Pᵀ·dO, dP = dO·Vᵀ, the softmax
Jacobian per row dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = dS·K/√D, dK = dSᵀ·Q/√D. Each line of
``STATEMENTS`` is such a form, written as the document shows it and as NumPy over the tensors
the engine derived. A line goes into the document only if it equals the derived tensor it names
on a random batch (float64, fixed seed): the document shows what the derivation gives, in
the notation of the courses; a mismatch is an error, never a silently wrong line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from symbp.core.errors import DerivationError

from ..backprop.graph import backward
from ..codegen import numeric
from ..core import naming
from ..core.graph_spec import GraphSpec
from ..core.ir import Graph, read_name, reads

AGREE = 1e-10  # relative to the derived tensor's largest entry


def _t(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


def _softmax_rows(S: np.ndarray, causal: bool) -> np.ndarray:
    if causal:
        S = np.where(np.tril(np.ones(S.shape[-2:], bool)), S, -np.inf)
    e = np.exp(S - S.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


Check = Callable[[Mapping[str, np.ndarray], int, bool], np.ndarray]  # (tensors, D, causal) -> value


@dataclass(frozen=True)
class Statement:
    """One line in LaTeX and text, and what it claims: tensor key (see ``_tensors``) = value."""

    tex: str
    text: str
    checks: tuple[tuple[str, Check], ...]


def _over_batch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ_n aₙᵀ·bₙ: a weight's gradient summed over the samples of the batch."""
    return np.einsum("nte,ntd->ed", a, b)


def _projection(w: str) -> Check:
    return lambda m, D, c: m["X"] @ m[w].T


def _masked(key: str) -> Check:
    """The tensor with its entries s > t set to 0: equal to it where the causal mask holds."""
    return lambda m, D, c: np.where(np.tril(np.ones(m[key].shape[-2:], bool)), m[key], 0.0)


def _weight(g: str) -> Check:
    return lambda m, D, c: _over_batch(m[g], m["X"])


STATEMENTS = (
    Statement(r"Q = X W_q^{\top},\quad K = X W_k^{\top},\quad V = X W_v^{\top}",
              "Q = X·Wqᵀ, K = X·Wkᵀ, V = X·Wvᵀ",
              (("Q", _projection("Wq")), ("K", _projection("Wk")), ("V", _projection("Wv")))),
    Statement(r"S = \frac{Q K^{\top}}{\sqrt{D}}", "S = Q·Kᵀ/√D",
              (("S", lambda m, D, c: m["Q"] @ _t(m["K"]) / np.sqrt(D)),)),
    Statement(r"P = \operatorname{softmax}_{\text{row}}(S)", "P = softmax of each row of S",
              (("P", lambda m, D, c: _softmax_rows(m["S"], c)),)),
    Statement(r"O = P V,\quad Y = O W_o^{\top}", "O = P·V, Y = O·Woᵀ",
              (("O", lambda m, D, c: m["P"] @ m["V"]), ("Y", lambda m, D, c: m["O"] @ m["Wo"].T))),
    Statement(r"\bar{O} = \bar{Y} W_o,\quad \bar{W}_o = \sum_n \bar{Y}^{\top} O",
              "grad_O = grad_Y·Wo, grad_Wo = Σ_n grad_Yᵀ·O",
              (("dO", lambda m, D, c: m["dY"] @ m["Wo"]),
               ("dWo", lambda m, D, c: _over_batch(m["dY"], m["O"])))),
    Statement(r"\bar{V} = P^{\top} \bar{O},\quad \bar{P} = \bar{O} V^{\top}",
              "grad_V = Pᵀ·grad_O, grad_P = grad_O·Vᵀ",
              (("dV", lambda m, D, c: _t(m["P"]) @ m["dO"]), ("dP", lambda m, D, c: m["dO"] @ _t(m["V"])))),
    Statement(r"\bar{S} = P \odot \left(\bar{P} - \operatorname{rowsum}(\bar{P} \odot P)\,"
              r"\mathbf{1}^{\top}\right)",
              "grad_S = P ⊙ (grad_P − rowsum(grad_P ⊙ P)), the softmax Jacobian of each row",
              (("dS", lambda m, D, c: m["P"] * (m["dP"] - np.sum(m["dP"] * m["P"], -1, keepdims=True))),)),
    Statement(r"\bar{Q} = \frac{\bar{S} K}{\sqrt{D}},\quad \bar{K} = \frac{\bar{S}^{\top} Q}{\sqrt{D}}",
              "grad_Q = grad_S·K/√D, grad_K = grad_Sᵀ·Q/√D",
              (("dQ", lambda m, D, c: m["dS"] @ m["K"] / np.sqrt(D)),
               ("dK", lambda m, D, c: _t(m["dS"]) @ m["Q"] / np.sqrt(D)))),
    Statement(r"\bar{W}_q = \sum_n \bar{Q}^{\top} X,\quad \bar{W}_k = \sum_n \bar{K}^{\top} X,\quad "
              r"\bar{W}_v = \sum_n \bar{V}^{\top} X",
              "grad_Wq = Σ_n grad_Qᵀ·X, grad_Wk = Σ_n grad_Kᵀ·X, grad_Wv = Σ_n grad_Vᵀ·X",
              (("dWq", _weight("dQ")), ("dWk", _weight("dK")), ("dWv", _weight("dV")))),
)
CAUSAL = Statement(r"P_{ts} = 0,\ \bar{S}_{ts} = 0 \text{ for } s > t \text{ (causal mask)}",
                   "causal mask: P_ts = 0 and grad_S_ts = 0 for key s > query t",
                   (("P", _masked("P")), ("dS", _masked("dS"))))


def _tensors(graph: Graph, l: int) -> dict[str, str]:
    """The names of layer l's tensors and their gradients, as the engine derives them."""
    q = next(c for c in graph.computes if c.name == naming.compute("attention", l, "q"))
    x = next(read_name(r) for r in reads(q.terms[0].body) if read_name(r) != naming.param("Wq", l))
    parts = {"X": x, "Q": "q", "K": "k", "V": "v", "S": "scores", "P": "p", "O": "mix", "Y": "y"}
    out = {k: v if k == "X" else naming.compute("attention", l, v) for k, v in parts.items()}
    out |= {f"d{k}": naming.grad(out[k]) for k in parts if k != "X"}
    out |= {w: naming.param(w, l) for w in ("Wq", "Wk", "Wv", "Wo")}
    out |= {f"d{w}": naming.grad(naming.param(w, l)) for w in ("Wq", "Wk", "Wv", "Wo")}
    return out


def _values(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    """Every input and parameter at random (0/1 dropout masks), scaled as initialisers do."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in {**graph.inputs, **graph.params}.items():
        fan_in = int(np.prod(shape[1:])) if name in graph.params and len(shape) > 1 else 1
        mask = name.startswith("mask")
        out[name] = (rng.random(shape) < 0.5) * 1.0 if mask else rng.standard_normal(shape) / np.sqrt(fan_in)
    return out


def recognise(spec: GraphSpec, layer: int, causal: bool, env: Mapping[str, np.ndarray],
              graph: Graph) -> list[Statement]:
    """The layer's statements, each checked against the derived tensors (env: a numeric run);
    a statement the derivation does not give is an error."""
    m = {k: env[v] for k, v in _tensors(graph, layer).items()}
    D = m["X"].shape[-1]
    statements = [*STATEMENTS, CAUSAL] if causal else list(STATEMENTS)
    for s in statements:
        for key, value in s.checks:
            mine, derived = value(m, D, causal), m[key]
            scale = max(float(np.max(np.abs(derived))), 1e-300)
            if not float(np.max(np.abs(mine - derived))) <= AGREE * scale:
                raise DerivationError(f"{spec.name}: attention layer {layer}: the derived pass does not "
                                      f"give {s.text}")
    return statements


def sections(spec: GraphSpec, tex: bool) -> list[dict]:
    """One section per attention layer: its matrix forms, each recognised in the derivation."""
    layers = [(l, d.get("causal", False)) for l, d in enumerate(spec.layers, start=1)
              if d["type"] == "attention"]
    if not layers:
        return []
    graph = spec.graph(2)
    b = backward(graph, list(graph.params))
    env = numeric.run(graph.computes + b.computes, _values(graph, 0))
    out = []
    for l, causal in layers:
        statements = recognise(spec, l, causal, env, graph)
        parts = ("q", "k", "v", "scores", "p", "mix", "y")
        names = ", ".join(naming.compute("attention", l, p) for p in parts)
        D = graph.params[naming.param("Wq", l)][0]
        notes = [f"Per sample, Q, K, V, S, P, O, Y are {names} above (S and P are T x T, the others "
                 f"T x D); a bar ({naming.GRAD} in text) is dJ/d of it; D = {D} is the feature size. "
                 f"Each line equals the derived backward pass, checked on a random batch."]
        out.append({"title": f"Attention layer {l} at matrix level", "notes": notes,
                    "equations": [s.tex if tex else s.text for s in statements]})
    return out
