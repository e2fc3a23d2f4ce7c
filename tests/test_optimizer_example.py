"""``symbp example --optimizer NAME --steps N``: every number of N optimiser steps."""

from __future__ import annotations

import numpy as np
import pytest

import symbp
from symbp.core.naming import neuron_names
from symbp.core.optimizers import NAMES
from symbp.docs.example import example_settings, params_from_values
from symbp.docs.optimizer_example import optimizer_steps
from symbp.docs.pdf import compile_pdf
from tests.test_documents import katex


@pytest.mark.parametrize("name", NAMES)
def test_every_step_of_the_table_equals_the_kernels_train_step(bundled_kernel, name):
    net, mod = bundled_kernel("mazur")
    values, _, _ = example_settings(net)
    table = optimizer_steps(net, values, 0.05, 3, name)
    names = neuron_names(net)
    params = params_from_values(net, names, values)
    X = np.array([[values[n] for n in names.inputs]])
    Y = np.array([[values[n] for n in names.targets]])
    state = mod.init_state(params, name)
    flat = [w for layer in names.weights for row in layer for w in row]  # row by row, as W (out, in)
    for t, loss, rows in table.steps:
        assert float(loss) == pytest.approx(float(mod.train_step(params, state, X, Y, 0.05)), abs=1e-9)
        after = np.concatenate([params["W1"].ravel(), params["W2"].ravel()])
        shown = {row[0]: float(row[-1]) for row in rows}
        assert [shown[w] for w in flat] == pytest.approx(after.tolist(), abs=2e-9), f"t = {t}"


def test_adam_table_has_moments_and_bias_corrections_and_no_decay_column():
    net = symbp.load_spec("mazur")
    values, _, _ = example_settings(net)
    table = optimizer_steps(net, values, 0.01, 2, "adam")
    assert [plain for plain, _ in table.columns] == ["∂E/∂p", "m", "v", "m̂", "v̂", "p⁺"]
    w5 = next(row for row in table.steps[0][2] if row[0] == "w5")
    g = float(w5[1])  # t = 1: m = (1 − β₁)g, m̂ = g, v̂ = g² (printed to 9 decimals)
    assert float(w5[2]) == pytest.approx(0.1 * g, abs=1e-9)
    assert float(w5[4]) == pytest.approx(g, abs=1e-9) and float(w5[5]) == pytest.approx(g * g, abs=1e-9)
    adamw = optimizer_steps(net, values, 0.01, 1, "adamw")
    assert [plain for plain, _ in adamw.columns][:2] == ["∂E/∂p", "p′"]


def test_cli_example_optimizer_in_every_format(run, tmp_path):
    code, out, _ = run("example", "mazur", "--optimizer", "adam", "--steps", "3", "--lr", "0.01")
    assert code == 0 and "Step t = 3" in out and "m̂" in out
    code, tex, _ = run("example", "mazur", "--optimizer", "nesterov", "--steps", "2", "-f", "latex")
    assert code == 0 and compile_pdf(tex, runs=1).startswith(b"%PDF")
    code, md, _ = run("example", "mazur", "--optimizer", "rmsprop", "--steps", "2", "-f", "markdown")
    (tmp_path / "ex.md").write_text(md, "utf-8")
    report = katex([tmp_path / "ex.md"])
    assert code == 0 and report["returncode"] == 0 and not report["errors"], report["errors"][:3]
    code, _, err = run("example", "mazur", "--optimizer", "adam", "--steps", "1000")
    assert code == 2 and "--steps: with --optimizer, between 1 and 100" in err
