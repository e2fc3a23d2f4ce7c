"""Proof for sequences: the derived backward pass of the unrolled graph (BPTT as the engine's
reverse accumulation over steps with shared weights) equals brute-force ``sympy.diff`` of the
fully expanded loss. Rational cells (relu, identity) are compared exactly at a rational point;
tanh and sigmoid cells (tanh rnn, lstm, gru) as identities in every input, target and parameter
entry, decided by ``atomwise.is_zero_atomwise`` (each tanh and exp atom one free symbol)."""

from __future__ import annotations

from dataclasses import replace

import mpmath
import numpy as np
import pytest
import sympy as sp

from symbp.backprop.graph import backward
from symbp.codegen import exact
from symbp.core.atomwise import Atoms, is_zero_atomwise
from symbp.core.build import build
from symbp.core.ir import Term
from tests.test_engine_proof import _point

EMBED = dict(type="embedding", vocab=3, size=2)
EXACT = {
    "rnn_relu_T3_H2": ((1, 3, 1), [dict(type="rnn", size=2, activation="relu"), dict(size=1)]),
    "embedding_rnn_identity_last": ((2, 3), [EMBED, dict(type="rnn", size=2, activation="identity",
                                                        returns="last"), dict(size=1)]),
}
SYMBOLIC = {
    "rnn_tanh_T3_H2_D2": ((1, 3, 2), [dict(type="rnn", size=2), dict(size=1)]),
    "lstm_T2_H1": ((1, 2, 1), [dict(type="lstm", size=1)]),
    "gru_T2_H1": ((1, 2, 1), [dict(type="gru", size=1)]),
}


def compare(graph, point_of, equal) -> list[str]:
    """Entries whose derived gradient differs from sympy.diff of the expanded loss."""
    wrt = [*graph.params] + ([] if "embedding" in graph.computes[0].name else ["X"])
    b = backward(graph, wrt)
    env = {k: exact.symbols(k, s) for k, s in {**graph.inputs, **graph.params}.items()}
    point = point_of([s for a in env.values() for s in a.flat])
    if "embedding" in graph.computes[0].name:  # token ids: integers, not variables
        env["X"] = np.vectorize(lambda s: sp.Integer(int(abs(point[s] * 7)) % 3), otypes=[object])(env["X"])
    at = np.vectorize(lambda s: s.xreplace(point), otypes=[object])
    J = exact.run(graph.computes, env, point)[graph.output].item()
    derived = exact.run(graph.computes + b.computes, {k: at(a) for k, a in env.items()}, point)
    return [f"{x}{list(pos)}" for x in wrt for pos in np.ndindex(*env[x].shape)
            if not equal(sp.diff(J, env[x][pos]).xreplace(point), derived[b.grads[x]][pos])]


@pytest.mark.parametrize("case", sorted(EXACT))
def test_derived_bptt_equals_brute_force_diff_exactly(case):
    shape, layers = EXACT[case]
    graph = build(shape, layers, "half_sse")
    assert compare(graph, lambda names: _point(names, 0), lambda a, b: a == b) == []


def differences(graph, wrt: list[str], drop: tuple[str, str] | None = None) -> dict[str, sp.Expr]:
    """sympy.diff of the expanded loss minus the derived gradient, for every entry of the tensors
    ``wrt``, every input and parameter entry a symbol. ``drop`` = (accumulator, part) plants a
    wrong backward pass: that part's contribution is left out."""
    b = backward(graph, [*graph.params, "X"])
    computes = b.computes if drop is None else without(b.computes, *drop)
    env = {k: exact.symbols(k, s) for k, s in {**graph.inputs, **graph.params}.items()}
    J = exact.run(graph.computes, env)[graph.output].item()
    derived = exact.run(graph.computes + computes, env)
    return {f"{x}{list(pos)}": sp.diff(J, env[x][pos]) - derived[b.grads[x]][pos]
            for x in wrt for pos in np.ndindex(*env[x].shape)}


def unproven(graph, wrt: list[str]) -> list[str]:
    """Entries whose derived gradient is not proven identical to sympy.diff (empty: proven)."""
    atoms = Atoms()
    return [entry for entry, d in differences(graph, wrt).items() if not is_zero_atomwise(d, atoms)]


