"""``symbp example --optimizer NAME --steps N``: N steps of an optimiser at the worked example's
values, every number of every step (gradient, moments, bias corrections, updated parameter) at
30 digits, from the registry's rules evaluated one by one (seed 000's w⁺ table, per step)."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..backprop.numbers import DIGITS, evaluate
from ..core.naming import neuron_names
from ..core.optimizers import LATEX, LR, TEXT, WD, G, P, T, optimizer
from ..core.spec import Network
from ..core.texprint import number

MAX_STEPS = 100  # every number of every step is printed


@dataclass(frozen=True)
class OptimizerSteps:
    """The tables: one per step, a row per trained parameter, a column per rule."""

    name: str
    title: str
    lr: float
    hyper: list[tuple[str, str]]
    columns: list[tuple[str, str]]  # (plain name, LaTeX) per column
    steps: list[tuple[int, str, list[list[str]]]]  # (t, loss before the step, rows)

    def math_heads(self) -> list[str]:
        return [f"${tex}$" for _, tex in self.columns]


def _labels(shown) -> list[tuple[str, str]]:
    """Column names: the gradient, then each rule's target (p′ for an intermediate p, p⁺ last)."""
    out = [("∂E/∂p", r"\partial E/\partial p")]
    for i, (target, _, _) in enumerate(shown):
        plain, tex = TEXT.get(target.name, target.name), LATEX[target]
        if target == P:
            plain, tex = ("p⁺", "p^{+}") if i == len(shown) - 1 else ("p′", "p'")
        elif target == G:
            plain, tex = "g′", "g'"
        out.append((plain, tex))
    return out


def optimizer_steps(net: Network, values: dict[str, float], lr: float, steps: int,
                    name: str) -> OptimizerSteps:
    """Run ``steps`` steps of optimiser ``name`` from ``values`` (spec names), exactly."""
    from ..core.errors import SymbpError

    if not 1 <= steps <= MAX_STEPS:
        raise SymbpError(f"--steps: with --optimizer, between 1 and {MAX_STEPS}, got {steps}")
    opt = optimizer(name)
    names = neuron_names(net)
    weights = {w for layer in names.weights for row in layer for w in row}
    env = {s: sp.Float(v, DIGITS) for s, v in opt.values().items()}
    env[LR] = sp.Float(repr(float(lr)), DIGITS)
    # Without weight decay its rules are the identity: left out of the tables.
    decays = WD in env and not env[WD].is_zero
    shown = [r for r in opt.shown() if decays or WD not in r[1].free_symbols]
    current = dict(values)
    state: dict[str, dict[sp.Symbol, sp.Float]] = {}
    tables = []
    for t in range(1, steps + 1):
        rows = evaluate(net, current)
        grads = {q.name.split("/d", 1)[1]: q.value for q in rows if q.kind == "gradient"}
        loss = next(q.value for q in rows if q.kind == "loss")
        table = []
        for param, g in grads.items():
            local = {**env, T: sp.Integer(t), P: sp.Float(repr(float(current[param])), DIGITS), G: g}
            local.update(state.setdefault(param, {s: sp.Float(0) for s in opt.state}))
            if param not in weights:
                local[WD] = sp.Float(0)  # weight decay applies to weights only
            row = [number(g)]
            for target, expr, _ in shown:
                local[target] = sp.Float(expr.xreplace(local).evalf(DIGITS), DIGITS)
                row.append(number(local[target]))
            state[param] = {s: local[s] for s in opt.state}
            current[param] = float(local[P])
            table.append([param, *row])
        tables.append((t, number(loss), table))
    hyper = [(k, ", ".join(f"{x:g}" for x in v) if isinstance(v, tuple) else f"{v:g}")
             for k, v in opt.defaults().items()]
    return OptimizerSteps(opt.name, opt.title, lr, hyper, _labels(shown), tables)
