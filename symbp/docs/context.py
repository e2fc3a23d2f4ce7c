"""The context the LaTeX and Markdown derivation templates share (``_derivation_body.j2``).

Both formats print the same LaTeX math (``texprint.tex``), so this is built once; the two
templates differ only in markup (headings, display math, tables, the figure).
"""

from __future__ import annotations

from ..backprop.plan import build_plan
from ..core import losses
from ..core.texprint import tex_name
from . import figure
from .example_section import example_tables
from .matrix_section import MatrixTex, softmax_ce_rows
from .neuron_section import NeuronTex
from .notation import NOTATIONS, DocNotation


def _layers(net, m: MatrixTex) -> list[tuple[str, str, str, str, str]]:
    """(layer, neurons, activation symbol, its name in the spec, bias) rows, numbered as the
    document's notation numbers them."""
    rows = [(f"{m.n.layer(0)} (input)", str(net.inputs), "", "", "")]
    for l, layer in enumerate(net.layers, start=1):
        bias = {"neuron": "one per neuron", "shared": "one shared by the layer",
                "none": "none"}[layer.bias]
        if layer.bias != "none" and not layer.train_bias:
            bias += ", not trained"
        rows.append((m.n.layer(l), str(layer.size), m.act_tex(l), layer.activation, bias))
    return rows


def _regularization(net) -> str:
    """The regulariser in words (plain ASCII text; the formula is in the matrix section)."""
    reg = net.regularization
    if reg.strength == 0:
        return ""
    factor = {"lambda_over_2m": "lambda/(2m)", "half": "lambda/2", "plain": "lambda"}[reg.convention]
    return (f"L2 on the weights, {factor} times the sum of their squares, lambda = "
            f"{reg.strength:g}; biases are not regularised")


def softmax_ce_applies(d) -> bool:
    """The softmax + cross-entropy section applies to a network with a softmax output or a
    cross-entropy loss, unless its own δ^L section is already that derivation."""
    softmax_out = d.layers[-1].expr is None
    own_case = softmax_out and d.loss.targets_sum_to_one
    cross_entropy = d.loss.term == losses.REGISTRY["ce"].term
    return (softmax_out or cross_entropy) and not own_case


def matrix_context(m: MatrixTex) -> dict:
    d = m.d
    return {
        "symbols": m.symbols(), "forward": m.forward(), "sample_loss": m.sample_loss(),
        "total_loss": m.total_loss(), "activations": m.activation_rows(),
        "delta_out": m.delta_out(), "delta_out_vector": m.delta_out_vector(),
        "delta_out_final": m.delta_out_final(),
        "softmax_out": d.layers[-1].expr is None,
        "recurrence_general": m.recurrence_general(), "recurrence": m.recurrence(),
        "gradients_general": m.gradients_general(), "gradients": m.gradients(),
        "batch": m.batch_rows(), "mean": d.batch_factor != 1, "regularized": d.reg_coeff != 0,
        "algorithm": m.algorithm(),
        "softmax_ce": softmax_ce_rows(n=m.n) if softmax_ce_applies(d) else None,
        "depth": m.L,
    }


def notation_context(n: DocNotation, m: MatrixTex) -> dict:
    """The symbols the templates' sentences name, in the document's notation."""
    return {
        "lead": n.lead, "input_layer": n.layer(0), "vectors": n.vectors, "loss": n.loss,
        "affine": f"{n.z('l')} = {m.affine('l')} + {n.b('l')}", "a_l": n.a("l"), "z_l": n.z("l"),
        "delta_l": n.delta("l"), "delta_L": n.delta("L"), "W_l": n.W("l"), "b_l": n.b("l"),
        "w_lij": n.w("l", "i", "j"), "grad_W": n.grad_inline(n.W("l")), "grad_b": n.grad_inline(n.b("l")),
        "aL_i": n.a("L") + "_{i}", "aL_k": n.a("L") + "_{k}", "zL_i": n.z("L") + "_{i}",
        "zL_k": n.z("L") + "_{k}",
    }


def neuron_context(t: NeuronTex, lr: float | None, n: DocNotation) -> dict:
    order = sorted(t.n.gradients, key=lambda g: -g.layer)  # output layer first, as seed 000
    return {
        "loss": t.loss, "names": t.names_table(n), "forward": t.forward(),
        "loss_rows": t.loss_rows(), "deltas": t.deltas(),
        "gradients": [t.gradient(g, lr) for g in order],
        "frozen": [tex_name(b) for b in t.frozen_names()],
        "numbers": t.ex is not None,
    }


def document_context(doc, *, picture: bool) -> dict:
    """Everything the body template places; ``doc`` is a ``document.Derivation``."""
    net = doc.network
    notation = NOTATIONS[doc.notation]
    m = MatrixTex(doc.plan or build_plan(doc.matrix), notation)
    t = NeuronTex(doc.neuron, doc.example) if doc.neuron is not None else None
    lay = figure.layout(net, doc.neuron.names if doc.neuron is not None else None)
    ex = doc.example
    return {
        "name": net.name, "description": net.description,
        "sizes": "-".join(map(str, net.sizes)), "layers": _layers(net, m),
        "loss_name": net.loss, "reduction": net.reduction,
        "regularization": _regularization(net),
        "figure": figure.picture_context(lay) if picture else None,
        "figure_caption": figure.caption(lay),
        "show_matrix": doc.level != "neuron",
        "matrix": matrix_context(m) if doc.level != "neuron" else None,
        "neuron": neuron_context(t, ex.learning_rate if ex else None, notation) if t is not None else None,
        "notation": notation_context(notation, m),
        "note": doc.note,
        "example": example_tables(t, ex) if t is not None and ex is not None else None,
    }
