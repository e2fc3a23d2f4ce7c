"""Sequence specs: token ids or float vectors per step, embedding, recurrent layers, dense at
every step and per-step losses; read into engine graphs, refused in one line naming the field."""

from __future__ import annotations

import autograd
import numpy as np
import pytest

from symbp.backprop.graph import backward
from symbp.codegen import numeric
from symbp.core.errors import SpecError
from symbp.core.graph_spec import from_dict
from tests import seq_oracle as oracle

EMBED = {"type": "embedding", "vocab": 5, "size": 3}
CHAR = {"inputs": [4], "loss": "softmax_ce",
        "layers": [EMBED, {"type": "rnn", "size": 3}, {"size": 5, "activation": "softmax"}]}


def _layers(*middle, last=None):
    return [EMBED, *middle, last or {"size": 5, "activation": "softmax"}]


def test_token_ids_embedding_rnn_and_dense_at_every_step_have_the_documented_shapes():
    graph = from_dict(CHAR).graph(2)
    assert graph.inputs == {"X": (2, 4), "Y": (2, 4, 5)}
    assert graph.params == {"E1": (5, 3), "Wx2": (3, 3), "Wh2": (3, 3), "b2": (3,), "W3": (5, 3), "b3": (5,)}


def test_lstm_and_gru_parameters_have_pytorchs_stacked_shapes():
    lstm = from_dict({**CHAR, "layers": _layers({"type": "lstm", "size": 2})}).graph(1).params
    assert (lstm["Wx2"], lstm["Wh2"], lstm["b2"]) == ((8, 3), (8, 2), (8,))
    gru = from_dict({**CHAR, "layers": _layers({"type": "gru", "size": 2})}).graph(1).params
    assert (gru["Wx2"], gru["Wh2"], gru["bx2"], gru["bh2"]) == ((6, 3), (6, 2), (6,), (6,))


def test_last_returns_one_state_and_the_targets_lose_the_time_axis():
    spec = from_dict({"inputs": [3, 2], "loss": "mse",
                      "layers": [{"type": "rnn", "size": 4, "return": "last"}, {"size": 2}]})
    assert spec.graph(5).inputs == {"X": (5, 3, 2), "Y": (5, 2)}


BAD = {
    "inputs": ({**CHAR, "inputs": [4, 2]}, "an embedding reads [steps] token ids"),
    "time_reduction": ({**CHAR, "time_reduction": "maen"}, "did you mean mean"),
    "layers[1].retrun": ({**CHAR, "layers": _layers({"type": "rnn", "size": 3, "retrun": "last"})},
                         "did you mean return"),
    "layers[1].return": ({**CHAR, "layers": _layers({"type": "rnn", "size": 3, "return": "lats"})},
                         "did you mean last"),
    "layers[1].activation": ({**CHAR, "layers": _layers({"type": "lstm", "size": 3, "activation": "relu"})},
                             "fixed gate functions"),
    "layers[0].size": ({**CHAR, "layers": [{"type": "embedding", "vocab": 5}, {"size": 5}]}, "is missing"),
    "layers[0].type": ({**CHAR, "layers": [{"type": "embeding", "vocab": 5, "size": 3}, {"size": 5}]},
                       "did you mean embedding"),
    "layers[2].type": ({**CHAR, "layers": _layers({"type": "rnn", "size": 3},
                                                  {"type": "dropout", "rate": 0.5})},
                       "takes the layer types add, attention, concat, dense, embedding, gru, layernorm, "
                       "lstm, rnn, not dropout"),
    "layers[1].id": ({**CHAR, "layers": [{**EMBED, "id": "h"}, {"type": "rnn", "size": 3, "id": "h"},
                                         {"size": 5, "activation": "softmax"}]},
                     "'h' is the id of an earlier layer"),
}


