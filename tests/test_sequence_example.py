"""The element level of a tiny RNN: backpropagation through time unrolled with names and numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from symbp.codegen.graph_emit import emit_graph
from symbp.codegen.load import load_module
from symbp.core.ir import read_index, read_name
from symbp.core.spec import load_spec
from symbp.core.textprint import text
from symbp.docs.element_level import element_level

SPEC = Path(__file__).resolve().parent.parent / "docs" / "examples" / "tiny_rnn.toml"


def _entries(level, which):
    return {text(e.read): e for e in getattr(level, which)}


def test_the_tiny_rnn_example_sums_the_weight_gradient_over_time_and_delta_over_two_paths():
    level = element_level(load_spec(str(SPEC), graphs=True))
    backward = _entries(level, "backward")
    # ∂J/∂Wh = Σ_t δz_t h_{t−1}ᵀ: one part per step that reads h_{t−1} (t = 1, 2 of 0, 1, 2)
    parts = [k for k in backward if k.startswith("grad_Wh1__")]
    assert {p.split("__")[1].split("_1_")[0] for p in parts} == {"rnn1_z_t1", "rnn1_z_t2"}, parts
    # δh_1 receives the loss term at step 1 and the recurrence from step 2
    routes = [k for k in backward if k.startswith("grad_rnn1_h_t1__")]
    assert any("rnn1_seq" in k for k in routes) and any("rnn1_z_t2" in k for k in routes), routes


def test_the_tiny_rnn_examples_numbers_equal_the_loop_over_time_kernel():
    """The element level (unrolled, 30 digits) against the emitted kernel (a loop over t)."""
    spec = load_spec(str(SPEC), graphs=True)
    level = element_level(spec)
    given = {}
    for e in level.given:
        name, index = read_name(e.read), tuple(int(i) for i in read_index(e.read))
        given.setdefault(name, {})[index] = float(e.value)
    arrays = {}
    for name, entries in given.items():
        shape = tuple(max(ix[k] for ix in entries) + 1 for k in range(len(next(iter(entries)))))
        arrays[name] = np.zeros(shape)
        for ix, value in entries.items():
            arrays[name][ix] = value
    module = load_module(emit_graph(spec))
    X, Y = arrays.pop("X"), arrays.pop("Y")
    J, grads = module.loss_and_grad(arrays, X, Y)
    backward = _entries(level, "backward")
    assert J == pytest.approx(float(next(e.value for e in level.forward if text(e.read).endswith("_J"))),
                              rel=1e-12)
    for name, grad in grads.items():
        for ix in np.ndindex(grad.shape):
            key = f"grad_{name}[{', '.join(map(str, ix))}]"
            assert grad[ix] == pytest.approx(float(backward[key].value), rel=1e-12, abs=1e-15), key
