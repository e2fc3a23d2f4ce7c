"""Checking a hand-written gradient function of a graph spec, and naming the slip.

``fn(params, X, Y) -> (loss, grads)`` with the kernel's parameter names and shapes is called on
random parameters and data; its loss and gradients are compared with the derived backward pass
(run by ``numeric``) and with central differences of its own loss. Where they differ, each known
slip (``SLIPS``: the derivation with one mistake made on purpose, as people make it) gives its
gradients on the same data; a slip that reproduces the function's loss and every gradient it
gets wrong is named. Sequence specs take the same convention (X: (B, T) token ids or (B, T, D),
Y: (B, T, K)); their slips are those of backpropagation through time (``bptt_slips``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import sympy as sp

from symbp.check.function import FunctionError, FunctionReport, ParamResult, _compare, _real
from symbp.core.errors import SymbpError

from ..backprop.graph import backward
from ..codegen import numeric
from ..core import naming
from ..core.graph_spec import GraphSpec
from ..core.ir import Compute, Graph
from .bptt_slips import BACKWARD_SLIPS, BackwardSlip, Mutation

Values = dict[str, np.ndarray]


def _derive(graph: Graph, values: Values, mutate: Mutation | None = None):
    """(J, gradients) of the graph's derived backward pass, its computes through ``mutate``."""
    b = backward(graph, list(graph.params))
    computes = mutate(b.computes) if mutate else b.computes
    env = numeric.run(graph.computes + computes, {**values, "X": values["X"].astype(np.float64)})
    return float(env[graph.output]), {p: env[g] for p, g in b.grads.items()}


def _variant(spec: GraphSpec, kind: str, **fields) -> GraphSpec:
    """The spec with ``fields`` added to every layer of type ``kind`` (a slip's forward pass)."""
    return replace(spec, layers=tuple(dict(d, **fields) if d["type"] == kind else d for d in spec.layers))


def _attention_layers(spec: GraphSpec) -> list[int]:
    return [l for l, d in enumerate(spec.layers, start=1) if d["type"] == "attention"]


def _unscaled_everywhere(spec: GraphSpec, batch: int, values: Values):
    """Attention without 1/√D in the forward pass, differentiated correctly."""
    return _derive(_variant(spec, "attention", scaled=False).graph(batch), values)


def _unscaled_backward(spec: GraphSpec, batch: int, values: Values):
    """The true forward pass, but dQ = dS·K and dK = dSᵀ·Q: the 1/√D left out of the gradient
    that flows from the scores to the queries and keys."""
    graph = spec.graph(batch)
    targets = {naming.grad(naming.compute("attention", l, p)): graph.params[naming.param("Wq", l)][0]  # D
               for l in _attention_layers(spec) for p in "qk"}

    def unscale(c: Compute) -> Compute:
        if c.name not in targets:
            return c
        terms = tuple(replace(t, body=t.body * sp.sqrt(targets[c.name])) for t in c.terms)
        return replace(c, terms=terms)

    return _derive(graph, values, lambda computes: [unscale(c) for c in computes])


def _has(*kinds: str) -> Callable[[GraphSpec], bool]:
    return lambda spec: any(d["type"] in kinds for d in spec.layers)


def _mutated(slip: BackwardSlip):
    """A slip's gradients: the true forward pass, the backward pass through its mutation."""
    def gradients(spec: GraphSpec, batch: int, values: Values):
        graph = spec.graph(batch)
        return _derive(graph, values, slip.mutation(spec.layers, list(graph.params)))
    return gradients


def _reset(where: str):
    """A GRU slip's gradients: the reset gate placed as ``RESETS[where]``, differentiated correctly."""
    return lambda spec, batch, values: _derive(_variant(spec, "gru", reset=where).graph(batch), values)


@dataclass(frozen=True)
class Slip:
    """A mistake people make: its name, where it can occur, and the gradients it gives."""

    name: str
    applies: Callable[[GraphSpec], bool]
    gradients: Callable[[GraphSpec, int, Values], tuple[float, Values]]


SLIPS: tuple[Slip, ...] = (
    *(Slip(s.name, _has(*s.kinds), _mutated(s)) for s in BACKWARD_SLIPS),
    Slip("the GRU's reset gate applied to the wrong term: r ⊙ (W_hn h) + b_hn instead of "
         "r ⊙ (W_hn h + b_hn)", _has("gru"), _reset("outside")),
    Slip("the GRU's reset gate applied to h before the product: W_hn (r ⊙ h) + b_hn instead of "
         "r ⊙ (W_hn h + b_hn)", _has("gru"), _reset("before")),
    Slip("the 1/√d factor of attention dropped in the backward pass (dQ = dS·K and dK = dSᵀ·Q "
         "need the 1/√D of the scores)", lambda s: bool(_attention_layers(s)), _unscaled_backward),
    Slip("the 1/√d factor of attention dropped (the scores are Q·Kᵀ/√D, in the loss and in its "
         "gradient)", lambda s: bool(_attention_layers(s)), _unscaled_everywhere),
)


