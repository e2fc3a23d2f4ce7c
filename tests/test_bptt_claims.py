"""check on sequence specs: claims in BPTT notation (h_t, delta_t, dz_t, c_t, Wh, Wx, Σ_t) are
proven on a tiny instance, wrong ones get a counterexample, and the slips are named: the sum over
time left out (only the last step's term) and the LSTM's forget-gate path through c_(t−1) missing."""

from __future__ import annotations

import pytest

from symbp.check.bptt_slips import SUM_OVER_TIME
from symbp.check.seq_claims import check_sequence_claims
from symbp.cli.app import main
from tests.test_bptt_verify import tiny

RNN = "docs/examples/tiny_rnn.toml"
LAST_STEP = f"{SUM_OVER_TIME} take only the last step's term"
FORGET = "the LSTM's forget-gate path through c_(t−1) missing"

RNN_RIGHT = [
    r"dWh = \sum_t dz_t h_{t-1}^T",
    "delta_t = dy_t + Wh^T (delta_{t+1} * (1 - h_{t+1}^2))",
    "dz_t = delta_t * (1 - h_t^2)",
    "dWx = sum(t, dz_t x_t^T)",
    r"db = \sum_{t=1}^{T} dz_t",
    r"\frac{\partial J}{\partial W_h} = \sum_t \delta_t \odot (1 - h_t^2) h_{t-1}^\top",
]
RNN_WRONG = ["dWh = dz_T h_{T-1}^T", "dWx = dz_T x_T^T",
             "delta_t = dy_t + Wh (delta_{t+1} * (1 - h_{t+1}^2))"]
LSTM = ["dc_{t-1} = dh_{t-1} * o_{t-1} * (1 - tanh(c_{t-1})^2) + dc_t * f_t",
        "dc_{t-1} = dh_{t-1} * o_{t-1} * (1 - tanh(c_{t-1})^2)",
        r"dWh = \sum_t ds_t h_{t-1}^T", "df_t = dc_t * c_{t-1}"]


@pytest.fixture(scope="module")
def rnn_reports():
    reports = check_sequence_claims(tiny("rnn", ids=True), RNN_RIGHT + RNN_WRONG)
    return dict(zip(RNN_RIGHT + RNN_WRONG, reports))


@pytest.fixture(scope="module")
def lstm_reports():
    return dict(zip(LSTM, check_sequence_claims(tiny("lstm"), LSTM)))


@pytest.mark.parametrize("claim", RNN_RIGHT)
def test_a_right_bptt_claim_is_proven(rnn_reports, claim):
    report = rnn_reports[claim]
    assert report.verdict == "holds", report.render()
    assert "proven on T = 3 steps" in report.reason


@pytest.mark.parametrize("claim", RNN_WRONG[:2])
def test_a_gradient_of_the_last_step_only_is_named_the_sum_over_time_left_out(rnn_reports, claim):
    report = rnn_reports[claim]
    assert report.verdict == "does not hold" and report.counterexample is not None
    assert report.diagnosis.startswith(LAST_STEP), report.render()


def test_another_wrong_recurrence_gets_a_counterexample_and_no_slips_name(rnn_reports):
    report = rnn_reports[RNN_WRONG[2]]
    assert report.verdict == "does not hold" and report.counterexample is not None
    assert report.counterexample.where.startswith("at t = ")
    assert report.diagnosis is None


def test_the_lstm_cell_path_with_the_forget_gate_is_proven(lstm_reports):
    for claim in (LSTM[0], LSTM[2], LSTM[3]):
        assert lstm_reports[claim].verdict == "holds", lstm_reports[claim].render()


def test_the_forget_gate_path_missing_is_named_in_a_claim(lstm_reports):
    report = lstm_reports[LSTM[1]]
    assert report.verdict == "does not hold"
    assert report.diagnosis.startswith(FORGET), report.render()


def test_symbp_check_reads_sequence_claims_with_exit_codes(capsys):
    assert main(["check", RNN, "--claim", r"dWh = \sum_t dz_t h_{t-1}^T"]) == 0
    assert main(["check", RNN, "--claim", "dWh = dz_T h_{T-1}^T"]) == 1
    out = capsys.readouterr().out
    assert f"diagnosis: {LAST_STEP}" in out


@pytest.mark.parametrize("claim, message", [
    ("dWh = sum_t dz_t", r"write a sum over the steps as \sum_t … or sum(t, …)"),
    ("dq_t = 1", "unknown name 'dq_t'"),
    ("dz_{t+5} = 0", "the left side is outside the steps 1 … 3 at every t"),
])
def test_a_sequence_claim_symbp_cannot_read_is_bad_input(claim, message, capsys):
    assert main(["check", RNN, "--claim", claim]) == 2
    assert message in capsys.readouterr().out


def test_a_sequence_spec_without_a_recurrent_layer_is_refused_in_one_line(capsys):
    assert main(["check", "tiny_attention", "--claim", "dWh = 0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "claims in sequence notation are about a recurrent layer" in err[0]
