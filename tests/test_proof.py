"""Symbolic proofs: the plan's backward pass equals sympy.diff of the fully expanded loss.

Every (output activation, loss) pair the validator accepts is proven on the instantiations
2-2-2, 2-3-2 and 3-2-2-1 (inputs, then layer sizes). Hidden layers cycle through the elementwise
activations, so each one also appears below another layer; the cases rotate through settings
that cover every bias mode (per neuron, shared, none, frozen), both reductions, both weight
layouts and the regularisation conventions.
"""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

import symbp
from symbp.backprop.matrix import B, derive
from symbp.backprop.plan import build_plan
from symbp.core import losses
from symbp.verify.proof import (
    ProofResult,
    brute_force,
    is_zero,
    prove,
    regions,
    run_plan_symbolic,
    symbolic_params,
)

ELEMENTWISE = ["sigmoid", "tanh", "relu", "leaky_relu", "identity", "softplus", "swish"]
SWISH = {"swish": {"formula": "x/(1+exp(-x))"}}
PAIRS = ([(act, loss) for loss in ("half_sse", "sse", "mse") for act in ELEMENTWISE + ["softmax"]]
         + [("sigmoid", "bce"), ("sigmoid", "ce"), ("softmax", "ce"), ("softmax", "softmax_ce")])
ARCHES = [(2, 2, 2), (2, 3, 2), (3, 2, 2, 1)]

# batch 2 with mean and λ/(2m)·ΣW² (B enters both); batch 1 with the other reductions,
# regularisation conventions, bias modes (shared, none, frozen) and the in_out layout.
SETTINGS = [
    {"batch": 2, "reduction": "mean", "regularization": {"convention": "lambda_over_2m", "strength": 1},
     "hidden_bias": ("neuron", True), "output_bias": ("neuron", True), "weight_layout": "out_in"},
    {"batch": 1, "reduction": "sum", "regularization": {"convention": "half", "strength": 0.5},
     "hidden_bias": ("shared", True), "output_bias": ("neuron", False), "weight_layout": "in_out"},
    {"batch": 1, "reduction": "mean", "regularization": None,
     "hidden_bias": ("none", True), "output_bias": ("shared", True), "weight_layout": "out_in"},
    {"batch": 1, "reduction": "mean", "regularization": {"convention": "plain", "strength": 0.25},
     "hidden_bias": ("neuron", False), "output_bias": ("shared", False), "weight_layout": "in_out"},
]
MAX_REGIONS = 4  # a batch of 2 is reduced to 1 when piecewise neurons would give more regions


def network(sizes, activations, loss, setting, name="t") -> symbp.Network:
    """A network from layer sizes [inputs, s1, …], one activation per layer, and a setting."""
    layers = []
    for index, (size, act) in enumerate(zip(sizes[1:], activations, strict=True)):
        bias, train = setting["output_bias" if index == len(activations) - 1 else "hidden_bias"]
        layers.append({"size": size, "activation": act, "bias": bias, "train_bias": train})
    data = {"name": name, "inputs": sizes[0], "layers": layers, "loss": loss,
            "reduction": setting["reduction"], "weight_layout": setting["weight_layout"]}
    if setting["regularization"] is not None:
        data["regularization"] = setting["regularization"]
    if "swish" in activations:
        data["activations"] = SWISH
    return symbp.Network.from_dict(data)


def cases():
    for a, sizes in enumerate(ARCHES):
        for p, (out_act, loss) in enumerate(PAIRS):
            if out_act == "softmax" and sizes[-1] < 2:
                continue  # the validator refuses a softmax over one output (the constant 1)
            hidden = [ELEMENTWISE[(p + a + j) % len(ELEMENTWISE)] for j in range(len(sizes) - 2)]
            setting = SETTINGS[(p + a) % len(SETTINGS)]
            label = "-".join(map(str, sizes)) + f"-{'-'.join(hidden)}-{out_act}-{loss}"
            yield pytest.param(sizes, hidden + [out_act], loss, setting, id=label)


@pytest.mark.parametrize(("sizes", "activations", "loss", "setting"), list(cases()))
def test_backward_pass_is_proven(sizes, activations, loss, setting):
    net = network(sizes, activations, loss, setting)
    batch = setting["batch"]
    if batch > 1 and len(regions(net, batch)) > MAX_REGIONS:
        batch = 1
    result = prove(net, batch)
    assert isinstance(result, ProofResult)
    assert result.ok, result.failures
    shapes = net.param_shapes()
    n_trained = sum(shapes[f"W{l}"][0] * shapes[f"W{l}"][1] for l in range(1, net.depth + 1))
    n_trained += sum(layer.size if layer.bias == "neuron" else 1
                     for layer in net.layers if layer.trains_bias)
    assert len(result.verdicts) == n_trained + 1  # every trained entry, and J
    assert result.regions == len(regions(net, batch)) >= 1


