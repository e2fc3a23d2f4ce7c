"""The tensor level for every op: activations, dropout, average pooling, flatten, concat and the
gradients of biases and of the norms' γ, β restated as textbooks write them, each statement
checked in numbers (the restated formula in NumPy) against the derived backward pass."""

from __future__ import annotations

import numpy as np
import pytest

from symbp.backprop.graph import backward
from symbp.codegen import numeric
from symbp.codegen.graph_emit import derive_graph
from symbp.core.graph_spec import from_dict
from symbp.docs.graph_document import GraphDerivation, tensor_statements
from tests.test_documents import katex, pdflatex_run

EVERY_OP = {"name": "every_op", "inputs": [1, 6, 6], "loss": "softmax_ce", "layers": [
    {"type": "conv2d", "channels": 2, "kernel": 3, "padding": 1, "activation": "sigmoid"},
    {"type": "batchnorm"},
    {"type": "avgpool2d", "kernel": 2},
    {"type": "flatten"},
    {"id": "h", "size": 4, "activation": "tanh"},
    {"type": "dropout", "rate": 0.5},
    {"id": "g", "size": 3, "activation": "relu"},
    {"type": "concat", "from": ["h", "g"]},
    {"type": "layernorm"},
    {"size": 3, "activation": "softmax"}]}
OVERLAP = {"name": "overlap", "inputs": [2, 7, 7], "loss": "softmax_ce", "layers": [
    {"type": "conv2d", "channels": 2, "kernel": 1}, {"type": "avgpool2d", "kernel": 3, "stride": 2},
    {"type": "flatten"},
    {"size": 2, "activation": "softmax"}]}


def _text(spec: dict) -> dict[str, str]:
    """Tensor-level statement text by the compute it restates (the first statement of each)."""
    out: dict[str, str] = {}
    for s in tensor_statements(derive_graph(from_dict(spec))):
        out.setdefault(s.name, s.text)
    return out


def _values(spec: dict, batch: int = 3) -> dict[str, np.ndarray]:
    """Every forward and derived backward tensor in numbers, on random inputs and parameters."""
    graph = from_dict(spec).graph(batch)
    rng = np.random.default_rng(7)
    env = {n: rng.standard_normal(s) for n, s in {**graph.inputs, **graph.params}.items()}
    masks = {n: s for n, s in graph.inputs.items() if n.startswith("mask")}
    env.update({n: (rng.random(s) < 0.5).astype(float) for n, s in masks.items()})
    return numeric.run(graph.computes + backward(graph, list(graph.params)).computes, env)


@pytest.fixture(scope="module")
def every_op():
    return _text(EVERY_OP), _values(EVERY_OP)


def test_activation_gradients_are_delta_times_the_derived_derivative(every_op):
    text, v = every_op
    assert text["grad_conv2d1_z"] == "grad_conv2d1_z = grad_act1_a ⊙ act1_a·(1 − act1_a)"
    assert text["grad_dense5_z"] == "grad_dense5_z = grad_act5_a ⊙ (1 − act5_a²)"
    assert text["grad_dense7_z"] == "grad_dense7_z = grad_act7_a ⊙ [act7_a > 0]"
    a1, a5, a7 = v["act1_a"], v["act5_a"], v["act7_a"]
    np.testing.assert_allclose(v["grad_conv2d1_z"], v["grad_act1_a"] * a1 * (1 - a1), rtol=1e-12)
    np.testing.assert_allclose(v["grad_dense5_z"], v["grad_act5_a"] * (1 - a5 ** 2), rtol=1e-12)
    np.testing.assert_allclose(v["grad_dense7_z"], v["grad_act7_a"] * (a7 > 0), rtol=1e-12)


def test_the_dropout_gradient_is_delta_times_the_mask_over_the_keep_rate(every_op):
    text, v = every_op
    part = "grad_act5_a__dropout6_y_0_0"
    assert text[part] == f"{part} = 2·grad_dropout6_y ⊙ mask6"
    np.testing.assert_allclose(v[part], v["grad_dropout6_y"] * v["mask6"] / (1 - 0.5), rtol=1e-12)


