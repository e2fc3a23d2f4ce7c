"""One function spells a neuron's δ name (``symbp.core.naming.neuron_delta``): the example
table's rows, the derivation's symbols and the worked example all follow it, since nothing else
spells it or takes it apart."""

from __future__ import annotations

import symbp
from symbp.backprop.numbers import evaluate
from symbp.core import naming
from symbp.docs.example import example_numbers, example_settings
from symbp.docs.neuron_section import delta_names


def _mazur_rows() -> dict[str, object]:
    net = symbp.load_spec("mazur")
    values, _lr, _steps = example_settings(net)
    return {q.name: q.value for q in evaluate(net, values) if q.kind == "delta"}


def test_the_delta_of_z_o1_is_named_by_the_naming_module_in_the_example_table():
    assert naming.neuron_delta("z_o1") == "delta_z_o1"
    assert naming.neuron_of_delta(naming.neuron_delta("z_o1")) == "z_o1"
    assert set(_mazur_rows()) == {naming.neuron_delta(z) for z in ("z_h1", "z_h2", "z_o1", "z_o2")}
    assert delta_names(["z_o1", "z_o2"]) == {"z_o1": r"\delta_{o1}", "z_o2": r"\delta_{o2}"}


def test_a_changed_delta_spelling_reaches_the_table_and_keeps_the_worked_example(monkeypatch):
    net = symbp.load_spec("mazur")
    values, lr, _steps = example_settings(net)
    before = example_numbers(net, values, lr, 1).deltas
    monkeypatch.setattr(naming, "NEURON_DELTA", "dEdz_")
    assert set(_mazur_rows()) == {f"dEdz_{z}" for z in ("z_h1", "z_h2", "z_o1", "z_o2")}
    assert example_numbers(net, values, lr, 1).deltas == before
    assert delta_names(["z_o1", "z_o2"]) == {"z_o1": r"\delta_{o1}", "z_o2": r"\delta_{o2}"}