def without(computes: list, accumulator: str, part: str) -> list:
    """The computes with the accumulator's read of one part replaced by 0."""
    out = list(computes)
    total = next(c for c in out if c.name == accumulator)
    body = total.terms[0].body
    dropped = body.xreplace({r: 0 for r in body.atoms(sp.Indexed) if str(r.base) == part})
    assert dropped != body, f"{accumulator} does not read {part}"
    out[out.index(total)] = replace(total, terms=(Term(dropped),))
    return out


@pytest.mark.parametrize("case", sorted(SYMBOLIC))
def test_derived_bptt_of_tanh_and_sigmoid_cells_equals_brute_force_diff_identically(case):
    shape, layers = SYMBOLIC[case]
    graph = build(shape, layers, "half_sse")
    assert unproven(graph, [*graph.params, "X"]) == []


# (cell, accumulator, the part left out, an entry whose gradient it changes)
PLANTED = {
    "lstm_forget_gate_path": ("lstm_T2_H1", "grad_lstm1_c_t0", "grad_lstm1_c_t0__lstm1_c_t1_1_0", "b1[0]"),
    "gru_update_gate_path": ("gru_T2_H1", "grad_gru1_h_t0", "grad_gru1_h_t0__gru1_h_t1_1_0", "bx1[2]"),
    "rnn_first_step_of_the_sum": ("rnn_tanh_T3_H2_D2", "grad_Wh1", "grad_Wh1__rnn1_z_t1_1_0", "Wh1[0, 0]"),
}


@pytest.mark.parametrize("slip", sorted(PLANTED))
def test_the_identity_proof_fails_on_a_backward_pass_with_a_path_left_out(slip):
    """The identity can fail: leaving out one path of the derived backward pass is caught."""
    case, accumulator, part, entry = PLANTED[slip]
    shape, layers = SYMBOLIC[case]
    graph = build(shape, layers, "half_sse")
    difference = differences(graph, [entry[:entry.index("[")]], drop=(accumulator, part))[entry]
    assert not is_zero_atomwise(difference)
    point = {s: v / 8 for s, v in _point(sorted(difference.free_symbols, key=str), 0).items()}
    assert abs(value(difference.xreplace(point), {})) > 1e-4  # the planted pass is wrong indeed


NUMERIC = {sp.Add: mpmath.fsum, sp.Mul: mpmath.fprod, sp.Pow: lambda a: a[0] ** a[1],
           sp.exp: lambda a: mpmath.exp(a[0]), sp.tanh: lambda a: mpmath.tanh(a[0])}


def value(e: sp.Expr, cache: dict) -> mpmath.mpf:
    """An expression of rational numbers in mpmath floating point, each shared node once (sp.N
    takes seconds on the deep trees of an unrolled cell)."""
    if e.is_Rational:
        return mpmath.mpf(e.p) / e.q
    if e not in cache:
        cache[e] = NUMERIC[type(e)]([value(arg, cache) for arg in e.args])
    return cache[e]


def test_the_sequence_proof_detects_a_step_missing_from_the_sum_over_time():
    """The comparison can fail: dropping the first step's contribution to ∂J/∂Wh is caught."""
    graph = build((1, 3, 1), [dict(type="rnn", size=1, activation="identity"), dict(size=1)], "half_sse")
    b = backward(graph, list(graph.params))
    parts = [c for c in b.computes if c.name.startswith("grad_Wh1__")]
    assert len(parts) == 2  # steps 1 and 2 read Wh (step 0 has the zero state)
    broken = [c for c in without(b.computes, "grad_Wh1", parts[0].name) if c is not parts[0]]
    env = {k: exact.symbols(k, s) for k, s in {**graph.inputs, **graph.params}.items()}
    point = _point([s for a in env.values() for s in a.flat], 0)
    at = np.vectorize(lambda s: s.xreplace(point), otypes=[object])
    J = exact.run(graph.computes, env)[graph.output].item()
    right = exact.run(graph.computes + b.computes, {k: at(a) for k, a in env.items()})["grad_Wh1"][0, 0]
    wrong = exact.run(graph.computes + broken, {k: at(a) for k, a in env.items()})["grad_Wh1"][0, 0]
    brute = sp.diff(J, env["Wh1"][0, 0]).xreplace(point)
    assert right == brute and wrong != brute