def test_every_pair_the_validator_allows_is_covered():
    allowed = set()
    for loss in losses.REGISTRY:
        for act in ELEMENTWISE + ["softmax"]:
            try:
                network((2, 2, 2), ["sigmoid", act], loss, SETTINGS[0])
            except symbp.SymbpError:
                continue
            allowed.add((act, loss))
    assert allowed == set(PAIRS)
    covered = {(c.values[1][-1], c.values[2]) for c in cases()}
    assert covered == allowed
    hidden = {act for c in cases() for act in c.values[1][:-1]}
    assert hidden == set(ELEMENTWISE)
    for arch in ARCHES:  # every allowed pair on every instantiation that admits it
        assert {(c.values[1][-1], c.values[2]) for c in cases() if c.values[0] == arch} == {
            pair for pair in allowed if pair[0] != "softmax" or arch[-1] >= 2}
    with pytest.raises(symbp.SymbpError, match="softmax"):
        network((3, 2, 2, 1), ["tanh", "tanh", "softmax"], "softmax_ce", SETTINGS[0])


def _mutated(plan, kind, formula):
    steps = tuple(dataclasses.replace(s, formula=formula) if s.kind == kind else s for s in plan.backward)
    return dataclasses.replace(plan, backward=steps)


def test_a_wrong_hidden_derivative_is_rejected():
    net = network((2, 2, 2), ["sigmoid", "sigmoid"], "half_sse", SETTINGS[0])
    plan = build_plan(derive(net))
    assert prove(net, 1, plan=plan).ok
    bad = _mutated(plan, "delta_hidden", losses.a * (1 + losses.a))
    result = prove(net, 1, plan=bad)
    assert not result.ok
    assert not any(result.verdicts[f"W1[{i},{j}]"] for i in range(2) for j in range(2))
    assert all(result.verdicts[f"W2[{i},{j}]"] for i in range(2) for j in range(2))  # untouched
    assert result.verdicts["J"]


def test_a_missing_batch_factor_is_rejected():
    net = network((2, 2, 2), ["tanh", "softmax"], "softmax_ce", SETTINGS[0])
    plan = build_plan(derive(net))
    step = next(s for s in plan.backward if s.kind == "delta_out")
    bad = _mutated(plan, "delta_out", step.formula.subs(B, 1))
    assert not prove(net, 2, plan=bad).ok


def test_a_wrong_piecewise_derivative_is_rejected_on_some_region():
    net = network((2, 2, 1), ["relu", "identity"], "half_sse", SETTINGS[2])
    plan = build_plan(derive(net))
    good = prove(net, 1, plan=plan)
    assert good.ok and good.regions == 4
    bad = prove(net, 1, plan=_mutated(plan, "delta_hidden", sp.Integer(1)))  # relu' taken as 1
    assert not bad.ok
    assert all("<0" in failure for failure in bad.failures)  # right on z > 0, wrong on z < 0


def test_interpreter_and_brute_force_agree_numerically():
    net = network((2, 2, 2), ["softplus", "softmax"], "ce", SETTINGS[0])
    params, X, Y = symbolic_params(net, 2)
    J_plan, g_plan = run_plan_symbolic(build_plan(derive(net)), params, X, Y)
    J_true, g_true = brute_force(net, params, X, Y)
    symbols = sorted(set().union(*(m.free_symbols for m in [*params.values(), X, Y])), key=str)
    point = {s: sp.Float((k % 7 - 3) / 4) for k, s in enumerate(symbols)}
    assert abs(float(J_plan.xreplace(point)) - float(J_true.xreplace(point))) < 1e-12
    assert set(g_plan) == set(g_true) == {"W1", "b1", "W2", "b2"}
    for name, grad in g_true.items():
        assert grad.shape == params[name].shape
        for mine, theirs in zip(g_plan[name], grad, strict=True):
            assert abs(float(mine.xreplace(point)) - float(theirs.xreplace(point))) < 1e-12


def test_is_zero_decides_identities_and_refuses_non_identities():
    z, w = sp.symbols("z w", real=True)
    sig = 1 / (1 + sp.exp(-z))
    identities = [
        sp.diff(sig, z) - sig * (1 - sig),
        sp.diff(sp.tanh(z), z) - (1 - sp.tanh(z) ** 2),
        sp.log(1 + sp.exp(z)) - z - sp.log(1 + sp.exp(-z)),
        sp.log(sp.exp(z) / (sp.exp(z) + sp.exp(w))) - (z - sp.log(sp.exp(z) + sp.exp(w))),
        sp.exp(z / 50 + 2 * w) * sp.exp(-z / 100 - w) - sp.exp(z / 100 + w),  # exp(v/50) = exp(v/100)²
        (sp.exp(z) / 2 + sp.Rational(3, 2)) ** w - sp.exp(w * sp.log(3 + sp.exp(z)) - w * sp.log(2)),
    ]
    for expr in identities:  # settled by the generator route alone, without sympy.simplify
        assert is_zero(expr, allow_simplify=False), expr
    assert not is_zero(sp.diff(sig, z) - sig * (1 + sig))
    assert not is_zero(sp.exp(z) * sp.exp(w) - sp.exp(z) - sp.exp(w))
    assert not is_zero(sp.log(1 + sp.exp(z)) - sp.log(1 + sp.exp(-z)))
    assert not is_zero(sp.Abs(z) - z)  # zero for z ≥ 0 only
    assert not is_zero(sig - sp.Rational(1, 2), allow_simplify=False)