def random_values(spec: GraphSpec, batch: int, seed: int) -> Values:
    """Parameters scaled by 1/√fan-in, standard normal inputs and one-hot-ish targets."""
    graph = spec.graph(batch)
    if any(name.startswith("mask") for name in graph.inputs):
        raise FunctionError("verify takes graph specs without dropout (its masks are drawn inside "
                            "the function)")
    rng = np.random.default_rng(seed)
    out = {p: rng.standard_normal(s) / np.sqrt(max(1, int(np.prod(s[1:])))) for p, s in graph.params.items()}
    first = spec.layers[0]
    if first["type"] == "embedding":  # token ids (B, T)
        out["X"] = rng.integers(0, first["vocab"], graph.inputs["X"])
    else:
        out["X"] = rng.standard_normal(graph.inputs["X"])
    *rows, classes = graph.inputs["Y"]  # (B, K), or (B, T, K) for a sequence's steps
    out["Y"] = np.eye(classes)[rng.integers(0, classes, tuple(rows))] * 0.8 + 0.1 / classes
    return out


def _call(fn: Callable, params: Values, X: np.ndarray, Y: np.ndarray, when: str = "") -> tuple[float, dict]:
    """One call of the user's function; whatever it raises is a FunctionError (exit code 2)."""
    try:
        loss, grads = fn({k: v.copy() for k, v in params.items()}, X.copy(), Y.copy())
        return float(loss), dict(grads)
    except BaseException as exc:  # the user's code failed or returned something else
        text = " ".join(str(exc).split())[:300]
        raise FunctionError(f"calling the function (fn(params, X, Y) -> (loss, grads)){when} raised "
                            f"{type(exc).__name__}: {text}") from None


def _central_differences(fn, params: Values, X, Y, grads: dict, results: Sequence[ParamResult], seed: int):
    """⟨v, g⟩ against (J(p + hv) − J(p − hv))/2h of the function's own loss, per parameter."""
    rng = np.random.default_rng(seed + 11)
    for r in results:
        if r.problem:
            continue
        g = _real(grads[r.name])
        v = rng.standard_normal(g.shape)
        v /= max(float(np.linalg.norm(v)), 1e-300)
        h = 1e-5
        when = f" at parameters shifted along {r.name} (central differences)"
        up, down = (_call(fn, {**params, r.name: params[r.name] + step * v.reshape(params[r.name].shape)},
                          X, Y, when)[0] for step in (h, -h))
        noise = 1e3 * np.finfo(float).eps * max(abs(up), abs(down)) / h
        slope = (up - down) / (2 * h)
        r.fd_rel_err = abs(slope - float(np.sum(v * g))) / (float(np.linalg.norm(g)) + noise + 1e-300)


def _reproduces(slip: Slip, spec: GraphSpec, values: Values, loss: float, grads: dict,
                report: FunctionReport, tol: float) -> bool:
    """The slip's loss is the function's, and so is its gradient of every wrong parameter
    (a slip made in some of the parameters' gradients only is still that slip)."""
    try:
        slip_loss, slip_grads = slip.gradients(spec, len(values["X"]), values)
    except SymbpError:
        return False
    if abs(loss - slip_loss) > tol * max(abs(slip_loss), 1e-300):
        return False
    return all(_compare(name, grads.get(name), slip_grads[name]).ok(tol) for name in report.wrong)


def check_graph_function(spec: GraphSpec, fn: Callable, *, batch: int = 5, seed: int = 0,
                         tol: float = 1e-6) -> FunctionReport:
    """Compare ``fn``'s loss and gradients with the derived backward pass, and name the slip."""
    values = random_values(spec, batch, seed)
    params = {p: values[p] for p in spec.graph(batch).params}
    true_loss, true_grads = _derive(spec.graph(batch), values)
    loss, grads = _call(fn, params, values["X"], values["Y"])
    results = []
    for name, true in true_grads.items():
        if name not in grads:
            got = ", ".join(map(str, grads)) or "none"
            results.append(ParamResult(name, float("inf"), None, None, None, None,
                                       f"missing from the returned gradients (got {got})"))
            continue
        results.append(_compare(name, grads[name], true))
    _central_differences(fn, params, values["X"], values["Y"], grads, results, seed)
    report = FunctionReport("symbp", loss, true_loss, results, tol)
    if not report.ok:
        named = next((s.name for s in SLIPS if s.applies(spec)
                      and _reproduces(s, spec, values, loss, grads, report, tol)), None)
        report.diagnosis = named or "none of the known slips"
    return report
