"""Sequence specs with ``id`` and ``from``: residual connections around recurrent layers, a later
layer reading an earlier one across recurrent layers, per-step concatenation. The kernel (a loop
over time) agrees with autograd, the unrolled engine and central differences; bad reads are
refused in one line naming the field."""

from __future__ import annotations

import pytest
import sympy as sp

from symbp.backprop.scan import Scan
from symbp.cli.app import main
from symbp.codegen.graph_emit import derive_graph, emit_graph
from symbp.core.errors import SpecError
from symbp.core.graph_spec import from_dict
from symbp.docs.pdf import made_by_symbp
from symbp.verify.graph import check_graph_kernel
from tests.test_documents import katex
from tests.test_sequence_kernel import (
    assert_float32_in_gives_float32_out,
    autograd_grads,
    kernel,
    relative,
    values_for,
)

EMBED = {"type": "embedding", "vocab": 6, "size": 3}
SOFTMAX = {"size": 6, "activation": "softmax"}

# embedding → rnn (id h) → dense at every step (id d) → add from [h, d] → softmax at every step
RESIDUAL = {"inputs": [4], "loss": "softmax_ce", "layers": [
    EMBED, {"type": "rnn", "size": 3, "id": "h"}, {"size": 3, "activation": "tanh", "id": "d"},
    {"type": "add", "from": ["h", "d"]}, SOFTMAX]}
# two stacked recurrent layers; after the second, a residual from the first (read across a scan)
STACKED = {"inputs": [3, 2], "loss": "mse", "time_reduction": "sum", "layers": [
    {"type": "rnn", "size": 3, "id": "r1"}, {"type": "gru", "size": 3},
    {"size": 3, "activation": "tanh", "id": "d"}, {"type": "add", "from": ["r1", "d"]}, {"size": 2}]}
# two recurrent layers reading the embedding side by side, joined per step, then an LSTM's last state
TWO_INPUTS = {"inputs": [3], "loss": "softmax_ce", "layers": [
    {**EMBED, "id": "e"}, {"type": "lstm", "size": 2, "id": "a"},
    {"type": "rnn", "size": 3, "from": "e", "id": "b"},
    {"type": "concat", "from": ["a", "b", "e"]}, {"type": "gru", "size": 2, "return": "last"}, SOFTMAX]}
# a residual block with layernorm at every step: nn.LayerNorm(features), γ and β of the features
NORMED = {"inputs": [4], "loss": "softmax_ce", "layers": [
    EMBED, {"type": "rnn", "size": 3, "id": "h"}, {"size": 3, "activation": "relu", "id": "d"},
    {"type": "add", "from": ["h", "d"]}, {"type": "layernorm"}, SOFTMAX]}
SPECS = {"residual": RESIDUAL, "stacked": STACKED, "two_inputs": TWO_INPUTS, "layernorm": NORMED}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_sequence_graph_kernels_agree_with_autograd(name):
    spec, module = kernel(SPECS[name])
    params, X, Y, values = values_for(spec, 3, 11)
    J, grads = module.loss_and_grad(params, X, Y)
    reference = autograd_grads(spec, values)
    assert set(grads) == set(reference) == set(spec.graph(1).params)
    for k in grads:
        assert relative(grads[k], reference[k]) <= 1e-10, k


@pytest.mark.parametrize("name", sorted(SPECS))
def test_sequence_graph_kernels_agree_with_the_unrolled_engine_and_central_differences(name):
    spec, module = kernel(SPECS[name])
    report = check_graph_kernel(derive_graph(spec), module, batch=2, seed=5)
    assert report.worst_evaluator <= 1e-10 and report.grad_vs_fd <= 1e-6 and report.sgd_step <= 1e-14


def test_a_tensor_read_after_two_recurrent_layers_gets_the_sum_of_its_readers_gradients():
    """r1 feeds the GRU (its projection) and the add after it: the rnn's backward loop starts
    from the sum of both readers' gradients, derived per segment."""
    d = derive_graph(from_dict(STACKED))
    rnn = next(s for s in d.stages if isinstance(s, Scan) and s.kind == "rnn")
    assert [c.name for c in rnn.gather] == [rnn.grad_output] == ["up_hseq1"]
    assert sorted(str(r.base) for r in rnn.gather[0].terms[0].body.atoms(sp.Indexed)) == \
        ["grad_hseq1", "grad_hseq1_after2"]


