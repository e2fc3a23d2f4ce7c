"""verify on a graph spec with attention: a right function passes, and the slip "the 1/√d
factor of attention dropped" is named, whether it is dropped in the backward pass only or in
the forward pass too; other mistakes are not given that name."""

from __future__ import annotations

import json
from pathlib import Path

from symbp.check.slips import check_graph_function
from symbp.cli.app import main
from tests import attention_functions as hand
from tests.test_attention_kernel import attention_spec

FUNCTIONS = Path(hand.__file__)


def test_a_right_attention_function_passes():
    for causal, fn in ((False, hand.correct), (True, hand.correct_causal)):
        report = check_graph_function(attention_spec(causal), fn)
        assert report.ok and not report.diagnosis, report.render()


def test_the_scale_dropped_in_the_backward_pass_is_named():
    report = check_graph_function(attention_spec(False), hand.no_scale_in_backward)
    assert set(report.wrong) == {"Wq1", "Wk1"}
    assert report.diagnosis.startswith("the 1/√d factor of attention dropped in the backward pass")


def test_the_scale_dropped_in_forward_and_backward_is_named():
    report = check_graph_function(attention_spec(True), hand.no_scale_causal)
    assert not report.ok
    assert report.diagnosis.startswith("the 1/√d factor of attention dropped (the scores are Q·Kᵀ/√D")


def test_another_mistake_is_not_called_a_dropped_scale():
    report = check_graph_function(attention_spec(False), hand.wrong_softmax_jacobian)
    assert not report.ok and report.diagnosis == "none of the known slips"


def test_symbp_verify_names_the_slip_for_a_graph_spec(tmp_path, capsys):
    spec = tmp_path / "attention.json"
    spec.write_text(json.dumps(attention_spec(False).source), "utf-8")
    code = main(["verify", str(spec), "--function", f"{FUNCTIONS}:no_scale_in_backward"])
    out = capsys.readouterr().out
    assert code == 1
    assert "diagnosis: the 1/√d factor of attention dropped in the backward pass" in out
    assert "verdict: WRONG gradient for Wq1, Wk1" in out


def test_symbp_verify_refuses_other_conventions_for_graph_specs_in_one_line(tmp_path, capsys):
    spec = tmp_path / "attention.json"
    spec.write_text(json.dumps(attention_spec(False).source), "utf-8")
    code = main(["verify", str(spec), "--function", f"{FUNCTIONS}:correct", "--convention", "theta"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "graph specs take --convention symbp" in err[0]


def test_symbp_verify_passes_a_right_function_for_a_graph_spec(tmp_path, capsys):
    spec = tmp_path / "attention.json"
    spec.write_text(json.dumps(attention_spec(False).source), "utf-8")
    assert main(["verify", str(spec), "--function", f"{FUNCTIONS}:correct"]) == 0
    assert "verdict: PASS" in capsys.readouterr().out
