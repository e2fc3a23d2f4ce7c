"""Misused inputs: every generated function refuses them with a ValueError naming the shapes.

A one-output network given Y of shape (B,), a transposed Y, 1-D X or Y, an empty batch, fewer
target rows than input rows, complex or text arrays: each once broadcast into a wrong loss, a
NaN or a mismatched zip. Both kernels are tried (the Python-float kernel of a tiny network at a
small batch and the array kernel), through forward, loss, loss_and_grad and sgd_step.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

import symbp
from symbp.codegen.load import load_module

from .tally import count

NETS = {  # name -> (spec, kernel)
    "tiny one output, Python floats": ({"inputs": 3, "loss": "half_sse", "layers": [
        {"size": 2, "activation": "sigmoid"}, {"size": 1, "activation": "sigmoid"}]}, "unrolled"),
    "tiny one output, arrays": ({"inputs": 3, "loss": "half_sse", "layers": [
        {"size": 2, "activation": "sigmoid"}, {"size": 1, "activation": "sigmoid"}]}, "arrays"),
    "softmax, arrays": ({"inputs": 3, "loss": "softmax_ce", "layers": [
        {"size": 4, "activation": "relu"}, {"size": 2, "activation": "softmax"}]}, "arrays"),
}


def _misuses(n_in: int, n_out: int, B: int) -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
    """misuse -> (the argument at fault, X, Y)."""
    rng = np.random.default_rng(B)
    X, Y = rng.standard_normal((B, n_in)), rng.uniform(0.1, 0.9, (B, n_out))
    cases = {
        "Y of shape (B,)": ("Y", X, Y[:, 0]),
        "Y transposed": ("Y", X, np.ascontiguousarray(np.tile(Y, (1, 2)).T)),
        "1-D X": ("X", X[0], Y[:1]),
        "1-D X and Y": ("X", X[0], Y[0]),
        "3-D X": ("X", X[:, :, None], Y),
        "empty batch": ("X", X[:0], Y[:0]),
        "fewer target rows": ("Y", X, Y[:-1]),
        "complex X": ("X", X.astype(complex), Y),
        "complex Y": ("Y", X, Y.astype(complex)),
        "text Y": ("Y", X, Y.astype(str)),
    }
    if B != n_in:  # a square X transposed has the right shape
        cases["X transposed"] = ("X", np.ascontiguousarray(X.T), Y)
    return cases


@functools.cache
def _module(name: str):
    spec, kernel = NETS[name]
    return load_module(symbp.emit_numpy(symbp.Network.from_dict(spec), kernel=kernel), "misuse")


def _calls(module, params, X, Y):
    return {"forward": lambda: module.forward(params, X), "loss": lambda: module.loss(params, X, Y),
            "loss_and_grad": lambda: module.loss_and_grad(params, X, Y),
            "loss_and_grad with work": lambda: module.loss_and_grad(params, X, Y, {}),
            "sgd_step": lambda: module.sgd_step(params, X, Y, 0.1)}


@pytest.mark.parametrize("B", [1, 3, 40])
@pytest.mark.parametrize("name", list(NETS))
def test_misused_inputs_raise_a_value_error_that_states_the_expected_shapes(name, B):
    module = _module(name)
    spec = NETS[name][0]
    n_in, n_out = spec["inputs"], spec["layers"][-1]["size"]
    params = module.init_params(0)
    for misuse, (fault, X, Y) in _misuses(n_in, n_out, B).items():
        expected = rf"{fault} must be .* of shape \(B, {n_in if fault == 'X' else n_out}\)"
        for call, run in _calls(module, params, X, Y).items():
            if call == "forward" and fault == "Y":
                continue  # forward reads no Y
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                with pytest.raises(ValueError, match=expected) as info:
                    run()
            assert "\n" not in str(info.value), (misuse, call)
            count("misused_calls")


@pytest.mark.parametrize("name", list(NETS))
def test_integer_and_float32_inputs_give_the_float64_results(name):
    """Real numbers of any dtype are accepted: the check refuses shapes and complex or text."""
    module = _module(name)
    spec = NETS[name][0]
    params = module.init_params(0)
    X = np.arange(6 * spec["inputs"]).reshape(6, -1) % 3 - 1
    Y = np.eye(6, spec["layers"][-1]["size"], dtype=int)
    J, grads = module.loss_and_grad(params, X.astype(float), Y.astype(float))
    J_int, grads_int = module.loss_and_grad(params, X, Y)
    assert J_int == pytest.approx(J, rel=1e-15)
    assert all(np.allclose(grads_int[k], grads[k], rtol=1e-15, atol=0) for k in grads)