def test_bias_gamma_and_beta_gradients_sum_over_the_broadcast_axes(every_op):
    text, v = every_op
    assert text["grad_b1"] == "grad_b1 = Σ_{n,i,j} grad_conv2d1_z"
    assert text["grad_b5"] == "grad_b5 = Σ_{n} grad_dense5_z"
    assert text["grad_gamma2"] == "grad_gamma2 = Σ_{n,h,w} grad_batchnorm2_y ⊙ batchnorm2_xhat"
    assert text["grad_beta2"] == "grad_beta2 = Σ_{n,h,w} grad_batchnorm2_y"
    assert text["grad_gamma9"] == "grad_gamma9 = Σ_{n} grad_layernorm9_y ⊙ layernorm9_xhat"
    pixels = (0, 2, 3)
    np.testing.assert_allclose(v["grad_b1"], v["grad_conv2d1_z"].sum(pixels), rtol=1e-12)
    np.testing.assert_allclose(v["grad_b5"], v["grad_dense5_z"].sum(0), rtol=1e-12)
    dy2, dy9 = v["grad_batchnorm2_y"], v["grad_layernorm9_y"]
    np.testing.assert_allclose(v["grad_gamma2"], (dy2 * v["batchnorm2_xhat"]).sum(pixels), rtol=1e-12)
    np.testing.assert_allclose(v["grad_beta2"], dy2.sum(pixels), rtol=1e-12)
    np.testing.assert_allclose(v["grad_gamma9"], (dy9 * v["layernorm9_xhat"]).sum(0), rtol=1e-12)


def test_the_average_pool_gradient_is_delta_upsampled_over_the_window_size(every_op):
    text, v = every_op
    assert text["grad_batchnorm2_y"] == \
        "grad_batchnorm2_y[n,c] = (1/4)·upsample_2(grad_avgpool2d3_pool[n,c])"
    upsampled = np.kron(v["grad_avgpool2d3_pool"], np.ones((1, 1, 2, 2)))
    np.testing.assert_allclose(v["grad_batchnorm2_y"], upsampled / 4, rtol=1e-12)


def _full_correlation_with_ones(delta: np.ndarray, k: int, s: int, size: int) -> np.ndarray:
    """1_{k×k} ⋆ pad_{k−1}(dil_s(δ)), cut to the input's size (entries past the last window 0)."""
    n, c, h, w = delta.shape
    dilated = np.zeros((n, c, s * (h - 1) + 1, s * (w - 1) + 1))
    dilated[:, :, ::s, ::s] = delta
    padded = np.pad(dilated, ((0, 0), (0, 0), (k - 1, k - 1), (k - 1, k - 1)))
    rows, cols = padded.shape[2] - k + 1, padded.shape[3] - k + 1
    out = sum(padded[:, :, p:p + rows, q:q + cols] for p in range(k) for q in range(k))
    full = np.zeros((n, c, size, size))
    full[:, :, :rows, :cols] = out
    return full


def test_an_overlapping_average_pool_spreads_delta_by_a_full_correlation_with_ones():
    text, v = _text(OVERLAP), _values(OVERLAP)
    assert text["grad_conv2d1_z"] == \
        "grad_conv2d1_z[n,c] = (1/9)·1_3×3 ⋆ pad_2(dil_2(grad_avgpool2d2_pool[n,c]))"
    spread = _full_correlation_with_ones(v["grad_avgpool2d2_pool"], 3, 2, 7)
    np.testing.assert_allclose(v["grad_conv2d1_z"], spread / 9, rtol=1e-12)


def test_flatten_and_its_gradient_are_reshapes(every_op):
    text, v = every_op
    assert text["flatten4_flat"] == "flatten4_flat = reshape(avgpool2d3_pool, (B, 18))"
    assert text["grad_avgpool2d3_pool"] == "grad_avgpool2d3_pool = reshape(grad_flatten4_flat, (B, 2, 3, 3))"
    np.testing.assert_array_equal(v["flatten4_flat"], v["avgpool2d3_pool"].reshape(3, 18))
    np.testing.assert_array_equal(v["grad_avgpool2d3_pool"], v["grad_flatten4_flat"].reshape(3, 2, 3, 3))