@pytest.mark.parametrize("field", sorted(BAD))
def test_a_bad_sequence_spec_is_refused_in_one_line_naming_the_field(field):
    data, message = BAD[field]
    with pytest.raises(SpecError) as error:
        from_dict(data)
    assert str(error.value).startswith(f"{field}: ") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_an_unknown_lstm_field_lists_the_fields_an_lstm_takes():
    layers = _layers({"type": "lstm", "size": 3, "retrun": "last"})
    with pytest.raises(SpecError, match=r"^layers\[1\]\.retrun: unknown field for lstm; expected one of "
                                        r"from, id, return, size, type; did you mean return\?$"):
        from_dict({**CHAR, "layers": layers})


def test_token_ids_without_an_embedding_are_refused_on_inputs():
    with pytest.raises(SpecError, match=r"^inputs: \[steps\] token ids need an embedding"):
        from_dict({"inputs": [4], "loss": "mse", "layers": [{"type": "rnn", "size": 3}, {"size": 2}]})


ENGINE_CASES = {
    "embedding_rnn_softmax_ce": ((2, 4), _layers({"type": "rnn", "size": 3}), "softmax_ce", 5, "mean"),
    "rnn_relu_last_mse": ((2, 3, 2), [{"type": "rnn", "size": 3, "returns": "last", "activation": "relu"},
                                      {"size": 2}], "mse", None, "mean"),
    "lstm_mse_time_sum": ((2, 3, 2), [{"type": "lstm", "size": 3}, {"size": 2}], "mse", None, "sum"),
    "gru_half_sse": ((2, 3, 2), [{"type": "gru", "size": 3}, {"size": 2}], "half_sse", None, "mean"),
}


@pytest.mark.parametrize("case", sorted(ENGINE_CASES))
def test_the_unrolled_graphs_derived_gradients_equal_autograd(case):
    """BPTT from the engine's reverse accumulation over the unrolled steps (shared weights)."""
    from symbp.core.build import build

    shape, layers, loss, vocab, time_reduction = ENGINE_CASES[case]
    graph = build(shape, layers, loss, time_reduction=time_reduction)
    b = backward(graph, list(graph.params))
    values = oracle.random_values(graph, 0, vocab)
    env = numeric.run(graph.computes + b.computes, values)
    P = {k: values[k] for k in graph.params}
    reference = autograd.grad(lambda P: oracle.forward(layers, loss, P, values["X"], values["Y"],
                                                       time_reduction=time_reduction))(P)
    for name in graph.params:
        scale = max(1.0, float(np.max(np.abs(reference[name]))))
        assert np.max(np.abs(env[b.grads[name]] - reference[name])) / scale <= 1e-12, name


def test_time_mean_divides_by_batch_times_steps_as_flattened_cross_entropy():
    from symbp.core.build import build

    layers = _layers({"type": "rnn", "size": 3})
    mean, total = (build((2, 4), layers, "softmax_ce", time_reduction=r) for r in ("mean", "sum"))
    values = oracle.random_values(mean, 1, 5)
    J_mean = numeric.run(mean.computes, values)[mean.output]
    J_sum = numeric.run(total.computes, values)[total.output]
    assert J_sum == pytest.approx(4 * J_mean, rel=1e-14)


def test_validation_builds_a_long_sequence_for_two_steps_and_counts_every_step(monkeypatch):
    """The unrolled graph grows with the steps; validation builds it for two and scales the
    per-sample sizes, so 4000 steps of a GRU of 1000 are refused by their size, not built."""
    from symbp.core.graph_spec import GraphSpec

    built = []
    original = GraphSpec.graph
    monkeypatch.setattr(GraphSpec, "graph",
                        lambda self, batch: built.append(self.inputs) or original(self, batch))
    spec = from_dict({"inputs": [400, 8], "loss": "mse",
                      "layers": [{"type": "gru", "size": 4}, {"size": 2}]})
    assert spec.inputs == (400, 8) and built and all(shape[0] <= 2 for shape in built)
    with pytest.raises(SpecError, match="a layer holds 12,000,000 values per sample"):
        from_dict({"inputs": [4000, 8], "loss": "mse",
                   "layers": [{"type": "gru", "size": 1000}, {"size": 2}]})
