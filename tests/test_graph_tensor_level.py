"""The tensor level of graph documents: derived index formulas recognised as the operations
textbooks write (correlations, rot180, dilation, im2col, arg-max routing, matrix products,
fan-out sums), and the normalisations' three paths simplified by sympy to the compact form."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from symbp.backprop import norm_paths
from symbp.backprop.graph import backward
from symbp.codegen import numeric
from symbp.codegen.graph_emit import derive_graph
from symbp.core.graph_spec import from_dict
from symbp.core.spec import load_spec
from symbp.docs.graph_document import GraphDerivation, derive_document, tensor_statements
from tests.test_documents import katex, pdflatex_run

STRIDED = {"name": "strided", "inputs": [1, 7, 7], "loss": "softmax_ce", "layers": [
    {"type": "conv2d", "channels": 2, "kernel": 2, "activation": "relu"},
    {"type": "conv2d", "channels": 2, "kernel": 3, "stride": 2, "padding": 1},
    {"type": "flatten"}, {"size": 2, "activation": "softmax"}]}
NORMS = {"name": "norms", "inputs": 3, "loss": "softmax_ce", "layers": [
    {"size": 4}, {"id": "n", "type": "batchnorm"}, {"size": 4, "activation": "tanh"},
    {"type": "layernorm"}, {"id": "f", "size": 4}, {"type": "add", "from": ["n", "f"]},
    {"size": 2, "activation": "softmax"}]}


def _text(spec) -> dict[str, str]:
    """Tensor-level statement text by the compute it restates (the first statement of each)."""
    out: dict[str, str] = {}
    for s in tensor_statements(derive_graph(spec)):
        out.setdefault(s.name, s.text)
    return out


@pytest.fixture(scope="module")
def lenet5():
    return derive_document(load_spec("lenet5", graphs=True))


def test_the_conv_weight_gradient_is_the_correlation_of_delta_with_the_input_and_its_im2col_product(lenet5):
    lines = [s.text for s in lenet5.tensor_level if s.name == "grad_W3"]
    assert lines == ["grad_W3[c,k] = Σ_{n} grad_conv2d3_z[n,c] ⋆ maxpool2d2_pool[n,k]",
                     "grad_W3_row = grad_conv2d3_z_col·maxpool2d2_pool_colᵀ"]


def test_the_conv_forward_pass_is_a_correlation_of_the_padded_input_with_the_kernel(lenet5):
    first = next(s.text for s in lenet5.tensor_level if s.name == "conv2d1_z")
    assert first == "conv2d1_z[n,c] = Σ_{k} W1[c,k] ⋆ pad_2(X[n,k]) + b1[c]"


def test_the_stride_one_conv_input_gradient_is_a_full_correlation_with_the_rotated_kernel(lenet5):
    lines = [s.text for s in lenet5.tensor_level if s.name == "grad_maxpool2d2_pool"]
    assert lines == ["grad_maxpool2d2_pool[n,k] = Σ_{c} rot180(W3[c,k]) ⋆ pad_4(grad_conv2d3_z[n,c])",
                     "grad_maxpool2d2_pool = col2im(W3_rowᵀ·grad_conv2d3_z_col)"]


def test_a_strided_conv_dilates_delta_in_both_gradients():
    text = _text(from_dict(STRIDED))
    assert text["grad_act1_a"] == \
        "grad_act1_a[n,k] = Σ_{c} rot180(W2[c,k]) ⋆ pad_1(dil_2(grad_conv2d2_z[n,c]))"
    assert text["grad_W2"] == "grad_W2[c,k] = Σ_{n} dil_2(grad_conv2d2_z[n,c]) ⋆ pad_1(act1_a[n,k])"
    assert text["conv2d2_z"] == "conv2d2_z[n,c] = Σ_{k} W2[c,k] ⋆_2 pad_1(act1_a[n,k]) + b2[c]"


def test_the_max_pool_gradient_is_routed_to_the_arg_max(lenet5):
    routed = next(s for s in lenet5.tensor_level if s.name == "grad_act1_a")
    assert "arg-max" in routed.what
    assert routed.text == ("grad_act1_a[n,c,u,v] = Σ_(windows w holding act1_a[n,c,u,v]) "
                           "share_maxpool2d2_pool[w]·[act1_a[n,c,u,v] = maxpool2d2_pool[w]]")


def test_the_dense_weight_gradient_is_delta_times_the_activation_transposed(lenet5):
    shown = next(s.text for s in lenet5.tensor_level if s.name == "grad_W7")
    assert shown == "grad_W7 = grad_dense7_zᵀ·act6_a   (one sample per column: grad_dense7_z·act6_aᵀ)"


RESIDUAL = {"name": "tiny_res", "inputs": 3, "loss": "softmax_ce", "layers": [
    {"id": "h", "size": 3, "activation": "relu"}, {"id": "f", "size": 3},
    {"type": "add", "from": ["h", "f"]}, {"size": 2, "activation": "softmax"}]}


def test_a_residual_fan_out_shows_the_sum_of_both_paths():
    text = _text(from_dict(RESIDUAL))
    assert text["grad_act1_a"] == "grad_act1_a = grad_add3_sum + grad_dense2_z·W2"


@pytest.fixture(scope="module")
def norms():
    return derive_graph(from_dict(NORMS))


def _paths(d) -> list[norm_paths.NormPaths]:
    return [norm_paths.paths(n, d.graph, d.computes) for n in norm_paths.recognise(d.graph)]


def _mean(e):
    return norm_paths.Mean(e)


def test_batchnorms_three_paths_simplify_to_the_compact_form(norms):
    batch, _ = _paths(norms)
    assert len(batch.paths) == 3
    dy, xhat, gamma = (sp.Symbol(n, real=True) for n in ("grad_batchnorm2_y", "batchnorm2_xhat", "gamma2"))
    compact = gamma / norm_paths.SIGMA * (dy - _mean(dy) - xhat * _mean(dy * xhat))
    assert sp.expand(batch.compact - compact) == 0
    assert sp.expand(sum(v for _, v in batch.paths) - compact) == 0


def test_layernorms_compact_form_keeps_gamma_inside_the_means(norms):
    _, layer = _paths(norms)
    dy, xhat, gamma = (sp.Symbol(n, real=True) for n in ("grad_layernorm4_y", "layernorm4_xhat", "gamma4"))
    g = gamma * dy
    compact = (g - _mean(g) - xhat * _mean(g * xhat)) / norm_paths.SIGMA
    assert sp.expand(layer.compact - compact) == 0


def test_the_compact_forms_equal_the_derived_gradients_in_numbers():
    """The oracle: the textbook's compact formulas in NumPy against the derived backward pass."""
    graph = from_dict(NORMS).graph(5)
    rng = np.random.default_rng(3)
    env = {n: rng.standard_normal(s) for n, s in {**graph.inputs, **graph.params}.items()}
    b = backward(graph, list(graph.params))
    v = numeric.run(graph.computes + b.computes, env)
    norms = (("batchnorm2", 0, "dense1_z", "gamma2"), ("layernorm4", 1, "act3_a", "gamma4"))
    for kind, axis, x, gamma in norms:
        g = v[gamma] * v[f"grad_{kind}_y"]
        xhat, sigma = v[f"{kind}_xhat"], np.sqrt(np.expand_dims(v[f"{kind}_var"], axis) + 1e-5)
        compact = (g - g.mean(axis, keepdims=True) - xhat * (g * xhat).mean(axis, keepdims=True)) / sigma
        np.testing.assert_allclose(v[f"grad_{x}"], compact, rtol=1e-10, atol=1e-12)