def test_a_concats_gradient_is_split_into_slices_and_the_fan_out_shows_the_slice(every_op):
    text, v = every_op
    part = "grad_act5_a__concat8_cat_0_0"
    assert text[part] == f"{part} = grad_concat8_cat[:, 0:4]"
    assert text["grad_act7_a"] == "grad_act7_a = grad_concat8_cat[:, 4:7]"
    assert text["grad_act5_a"] == "grad_act5_a = (grad_concat8_cat[:, 0:4]) + (2·grad_dropout6_y ⊙ mask6)"
    np.testing.assert_array_equal(v[part], v["grad_concat8_cat"][:, 0:4])
    np.testing.assert_array_equal(v["grad_act7_a"], v["grad_concat8_cat"][:, 4:7])


def test_every_parameter_gradient_and_every_layers_input_gradient_has_a_tensor_level_line():
    derived = derive_graph(from_dict(EVERY_OP))
    shown = {s.name for s in tensor_statements(derived)}
    wanted = {f"grad_{p}" for p in derived.graph.params}
    wanted |= {"grad_act1_a", "grad_batchnorm2_y", "grad_avgpool2d3_pool", "grad_flatten4_flat",
               "grad_act5_a", "grad_dropout6_y", "grad_act7_a", "grad_concat8_cat", "grad_layernorm9_y"}
    assert sorted(wanted - shown) == []


def test_the_every_op_document_compiles_and_renders_in_katex(tmp_path):
    doc = GraphDerivation(derive_graph(from_dict(EVERY_OP)))
    _, overfull = pdflatex_run(doc.latex())
    assert [w for w in overfull if w > 5] == []
    (tmp_path / "every_op.md").write_text(doc.markdown(), "utf-8")
    report = katex([tmp_path / "every_op.md"])
    assert report["returncode"] == 0 and not report["errors"], report["errors"][:3]
    assert "upsample" in doc.text() and r"\operatorname{upsample}" in doc.latex()


def _softmax_net(loss: str) -> dict:
    return {"name": f"softmax_{loss}", "inputs": 3, "loss": loss,
            "layers": [{"size": 4, "activation": "softmax"}]}


def test_softmax_cross_entropys_gradient_simplifies_to_a_minus_y_over_the_batch():
    text = [s.text for s in tensor_statements(derive_graph(from_dict(_softmax_net("softmax_ce"))))
            if s.name == "grad_dense1_z"]
    assert text == ["grad_dense1_z = grad_act1_log − act1_a·Σ_k(grad_act1_log)",
                    "grad_dense1_z = (act1_a·Σ_k(Y) − Y)/B"
                    "   (for targets whose rows sum to 1: (act1_a − Y)/B)"]
    v = _values(_softmax_net("softmax_ce"), batch=5)
    a, y, dlog = v["act1_a"], v["Y"], v["grad_act1_log"]
    row_form, from_loss = dlog - a * dlog.sum(1, keepdims=True), (a * y.sum(1, keepdims=True) - y) / 5
    np.testing.assert_allclose(v["grad_dense1_z"], row_form, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(v["grad_dense1_z"], from_loss, rtol=1e-10, atol=1e-14)


def test_softmax_with_another_loss_shows_the_jacobian_row_form_only():
    text = [s.text for s in tensor_statements(derive_graph(from_dict(_softmax_net("mse"))))
            if s.name == "grad_dense1_z"]
    assert text == ["grad_dense1_z = act1_a·(grad_act1_a − Σ_k(act1_a ⊙ grad_act1_a))"]
    v = _values(_softmax_net("mse"), batch=5)
    a, da = v["act1_a"], v["grad_act1_a"]
    row_form = a * (da - (a * da).sum(1, keepdims=True))
    np.testing.assert_allclose(v["grad_dense1_z"], row_form, rtol=1e-10, atol=1e-14)
