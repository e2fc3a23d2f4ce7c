"""The plain-text derivation's context (``derivation.txt.j2`` and ``example.txt.j2``).

Unicode math (δ², ∂J/∂W²) and ``textprint`` for formulas: readable in a terminal and in a
code comment, with the same structure as the LaTeX and Markdown documents.
"""

from __future__ import annotations

import sympy as sp

from ..backprop.plan import build_plan
from ..core import losses, textprint
from ..core.naming import neuron_names
from ..core.spec import REG_CONVENTIONS
from ..core.texprint import number
from .example import ExampleNumbers
from .example_section import regularizer_note
from .neuron_section import delta_suffixes


def show(expr: sp.Expr) -> str:
    """A formula as people write it (``textprint``)."""
    return textprint.text(expr, functional=frozenset({losses.LOG_A}))


def activation_rows(d) -> list[dict]:
    rows, seen = [], set()
    for m in d.layers:
        if m.activation in seen:
            continue
        seen.add(m.activation)
        if m.expr is None:
            rows.append({"name": "softmax", "expr": "exp(x_i)/Σ_k exp(x_k)",
                         "derivative": "∂a_k/∂z_i = a_k(δ_ki − a_i)"})
            continue
        in_a = m.derivative.variable == "a"
        rows.append({"name": m.activation, "expr": show(m.expr),
                     "derivative": show(m.derivative.expr.subs(losses.x, sp.Symbol("z")))
                     + ("  (in terms of a = g(z))" if in_a else "")})
    return rows


def example_rows(ex: ExampleNumbers) -> dict:
    """The worked example as (name, value) rows per table, in plain names."""
    names_ = neuron_names(ex.network)
    loss = names_.loss
    plain = delta_suffixes([z for layer in names_.pre_activations for z in layer])
    names = [k for k in ex.values]
    forward = [k for k in ex.quantities if k not in ex.values]
    eta = number(sp.Float(repr(ex.learning_rate), 30))
    return {
        "given": [(k, number(ex.quantities[k])) for k in names],
        "forward": [(k, number(ex.quantities[k])) for k in forward],
        "deltas": [(f"δ_{plain[z]}", number(ex.deltas[z]))
                   for layer in reversed(names_.pre_activations) for z in layer],
        "gradients": [(f"∂{loss}/∂{p}", number(v)) for p, v in ex.gradients.items()],
        "updates": [(p, number(ex.quantities[p]), number(v)) for p, v in ex.updates.items()],
        "training": [(r.step, number(r.loss), ", ".join(number(v) for v in r.outputs))
                     for r in ex.training],
        "eta": eta, "steps": ex.steps, "network": ex.network.name,
        "note": regularizer_note(ex),
    }


def text_context(doc) -> dict:
    """Everything ``derivation.txt.j2`` places; ``doc`` is a ``document.Derivation``."""
    d, net = doc.matrix, doc.network
    plan = doc.plan or build_plan(d)
    reg = ""
    if d.reg_coeff != 0:
        conv = REG_CONVENTIONS[net.regularization.convention]
        reg = f"{conv}·ΣW² with strength {net.regularization.strength:g} (biases excluded)"
    steps = list(plan.forward) + list(plan.loss) + list(plan.backward)
    out = d.output
    neuron = None
    if doc.neuron is not None:
        neuron = {"loss": doc.neuron.names.loss, "gradients": [
            {"param": g.param,
             "chain": " + ".join(" · ".join(f"∂{f.num}/∂{f.den}" for f in p) for p in g.paths),
             "expr": show(g.simplified)} for g in doc.neuron.gradients]}
    return {
        "sizes": net.sizes, "activations": [m.activation for m in d.layers],
        "loss_name": net.loss, "reduction": net.reduction, "reg": reg,
        "reg_coeff": show(d.reg_coeff), "batch_factor": show(d.batch_factor),
        "loss_text": "Σ_k " + show(d.loss.term.subs(losses.N_OUT, net.layers[-1].size)),
        "activation_rows": activation_rows(d), "dJ_da": show(out.dJ_da),
        "gprime_out": show(out.activation_derivative) if out.activation_derivative is not None else "",
        "delta_out": show(out.expr), "rowsum": show(out.rowsum) if out.rowsum is not None else "",
        "algorithm": list(enumerate((s.math for s in steps), start=1)),
        "neuron": neuron, "matrix": doc.level != "neuron", "note": doc.note,
        "example": example_rows(doc.example) if doc.example is not None else None,
    }