def test_the_residual_kernel_keeps_float32():
    assert_float32_in_gives_float32_out(RESIDUAL)


def test_concat_of_two_sequences_joins_their_features_at_every_step():
    graph = from_dict({"inputs": [5, 2], "loss": "mse", "layers": [
        {"type": "rnn", "size": 3, "id": "a"}, {"type": "gru", "size": 4, "from": "a", "id": "b"},
        {"type": "concat", "from": ["a", "b"]}, {"size": 1}]}).graph(2)
    assert next(c for c in graph.computes if c.name == "concat3_cat").shape == (2, 5, 7)


def test_layernorm_on_a_sequence_normalises_every_step_over_its_features():
    graph = from_dict(NORMED).graph(2)
    assert graph.params["gamma5"] == graph.params["beta5"] == (3,)
    assert next(c for c in graph.computes if c.name == "layernorm5_mean").shape == (2, 4)


def test_derive_writes_a_pdf_and_katex_markdown_for_a_residual_across_recurrent_layers(tmp_path, capsys):
    import json

    spec = tmp_path / "stacked.json"
    spec.write_text(json.dumps({"name": "stacked", **STACKED}))
    assert main(["derive", str(spec), "--pdf", "-o", str(tmp_path / "s.pdf")]) == 0
    assert made_by_symbp(tmp_path / "s.pdf")
    assert main(["derive", str(spec), "-f", "markdown", "-o", str(tmp_path / "s.md")]) == 0
    report = katex([tmp_path / "s.md"])
    assert report["returncode"] == 0 and not report["errors"], report["errors"][:3]
    assert "Backward pass from the loss to hseq2, hseq1" in (tmp_path / "s.md").read_text()


def _with(*layers, inputs=(4,), loss="softmax_ce"):
    return {"inputs": list(inputs), "loss": loss, "layers": list(layers)}


RNN_LAST = {"type": "rnn", "size": 3, "return": "last", "id": "last"}
BAD = {
    "unknown id": (_with(EMBED, {"type": "rnn", "size": 3, "id": "h"}, {"type": "add", "from": ["h", "x"]},
                         SOFTMAX),
                   "layers[2].from", "'x' is not the id of an earlier layer (ids: h)"),
    "a later layer": (_with(EMBED, {"type": "rnn", "size": 3, "from": "d", "id": "h"}, {"size": 3, "id": "d"},
                            SOFTMAX), "layers[1].from", "'d' is the id of a later layer (layers[2])"),
    "from on an embedding": (_with({**EMBED, "from": "h"}, {"type": "rnn", "size": 3, "id": "h"}, SOFTMAX),
                             "layers[0].from", "an embedding reads the token ids"),
    "a sequence with one vector per sample": (
        _with(EMBED, {"type": "rnn", "size": 3, "id": "h"}, RNN_LAST, {"type": "add", "from": ["h", "last"]},
              SOFTMAX), "layers[3].from", "add joins 'h' (a sequence: one vector per step) with 'last'"),
    "a recurrent layer reading one vector per sample": (
        _with(EMBED, RNN_LAST, {"type": "gru", "size": 3, "from": "last"}, SOFTMAX),
        "layers[2].from", "gru reads a sequence, but 'last' is one vector per sample"),
    "an unread layer": (_with({**EMBED, "id": "e"}, {"type": "rnn", "size": 3}, {"type": "lstm", "size": 3,
                                                                                 "from": "e"}, SOFTMAX),
                        "layers[1]", "no later layer reads its output"),
    "unequal sizes": (_with(EMBED, {"type": "rnn", "size": 3, "id": "h"}, {"size": 2, "id": "d"},
                            {"type": "add", "from": ["h", "d"]}, SOFTMAX),
                      "layers[3]", "add needs inputs of one shape"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_read_in_a_sequence_spec_is_refused_in_one_line_naming_the_field(case):
    data, field, message = BAD[case]
    with pytest.raises(SpecError) as error:
        from_dict(data)
    text = str(error.value)
    assert text.startswith(f"{field}: ") and message in text and "\n" not in text, text


def test_the_kernel_reads_an_earlier_tensor_without_recomputing_it():
    """The add after the GRU reads the rnn's whole sequence as stored by the forward pass: no
    statement of the segment after the GRU writes hseq1."""
    source = emit_graph(from_dict(STACKED))
    assert source.count("v[\"hseq1\"] = ") == 1 and "v['hseq1'] =" not in source
