"""The worked numeric example: ``symbp example mazur`` is seed 000's tables, correct.

Every number seed 000 prints is checked to the digits it prints. Where the seed is wrong, the
value is pinned at the correct one (30-digit arithmetic from the definitions; the kernel test in
test_reference_numbers.py pins the training numbers with 50-digit mpmath too), and a comment says
what the seed printed and why.
"""

from __future__ import annotations

import functools
import json
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp.codegen.load import load_module
from symbp.core.errors import SymbpError
from symbp.core.naming import neuron_names
from symbp.docs.document import derivation
from symbp.docs.example import example_numbers, example_settings, params_from_values, read_values
from symbp.docs.pdf import compile_pdf
from symbp.docs.worked import worked_example
from tests.test_documents import katex, run_cli


@functools.cache
def mazur():
    """Seed 000's example: one exact step and 10000 kernel steps (computed once)."""
    net = symbp.load_spec("mazur")
    return example_numbers(net, *example_settings(net))


def rounds_to(value, printed: str) -> bool:
    """``value`` (a 30-digit sympy Float or a float) rounded to ``printed``'s decimals."""
    shown = Decimal(printed)
    exact = Decimal(str(value)) if isinstance(value, sp.Float) else Decimal(float(value))
    return exact.quantize(shown, rounding=ROUND_HALF_EVEN) == shown


def q(name):
    return lambda ex: ex.quantities[name]


def half_square(target, out):
    return lambda ex: (ex.quantities[target] - ex.quantities[out]) ** 2 / 2


def dE_da(out, target):  # noqa: N802
    return lambda ex: ex.quantities[out] - ex.quantities[target]


def sig_prime(a):
    return lambda ex: ex.quantities[a] * (1 - ex.quantities[a])


def path_to_a_h1(o, w):
    """∂E_o/∂a_h1 = δ_o · w: the term of output o in ∂E_total/∂a_h1."""
    return lambda ex: ex.deltas[f"z_{o}"] * ex.quantities[w]


def after(step, k=None):
    def pick(ex):
        row = next(r for r in ex.training if r.step == step)
        return row.loss if k is None else row.outputs[k]
    return pick


# (what, how to get it from the example, what seed 000 prints)
SEED_000 = [
    ("z_h1", q("z_h1"), "0.3775"),
    ("a_h1", q("a_h1"), "0.593269992"),
    ("a_h2", q("a_h2"), "0.596884378"),
    ("z_o1", q("z_o1"), "1.105905967"),
    # The seed prints a_o1 = 0.751365069: a_o1 = 0.75136506955…, truncated, not rounded.
    ("a_o1", q("a_o1"), "0.751365070"),
    ("a_o2", q("a_o2"), "0.772928465"),
    ("E_o1", half_square("target_o1", "a_o1"), "0.274811083"),
    ("E_o2", half_square("target_o2", "a_o2"), "0.023560026"),
    ("E_total", q("E_total"), "0.298371109"),
    # The seed prints 0.741365069, from its truncated a_o1; a_o1 − target_o1 = 0.74136506955….
    ("dE_total/da_o1", dE_da("a_o1", "target_o1"), "0.741365070"),
    ("da_o1/dz_o1", sig_prime("a_o1"), "0.186815602"),
    ("dE_total/dw5", lambda ex: ex.gradients["w5"], "0.082167041"),
    ("w5+", lambda ex: ex.updates["w5"], "0.35891648"),
    ("w6+", lambda ex: ex.updates["w6"], "0.408666186"),
    ("w7+", lambda ex: ex.updates["w7"], "0.511301270"),
    ("w8+", lambda ex: ex.updates["w8"], "0.561370121"),
    ("dE_o1/da_h1", path_to_a_h1("o1", "w5"), "0.055399425"),
    # The seed prints -0.019049119; δ_o2 · w7 = -0.0190491182583, which rounds to -0.019049118.
    ("dE_o2/da_h1", path_to_a_h1("o2", "w7"), "-0.019049118"),
    ("dE_total/da_h1",
     lambda ex: path_to_a_h1("o1", "w5")(ex) + path_to_a_h1("o2", "w7")(ex), "0.036350306"),
    ("da_h1/dz_h1", sig_prime("a_h1"), "0.2413007086"),
    ("dz_h1/dw1", q("i1"), "0.05"),
    ("dE_total/dw1", lambda ex: ex.gradients["w1"], "0.000438568"),
    ("w1+", lambda ex: ex.updates["w1"], "0.149780716"),
    ("w2+", lambda ex: ex.updates["w2"], "0.19956143"),
    ("w3+", lambda ex: ex.updates["w3"], "0.24975114"),
    ("w4+", lambda ex: ex.updates["w4"], "0.29950229"),
    # The seed prints 0.291027924 after one step: that is what one gets by updating w1…w4 with
    # the already-updated w5…w8. Gradient descent from the definitions gives 0.291027774.
    ("E_total after 1 step", after(1), "0.291027774"),
    # The seed prints 0.000035085 and outputs [0.015912196, 0.984065734] after 10000 steps, from
    # the same mistake; gradient descent gives 0.000035102 and [0.015913620, 0.984064274].
    ("E_total after 10000 steps", after(10_000), "0.000035102"),
    ("a_o1 after 10000 steps", after(10_000, 0), "0.015913620"),
    ("a_o2 after 10000 steps", after(10_000, 1), "0.984064274"),
]
WRONG_IN_SEED = {"0.751365069", "0.741365069", "-0.019049119", "0.291027924", "0.000035085",
                 "0.015912196", "0.984065734"}


