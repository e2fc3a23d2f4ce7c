"""``symbp derive --optimizer``: the update rule in the documents, next to the kernel's code."""

from __future__ import annotations

import ast
import dataclasses

import pytest

import symbp
from symbp.codegen.emit import emit_numpy
from symbp.core.optimizers import NAMES
from symbp.docs.document import derivation
from symbp.docs.pdf import compile_pdf
from tests.test_documents import katex


def doc(name: str, optimizer: str):
    return dataclasses.replace(derivation(symbp.load_spec(name), "matrix"), optimizer=optimizer)


@pytest.mark.parametrize("optimizer", NAMES)
def test_update_rule_section_shows_the_statements_the_kernel_runs(optimizer):
    kernel = emit_numpy(symbp.load_spec("tanh_mse"))
    update = next(node for node in ast.parse(kernel).body
                  if isinstance(node, ast.FunctionDef) and node.name == f"{optimizer}_update")
    source = ast.get_source_segment(kernel, update)
    text = doc("tanh_mse", optimizer).text()
    section = text[text.index("Update rule:"):]
    code = [line.strip() for line in section.splitlines() if line.startswith("       np.")]
    assert code and all(line in source for line in code)
    assert f"--optimizer {optimizer}" in section


def test_adam_section_names_bias_correction_and_epsilon_outside_the_root():
    text = doc("tanh_mse", "adam").text()
    assert "m̂ = m/(1 - beta1**t)" in text and "v̂ = v/(1 - beta2**t)" in text
    assert "p ← -lr*m̂/(eps + sqrt(v̂)) + p" in text
    assert "Update rule" not in derivation(symbp.load_spec("tanh_mse"), "matrix").text()


def test_cli_derive_optimizer_adds_the_section(run):
    code, out, _ = run("derive", "tanh_mse", "--level", "matrix", "--optimizer", "rmsprop")
    assert code == 0 and "Update rule: RMSProp" in out and "alpha = 0.99" in out


def test_update_rule_latex_compiles_and_markdown_renders_in_katex(tmp_path):
    paths = []
    for optimizer in ("adam", "nesterov"):
        d = doc("mazur", optimizer)
        assert compile_pdf(d.latex(), runs=1).startswith(b"%PDF")
        paths.append(tmp_path / f"{optimizer}.md")
        paths[-1].write_text(d.markdown(), "utf-8")
    report = katex(paths)
    assert report["returncode"] == 0 and not report["errors"], report["errors"][:3]
