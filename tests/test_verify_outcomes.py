"""verify ends every run with a verdict and its exit code, whatever the user's function does:
exits, raises (on the first or a later call, BaseExceptions too), returns complex or NaN values."""

from __future__ import annotations

import numpy as np
import pytest

import symbp
from symbp.check.function import FunctionError, check_function
from symbp.codegen.load import load_module


@pytest.fixture(scope="module")
def kernel():
    return load_module(symbp.emit_numpy(symbp.load_spec("mazur")), "mazur_outcomes")


def _later(kernel, exc: BaseException):
    """Right on the first call, then raises ``exc``."""
    calls = []

    def fn(params, X, Y):
        calls.append(1)
        if len(calls) > 1:
            raise exc
        return kernel.loss_and_grad(params, X, Y)

    return fn


@pytest.mark.parametrize("exc", [ValueError("bad shift"), SystemExit(0), GeneratorExit(),
                                 KeyboardInterrupt(), StopIteration()])
def test_a_function_that_raises_on_a_later_call_is_reported(kernel, exc):
    with pytest.raises(FunctionError, match=f"central differences\\) raised {type(exc).__name__}"):
        check_function("mazur", _later(kernel, exc))


@pytest.mark.parametrize("body, words", [
    ("import sys\n    sys.exit(0)", "raised SystemExit: 0"),
    ("raise GeneratorExit('closed')", "raised GeneratorExit: closed"),
    ("raise KeyboardInterrupt", "raised KeyboardInterrupt"),
    ("raise ValueError('line one\\nline two')", "raised ValueError: line one line two"),
])
def test_verify_command_reports_a_function_that_exits_or_raises_with_exit_2(tmp_path, run, body, words):
    path = tmp_path / "user.py"
    path.write_text(f"def fn(params, X, Y):\n    {body}\n")
    code, out, err = run("verify", "mazur", "--function", f"{path}:fn")
    assert code == 2 and words in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_file_that_exits_while_imported_is_reported(tmp_path, run):
    path = tmp_path / "user.py"
    path.write_text("import sys\nsys.exit(0)\n")
    code, _, err = run("verify", "mazur", "--function", f"{path}:fn")
    assert code == 2 and "importing it raised SystemExit" in err


def test_gradients_with_imaginary_parts_are_wrong_not_truncated(kernel):
    def complex_grads(params, X, Y):
        J, grads = kernel.loss_and_grad(params, X, Y)
        return J, {k: v + 1e-3j for k, v in grads.items()}

    report = check_function("mazur", complex_grads)
    assert report.exit_code == 1 and set(report.wrong) == set(report_names(report))
    assert "has imaginary parts (largest 0.001)" in report.render()

    def complex_loss(params, X, Y):
        J, grads = kernel.loss_and_grad(params, X, Y)
        return J + 1e-3j, grads

    with pytest.raises(FunctionError, match="the loss has an imaginary part"):
        check_function("mazur", complex_loss)

    def zero_imaginary(params, X, Y):
        J, grads = kernel.loss_and_grad(params, X, Y)
        return complex(J), {k: v + 0j for k, v in grads.items()}

    assert check_function("mazur", zero_imaginary).ok


def report_names(report):
    return [p.name for p in report.params]


def test_a_loss_that_is_nan_next_to_the_point_is_never_ok(kernel):
    start = {}

    def nan_nearby(params, X, Y):
        J, grads = kernel.loss_and_grad(params, X, Y)
        start.setdefault("W1", np.array(params["W1"]))
        return (J if np.array_equal(params["W1"], start["W1"]) else float("nan")), grads

    report = check_function("mazur", nan_nearby)
    text = report.render()
    assert report.exit_code == 1 and "verdict: WRONG loss (not finite" in text
    assert not any("nan" in line and line.endswith(" ok") for line in text.splitlines()), text


def test_nan_in_a_gradient_or_the_loss_is_wrong(kernel):
    def nan_grad(params, X, Y):
        J, grads = kernel.loss_and_grad(params, X, Y)
        return J, {**grads, "W2": np.full_like(grads["W2"], np.nan)}

    assert check_function("mazur", nan_grad).wrong == ["W2"]

    def nan_loss(params, X, Y):
        return float("nan"), kernel.loss_and_grad(params, X, Y)[1]

    report = check_function("mazur", nan_loss)
    assert report.exit_code == 1 and "WRONG" in report.render().splitlines()[1]
