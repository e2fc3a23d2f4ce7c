"""The atom-wise zero test: chain-rule identities with tanh and exp atoms as free symbols."""

from __future__ import annotations

import sympy as sp

from symbp.core.atomwise import Atoms, is_zero_atomwise
from symbp.core.zero import is_zero

x, w, v = sp.symbols("x w v", real=True)


def sigmoid(z: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-z))


def test_nested_tanh_chain_rule_is_proven_with_the_derivative_written_in_the_atoms():
    inner = sp.tanh(w * x)
    outer = sp.tanh(v * inner)
    by_hand = (1 - outer**2) * v * (1 - inner**2) * w
    assert is_zero_atomwise(sp.diff(outer, x) - by_hand)


def test_sigmoid_derivative_is_a_times_one_minus_a():
    a = sigmoid(w * x + v)
    assert is_zero_atomwise(sp.diff(a, x) - a * (1 - a) * w)


def test_a_nested_lstm_like_cell_is_proven_and_a_dropped_path_is_not():
    c1 = sigmoid(x) * sp.tanh(w * x)
    c2 = sigmoid(v * sp.tanh(c1)) * c1 + sp.tanh(x)
    right = sp.diff(c2, x)
    assert is_zero_atomwise(sp.diff(c2, x) - right)
    wrong = right.xreplace({sp.diff(c1, x): 0})  # the cell path left out
    assert wrong != right and not is_zero_atomwise(sp.diff(c2, x) - wrong)


def test_an_identity_that_needs_a_relation_between_atoms_is_not_established():
    """Atoms are independent symbols: tanh(x) and exp(2x) are unrelated here (is_zero knows)."""
    identity = sp.tanh(x) - (sp.exp(2 * x) - 1) / (sp.exp(2 * x) + 1)
    assert not is_zero_atomwise(identity)
    assert is_zero(identity)


def test_tanh_is_odd_and_a_shared_table_names_an_atom_once():
    atoms = Atoms()
    odd = sp.Add(sp.tanh(-w * x, evaluate=False), sp.tanh(w * x), evaluate=False)
    assert odd != 0 and is_zero_atomwise(odd, atoms)
    assert len(atoms.table) == 1


def test_the_size_gate_refuses_a_large_product_without_a_clock():
    big = (x + w + v + 1) ** 12
    assert is_zero_atomwise(big - sp.expand(big))
    assert not is_zero_atomwise(big - sp.expand(big), max_terms=100)


def test_floats_are_their_exact_binary_values():
    assert is_zero_atomwise(sp.tanh(sp.Float(0.5) * x) - sp.tanh(x / 2))
    assert not is_zero_atomwise(sp.tanh(sp.Float(0.1) * x) - sp.tanh(x / 10))
