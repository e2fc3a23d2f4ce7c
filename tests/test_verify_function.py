"""symbp verify: hand-written backward functions in the seeds' styles, right and deliberately wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import symbp
from symbp.check.function import ADAPTERS, FunctionError, check_function, load_function

DATA = Path(__file__).parent / "data" / "handwritten"
SEED003 = str(DATA / "seed003_net.toml")
SEED003_CODE = DATA / "seed003_backward.py"
SEED004_CODE = DATA / "seed004_backward.py"


@pytest.fixture(scope="module")
def seed003():
    return lambda name: load_function(f"{SEED003_CODE}:{name}")


@pytest.fixture(scope="module")
def seed004():
    return lambda name: load_function(f"{SEED004_CODE}:{name}")


# --------------------------------------------------------------------------- seed 003: (in, out)


def test_seed003_style_backward_passes(seed003):
    report = check_function(SEED003, seed003("loss_and_grads"), "in_out")
    assert report.ok and report.exit_code == 0
    assert [p.name for p in report.params] == ["W1", "b1", "W2", "b2"]
    assert all(p.max_rel_err < 1e-12 and p.fd_rel_err < 1e-6 for p in report.params)


def test_seed003_missing_activation_derivative_names_the_hidden_layer(seed003):
    report = check_function(SEED003, seed003("broken_missing_derivative"), "in_out")
    assert report.exit_code == 1 and report.wrong == ["W1", "b1"]
    w1 = report.params[0]
    assert w1.max_rel_err > 0.1 and w1.claimed != pytest.approx(w1.true)
    assert "verdict: WRONG gradient for W1, b1" in report.render()


def test_seed003_transposed_gradient_is_named_with_its_shape(seed003):
    report = check_function(SEED003, seed003("broken_transposed"), "in_out")
    assert report.wrong == ["W1"]
    assert report.params[0].problem == "shape (5, 4), expected (4, 5) (transposed?)"


# --------------------------------------------------------------------------- seed 004: Θ


def test_seed004_nncostfunction_passes_on_the_bundled_network(seed004):
    report = check_function("seed004", seed004("nnCostFunction"), "nncost")
    assert report.ok, report.render()
    assert [p.name for p in report.params] == ["Theta1", "Theta2"]
    assert report.loss_rel_err < 1e-12


def test_seed004_missing_sigmoid_gradient_names_theta1_only(seed004):
    report = check_function("seed004", seed004("broken_no_sigmoid_gradient"), "nncost")
    assert report.wrong == ["Theta1"] and report.exit_code == 1
    # the gradient does not match the function's own loss either: central differences say so
    assert report.params[0].fd_rel_err > 1e-3


def test_seed004_regularised_bias_column_names_both_thetas_at_column_0(seed004):
    report = check_function("seed004", seed004("broken_regularised_bias"), "nncost")
    assert report.wrong == ["Theta1", "Theta2"]
    assert all(p.index[1] == 0 for p in report.params)  # the bias column


def test_seed004_theta_list_convention(seed004):
    assert check_function("seed004", seed004("cost_and_grads"), "theta").ok
    broken = check_function("seed004", seed004("broken_transposed"), "theta")
    assert broken.wrong == ["Theta2"] and "transposed?" in broken.params[1].problem


@pytest.mark.parametrize("order", ["F", "C"])
def test_unrolled_theta_convention_in_both_orders(seed004, order):
    cost = seed004("cost_and_grads")
    shapes = [(25, 401), (10, 26)]

    def unrolled(vec, X, y, lam):
        thetas, start = [], 0
        for r, c in shapes:
            thetas.append(vec[start:start + r * c].reshape((r, c), order=order))
            start += r * c
        J, grads = cost(thetas, X, y, lam)
        return J, np.concatenate([g.ravel(order=order) for g in grads])

    assert check_function("seed004", unrolled, "theta_unrolled", order=order).ok
    other = "C" if order == "F" else "F"
    assert not check_function("seed004", unrolled, "theta_unrolled", order=other).ok


def test_labels_option_zero_based_and_one_hot(seed004):
    cost = seed004("cost_and_grads")
    zero_based = lambda thetas, X, y, lam: cost(thetas, X, y + 1, lam)  # noqa: E731
    one_hot = lambda thetas, X, Y, lam: cost(thetas, X, np.argmax(Y, axis=1) + 1, lam)  # noqa: E731
    assert check_function("seed004", zero_based, "theta", labels="0").ok
    assert check_function("seed004", one_hot, "theta", labels="onehot").ok


# --------------------------------------------------------------------------- symbp convention


def test_symbp_convention_accepts_the_generated_kernel_and_catches_a_perturbed_one():
    net = symbp.load_spec("tanh_mse")
    from symbp.codegen.load import load_module

    kernel = load_module(symbp.emit_numpy(net), "tanh_mse_reference")
    assert check_function(net, kernel.loss_and_grad).ok

    def off_by_two(params, X, Y):
        J, grads = kernel.loss_and_grad(params, X, Y)
        return J, {**grads, "b2": 2 * grads["b2"]}

    report = check_function(net, off_by_two)
    assert report.wrong == ["b2"]


def test_a_wrong_loss_with_consistent_gradients_is_reported_as_a_wrong_loss(seed003):
    right = seed003("loss_and_grads")

    def scaled(params, X, Y):
        J, grads = right(params, X, Y)
        return 2 * J, {k: 2 * v for k, v in grads.items()}

    report = check_function(SEED003, scaled, "in_out")
    assert not report.ok and report.loss_rel_err == pytest.approx(1.0)
    assert all(p.fd_rel_err < 1e-6 for p in report.params)  # consistent with its own loss


# --------------------------------------------------------------------------- loading and calling


def test_loading_errors_are_function_errors(tmp_path):
    with pytest.raises(FunctionError, match="no such Python file"):
        load_function(str(tmp_path / "missing.py") + ":f")
    with pytest.raises(FunctionError, match="expected FILE.py:NAME"):
        load_function("nofunction.py")
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(FunctionError, match="RuntimeError: boom"):
        load_function(f"{bad}:f")
    with pytest.raises(FunctionError, match="defines no function g"):
        load_function(f"{SEED003_CODE}:g")


def test_calling_with_the_wrong_convention_is_a_function_error(seed004):
    with pytest.raises(FunctionError, match="calling the function"):
        check_function("seed004", seed004("nnCostFunction"), "theta")
    with pytest.raises(FunctionError, match="unknown convention"):
        check_function("seed004", seed004("nnCostFunction"), "octave")


def test_every_adapter_documents_its_signature():
    for adapter in ADAPTERS.values():
        assert adapter.signature.startswith(("fn(", "nnCostFunction("))


def test_verify_command_exit_codes(run):
    code, out, _ = run("verify", SEED003, "--function", f"{SEED003_CODE}:loss_and_grads",
                       "--convention", "in_out")
    assert code == 0 and "verdict: PASS" in out
    code, out, _ = run("verify", "seed004", "--function", f"{SEED004_CODE}:broken_no_sigmoid_gradient",
                       "--convention", "nncost")
    assert code == 1 and "WRONG gradient for Theta1" in out and "worst entry" in out
    code, _, err = run("verify", "seed004", "--function", f"{SEED004_CODE}:nnCostFunction")
    assert code == 2 and err.startswith("symbp: error: calling the function")


def test_verify_help_says_that_the_file_is_run(run, capsys):
    with pytest.raises(SystemExit):
        run("verify", "--help")
    assert "runs the code in it" in capsys.readouterr().out
