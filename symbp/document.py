"""Derivation documents for people: the context the text template renders.

The matrix level always; the neuron level (every ∂E/∂w as its chain-rule products) when the
network is small enough to list its weights one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from . import losses
from .derive import MatrixDerivation, derive
from .emit import environment, header_info
from .errors import DerivationError
from .neuron import NeuronDerivation, derive_neurons
from .plan import build_plan
from .spec import REG_CONVENTIONS, Network

LEVELS = ("matrix", "neuron", "both")
NEURON_LIMIT = 200  # parameters; above this the neuron level is replaced by the matrix level


@dataclass(frozen=True)
class Derivation:
    """A derivation of one network at the requested level; ``text()`` renders it."""

    network: Network
    matrix: MatrixDerivation
    neuron: NeuronDerivation | None
    command: str
    level: str = "both"

    def text(self) -> str:
        template = environment().get_template("derivation.txt.j2")
        return template.render(_context(self, "derivation.txt.j2"))

    def __str__(self) -> str:
        return self.text()


def derivation(net: Network, level: str = "both", command: str | None = None) -> Derivation:
    """Derive ``net`` at ``level`` (matrix, neuron or both)."""
    if level not in LEVELS:
        raise DerivationError(f"--level must be one of {', '.join(LEVELS)}, got {level!r}")
    neuron = None
    if level in ("neuron", "both"):
        if net.n_params() > NEURON_LIMIT:
            if level == "neuron":
                raise DerivationError(
                    f"{net.name} has {net.n_params()} parameters; the neuron level lists every "
                    f"weight and is limited to {NEURON_LIMIT}: use --level matrix")
        else:
            neuron = derive_neurons(net)
    command = command or f"symbp derive {net.name} --format text --level {level}"
    return Derivation(net, derive(net), neuron, command, level)


def _show(expr: sp.Expr) -> str:
    return sp.sstr(expr).replace("**", "^")


def _context(doc: Derivation, template: str) -> dict:
    d, net = doc.matrix, doc.network
    plan = build_plan(d)
    reg = ""
    if d.reg_coeff != 0:
        conv = REG_CONVENTIONS[net.regularization.convention]
        reg = f"{conv}·ΣW² with strength {net.regularization.strength:g} (biases excluded)"
    rows = []
    for m in d.layers:
        if m.expr is None:
            rows.append({"name": "softmax", "expr": "exp(x_i)/Σ_k exp(x_k)",
                         "derivative": "∂a_k/∂z_i = a_k(δ_ki − a_i)"})
        elif m.activation not in {r["name"] for r in rows}:
            var = "a" if m.derivative.variable == "a" else "z"
            rows.append({"name": m.activation, "expr": _show(m.expr),
                         "derivative": _show(m.derivative.expr.subs(losses.x, sp.Symbol("z")))
                         + ("" if var == "z" else "  (in terms of a = g(z))")})
    steps = list(plan.forward) + list(plan.loss) + list(plan.backward)
    out = d.output
    neuron = None
    if doc.neuron is not None:
        neuron = {"loss": doc.neuron.names.loss, "gradients": [
            {"param": g.param,
             "chain": " + ".join(" · ".join(f"∂{f.num}/∂{f.den}" for f in p) for p in g.paths),
             "expr": _show(g.simplified)} for g in doc.neuron.gradients]}
    return {
        "info": header_info(net, template, doc.command),
        "sizes": net.sizes, "activations": [m.activation for m in d.layers],
        "loss_name": net.loss, "reduction": net.reduction, "reg": reg,
        "reg_coeff": _show(d.reg_coeff), "batch_factor": _show(d.batch_factor),
        "loss_text": "Σ_k " + _show(d.loss.term.subs(losses.N_OUT, net.layers[-1].size)),
        "activation_rows": rows, "dJ_da": _show(out.dJ_da),
        "gprime_out": _show(out.activation_derivative) if out.activation_derivative is not None else "",
        "delta_out": _show(out.expr), "rowsum": _show(out.rowsum) if out.rowsum is not None else "",
        "algorithm": list(enumerate((s.math for s in steps), start=1)),
        "neuron": neuron, "matrix": doc.level != "neuron",
    }
