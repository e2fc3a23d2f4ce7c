"""One function spells each graph name (``symbp.core.naming``): the kernel, the derivation and
the element-level example table of a graph spec name ∂J/∂W1 alike, and all follow a change of
that spelling, since nothing else spells it or takes it apart."""

from __future__ import annotations

from pathlib import Path

from symbp.codegen.graph_emit import emit_graph
from symbp.core import naming
from symbp.core.spec import load_spec
from symbp.docs.element_level import element_level
from symbp.docs.element_section import render
from symbp.docs.graph_document import derive_document, tensor_tex

SPEC = Path(__file__).resolve().parent.parent / "docs" / "examples" / "conv3x3.toml"


def _outputs() -> dict[str, str]:
    spec = load_spec(str(SPEC), graphs=True)
    doc = derive_document(spec)
    return {"kernel": emit_graph(spec, "symbp emit conv3x3"), "text": doc.text(), "latex": doc.latex(),
            "table": render(element_level(spec), "txt", "symbp example conv3x3")}


def _assert_spelled(out: dict[str, str], grad: str) -> None:
    compile(out["kernel"], "conv3x3.py", "exec")
    assert f'v["{grad}"]' in out["kernel"]
    assert f"{grad}[0, 0, 0, 0] = " in out["table"]
    assert f"{grad}[" in out["text"]
    assert tensor_tex(grad) == r"\bar{\mathrm{W}^{(1)}}" and tensor_tex(grad) in out["latex"]


def test_kernel_document_and_example_table_spell_the_weight_gradient_alike():
    grad = naming.grad(naming.param("W", 1))
    assert grad == "grad_W1"
    _assert_spelled(_outputs(), grad)


def test_a_changed_gradient_spelling_reaches_kernel_document_and_example_table(monkeypatch):
    monkeypatch.setattr(naming, "GRAD", "dJd_")
    out = _outputs()
    _assert_spelled(out, "dJd_W1")
    stale = {k: v.count("grad_") for k, v in out.items() if "grad_" in v}
    assert not stale, f"spelled outside symbp.core.naming: {stale}"
