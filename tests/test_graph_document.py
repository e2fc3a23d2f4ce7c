"""``symbp derive`` for graph specs: the index-level equations as derived, in text, LaTeX (PDF)
and Markdown that KaTeX renders."""

from __future__ import annotations

from symbp.cli.app import main
from symbp.core.spec import graph_names, load_spec
from symbp.docs.graph_document import derive_document
from symbp.docs.pdf import made_by_symbp
from tests.test_documents import katex


def test_the_convolution_input_gradient_is_derived_as_a_correlation_with_the_flipped_kernel():
    text = derive_document(load_spec("lenet5", graphs=True)).text()
    flipped = "Σ_{c,p,q} W3[c, k, p, q]·grad_conv2d3_z[n, c, u − p, v − q]"
    assert f"grad_maxpool2d2_pool[n, k, u, v] = {flipped}" in text


def test_the_residual_fan_out_is_the_sum_of_its_parts():
    text = derive_document(load_spec("resmlp", graphs=True)).text()
    fan_out = [line for line in text.splitlines() if line.startswith("grad_act1_a[")]
    assert len(fan_out) == 1 and fan_out[0].count("grad_act1_a__") == 2


def test_symbp_derive_lenet5_writes_a_pdf(tmp_path, capsys):
    out = tmp_path / "lenet5.pdf"
    assert main(["derive", "lenet5", "--pdf", "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"%PDF") and made_by_symbp(out)


def test_graph_derivations_in_markdown_render_in_katex(tmp_path, capsys):
    paths = []
    for name in graph_names():
        paths.append(tmp_path / f"{name}.md")
        assert main(["derive", name, "-f", "markdown", "-o", str(paths[-1])]) == 0
    report = katex(paths)
    assert report["returncode"] == 0 and not report["errors"], report["errors"][:3]
    assert report["spans"] > 100
