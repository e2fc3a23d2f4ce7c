"""check-post: every math span of a post read with its line number and given a verdict."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import pytest

from symbp.check.notation import PRESETS
from symbp.check.post import MAX_DEPTH, parse_post, read_post
from symbp.check.post_annotate import annotate
from symbp.check.post_check import check_post
from symbp.check.post_forward import read_equations
from symbp.check.post_infer import infer_network
from symbp.core.spec import load_spec
from symbp.docs.notation import NOTATIONS
from symbp.docs.pdf import compile_pdf
from tests.test_documents import katex

POSTS = Path(__file__).parent / "data" / "posts"
SEED000 = POSTS / "seed000.md"


def lines_with(report, status: str) -> set[int]:
    return {i.line for i in report.items if i.verdict.status == status}


def item_at(report, line: int):
    return next(i for i in report.items if i.line == line and i.verdict.status != "not checked")


@pytest.fixture(scope="module")
def seed000():
    return check_post(read_post(SEED000), load_spec("mazur"), lr="0.5")


def test_spans_carry_the_line_of_each_row():
    text = "text $a$ and\n\n$$\n\\begin{aligned}\nx & = 1 \\\\\n& = 2\n\\end{aligned}\n$$\n"
    post = parse_post(text, "markdown")
    assert [s.line for s in post.spans] == [1, 3]
    assert [(r.line, r.text) for r in post.spans[1].rows] == [(5, "x & = 1"), (6, "& = 2")]


def test_code_and_comments_are_not_math():
    post = parse_post("`$x = 1$`\n```\n$$y = 2$$\n```\n<!-- $z = 3$ -->\n$w = 4$\n", "markdown")
    assert [s.text for s in post.spans] == ["w = 4"]


def test_seed000_reports_exactly_the_known_wrong_lines(seed000):
    # 120: E_total with a_o1 for a_o2; 186: -0.019049119 (true -0.0190491183); 225: the figures
    # after one step and after 10000 steps; 269: g'(z_i^{l l}) where z_i^{n l} belongs.
    assert lines_with(seed000, "wrong") == {120, 186, 225, 269}
    assert lines_with(seed000, "truncated") == {84, 122}
    assert item_at(seed000, 120).verdict.diagnosis == "a_o1 is written where a_o2 belongs"
    figures = {i.text.split(" = ")[0] for i in seed000.prose if i.verdict.status == "wrong"}
    assert figures == {"E_total+", "E_total@10000", "a_o1@10000", "a_o2@10000"}


def test_seed000_every_span_gets_a_verdict_with_a_reason(seed000):
    counts = seed000.counts()
    assert counts["read"] == len(seed000.post.spans) == 129
    assert counts["checked"] + counts["not checked"] == counts["read"]
    assert counts["held"] + counts["wrong"] + counts["truncated"] == counts["checked"]
    assert all(s.items and all(i.verdict.reason for i in s.items) for s in seed000.spans)
    assert counts["checked"] >= 45


def test_seed000_reads_the_posts_notation(seed000):
    assert item_at(seed000, 194).verdict.status == "holds"  # \frac{a_{h_1}}{z_{h_1}}: ∂ missing
    assert item_at(seed000, 101).verdict.status == "holds"  # E_{o_1}: one output's share
    assert item_at(seed000, 153).verdict.status == "holds"  # w_5^+ with η = 0.5
    assert item_at(seed000, 47).verdict.status == "holds"  # o_1 | 0.01 is the target


def test_seed000_line_269_names_the_wrong_layer_in_the_posts_notation(seed000):
    v = item_at(seed000, 269).verdict
    assert v.diagnosis == "z_i^{l l} is at layer 'l l', but the left side is at layer 'n l': write z_i^{n l}"
    assert v.latex and v.correct.endswith(r"g^{\prime}\left(z_i^{n l}\right)")


def test_strict_rounding_turns_truncated_values_into_wrong(tmp_path):
    post = parse_post("$$\na_{o1} = 0.751365069\n$$\n", "markdown")
    net = load_spec("mazur")
    assert lines_with(check_post(post, net), "truncated") == {2}
    assert lines_with(check_post(post, net, strict=True), "wrong") == {2}


def test_cli_exit_codes_and_line_numbers(run, tmp_path):
    good = tmp_path / "good.md"
    good.write_text("$$\nz_{h1} = w_1 i_1 + w_2 i_2 + b_1\n$$\n")
    bad = tmp_path / "bad.md"
    bad.write_text("Intro.\n\n$a_{h1} = 0.7$\n")
    assert run("check-post", str(good), "--spec", "mazur")[0] == 0
    code, out, _ = run("check-post", str(bad), "--spec", "mazur")
    assert code == 1 and "line    3 ✗ WRONG" in out
    code, _, err = run("check-post", str(tmp_path / "missing.md"), "--spec", "mazur")
    assert code == 2 and err.count("\n") == 1
    code, _, err = run("check-post", str(good))
    assert code == 2 and "--spec" in err


def test_annotated_copy_marks_lines_and_renders_in_katex(run, tmp_path):
    out = tmp_path / "annotated.md"
    code, _, _ = run("check-post", str(POSTS / "planted_neuron.md"), "--spec", "mazur",
                     "--annotate", str(out))
    text = out.read_text()
    assert code == 1
    assert "symbp: ✗ 12[^symbp1]" in text and "[^symbp1]: line 12, wrong:" in text
    assert "symbp: ✓ 6" in text
    report = katex([out])
    assert report["errors"] == [] and report["spans"] == 9 + 5  # the post's and 5 correct lines


def test_annotated_latex_post_compiles_with_pdflatex_and_marks_every_checked_line(run, tmp_path):
    out = tmp_path / "annotated.tex"
    code, _, _ = run("check-post", str(POSTS / "planted_matrix.tex"), "--spec", "mazur",
                     "--annotate", str(out))
    text = out.read_text()
    assert code == 1 and text.startswith("% Generated by symbp check-post")
    assert "\\par\\noindent symbp: $\\times$\\,6\\footnote{line 6, wrong:" in text
    assert "Diagnosis: the sign is flipped." in text and "$\\surd$\\,13" in text
    assert compile_pdf(text, runs=1).startswith(b"%PDF")


def test_annotated_latex_marks_go_before_comments_and_row_breaks(tmp_path):
    post = tmp_path / "inline.tex"
    post.write_text("\\documentclass{article}\n\\begin{document}\n"
                    "$z_{h1} = w_1 i_1 + w_2 i_2 + b_1$ % the first neuron\n"
                    "\\begin{tabular}{l}\n$a_{h1} = 0.5923$ \\\\\n\\end{tabular}\n\\end{document}\n")
    text = annotate(check_post(read_post(post), load_spec("mazur")), "inline.tex")
    lines = text.splitlines()
    assert lines[3] == "$z_{h1} = w_1 i_1 + w_2 i_2 + b_1$ $\\surd$\\,3 % the first neuron"
    assert lines[5].startswith("$a_{h1} = 0.5923$ $\\times$\\,5\\footnote{line 5, wrong:")
    assert lines[5].endswith("} \\\\")
    assert compile_pdf(text, runs=1).startswith(b"%PDF")


def test_annotate_refuses_a_copy_of_another_kind(run, tmp_path):
    code, _, err = run("check-post", str(POSTS / "planted_matrix.tex"), "--spec", "mazur",
                       "--annotate", str(tmp_path / "out.md"))
    assert code == 2 and "give a file ending in .tex" in err and not (tmp_path / "out.md").exists()


def test_annotated_seed000_adds_no_katex_error(seed000, tmp_path):
    out = tmp_path / "seed000_annotated.md"
    out.write_text(annotate(seed000, "seed000.md"))
    before, after = katex([SEED000]), katex([out])
    assert {e["tex"] for e in after["errors"]} == {e["tex"] for e in before["errors"]}
    # the correct E_total line and the corrected line 269, in their footnotes
    assert after["spans"] == before["spans"] + 2


PLANTED = {
    "planted_neuron.md": {
        12: "the sign is flipped",
        18: "a_h2 is written where a_h1 belongs",
        24: "w6 is written where w7 belongs (its indices are swapped)",
        30: "the path through z_o2 → a_o2 is missing (every path must be summed)",
        36: "the paths are multiplied where they must be summed",
        42: None,  # a wrong number
    },
    "planted_matrix.tex": {6: "the sign is flipped", 10: "is a transpose ^T missing on the left factor?"},
    "planted_outnet.md": {8: "a_h1 is written where a_h2 belongs", 18: None},
    "planted_mean.md": {6: "the mean's factor 1/3 is missing (the loss averages over the 3 outputs)",
                        12: "the mean's factor 1/3 is missing (the loss averages over the 3 outputs)",
                        24: "the mean's factor 1/2 is missing (the loss averages over the 2 outputs)"},
    "planted_batch.md": {19: "the batch mean's factor 1/m is missing: J averages over the m samples",
                         31: "the batch mean's factor 1/m is missing: J averages over the m samples",
                         37: "an extra factor 1/m: this is the derivative of one sample's loss"},
}
PLANTED_SPECS = {"planted_mean.md": str(POSTS / "mean_net.toml"), "planted_batch.md": "seed004"}  # else mazur


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_mistakes_are_reported_line_by_line_with_the_diagnosis(name):
    report = check_post(read_post(POSTS / name), load_spec(PLANTED_SPECS.get(name, "mazur")), lr="0.5")
    assert lines_with(report, "wrong") == set(PLANTED[name])
    for line, diagnosis in PLANTED[name].items():
        v = item_at(report, line).verdict
        if diagnosis is None:
            assert "disagrees with the true value" in v.reason and v.correct
        else:
            assert diagnosis in (v.diagnosis or v.reason)


# Posts with one planted mistake of every kind check diagnoses, among lines that hold; each wrong
# line maps to (its diagnosis, or the reason of a wrong number or a missing transpose; a part of
# its correct line, or None where none is offered). Checked against mazur.
WRONG_NUMBER, TRANSPOSE = "disagrees with the true value", "is a transpose ^T missing on the left factor?"
MEAN = "the batch mean's factor 1/m is missing: J averages over the m samples"
SIGN, TIMES = "the sign is flipped", "the paths are multiplied where they must be summed"
PATH = "the path through z_o2 → a_o2 is missing (every path must be summed)"
ALL_KINDS = {
    "planted_all.md": ("symbp", {3, 4, 11, 23, 29, 37, 40, 50, 71, 82, 99, 103, 107, 120, 128}, {
        17: (WRONG_NUMBER + " 0.593269992107187", "0.5933"),
        44: ("a_h2 is written where a_h1 belongs", r"= a_{h1} a_{o1}"),
        59: (PATH, r"+ a_{o2} w_{7}"),
        65: (TIMES, r"+ a_{o2} w_{7}"),
        77: ("w6 is written where w7 belongs (its indices are swapped)", r"+ a_{o2} w_{7}"),
        86: (SIGN, "(a[L] - y)"),
        93: (TRANSPOSE, "W[l+1]^T delta[l+1]"),
        114: (MEAN, r"dW^{l} = \frac{1}{m} \left(dZ^{l}")}),
    "planted_all.tex": ("symbp", {8, 9, 14, 15, 16, 24, 31, 33, 42, 48, 52, 57, 58, 64, 70}, {
        20: (WRONG_NUMBER + " 1.10590596705977", "1.1059"),
        32: ("a_h1 is written where a_h2 belongs", r"= a_{h2} a_{o1}"),
        40: (PATH, r"+ a_{o2} w_{8}"),
        41: (TIMES, r"+ a_{o2} w_{8}"),
        47: ("w7 is written where w6 belongs (its indices are swapped)", r"a_{o1} w_{6}"),
        55: (SIGN, "(a[L] - y)"),
        56: (TRANSPOSE, "W[l+1]^T delta[l+1]"),
        63: (MEAN, r"dW^{l} = \frac{1}{m} \left(dZ^{l}")}),
    # Ng's entries (a^{(2)}_1, \Theta^{(2)}_{12}) are read at the matrix level, whose diagnoses
    # name a quantity by its layer (a[2]), and by its entry where two entries of one layer differ.
    "planted_all_ng.md": ("ng", {4, 6, 11, 30, 40, 62, 72, 77, 85}, {
        18: ("is 0.593269992107187, not 0.5923", None),
        26: (SIGN, "(a[L] - y)"),
        36: ("a[2]_1 is written where a[2]_2 belongs", None),
        50: ("the path through a[2] → z[3] → a[3] is missing (every path must be summed)", "W[l]^T"),
        54: (TIMES + " (with the shared ∂a[2]/∂z[2] written once)", "W[l]^T"),
        58: ("W[2]_12 is written where W[2]_21 belongs (its indices are swapped)", "W[l]^T"),
        68: (TRANSPOSE, "W[l]^T delta[l+1]"),
        81: (MEAN, r"\frac{\partial J}{\partial \Theta^{(2)}} = \frac{1}{m}")}),
}


@pytest.mark.parametrize("name", sorted(ALL_KINDS))
def test_every_kind_of_planted_mistake_in_one_post_is_reported_on_its_line(name):
    notation, held, wrong = ALL_KINDS[name]
    report = check_post(read_post(POSTS / name), load_spec("mazur"), lr="0.5", notation=notation)
    assert lines_with(report, "wrong") == set(wrong)
    assert lines_with(report, "holds") == held
    for line, (diagnosis, correct) in wrong.items():
        v = item_at(report, line).verdict
        assert diagnosis in (v.diagnosis or v.reason)
        assert correct is None or correct in v.correct


@pytest.mark.parametrize("notation, held, wrong", [
    ("ng", {3, 7, 19}, {13: ("the batch mean's factor 1/m is missing: J averages over the m samples",
                             r"\frac{\partial J}{\partial \Theta^{(2)}} = "
                             r"\frac{1}{m} \left(dZ^{(3)} \left(A^{(2)}\right)^{T}\right)")}),
    ("cs231n", {7, 19}, {13: ("the batch mean's factor 1/N is missing: J averages over the N samples",
                              r"dscores = \frac{1}{N} \left(\sigma(scores) - y\right)"),
                         25: ("an extra factor 1/N: the batch mean's 1/N is counted twice",
                              "dW = X^T dout")}),
])
def test_a_batch_gradient_without_its_mean_is_named_in_the_posts_notation(notation, held, wrong):
    report = check_post(read_post(POSTS / f"planted_batch_{notation}.md"), load_spec("seed004"),
                        notation=notation)
    assert lines_with(report, "holds") == held and lines_with(report, "wrong") == set(wrong)
    for line, (diagnosis, correct) in wrong.items():
        assert (item_at(report, line).verdict.diagnosis, item_at(report, line).verdict.correct) == \
            (diagnosis, correct)


@pytest.mark.parametrize("name, spec, numbering", [
    ("seed002.md", "handwritten/seed002_softmax.toml", "from0"),
    ("seed003.md", "handwritten/seed003_net.toml", "from0"),
    ("seed004.md", "seed004", "from1"),
])
def test_other_seeds_give_no_crash_and_no_false_alarm(name, spec, numbering):
    spec_path = POSTS.parent / spec
    net = load_spec(str(spec_path) if spec_path.exists() else spec)
    report = check_post(read_post(POSTS / name), net, numbering=numbering)
    assert lines_with(report, "wrong") == set()
    assert report.counts()["read"] == len(report.post.spans)


def test_macros_and_file_inclusion_are_refused_not_expanded():
    post = parse_post("$$\n\\def\\x{1} \\x = 1\n$$\n\n\\[ \\input{/etc/passwd} \\]\n", "latex")
    assert all(s.refused and "expands nothing" in s.refused for s in post.spans)
    report = check_post(post, load_spec("mazur"))
    assert lines_with(report, "not checked") == {1, 5}


def test_deeply_nested_and_huge_posts_are_bounded(tmp_path):
    deep = "$$" + "{" * (MAX_DEPTH + 5) + "x" + "}" * (MAX_DEPTH + 5) + "$$"
    assert "nested more than" in parse_post(deep, "markdown").spans[0].refused
    start = time.perf_counter()
    hostile = parse_post("$$ " * 300_000 + "\n" + "$x" * 200_000, "markdown")
    assert time.perf_counter() - start < 5
    assert len(hostile.spans) <= 1_000
    huge = tmp_path / "huge.md"
    huge.write_text("x" * 1_000_001)
    with pytest.raises(Exception, match="larger than"):
        read_post(huge)


def test_network_inferred_from_seed000_is_the_mazur_network():
    inferred = infer_network(read_post(SEED000))
    net, mazur = load_spec(tomllib.loads(inferred.toml())), load_spec("mazur")
    assert net.sizes == mazur.sizes and net.loss == mazur.loss
    assert [(layer.activation, layer.bias, layer.train_bias) for layer in net.layers] == \
        [(layer.activation, layer.bias, layer.train_bias) for layer in mazur.layers]
    assert {k: float(v) for k, v in net.example["values"].items()} == \
        {k: float(v) for k, v in mazur.example["values"].items()}
    assert float(net.example["learning_rate"]) == 0.5
    assert any("shared" in a for a in inferred.assumptions)


SMALL_POST = """| name | value |
| --- | --- |
""" + "".join(f"| ${n}$ | {v} |\n" for n, v in [
    ("i_1", "0.05"), ("i_2", "0.10"), ("w_1", "0.15"), ("w_2", "0.20"), ("w_3", "0.25"),
    ("w_4", "0.30"), ("w_5", "0.40"), ("w_6", "0.45"), ("w_7", "0.50"), ("w_8", "0.55"),
    ("b_1", "0.35"), ("b_2", "0.60"), ("o_1", "0.01"), ("o_2", "0.99")]) + r"""
