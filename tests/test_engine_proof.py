"""Proof: the engine's derived backward pass equals brute-force ``sympy.diff`` of the loss.

For a small instance the loss J is built entry by entry from the forward index formulas
(``exact.run``: every input and parameter entry a symbol) and differentiated by sympy with
respect to every entry. The derived backward pass, run on the same instance, must give the
same values: for ops built from rational operations at an exact rational point (max and
ReLU are taken on the branch of the open region around that point, so the loss there is
analytic and its derivative is the brute-force one), for transcendental ones (exp, tanh,
sqrt) symbolically, the difference decided zero by ``proof.is_zero``.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symbp.backprop.graph import backward
from symbp.codegen import exact
from symbp.core.build import build
from symbp.core.ir import Graph
from symbp.verify.proof import is_zero

IMAGE = (1, 1, 3, 3)  # seed-style: a one-channel 3×3 input
# (input shape, layers, loss, symbolic?) — symbolic for transcendental functions.
CASES = {
    "dense": ((2, 3), [dict(size=2, activation="identity")], "half_sse", False),
    "conv2d": (IMAGE, [dict(type="conv2d", channels=2, kernel=2), dict(type="flatten")], "half_sse", False),
    "conv2d_strided_padded": (IMAGE, [dict(type="conv2d", channels=1, kernel=[2, 3], stride=2, padding=1),
                                      dict(type="flatten")], "half_sse", False),
    "maxpool2d": ((1, 1, 4, 4), [dict(type="maxpool2d", kernel=2), dict(type="flatten")], "half_sse", False),
    "maxpool2d_overlapping": (IMAGE, [dict(type="maxpool2d", kernel=2, stride=1), dict(type="flatten")],
                              "sse", False),
    "avgpool2d": ((1, 1, 4, 3), [dict(type="avgpool2d", kernel=2, stride=[2, 1]), dict(type="flatten")],
                  "half_sse", False),
    "relu_leaky_relu": ((2, 3), [dict(size=3, activation="relu"), dict(size=2, activation="leaky_relu")],
                        "half_sse", False),
    "dropout": ((2, 3), [dict(type="dropout", rate=0.5), dict(size=2)], "half_sse", False),
    "concat_flatten": ((1, 1, 2, 2), [dict(type="flatten", id="f"), dict(size=2, id="g"),
                                      dict(type="concat", **{"from": ["f", "g"]})], "half_sse", False),
    "fan_out_add": ((2, 2), [dict(size=2, id="h"), dict(size=2, id="g", activation="relu"),
                             dict(type="add", **{"from": ["h", "g"]}), dict(size=2, activation="relu")],
                    "half_sse", False),
    "sigmoid_bce": ((1, 2), [dict(size=2, activation="sigmoid")], "bce", True),
    "tanh_softplus": ((1, 2), [dict(size=2, activation="tanh"), dict(size=1, activation="softplus")],
                      "half_sse", True),
    "softmax_ce": ((1, 2), [dict(size=3, activation="softmax")], "softmax_ce", True),
    "batchnorm": ((3, 1), [dict(type="batchnorm")], "half_sse", True),
    "batchnorm_image": ((2, 1, 1, 2), [dict(type="batchnorm"), dict(type="flatten")], "half_sse", True),
    "layernorm": ((1, 3), [dict(type="layernorm")], "half_sse", True),
}


def _point(names: list[sp.Symbol], seed: int) -> dict[sp.Symbol, sp.Rational]:
    """Distinct rational values, so no max or ReLU sits on a tie or a kink."""
    rng = np.random.default_rng(seed)
    values = rng.choice(np.arange(-60, 61), size=len(names), replace=False)
    return {s: sp.Rational(int(v), 7) + sp.Rational(1, 13) for s, v in zip(names, values)}


def prove(graph: Graph, symbolic: bool, seed: int = 0) -> list[str]:
    """Entries whose derived gradient differs from brute force (empty: proven)."""
    wrt = [*graph.params, "X"]
    b = backward(graph, wrt)
    env = {k: exact.symbols(k, s) for k, s in {**graph.inputs, **graph.params}.items()}
    point = _point([s for a in env.values() for s in a.flat], seed)
    for name in graph.inputs:  # masks are 0/1; targets keep their symbols or values
        if name.startswith("mask"):
            keep = np.vectorize(lambda s: sp.Integer(1 if point[s] > 0 else 0), otypes=[object])
            env[name] = keep(env[name])
    J = exact.run(graph.computes, env, point)[graph.output].item()
    run_on = env if symbolic else {k: np.vectorize(lambda s: s.xreplace(point), otypes=[object])(a)
                                   for k, a in env.items()}
    derived = exact.run(graph.computes + b.computes, run_on, point)
    wrong = []
    for x in wrt:
        for pos in np.ndindex(*env[x].shape):
            brute, mine = sp.diff(J, env[x][pos]), derived[b.grads[x]][pos]
            same = is_zero(brute - mine) if symbolic else brute.xreplace(point) == mine
            if not same:
                wrong.append(f"{x}{list(pos)}")
    return wrong


@pytest.mark.parametrize("case", sorted(CASES))
def test_derived_backward_equals_brute_force_diff(case):
    shape, layers, loss, symbolic = CASES[case]
    assert prove(build(shape, layers, loss), symbolic) == []


def test_proof_detects_a_wrong_gradient():
    """The comparison can fail: a backward pass with one gradient entry off is caught."""
    graph = build((1, 1, 3, 3), [dict(type="conv2d", channels=1, kernel=2), dict(type="flatten")], "half_sse")
    b = backward(graph, [*graph.params, "X"])
    env = {k: exact.symbols(k, s) for k, s in {**graph.inputs, **graph.params}.items()}
    point = _point([s for a in env.values() for s in a.flat], 1)
    values = {k: np.vectorize(lambda s: s.xreplace(point), otypes=[object])(a) for k, a in env.items()}
    derived = exact.run(graph.computes + b.computes, values)
    J = exact.run(graph.computes, env)[graph.output].item()
    brute = sp.diff(J, env["W1"][0, 0, 1, 0]).xreplace(point)
    assert derived[b.grads["W1"]][0, 0, 1, 0] == brute
    assert derived[b.grads["W1"]][0, 0, 0, 1] != brute  # the neighbouring entry differs


def test_softmax_shift_does_not_change_the_output():
    """Why softmax's max-shift passes no gradient: ∂/∂m of exp(z − m)/Σ exp(z − m) is 0, and so is
    ∂/∂m of the log-softmax z − m − log Σ exp(z − m) the kernels compute."""
    z, m = sp.symbols("z1:4", real=True), sp.Symbol("m", real=True)
    total = sum(sp.exp(v - m) for v in z)
    assert all(is_zero(sp.diff(sp.exp(v - m) / total, m)) for v in z)
    assert all(is_zero(sp.diff(v - m - sp.log(total), m)) for v in z)  # nor the log-softmax