@pytest.mark.parametrize("what, get, printed", SEED_000, ids=[row[0] for row in SEED_000])
def test_mazur_example_reproduces_every_number_seed_000_prints(what, get, printed):
    value = get(mazur())
    assert rounds_to(value, printed), f"{what}: computed {value}, expected {printed}"


def test_mazur_documents_print_the_correct_values_where_the_seed_is_wrong():
    ex = mazur()
    table = worked_example(ex.network, ex.values, ex.learning_rate, ex.steps).markdown()
    post = derivation(ex.network).markdown()
    for text in (table, post):
        for correct in ("0.751365070", "0.291027774", "0.000035102", "0.015913620, 0.984064274"):
            assert correct in text
        for wrong in WRONG_IN_SEED:
            assert wrong not in text
    assert "0.741365070" in post and "-0.019049118" in post


def test_every_seed_number_the_tables_show_is_printed_to_its_digits():
    text = worked_example(*_mazur_args()).text()
    for what, _, printed in SEED_000:
        if what in ("z_h1", "a_h1", "a_h2", "z_o1", "a_o1", "a_o2", "E_total"):
            assert f"{printed}\n" in text, what


def _mazur_args():
    ex = mazur()
    return ex.network, ex.values, ex.learning_rate, ex.steps


def test_kernel_step_agrees_with_the_exact_step():
    ex = mazur()
    net = ex.network
    names = neuron_names(net)
    kernel = load_module(symbp.emit_numpy(net), "mazur_check")
    params = params_from_values(net, names, ex.values)
    X = np.array([[ex.values["i1"], ex.values["i2"]]])
    Y = np.array([[ex.values["target_o1"], ex.values["target_o2"]]])
    new = kernel.sgd_step(params, X, Y, ex.learning_rate)
    for l, layer in enumerate(names.weights, start=1):
        for i, row in enumerate(layer):
            for j, w in enumerate(row):
                assert new[f"W{l}"][i, j] == pytest.approx(float(ex.updates[w]), abs=1e-15)


# -- the command --------------------------------------------------------------------------------

def test_symbp_example_mazur_prints_seed_000s_tables(capsys):
    assert run_cli(["example", "mazur"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Generated by symbp")
    for line in ("  a_o1                  0.751365070", "  ∂E_total/∂w5          0.082167041",
                 "  w5                            0.4 → 0.358916480",
                 "     10000 steps: loss 0.000035102, outputs 0.015913620, 0.984064274"):
        assert line in out


def test_values_file_in_toml_and_json_gives_the_same_numbers(tmp_path, capsys):
    values = dict(symbp.load_spec("mazur").example["values"], i1=1.0, i2=-1.0)
    (tmp_path / "v.json").write_text(json.dumps({"values": values, "learning_rate": 0.1}))
    toml = "learning_rate = 0.1\n[values]\n" + "".join(f"{k} = {v!r}\n" for k, v in values.items())
    (tmp_path / "v.toml").write_text(toml)
    outs = []
    for f in ("v.json", "v.toml"):
        assert run_cli(["example", "mazur", "--values", str(tmp_path / f), "--steps", "2"]) == 0
        outs.append(capsys.readouterr().out.split("\n", 3)[3])  # after the header
    assert outs[0] == outs[1]
    # z_h1 = w1 i1 + w2 i2 + b1 = 0.15 - 0.2 + 0.35
    assert "  z_h1                          0.3\n" in outs[0] and "learning rate 0.1" in outs[0]


def test_a_flat_values_file_is_the_values_themselves(tmp_path):
    (tmp_path / "flat.toml").write_text("i1 = 0.5\nw1 = 2\n")
    assert read_values(tmp_path / "flat.toml") == {"values": {"i1": 0.5, "w1": 2}}


@pytest.mark.parametrize("content, message", [
    ("[values]\ni1 = 0.05\n", "values: missing i2"),
    ("[values]\nnot_a_name = 1.0\n", "values: missing"),
    ("[values]\ni1 = \"x\"\n", "values.i1: must be a finite number"),
    ("[values]\ni1 = nan\n", "values.i1: must be a finite number"),
    ("values = [", "invalid TOML"),
])
def test_bad_values_files_give_one_line_errors(tmp_path, capsys, content, message):
    f = tmp_path / "bad.toml"
    f.write_text(content)
    assert run_cli(["example", "mazur", "--values", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_an_unknown_name_among_complete_values_is_refused():
    net = symbp.load_spec("mazur")
    values = dict(net.example["values"], w9=1.0)
    with pytest.raises(SymbpError, match="unknown name 'w9'"):
        example_numbers(net, values, 0.5, 0)


def test_a_network_without_example_values_asks_for_them(capsys):
    spec = {"inputs": 2, "layers": [{"size": 1}], "names": {"loss": "E"}}
    with pytest.raises(SymbpError, match="--values"):
        example_settings(symbp.Network.from_dict(spec))
    assert run_cli(["example", "mnist_mlp"]) == 2
    assert "--values" in capsys.readouterr().err


def test_learning_rate_and_steps_options(capsys):
    assert run_cli(["example", "mazur", "--lr", "0.1", "--steps", "0"]) == 0
    out = capsys.readouterr().out
    assert "  w5                            0.4 → 0.391783296" in out  # 0.4 − 0.1 · 0.082167041
    assert "steps: loss" not in out


def test_example_as_latex_compiles_and_as_markdown_renders(tmp_path):
    ex = worked_example(*_mazur_args())
    assert compile_pdf(ex.latex(), runs=1).startswith(b"%PDF")
    (tmp_path / "example.md").write_text(ex.markdown(), "utf-8")
    report = katex([tmp_path / "example.md"])
    assert report["returncode"] == 0 and report["spans"] > 50, report["errors"][:3]
