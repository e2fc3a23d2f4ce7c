"""Training: symbp.train / symbp.load_kernel and the ``symbp train`` command."""

from __future__ import annotations

import io
import json
import os
import signal

import numpy as np
import pytest

import symbp
from symbp.cli.train import SCHEMES, Bar, Lines
from symbp.core.optimizers import NAMES
from symbp.training.loop import Progress

DIGITS = "mlp_digits"


def small_net(outputs=3, loss="softmax_ce", last="softmax"):
    return symbp.Network.from_dict({"name": "small", "inputs": 4, "loss": loss, "layers": [
        {"size": 8, "activation": "tanh"}, {"size": outputs, "activation": last}]})


def blobs(rows=120, seed=0):
    """Three separable clusters in 4 dimensions, labels 0…2."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, rows)
    centres = np.eye(3, 4) * 3
    return centres[labels] + rng.standard_normal((rows, 4)) * 0.5, labels


def test_train_learns_digits_to_high_validation_accuracy():
    from sklearn.datasets import load_digits

    digits = load_digits()
    net = symbp.load_spec(DIGITS)
    history = symbp.train(net, digits.data / 16, digits.target, optimizer="adam", lr=3e-3,
                          epochs=15, batch=32, val=0.2, seed=0)
    assert history.epochs[-1].val_accuracy > 0.94
    assert history.epochs[-1].loss < history.epochs[0].loss
    assert history.steps == 15 * -(-1438 // 32)


@pytest.mark.parametrize("optimizer", NAMES)
def test_every_optimizer_trains_separable_blobs(optimizer):
    X, labels = blobs()
    lr = {"sgd": 0.5, "momentum": 0.1, "nesterov": 0.1}.get(optimizer, 0.02)
    history = symbp.train(small_net(), X, labels, optimizer=optimizer, lr=lr, epochs=20, batch=16)
    assert history.epochs[-1].accuracy >= 0.97, optimizer


def test_training_is_reproducible_from_the_seed():
    X, labels = blobs()
    a = symbp.train(small_net(), X, labels, epochs=3, seed=4, val=0.25)
    b = symbp.train(small_net(), X, labels, epochs=3, seed=4, val=0.25)
    c = symbp.train(small_net(), X, labels, epochs=3, seed=5, val=0.25)
    assert [e.loss for e in a.epochs] == [e.loss for e in b.epochs]
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["W1"], c.params["W1"])


def test_binary_targets_get_a_thresholded_accuracy_and_regression_none():
    X, labels = blobs()
    net = small_net(1, "bce", "sigmoid")
    history = symbp.train(net, X, (labels == 0).astype(float), epochs=10, lr=0.01)
    assert history.epochs[-1].accuracy > 0.95
    regression = symbp.train(small_net(2, "mse", "identity"), X, X[:, :2], epochs=2)
    assert regression.epochs[-1].accuracy is None


def test_load_kernel_imports_the_emitted_module_once():
    net = small_net()
    mod = symbp.load_kernel(net)
    assert mod is symbp.load_kernel(net)
    params = mod.init_params(0)
    state = mod.init_state(params, "adam")
    X, labels = blobs(8)
    assert np.isfinite(mod.train_step(params, state, X, np.eye(3)[labels], 1e-3))


class InterruptAt(Progress):
    def __init__(self, step):
        self.at, self.seen = step, 0

    def step(self, epoch, step, steps, loss):
        self.seen += 1
        if self.seen == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_stops_after_the_current_step_and_keeps_the_handler():
    X, labels = blobs()
    before = signal.getsignal(signal.SIGINT)
    history = symbp.train(small_net(), X, labels, epochs=5, batch=16, progress=InterruptAt(11))
    assert history.interrupted and history.steps == 11
    assert [e.epoch for e in history.epochs] == [1, 2]  # the stopped epoch is recorded too
    assert all(np.isfinite(v).all() for v in history.params.values())
    assert signal.getsignal(signal.SIGINT) is before


def test_cli_ctrl_c_saves_everything_so_far_and_exits_130(run, tmp_path, monkeypatch):
    data = tmp_path / "blobs.npz"
    X, labels = blobs()
    np.savez(data, X=X, Y=labels)
    spec = tmp_path / "small.json"
    spec.write_text(json.dumps({"name": "small", "inputs": 4, "loss": "softmax_ce", "layers": [
        {"size": 3, "activation": "softmax"}]}))
    monkeypatch.setattr(Lines, "step", lambda self, *a: InterruptAt.step(interrupt, *a))
    interrupt = InterruptAt(7)
    code, out, _ = run("train", str(spec), "--data", str(data), "--epochs", "9", "--batch", "16",
                       "-o", str(tmp_path / "o"))
    assert code == 130 and "interrupted after step 7; saving what there is" in out
    history = json.loads((tmp_path / "o" / "small_history.json").read_text())
    assert history["interrupted"] and history["steps"] == 7 and len(history["epochs"]) == 1
    assert (tmp_path / "o" / "small_params.npz").is_file()
    assert (tmp_path / "o" / "small_training.png").is_file()


def test_cli_trains_a_bundled_spec_on_digits_and_writes_everything(run, tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = run("train", DIGITS, "--data", "digits", "--epochs", "2", "--val", "0.2",
                               "-o", str(out))
    assert code == 0, stderr
    assert "epoch 2/2  loss" in stdout and "val loss" in stdout and "\r" not in stdout
    history = json.loads((out / f"{DIGITS}_history.json").read_text())
    assert [e["epoch"] for e in history["epochs"]] == [1, 2] and history["optimizer"] == "adam"
    assert (out / f"{DIGITS}_training.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (out / f"{DIGITS}_training.svg").read_bytes()
    with np.load(out / f"{DIGITS}_params.npz") as saved:
        assert sorted(saved.files) == ["W1", "W2", "b1", "b2"]
        assert all(np.isfinite(saved[k]).all() for k in saved.files)


def test_init_continues_from_saved_parameters(run, tmp_path):
    data = tmp_path / "blobs.npz"
    X, labels = blobs()
    np.savez(data, X=X, Y=labels)
    spec = tmp_path / "small.json"
    spec.write_text(json.dumps({"name": "small", "inputs": 4, "loss": "softmax_ce", "layers": [
        {"size": 8, "activation": "tanh"}, {"size": 3, "activation": "softmax"}]}))
    assert run("train", str(spec), "--data", str(data), "--epochs", "2", "-o", str(tmp_path / "a"))[0] == 0
    saved = tmp_path / "a" / "small_params.npz"
    start = dict(np.load(saved))
    code, _, err = run("train", str(spec), "--data", str(data), "--epochs", "1", "--optimizer", "sgd",
                       "--lr", "1e-300", "--init", str(saved), "-o", str(tmp_path / "b"))
    assert code == 0, err
    after = dict(np.load(tmp_path / "b" / "small_params.npz"))
    for k in start:  # lr ~ 0: the run started from the saved parameters, not from init_params
        np.testing.assert_allclose(after[k], start[k], rtol=1e-12)


def test_csv_with_a_named_target_column(run, tmp_path):
    X, labels = blobs(60)
    csv = tmp_path / "blobs.csv"
    rows = ["f1,f2,label,f3,f4"] + [f"{a},{b},{y},{c},{d}" for (a, b, c, d), y in zip(X, labels)]
    csv.write_text("\n".join(rows) + "\n")
    spec = tmp_path / "small.json"
    spec.write_text(json.dumps({"name": "small", "inputs": 4, "loss": "softmax_ce", "layers": [
        {"size": 3, "activation": "softmax"}]}))
    code, stdout, err = run("train", str(spec), "--data", str(csv), "--target", "label", "--epochs", "2",
                            "--lr", "0.05", "-o", str(tmp_path / "o"))
    assert code == 0, err
    assert "60 rows" in stdout
    code, _, err = run("train", str(spec), "--data", str(csv), "-o", str(tmp_path / "p"))
    assert code == 2 and "has no column 'target' (use --target NAME)" in err


@pytest.mark.parametrize("argv, message", [
    (["--data", "digits", "--epochs", "1"], "X must have 4 columns (the network's inputs)"),
    (["--data", "nope.txt"], "expected a .npz or .csv file, or digits"),
    (["--data", "digits", "--optimizer", "sgd", "--betas", "0.9", "0.99"], "sgd has no hyper-parameter"),
    (["--data", "digits", "--val", "1.5"], "--val: must be a number in [0, 1)"),
    (["--data", "digits", "--lr", "-1"], "--lr: must be a number in (0, 1e+06]"),
])
def test_bad_training_input_is_one_line_and_exit_2(run, tmp_path, argv, message):
    spec = tmp_path / "small.json"
    spec.write_text(json.dumps({"name": "small", "inputs": 4 if "columns" in message else 64,
                                "loss": "softmax_ce", "layers": [{"size": 10, "activation": "softmax"}]}))
    code, _, err = run("train", str(spec), *argv, "-o", str(tmp_path / "o"))
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


def test_labels_out_of_range_and_unknown_schemes_are_refused(tmp_path):
    X, labels = blobs()
    with pytest.raises(symbp.SymbpError, match="labels must be integers 0…2"):
        symbp.train(small_net(), X, labels + 1)
    with pytest.raises(symbp.SymbpError, match="scheme: one of default"):
        symbp.train(small_net(), X, labels, scheme="glorot")


def test_progress_bar_draws_in_place_and_lines_print_one_per_epoch():
    from symbp.training.loop import Epoch

    out = io.StringIO()
    bar = Bar(2, out)
    bar.step(1, 10, 10, 0.5)
    bar.epoch(Epoch(1, 0.5, 0.9, None, None, 0.1))
    text = out.getvalue()
    assert text.startswith("\repoch 1/2 [") and "loss 0.5000" in text and "s left" in text
    assert "epoch 1/2  loss 0.5000 acc  90.0%" in text
    out = io.StringIO()
    Lines(2, out).epoch(Epoch(2, 0.25, None, 0.3, None, 0.1))
    assert out.getvalue() == "epoch 2/2  loss 0.2500  val loss 0.3000  (0.10 s)\n"


def test_cli_schemes_are_the_kernels_schemes():
    mod = symbp.load_kernel(small_net())
    assert SCHEMES == ("default", *mod.INIT_SCHEMES)
