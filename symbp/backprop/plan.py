"""The intermediate form: ordered assignments for forward, loss and backward, with shapes.

A ``Step`` is plain data (target array, kind, layer, elementwise sympy formula where there is
one). ``numpy_lines`` prints steps as NumPy statements; the proof tests run the same steps on
sympy matrices, so the code that ships is the code that is proven.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..core import losses, naming, textprint
from ..core.printing import numpy_code
from ..core.textprint import superscript as _sup
from .matrix import B, MatrixDerivation

a, y, x = losses.a, losses.y, losses.x

# Every kind of step a plan holds. Each interpreter of plans (the printers here, the kernel, the
# unrolled kernel, the proof, the documents) maps all of them in one dict keyed by kind, which
# tests/test_step_dispatch.py holds to this tuple.
STEP_KINDS = ("affine", "activate", "loss", "delta_out", "delta_hidden", "grad_W", "grad_b")


@dataclass(frozen=True)
class Step:
    """``target = <kind>(layer, formula)``; ``math`` is the same statement for people."""

    target: str
    kind: str
    layer: int
    math: str
    formula: sp.Expr | None = None  # elementwise, in a / y / x / s / log_a
    rowsum: sp.Expr | None = None  # s = Σ_k rowsum(a_k, y_k), for softmax δ^L
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in STEP_KINDS:  # a new kind is declared first, then given to every interpreter
            raise ValueError(f"step kind {self.kind!r} is not one of STEP_KINDS")


@dataclass(frozen=True)
class Plan:
    derivation: MatrixDerivation
    forward: tuple[Step, ...]
    loss: tuple[Step, ...]
    backward: tuple[Step, ...]


def _math(expr: sp.Expr, l: int) -> str:
    """An elementwise formula in the layer's own symbols (a → a², x → z²), for comments."""
    names = {a: f"a{_sup(l)}", x: f"z{_sup(l)}", losses.LOG_A: f"log a{_sup(l)}"}
    return textprint.text(expr, names, frozenset({losses.LOG_A}))


def build_plan(d: MatrixDerivation) -> Plan:
    """Order the derivation into forward, loss and backward steps."""
    L = d.network.depth
    fwd: list[Step] = []
    for m in d.layers:
        l = m.index
        bias = f" + b{_sup(l)}" if m.bias != "none" else ""
        fwd.append(Step(naming.Z(l), "affine", l, f"z{_sup(l)} = W{_sup(l)} a{_sup(l - 1)}{bias}"))
        fwd.append(Step(naming.A(l), "activate", l, f"a{_sup(l)} = {m.activation}(z{_sup(l)})"))
    reg = f" + {_math(d.reg_coeff, L)}·Σ_l ΣW^l²" if d.reg_coeff != 0 else ""
    r = "" if d.batch_factor == 1 else "(1/B)·"
    loss_steps = [Step("J", "loss", L, f"J = {r}Σ {_math(d.loss_term, L)}{reg}", formula=d.loss_term)]
    back: list[Step] = []
    out = d.output
    back.append(Step(naming.delta(L), "delta_out", L,
                     f"δ{_sup(L)} = ∂J/∂z{_sup(L)} = {_math(out.expr * d.batch_factor, L)}"
                     + (f", s = Σ_k {_math(out.rowsum, L)}" if out.rowsum is not None else ""),
                     formula=out.expr * d.batch_factor, rowsum=out.rowsum))
    for l in range(L, 0, -1):
        m = d.layers[l - 1]
        reg = f" + {_math(d.reg_grad_coeff, l)}·W{_sup(l)}" if d.reg_coeff != 0 else ""
        back.append(Step(naming.dW(l), "grad_W", l,
                         f"∂J/∂W{_sup(l)} = δ{_sup(l)} (a{_sup(l - 1)})ᵀ{reg}"))
        if m.bias != "none" and m.train_bias:
            sums = "Σ over rows and neurons" if m.bias == "shared" else "Σ over rows"
            back.append(Step(naming.db(l), "grad_b", l, f"∂J/∂b{_sup(l)} = {sums} of δ{_sup(l)}"))
        if l > 1:
            below = d.layers[l - 2]
            back.append(Step(naming.delta(l - 1), "delta_hidden", l - 1,
                             f"δ{_sup(l - 1)} = (W{_sup(l)})ᵀ δ{_sup(l)} ⊙ g'(z{_sup(l - 1)}), "
                             f"g'(z{_sup(l - 1)}) = {_math(below.derivative.expr, l - 1)}",
                             formula=below.derivative.expr))
    return Plan(d, tuple(fwd), tuple(loss_steps), tuple(back))


