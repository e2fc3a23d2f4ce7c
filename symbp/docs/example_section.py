"""The worked example's tables, as seed 000 lays them out: values, forward pass, loss, δ,
gradients, updated parameters, and the loss after N training steps.

Each row holds the quantity's name, the formula it was computed from and its value; LaTeX for
the LaTeX and Markdown documents, plain names for the text one. Values are rounded to 9 decimals
from 30-digit arithmetic (``texprint.number``), so a value seed 000 truncated (a_o1 = 0.751365069)
prints correctly rounded (0.751365070).
"""

from __future__ import annotations

import sympy as sp

from ..core.texprint import number, partial, tex_name
from .example import ExampleNumbers
from .neuron_section import NeuronTex


def given_names(t: NeuronTex) -> list[str]:
    """Inputs, weights, biases and targets, in the order of the spec."""
    n = t.n.names
    out = list(n.inputs)
    for l in range(len(n.weights)):
        out += [w for row in n.weights[l] for w in row] + list(n.biases[l])
    return out + list(n.targets)


def example_tables(t: NeuronTex, ex: ExampleNumbers) -> dict:
    """Rows for every table: math cells are LaTeX (the templates add the $…$), values are
    printed numbers."""
    n, names = t.n, t.n.names
    given = [(tex_name(k), number(ex.quantities[k])) for k in given_names(t)]
    forward = []
    for l in range(1, n.network.depth + 1):
        entry = n.network.activation(l)
        for i, z in enumerate(names.pre_activations[l - 1]):
            forward.append((tex_name(z), t.weighted_sum(l, i)[0], number(ex.quantities[z])))
        for i, a in enumerate(names.activations[l - 1]):
            z = tex_name(names.pre_activations[l - 1][i])
            formula = t.sym(n.definitions[a]) if entry.vector else rf"{entry.latex}\left({z}\right)"
            forward.append((tex_name(a), formula, number(ex.quantities[a])))
    loss = names.loss
    forward.append((t.loss, t.sym(n.definitions[loss]), number(ex.quantities[loss])))
    deltas = []
    for l in range(n.network.depth, 0, -1):
        for i, z in enumerate(names.pre_activations[l - 1]):
            deltas.append((t.delta_tex[z], t.sym(t.delta_parts(l, i)[1]), number(ex.deltas[z])))
    order = sorted(n.gradients, key=lambda g: -g.layer)  # output layer first, as the seed
    gradients = [(t.dloss(g.param), t.delta_form(g), number(ex.gradients[g.param]))
                 for g in order]
    updates = [(tex_name(g.param), number(ex.quantities[g.param]),
                number(ex.gradients[g.param]), number(ex.updates[g.param])) for g in order]
    training = [(str(r.step), number(r.loss), ", ".join(number(v) for v in r.outputs))
                for r in ex.training]
    return {
        "given": given, "forward": forward, "deltas": deltas, "gradients": gradients,
        "updates": updates, "training": training, "steps": ex.steps,
        "eta": number(sp.Float(repr(ex.learning_rate), 30)), "loss": t.loss,
        "outputs": ", ".join(tex_name(a) for a in names.activations[-1]),
        "targets": ", ".join(number(ex.quantities[k]) for k in names.targets),
        "update_rule": rf"p^{{+}} = p - \eta {partial(t.loss, 'p')}",
        "last": ex.training[-1] if ex.training else None,
        "note": regularizer_note(ex),
    }


def regularizer_note(ex: ExampleNumbers) -> str:
    """The one step is the neuron level's (one sample's loss, no regulariser); the training
    runs the kernel's J. Say so when the two differ."""
    if ex.network.regularization.strength == 0:
        return ""
    return ("The one-step numbers differentiate one sample's loss without the L2 term; the "
            "training steps use the kernel's loss J, which includes it.")
