"""The graph document of an attention network: the matrix-level backward pass (dV = Pᵀ·dO, the
per-row softmax Jacobian, the 1/√D scale, the causal mask), each line recognised in the
derived result; LaTeX compiles and KaTeX renders it."""

from __future__ import annotations

import pytest

from symbp.backprop.graph import backward
from symbp.codegen import numeric
from symbp.core.build import build
from symbp.core.errors import DerivationError
from symbp.docs import attention_section as attention_doc
from symbp.docs.graph_document import derive_document
from tests.test_attention_kernel import attention_spec
from tests.test_documents import katex, pdflatex_run


def test_the_document_writes_the_attention_backward_at_matrix_level():
    text = derive_document(attention_spec(True)).text()
    section = text[text.index("Attention layer 1 at matrix level"):]
    for line in ("S = Q·Kᵀ/√D", "grad_V = Pᵀ·grad_O, grad_P = grad_O·Vᵀ",
                 "grad_S = P ⊙ (grad_P − rowsum(grad_P ⊙ P))", "grad_Q = grad_S·K/√D, grad_K = grad_Sᵀ·Q/√D",
                 "causal mask: P_ts = 0 and grad_S_ts = 0 for key s > query t", "D = 4 is the feature size"):
        assert line in section, line
    assert "causal mask" not in derive_document(attention_spec(False)).text()


def test_recognition_refuses_a_backward_pass_without_the_scale():
    """The lines are checked, not just printed: tensors derived without 1/√D do not match."""
    graph = build((2, 5, 4), [dict(type="attention", scaled=False), dict(type="flatten"),
                              dict(size=3, activation="softmax")], "softmax_ce")
    b = backward(graph, list(graph.params))
    env = numeric.run(graph.computes + b.computes, attention_doc._values(graph, 0))
    with pytest.raises(DerivationError, match="does not give S = Q·Kᵀ/√D"):
        attention_doc.recognise(attention_spec(False), 1, False, env, graph)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_documents_compile_with_pdflatex_and_render_in_katex(causal, tmp_path):
    doc = derive_document(attention_spec(causal))
    pdf, _ = pdflatex_run(doc.latex())
    assert pdf.startswith(b"%PDF")
    path = tmp_path / "attention.md"
    path.write_text(doc.markdown(), "utf-8")
    report = katex([path])
    assert report["returncode"] == 0 and not report["errors"], report["errors"][:3]
    assert doc.markdown().count(r"\operatorname{rowsum}") == 1