def test_the_paths_come_first_then_their_simplified_sum(norms):
    names = [s.what for s in tensor_statements(norms)]
    first = next(k for k, w in enumerate(names) if w.startswith("path 1 into ∂J/∂dense1_z"))
    assert [w.split(",")[0] for w in names[first:first + 4]] == [
        "path 1 into ∂J/∂dense1_z", "path 2 into ∂J/∂dense1_z", "path 3 into ∂J/∂dense1_z",
        "the 3 paths summed and simplified by sympy"]


def test_tensor_level_documents_fit_the_page_and_render_in_katex(norms, tmp_path):
    docs = [GraphDerivation(derive_graph(from_dict(STRIDED))), GraphDerivation(norms)]
    for k, doc in enumerate(docs):
        assert "Tensor level" in doc.latex()
        _, overfull = pdflatex_run(doc.latex())
        assert [w for w in overfull if w > 5] == []
        (tmp_path / f"doc{k}.md").write_text(doc.markdown(), "utf-8")
    report = katex([tmp_path / f"doc{k}.md" for k in range(len(docs))])
    assert report["returncode"] == 0 and not report["errors"], report["errors"][:3]


def test_the_readmes_cnn_excerpts_are_what_derive_writes_for_lenet5():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    section = readme.split("### A CNN end to end", 1)[1].split("\n## ", 1)[0]
    shown = [line for block in re.findall(r"```text\n(.*?)```", section, re.S) for line in block.splitlines()]
    written = Path(__file__).resolve().parent.parent / "generated" / "lenet5_derivation.txt"
    lines = {line.strip() for line in written.read_text("utf-8").splitlines()}
    assert len(shown) >= 6 and [s for s in shown if s.strip() not in lines] == []