def _array_symbols(l: int) -> dict[sp.Symbol, str]:
    return {a: naming.A(l), x: naming.Z(l), y: "Y", losses.S: "s", losses.LOG_A: f"logA{l}",
            B: "B"}


def _affine(step: Step, d: MatrixDerivation) -> list[str]:
    l = step.layer
    w = naming.W(l) + (".T" if d.network.weight_layout == "out_in" else "")
    bias = f" + {naming.b(l)}" if d.layers[l - 1].bias != "none" else ""
    return [f"{step.target} = {naming.A(l - 1)} @ {w}{bias}"]


def _activate(step: Step, d: MatrixDerivation) -> list[str]:
    m = d.layers[step.layer - 1]
    if m.expr is None:
        if d.loss_term_reads == "log_a":
            log_a = f"logA{step.layer}"
            return [f"{log_a} = log_softmax({naming.Z(step.layer)})",
                    f"{step.target} = np.exp({log_a})"]
        return [f"{step.target} = softmax({naming.Z(step.layer)})"]
    args = naming.Z(step.layer) + (f", {m.alpha!r}" if m.alpha is not None else "")
    return [f"{step.target} = {m.activation}({args})"]


def _loss(step: Step, d: MatrixDerivation) -> list[str]:
    L = d.network.depth
    term = numpy_code(step.formula, _array_symbols(L))
    scale = "" if d.batch_factor == 1 else " / B"
    lines = [f"J = np.sum({term}){scale}"]
    if d.reg_coeff != 0:
        squares = " + ".join(f"np.sum({naming.W(l)}*{naming.W(l)})" for l in range(1, L + 1))
        lines.append(f"J = J + {numpy_code(d.reg_coeff, {B: 'B'})} * ({squares})")
    return lines


def _delta_out(step: Step, d: MatrixDerivation) -> list[str]:
    names = _array_symbols(step.layer)
    lines = []
    if step.rowsum is not None:
        lines.append(f"s = np.sum({numpy_code(step.rowsum, names)}, axis=1, keepdims=True)")
    return lines + [f"{step.target} = {numpy_code(step.formula, names)}"]


def _grad_w(step: Step, d: MatrixDerivation) -> list[str]:
    l = step.layer
    if d.network.weight_layout == "out_in":
        product = f"{naming.delta(l)}.T @ {naming.A(l - 1)}"
    else:
        product = f"{naming.A(l - 1)}.T @ {naming.delta(l)}"
    reg = ""
    if d.reg_coeff != 0:
        reg = f" + {numpy_code(d.reg_grad_coeff * sp.Symbol(naming.W(l)), {B: 'B'})}"
    return [f"{step.target} = {product}{reg}"]


def _grad_b(step: Step, d: MatrixDerivation) -> list[str]:
    l = step.layer
    if d.layers[l - 1].bias == "shared":
        return [f"{step.target} = np.asarray({naming.delta(l)}.sum())"]
    return [f"{step.target} = {naming.delta(l)}.sum(axis=0)"]


def _delta_hidden(step: Step, d: MatrixDerivation) -> list[str]:
    l = step.layer
    w = naming.W(l + 1) + ("" if d.network.weight_layout == "out_in" else ".T")
    back = f"{naming.delta(l + 1)} @ {w}"
    if step.formula == 1:
        return [f"{step.target} = {back}"]
    gprime = numpy_code(step.formula, _array_symbols(l))
    return [f"{step.target} = ({back}) * ({gprime})"]


PRINTERS = {"affine": _affine, "activate": _activate, "loss": _loss, "delta_out": _delta_out,
            "grad_W": _grad_w, "grad_b": _grad_b, "delta_hidden": _delta_hidden}


def numpy_lines(steps: tuple[Step, ...], d: MatrixDerivation) -> list[tuple[str, list[str]]]:
    """(comment, statements) for each step, in order."""
    return [(step.math, PRINTERS[step.kind](step, d)) for step in steps]
