"""verify on sequence specs: a right hand-written BPTT function passes, and each typical slip is
named, its reference gradients derived by the engine from the unrolled graph made wrong in that
one way: the sum over time left out, the LSTM's forget-gate path missing, the GRU's reset gate on
the wrong term; another mistake is not given a slip's name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symbp.check.slips import _unscaled_everywhere, check_graph_function, random_values
from symbp.cli.app import main
from symbp.core.graph_spec import from_dict
from tests import bptt_functions as hand

FUNCTIONS = Path(hand.__file__)
SUM = "the sum over time left out: ∂J/∂Wh, ∂J/∂Wx and ∂J/∂b of the recurrent layer"
LAST_STEP, FIRST_STEP = f"{SUM} take only the last step's term", f"{SUM} take only the first step's term"
FORGET = "the LSTM's forget-gate path through c_(t−1) missing"
RESET_OUTSIDE = ("the GRU's reset gate applied to the wrong term: r ⊙ (W_hn h) + b_hn instead of "
                 "r ⊙ (W_hn h + b_hn)")
RESET_BEFORE = "the GRU's reset gate applied to h before the product"


def tiny(cell: str, ids: bool = False):
    """[embedding 5→2 →] cell of 2 over 3 steps → softmax of 3 at every step, softmax CE."""
    layers = ([{"type": "embedding", "vocab": 5, "size": 2}] if ids else []) + [
        {"type": cell, "size": 2}, {"size": 3, "activation": "softmax"}]
    return from_dict({"name": f"tiny_{cell}", "inputs": [3] if ids else [3, 2], "loss": "softmax_ce",
                      "layers": layers})


@pytest.mark.parametrize("cell, ids, fn", [("rnn", False, hand.rnn_right), ("rnn", True, hand.rnn_ids_right),
                                           ("lstm", False, hand.lstm_right), ("gru", False, hand.gru_right)],
                         ids=["rnn", "embedding-rnn", "lstm", "gru"])
def test_a_right_bptt_function_passes(cell, ids, fn):
    report = check_graph_function(tiny(cell, ids), fn)
    assert report.ok and not report.diagnosis, report.render()


@pytest.mark.parametrize("cell, ids, fn, slip", [
    ("rnn", False, hand.rnn_last_step_only, LAST_STEP),
    ("rnn", True, hand.rnn_ids_last_step_only, LAST_STEP),
    ("lstm", False, hand.lstm_last_step_only, LAST_STEP),
    ("rnn", False, hand.rnn_assigned, FIRST_STEP),
], ids=["rnn-last", "embedding-rnn-last", "lstm-last", "rnn-assigned"])
def test_the_sum_over_time_left_out_is_named(cell, ids, fn, slip):
    report = check_graph_function(tiny(cell, ids), fn)
    layer = 2 if ids else 1
    assert set(report.wrong) == {f"Wx{layer}", f"Wh{layer}", f"b{layer}"}
    assert report.diagnosis.startswith(slip), report.diagnosis


def test_the_forget_gate_path_missing_is_named():
    report = check_graph_function(tiny("lstm"), hand.lstm_no_forget_path)
    assert set(report.wrong) == {"Wx1", "Wh1", "b1"}
    assert report.diagnosis.startswith(FORGET), report.diagnosis


@pytest.mark.parametrize("fn, slip", [(hand.gru_reset_outside, RESET_OUTSIDE),
                                      (hand.gru_reset_before, RESET_BEFORE)], ids=["bias-outside", "on-h"])
def test_the_reset_gate_on_the_wrong_term_is_named(fn, slip):
    report = check_graph_function(tiny("gru"), fn)
    assert not report.ok and "Wh1" in report.wrong
    assert report.diagnosis.startswith(slip), report.diagnosis


def test_another_bptt_mistake_is_not_given_a_slips_name():
    report = check_graph_function(tiny("rnn"), hand.rnn_wrong_tanh_derivative)
    assert not report.ok and report.diagnosis == "none of the known slips"


def test_a_forward_slip_keeps_the_specs_time_reduction():
    """The unscaled-attention reference is built with the spec's time_reduction: summed over the
    4 steps, its loss is 4 times the mean's."""
    def spec(reduction):
        return from_dict({"name": "lm", "inputs": [4], "loss": "softmax_ce", "time_reduction": reduction,
                          "layers": [{"type": "embedding", "vocab": 5, "size": 2}, {"type": "attention",
                                     "causal": True}, {"size": 5, "activation": "softmax"}]})
    values = random_values(spec("mean"), 3, 0)
    mean, _ = _unscaled_everywhere(spec("mean"), 3, values)
    total, _ = _unscaled_everywhere(spec("sum"), 3, values)
    assert total == pytest.approx(4 * mean, rel=1e-12)


def test_symbp_verify_names_the_bptt_slip_for_a_sequence_spec(tmp_path, capsys):
    spec = tmp_path / "tiny_rnn.json"
    spec.write_text(json.dumps(tiny("rnn").source), "utf-8")
    code = main(["verify", str(spec), "--function", f"{FUNCTIONS}:rnn_last_step_only"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"diagnosis: {LAST_STEP}" in out
    assert "verdict: WRONG gradient for Wx1, Wh1, b1" in out


def test_symbp_verify_passes_a_right_bptt_function(tmp_path, capsys):
    spec = tmp_path / "tiny_gru.json"
    spec.write_text(json.dumps(tiny("gru").source), "utf-8")
    assert main(["verify", str(spec), "--function", f"{FUNCTIONS}:gru_right"]) == 0
    assert "verdict: PASS" in capsys.readouterr().out
