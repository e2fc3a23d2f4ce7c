"""Stages pass their products on: rendering a document with its worked example derives the
network, builds its plan and its buffer plan once each, the kernel for the example included."""

from __future__ import annotations

import cProfile
import pstats

import symbp
from symbp.docs.document import derivation

STAGES = {("backprop/matrix.py", "derive"), ("backprop/neuron.py", "derive_neurons"),
          ("backprop/plan.py", "build_plan"), ("codegen/kernel.py", "memory_plan")}


def _calls(run) -> dict[str, int]:
    """How often each stage function ran while ``run()`` ran."""
    profile = cProfile.Profile()
    profile.runcall(run)
    calls = dict.fromkeys((name for _, name in STAGES), 0)
    for (path, _line, name), stat in pstats.Stats(profile).stats.items():
        if any(path.replace("\\", "/").endswith(f) and name == n for f, n in STAGES):
            calls[name] += stat[1]
    return calls


def test_a_document_with_its_worked_example_derives_and_plans_once():
    net = symbp.load_spec("mazur")

    def render():
        doc = derivation(net)
        assert doc.example is not None and doc.example.training  # the kernel trained the example
        doc.latex(), doc.markdown(), doc.text()

    assert _calls(render) == {"derive": 1, "derive_neurons": 1, "build_plan": 1, "memory_plan": 1}