Hidden neurons $h_1$, $h_2$; $a_{h1} = \frac{1}{1+e^{-z_{h1}}}$ and
$E_{total} = \frac{1}{2}(target_{o_1} - a_{o_1})^2 + \frac{1}{2}(target_{o_2} - a_{o_2})^2$.

$$
w_5^+ = w_5 - \eta \frac{\partial E_{total}}{\partial w_5} = 0.4 - 0.5*0.082167041 = 0.35891648
$$
"""


def test_without_spec_the_inferred_network_is_printed_saved_and_used(run, tmp_path):
    post, saved = tmp_path / "small.md", tmp_path / "inferred.toml"
    post.write_text(SMALL_POST)
    code, out, _ = run("check-post", str(post), "--save-spec", str(saved))
    assert code == 0
    assert "no --spec: the network inferred from the post" in out and "learning rate 0.5" in out
    assert load_spec(str(saved)).sizes == [2, 2, 2]
    assert "line   22 ✓ holds (update rule)" in out


SEED001_STYLE = POSTS / "seed001_style.md"


def test_network_inferred_from_seed001_style_forward_equations():
    inferred = infer_network(read_post(SEED001_STYLE))
    net = load_spec(tomllib.loads(inferred.toml()))
    assert net.sizes == [2, 2, 2] and net.loss == "half_sse"
    assert [(layer.activation, layer.bias) for layer in net.layers] == [("sigmoid", "neuron")] * 2
    assert net.names["weights"] == [["V11", "V21", "V12", "V22"], ["W11", "W21", "W12", "W22"]]
    assert net.names["pre_activations"] == [["H1", "H2"], ["Q1", "Q2"]]
    assert net.names["targets"] == ["Y1", "Y2"] and net.names["loss"] == "E"
    assert any("one bias per neuron" in a for a in inferred.assumptions)
    report = check_post(read_post(SEED001_STYLE), net)
    assert lines_with(report, "wrong") == set()
    assert lines_with(report, "holds") == {12, 13, 14, 20, 21, 22, 29, 35, 41, 47}


def test_forward_equations_are_weighted_sums_of_products_not_quotients():
    post = parse_post("$$\nH_1 = X_1 \\cdot V_{11} + V_{21} * X_2 + b_1 \\\\\n"
                      "H_2 = V_{12} / X_1 + V_{22} X_2 + b_2\n$$\n", "markdown")
    forward = read_equations(post)
    assert forward.sums == {"H1": ([("V11", "X1"), ("V21", "X2")], "b1")}
    assert [name for name, _, _ in forward.others] == ["H2"]


def test_seed001_style_post_without_spec_is_checked_against_the_inferred_network(run, tmp_path):
    post, saved = tmp_path / "post.md", tmp_path / "inferred.toml"
    text = SEED001_STYLE.read_text().replace(r"(1 - O_2) W_{12}\right)", r"(1 - O_2) W_{21}\right)")
    post.write_text(text.replace("+ V_{22} X_2 + b_2", "+ V_{22} X_2 + b_1"))
    code, out, _ = run("check-post", str(post), "--save-spec", str(saved))
    assert code == 1
    assert "layer 1: b1, one bias shared by the layer" in out
    assert "line   41 ✗ WRONG" in out and "W21 is written where W12 belongs (its indices are swapped)" in out
    assert load_spec(str(saved)).layers[0].bias == "shared"


def test_a_post_that_does_not_state_its_network_is_refused(run):
    code, _, err = run("check-post", str(POSTS / "seed002.md"))
    assert code == 2 and "cannot infer the network" in err and err.count("\n") == 1


def test_nielsen_preset_reads_bp1_to_bp4_and_scripts_in_either_order():
    net = load_spec(str(POSTS.parent / "handwritten" / "seed000_general.toml"))
    report = check_post(read_post(POSTS / "nielsen.md"), net, notation="nielsen")
    assert lines_with(report, "wrong") == {21}  # BP4 with j and k swapped
    assert {3, 6, 9, 14} <= lines_with(report, "holds")  # BP1 (∇_a C), BP2, BP3 and BP4


def test_two_claims_on_one_row_are_both_checked():
    net = load_spec(str(POSTS.parent / "handwritten" / "seed000_general.toml"))
    post = parse_post("$$\n\\frac{\\partial C}{\\partial b^l_j} = \\delta^l_j \\qquad "
                      "\\frac{\\partial C}{\\partial w^l_{jk}} = a^{l-1}_j \\delta^l_k\n$$\n", "markdown")
    assert lines_with(check_post(post, net, notation="nielsen"), "wrong") == {2}


GENERAL = str(POSTS.parent / "handwritten" / "seed000_general.toml")


@pytest.mark.parametrize("notation, spec, held", [
    ("symbp", GENERAL, {5, 6, 7, 8, 9}), ("nielsen", GENERAL, {7, 8, 9, 10}),
    ("ng", "seed004", {5, 6, 7}), ("cs231n", GENERAL, {5, 6, 7}),
])
def test_a_post_in_each_notation_checks_clean(notation, spec, held):
    report = check_post(read_post(POSTS / "notation" / f"{notation}.md"), load_spec(spec), notation=notation)
    assert lines_with(report, "wrong") == set() and lines_with(report, "holds") == held


def test_check_post_and_derive_offer_the_same_notations():
    assert list(PRESETS) == list(NOTATIONS) == ["symbp", "nielsen", "ng", "cs231n"]


def test_cs231n_preset_reads_row_major_gradients_and_finds_the_wrong_order():
    post, net = read_post(POSTS / "cs231n.md"), load_spec(GENERAL)
    report = check_post(post, net, notation="cs231n")
    assert lines_with(report, "holds") == {7, 14, 15}  # out = X W + b, dX = dout W^T, dW = X^T dout
    assert lines_with(report, "wrong") == {22}  # dW = dout X^T
    assert lines_with(check_post(post, net), "holds") == set()  # symbp's notation has no dout, X


def test_ng_preset_numbers_the_input_as_layer_1(run):
    code, out, _ = run("check-post", str(POSTS / "ng.md"), "--spec", "seed004", "--notation", "ng")
    assert code == 1
    assert "line    4 ✓ holds" in out and "line    8 ✓ holds" in out
    assert "line   11 ✗ WRONG" in out and "is a transpose ^T missing" in out
