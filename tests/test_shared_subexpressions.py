"""Emitted code shares a subexpression it computes once through one place, ``symbp.codegen.shared``:
the dense kernel's relu mask and the σ(−z) its forward pass leaves behind, the unrolled kernel's
pair σ(±z), and an optimiser's scalars hoisted out of the loop over parameters."""

from __future__ import annotations

import sympy as sp

from symbp.codegen import shared
from symbp.codegen.emit import emit_numpy
from symbp.codegen.update_code import step_function
from symbp.core import activations as act
from symbp.core.optimizers import REGISTRY
from symbp.core.spec import load_spec


def _shared_while_emitting(monkeypatch, spec: str) -> set[str]:
    seen: set[str] = set()
    original = shared.read_shared

    def spy(expr, names):
        seen.update(map(str, names))
        return original(expr, names)

    monkeypatch.setattr(shared, "read_shared", spy)
    emit_numpy(load_spec(spec))
    return seen


def test_the_relu_mask_is_computed_once_and_read_through_read_shared(monkeypatch):
    assert str(sp.Heaviside(act.a, 0)) in _shared_while_emitting(monkeypatch, "mnist_mlp")


def test_sigmoid_pairs_are_read_through_read_shared_in_both_dense_kernels(monkeypatch):
    seen = _shared_while_emitting(monkeypatch, "mazur")  # the unrolled kernel and the array kernel
    assert {"logistic(x)", "logistic(-x)", "logistic(-Z1)"} <= seen


def test_an_optimiser_hoists_each_scalar_once():
    adam = step_function(REGISTRY["adam"])
    assert adam["scalars"] and len(set(adam["scalars"])) == len(adam["scalars"])
    names = [line.split(" = ")[0] for line in adam["scalars"]]
    assert names == [f"c{k}" for k in range(len(names))]
    body = "\n".join(adam["decay"] + adam["lines"])
    assert all(f"{n}," in body or f"{n})" in body for n in names)


def test_hoisted_names_a_repeated_subexpression_once():
    b = sp.Symbol("b")
    hoisted = shared.Hoisted("c", lambda name, e: f"{name} = {e}")
    assert [hoisted.name(1 - b), hoisted.name(b**2), hoisted.name(1 - b)] == ["c0", "c1", "c0"]
    assert hoisted.lines == ["c0 = 1 - b", "c1 = b**2"]
