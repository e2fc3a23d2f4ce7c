"""Paths multiplied instead of summed is diagnosed in the forms people write it: seed 001's
(shared factor once), every factor per path (twice), or some shared factors once."""

from __future__ import annotations

import pytest

import symbp
from symbp.check.claim import check_claim

SEED001 = {"name": "seed001", "inputs": 2, "loss": "half_sse",
           "layers": [{"size": 2, "activation": "sigmoid"}, {"size": 2, "activation": "sigmoid"}],
           "names": {"weights": ["V{j}{i}", "W{j}{i}"], "pre_activations": ["H{i}", "Q{i}"],
                     "activations": ["P{i}", "O{i}"], "inputs": "X{i}", "targets": "Y{i}", "loss": "E"}}
HEAD1, HEAD2 = "(-W11*(Y1-O1)*O1*(1-O1)", "(-W12*(Y2-O2)*O2*(1-O2)"
MULTIPLIED = "the paths are multiplied where they must be summed"


@pytest.mark.parametrize("claim, kept_once", [
    # seed 001's own line: X1·P1(1−P1) written once, after the second path
    (f"dE/dV11 = {HEAD1})*{HEAD2}*X1*P1*(1-P1))", " (with the shared ∂P1/∂H1, ∂H1/∂V11 written once)"),
    (f"dE/dV11 = {HEAD1}*X1*P1*(1-P1))*{HEAD2}*X1*P1*(1-P1))", ""),
    (f"dE/dV11 = {HEAD1}*P1*(1-P1))*{HEAD2}*X1*P1*(1-P1))", " (with the shared ∂H1/∂V11 written once)"),
    (f"dE/dV11 = X1*{HEAD1}*P1*(1-P1))*{HEAD2}*P1*(1-P1))", " (with the shared ∂H1/∂V11 written once)"),
    (r"\frac{\partial E}{\partial V_{11}} = \left(-W_{11}(Y_1-O_1)O_1(1-O_1)\right)"
     r"\cdot\left(-W_{12}(Y_2-O_2)O_2(1-O_2)\cdot X_1\cdot P_1(1-P_1)\right)",
     " (with the shared ∂P1/∂H1, ∂H1/∂V11 written once)"),
])
def test_seed001_paths_multiplied_is_diagnosed_however_the_shared_factor_is_written(claim, kept_once):
    report = check_claim(symbp.Network.from_dict(SEED001), claim)
    assert report.verdict == "does not hold"
    assert report.diagnosis == MULTIPLIED + kept_once


def test_mazur_paths_multiplied_with_the_shared_factor_once():
    claim = ("dE_total/dw1 = ((a_o1 - target_o1)*a_o1*(1 - a_o1)*w5)"
             "*((a_o2 - target_o2)*a_o2*(1 - a_o2)*w7)*a_h1*(1 - a_h1)*i1")
    report = check_claim("mazur", claim)
    assert report.diagnosis == MULTIPLIED + " (with the shared ∂a_h1/∂z_h1, ∂z_h1/∂w1 written once)"
