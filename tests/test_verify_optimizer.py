"""``symbp verify --optimizer``: hand-written optimiser steps, and the slip named."""

from __future__ import annotations

from pathlib import Path

import pytest

from symbp.check.function import load_function
from symbp.verify.optimizer import check_step

DATA = Path(__file__).parent / "data" / "optimizer_steps"
CS231N, PLAIN = DATA / "cs231n_optim.py", DATA / "plain_steps.py"


@pytest.mark.parametrize("function, name", [("adam", "adam"), ("rmsprop", "rmsprop"),
                                            ("sgd_momentum", "momentum")])
def test_cs231n_steps_agree_with_the_registry(function, name):
    report = check_step(load_function(f"{CS231N}:{function}"), name, "cs231n")
    assert report.ok and report.exit_code == 0, report.render()


@pytest.mark.parametrize("function, slip", [
    ("adam_no_correction", "the bias correction is missing"),
    ("adam_eps_inside", "ε is inside the square root"),
    ("adam_update_first", "the parameter is updated before the moments"),
])
def test_cs231n_adam_slips_are_named(function, slip):
    report = check_step(load_function(f"{CS231N}:{function}"), "adam", "cs231n")
    assert not report.ok and report.exit_code == 1
    assert report.slip is not None and report.slip.startswith(slip), report.render()


def test_plain_adamw_passes_and_coupled_decay_is_named():
    assert check_step(load_function(f"{PLAIN}:adamw"), "adamw", hyper={"weight_decay": 0.1}).ok
    report = check_step(load_function(f"{PLAIN}:adamw_coupled"), "adamw", hyper={"weight_decay": 0.1})
    assert report.slip == "weight decay is coupled (added to the gradient) where AdamW decouples it"


def test_plain_nesterov_passes_and_an_unknown_mistake_is_reported_without_a_slip():
    assert check_step(load_function(f"{PLAIN}:nesterov"), "nesterov", hyper={"weight_decay": 0.01}).ok
    report = check_step(load_function(f"{PLAIN}:broken"), "nesterov")
    assert not report.ok and report.step == 1 and report.slip is None
    assert "none of the known slips" in report.render()


def test_cli_verify_optimizer(run):
    code, out, _ = run("verify", "--optimizer", "adam", "--function", f"{CS231N}:adam_eps_inside",
                       "--convention", "cs231n")
    assert code == 1 and "diagnosis: ε is inside the square root" in out and "WRONG adam step" in out
    code, out, _ = run("verify", "--optimizer", "rmsprop", "--function", f"{CS231N}:rmsprop",
                       "--convention", "cs231n")
    assert code == 0 and "verdict: PASS" in out
    code, out, _ = run("verify", "--optimizer", "adam", "--function", f"{PLAIN}:nesterov")
    assert code == 2 and "cannot check it: the function raised TypeError" in out
