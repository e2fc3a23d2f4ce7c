"""The element level of small graph specs (``symbp example SPEC``): every entry with names and
numbers, the numbers equal to the engine's float evaluation, documents that compile and render."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from symbp.backprop.graph import backward
from symbp.cli.app import main
from symbp.codegen import numeric
from symbp.core.ir import read_index, read_name
from symbp.core.spec import load_spec
from symbp.core.textprint import text
from symbp.docs.element_level import element_level, given_values
from symbp.docs.element_section import render
from tests.test_documents import katex, pdflatex_run

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def _spec(name: str):
    return load_spec(str(EXAMPLES / f"{name}.toml"), graphs=True)


def _line(level, name: str) -> str:
    entry = next(e for e in level.forward + level.backward if text(e.read) == name)
    return f"{name} = {text(entry.formula)}"


def test_a_3x3_convolution_entry_names_its_four_products_and_the_bias():
    level = element_level(_spec("conv3x3"))
    products = " + ".join(f"W1[0, 0, {p}, {q}]·X[0, 0, {p}, {q}]" for p in (0, 1) for q in (0, 1))
    assert _line(level, "conv2d1_z[0, 0, 0, 0]") == f"conv2d1_z[0, 0, 0, 0] = {products} + b1[0]"
    given = given_values(_spec("conv3x3").graph(1))
    W, X, b = (np.array(given[n], dtype=float) for n in ("W1", "X", "b1"))
    value = next(e.value for e in level.forward if text(e.read) == "conv2d1_z[0, 0, 1, 1]")
    assert float(value) == pytest.approx(float((W[0, 0] * X[0, 0, 1:3, 1:3]).sum() + b[0]), abs=1e-15)


@pytest.mark.parametrize("name", ["conv3x3", "maxpool4x4", "batchnorm3"])
def test_element_values_equal_the_engines_float_evaluation(name):
    spec = _spec(name)
    level = element_level(spec)
    graph = spec.graph(level.batch)
    env = {k: np.array(v, dtype=float) for k, v in given_values(graph).items()}
    values = numeric.run(graph.computes + backward(graph, [*graph.params, "X"]).computes, env)
    for entry in level.forward + level.backward:
        tensor, index = read_name(entry.read), tuple(int(i) for i in read_index(entry.read))
        assert float(entry.value) == pytest.approx(values[tensor][index], rel=1e-12, abs=1e-14), tensor


def test_a_max_pool_routes_each_windows_delta_to_its_arg_max_in_numbers():
    level = element_level(_spec("maxpool4x4"))
    X = np.array([[float(e.value) for e in level.given if text(e.read).startswith("X[")]]).reshape(4, 4)
    grad = np.array([float(e.value) for e in level.backward
                     if text(e.read).startswith("grad_X[")]).reshape(4, 4)
    for i in (0, 2):
        for j in (0, 2):
            window, routed = X[i:i + 2, j:j + 2], grad[i:i + 2, j:j + 2]
            assert np.count_nonzero(routed) == 1
            assert np.argmax(window) == np.argmax(np.abs(routed))


def test_batchnorm_example_normalises_over_a_batch_of_three():
    level = element_level(_spec("batchnorm3"))
    assert level.batch == 3
    assert _line(level, "batchnorm2_mean[0]") == \
        "batchnorm2_mean[0] = dense1_z[0, 0]/3 + dense1_z[1, 0]/3 + dense1_z[2, 0]/3"


def test_symbp_example_on_a_graph_spec_writes_latex_that_fits_and_markdown_that_renders(tmp_path, capsys):
    for name in ("conv3x3", "batchnorm3"):
        spec = str(EXAMPLES / f"{name}.toml")
        assert main(["example", spec, "-o", str(tmp_path / f"{name}.tex")]) == 0
        assert main(["example", spec, "-o", str(tmp_path / f"{name}.md")]) == 0
        _, overfull = pdflatex_run((tmp_path / f"{name}.tex").read_text("utf-8"))
        assert [w for w in overfull if w > 5] == []
    report = katex([tmp_path / "conv3x3.md", tmp_path / "batchnorm3.md"])
    assert report["returncode"] == 0 and not report["errors"], report["errors"][:3]


def test_the_text_document_lists_given_forward_and_backward_entries():
    out = render(element_level(_spec("conv3x3")), "txt", "symbp example conv3x3.toml")
    assert out.index("Given values") < out.index("Forward pass") < out.index("Backward pass (derived)")
    assert "\ngrad_b1[0] = grad_conv2d1_z[0, 0, 0, 0] + grad_conv2d1_z[0, 0, 0, 1]" in out


def test_the_element_level_refuses_a_large_graph_in_one_line(capsys):
    assert main(["example", "lenet5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "at most 600" in err and "symbp derive" in err


def test_dense_example_flags_are_refused_for_a_graph_spec(capsys):
    assert main(["example", str(EXAMPLES / "conv3x3.toml"), "--lr", "0.1"]) == 2
    assert "--lr applies to dense specs" in capsys.readouterr().err


def _claims(tmp_path: Path, rows: dict[str, str], name: str = "claims.toml") -> str:
    path = tmp_path / name
    path.write_text("".join(f'"{k}" = {v}\n' for k, v in rows.items()), "utf-8")
    return str(path)


def test_check_example_judges_claimed_entries_of_a_graph_spec(tmp_path, capsys):
    spec = str(EXAMPLES / "conv3x3.toml")
    good = {"conv2d1_z[0, 0, 0, 0]": "0.37", "grad_W1[0,0,0,0]": "-0.097280758",
            "grad_X[0, 0, 1, 1]": "-0.0233"}
    assert main(["check-example", spec, "--claimed", _claims(tmp_path, good)]) == 0
    assert "verdict: all 3 values agree" in capsys.readouterr().out
    bad = {**good, "grad_b1[0]": "-0.233473821"}  # the last digit is one too high
    assert main(["check-example", spec, "--claimed", _claims(tmp_path, bad)]) == 1
    out = capsys.readouterr().out
    assert "verdict: 1 of 4 disagree: grad_b1[0]" in out and "8/9     DISAGREES" in out


def test_check_example_for_a_graph_spec_takes_given_values_and_names_unknown_entries(tmp_path, capsys):
    spec = str(EXAMPLES / "conv3x3.toml")
    claims = _claims(tmp_path, {"grad_X[0, 0, 1, 1]": "-0.0233"})
    values = _claims(tmp_path, {"W1[0, 0, 0, 0]": "0.2"}, "values.toml")
    assert main(["check-example", spec, "--claimed", claims, "--values", values]) == 1
    capsys.readouterr()
    unknown = _claims(tmp_path, {"Q[0]": "0.2"}, "unknown.toml")
    assert main(["check-example", spec, "--claimed", claims, "--values", unknown]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "'Q[0]' is no given entry here" in err


def test_symbp_example_takes_given_values_by_entry_name(tmp_path, capsys):
    values = _claims(tmp_path, {"b1[0]": "1.5"}, "values.toml")
    assert main(["example", str(EXAMPLES / "conv3x3.toml"), "--values", values]) == 0
    out = capsys.readouterr().out
    assert "\nb1[0] = 1.5\n" in out and f"--values {values}" in out
