"""The emitted kernel of an attention spec: gradients equal autograd's at any batch size, in
the dtype of the inputs, with the scores as one contraction over (B, T, T) and no Python loop."""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest

from symbp.codegen.graph_emit import emit_graph
from symbp.codegen.load import load_module
from symbp.core.errors import SpecError
from symbp.core.graph_spec import from_dict
from tests import engine_oracle as oracle
from tests.test_graph_kernel import check_kernel_against_autograd

_KERNELS: dict[bool, tuple] = {}


def attention_spec(causal: bool, steps: int = 5, features: int = 4):
    return from_dict({"name": "attention_net", "inputs": [steps, features], "loss": "softmax_ce",
                      "layers": [{"type": "attention", "causal": causal}, {"type": "flatten"},
                                 {"size": 3, "activation": "softmax"}]})


def kernel(causal: bool):
    if causal not in _KERNELS:
        spec = attention_spec(causal)
        source = emit_graph(spec)
        _KERNELS[causal] = spec, source, load_module(source, "attention_net")
    return _KERNELS[causal]


@pytest.mark.parametrize("batch", [2, 3])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_kernel_gradients_equal_autograd_at_any_batch_size(causal, batch):
    spec, _, module = kernel(causal)
    check_kernel_against_autograd(spec, module, batch, seed=batch)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_kernel_keeps_float32(causal):
    spec, _, module = kernel(causal)
    values = oracle.random_values(spec.graph(2), seed=1, dtype=np.float32)
    params = {k: values[k] for k in module.PARAM_SHAPES}
    J, grads = module.loss_and_grad(params, values["X"], values["Y"])
    assert np.asarray(J).dtype == np.float32 and module.forward(params, values["X"]).dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


def test_attention_kernel_contracts_scores_in_one_einsum_without_python_loops():
    _, source, _ = kernel(True)
    tree = ast.parse(source)
    assert not any(isinstance(node, (ast.For, ast.While, ast.comprehension)) for f in tree.body
                   if isinstance(f, ast.FunctionDef) and f.name in ("_forward", "loss_and_grad")
                   for node in ast.walk(f))
    scores = next(line for line in source.splitlines() if line.strip().startswith("v['attention1_scores']"))
    assert "np.einsum('acd,abd->abc', v['attention1_k'], v['attention1_q']" in scores
    assert "(1/2)" in scores  # 1/√4, the scale of the scores
    for name in ("attention1_shift", "attention1_exp"):  # the causal mask: a guard, not −inf scores
        line = next(line for line in source.splitlines() if line.strip().startswith(f"v['{name}']"))
        assert re.search(r"_mask\(1, \((1, -1|-1, 1), \), 0, 5,", line), line  # s ≤ t, in either axis order


def test_attention_spec_field_causal_must_be_a_boolean():
    with pytest.raises(SpecError, match=r"layers\[0\]\.causal: must be true or false"):
        from_dict({"inputs": [3, 2], "layers": [{"type": "attention", "causal": "yes"}, {"type": "flatten"}]})


def test_attention_refuses_inputs_that_are_not_sequences_in_one_line():
    with pytest.raises(SpecError, match=r"layers\[0\]: attention takes inputs of shape \(batch, time, "):
        from_dict({"inputs": [4], "layers": [{"type": "attention"}, {"size": 2}]})


def test_an_irrational_scale_stays_inside_the_einsum():
    """D = 2: 1/√2 is a constant factor of the product, not a reason for an elementwise grid."""
    source = emit_graph(attention_spec(False, steps=3, features=2))
    for name in ("attention1_scores", "grad_attention1_q", "grad_attention1_k"):
        line = next(line for line in source.splitlines() if line.strip().startswith(f"v['{name}']"))
        assert line.count("np.einsum(") == 1 and "broadcast_to" not in line, line
        assert "0.7071067811865" in line, line


def test_the_kernel_ignores_masked_scores_of_any_size():
    """As the engine's evaluator: query 0 admits only key 0 (score −1600), the masked key 1
    scores +1600; the kernel's shift is the max over admitted keys and nothing is 0·inf."""
    spec = from_dict({"inputs": [2, 1], "loss": "half_sse",
                      "layers": [{"type": "attention", "causal": True}, {"type": "flatten"}]})
    module = load_module(emit_graph(spec), "masked_attention")
    params = {"Wq1": np.array([[-40.0]]), "Wk1": np.array([[40.0]]), "Wv1": np.array([[1.0]]),
              "Wo1": np.array([[1.0]])}
    X, Y = np.array([[[1.0], [-1.0]]]), np.zeros((1, 2))
    with np.errstate(over="ignore"):  # exp of the masked score overflows and is not used
        out = module.forward(params, X)
        J, grads = module.loss_and_grad(params, X, Y)
    assert np.array_equal(out, np.array([[1.0, 1.0]]))  # both queries attend to key 0 only
    assert np.isfinite(J) and all(np.isfinite(g).all() for g in grads.values())

