"""The neuron-level chain rules equal brute-force sympy.diff of the fully expanded loss.

For each small instantiation, every ∂E/∂p that `derive_neurons` writes as a sum over paths of
chain-rule products (in the named quantities a_h1, z_o1, …) is expanded into the free inputs,
targets and parameters and compared with `sympy.diff` of the expanded one-sample loss. For a
piecewise activation the proof runs region by region: on each open region every neuron is on
one branch, both sides are analytic there, and H(a, 0) in g' takes the branch's value.
"""

from __future__ import annotations

import itertools

import pytest
import sympy as sp

import symbp
from symbp.backprop.neuron import derive_neurons
from symbp.core import activations as act
from symbp.verify.proof import branch, is_zero

from .test_proof import ARCHES, ELEMENTWISE, PAIRS, SWISH


def _network(sizes, activations, loss) -> symbp.Network:
    layers = [{"size": s, "activation": a} for s, a in zip(sizes[1:], activations, strict=True)]
    data = {"inputs": sizes[0], "layers": layers, "loss": loss}
    if "swish" in activations:
        data["activations"] = SWISH
    return symbp.Network.from_dict(data)


def _cases():
    for k, sizes in enumerate(ARCHES):
        for p, (out_act, loss) in enumerate(PAIRS):
            if out_act == "softmax" and sizes[-1] < 2:
                continue
            if k > 0 and p % 3:  # every pair on 2-2-2; a third of them on the larger nets
                continue
            hidden = [ELEMENTWISE[(p + k + j) % len(ELEMENTWISE)] for j in range(len(sizes) - 2)]
            label = "-".join(map(str, sizes)) + f"-{'-'.join(hidden)}-{out_act}-{loss}"
            yield pytest.param(sizes, hidden + [out_act], loss, id=label)


def _piecewise(net, l: int) -> bool:
    g = net.activation_expr(l)
    return g is not None and g.has(sp.Piecewise)


def _expand(n, expr: sp.Expr, definitions: dict[str, sp.Expr]) -> sp.Expr:
    """Replace named quantities by their definitions, from the loss down to the inputs."""
    for name in reversed(list(definitions)):
        expr = expr.xreplace({n.symbols[name]: definitions[name]})
    return expr


def _regions(net, n):
    """Each assignment of a branch (+1: x > 0, −1: x < 0) to every piecewise neuron."""
    keys = [(l, i) for l in range(1, net.depth + 1) if _piecewise(net, l)
            for i in range(net.layers[l - 1].size)]
    for signs in itertools.product((1, -1), repeat=len(keys)):
        yield dict(zip(keys, signs, strict=True))


def _on_region(net, n, region):
    """Definitions with each piecewise activation replaced by its branch on the region, and
    the value of H(a, 0) for each piecewise neuron's output symbol."""
    defs = dict(n.definitions)
    heaviside = {}
    for (l, i), sign in region.items():
        a_name, z_name = n.names.activations[l - 1][i], n.names.pre_activations[l - 1][i]
        defs[a_name] = branch(net.activation_expr(l), sign).xreplace({act.x: n.symbols[z_name]})
        heaviside[n.symbols[a_name]] = 1 if sign > 0 else 0
    return defs, heaviside


@pytest.mark.parametrize(("sizes", "activations", "loss"), list(_cases()))
def test_neuron_level_gradients_equal_brute_force_diff(sizes, activations, loss):
    net = _network(sizes, activations, loss)
    n = derive_neurons(net)
    checked = 0
    for region in _regions(net, n):
        defs, h = _on_region(net, n, region)
        expanded_loss = _expand(n, n.symbols[n.names.loss], defs)
        for g in n.gradients:
            derived = g.expr.xreplace({H: sp.Integer(h[H.args[0]]) for H in g.expr.atoms(sp.Heaviside)
                                       if H.args[0] in h})
            brute = sp.diff(expanded_loss, n.symbols[g.param])
            assert is_zero(_expand(n, derived, defs) - brute), (g.param, region)
            checked += 1
    assert checked >= len(n.gradients)


def test_a_wrong_neuron_level_factor_is_caught():
    net = symbp.load_spec("mazur")
    n = derive_neurons(net)
    g = n.gradient("w1")
    a_h1 = n.symbols["a_h1"]
    wrong = g.expr.xreplace({a_h1: 2 * a_h1})  # a deliberately wrong σ' factor
    brute = sp.diff(_expand(n, n.symbols["E_total"], n.definitions), n.symbols["w1"])
    assert not is_zero(_expand(n, wrong, n.definitions) - brute)
    assert is_zero(_expand(n, g.expr, n.definitions) - brute)


def test_hidden_weight_sums_over_every_output_path():
    n = derive_neurons(symbp.load_spec("mazur"))
    paths = n.gradient("w1").paths
    assert len(paths) == 2
    assert [f.den for f in paths[0]] == ["a_o1", "z_o1", "a_h1", "z_h1", "w1"]
    assert [f.den for f in paths[1]] == ["a_o2", "z_o2", "a_h1", "z_h1", "w1"]
