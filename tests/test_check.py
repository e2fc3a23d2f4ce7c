"""symbp check: the seeds' formulas that hold are proven, the mistakes are caught and named.

Also ``check-example`` on seed 000's table of printed numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import symbp
from symbp.check.claim import check_claim, overall_exit_code, read_claims
from symbp.check.example import check_example, judge, read_table

DATA = Path(__file__).parent / "data" / "handwritten"
GENERAL = str(DATA / "seed000_general.toml")
SOFTMAX = str(DATA / "seed002_softmax.toml")
TABLE = DATA / "seed000_table.toml"

W1_CLAIM = ("dE_total/dw1 = ((a_o1-target_o1)*a_o1*(1-a_o1)*w5 + (a_o2-target_o2)*a_o2*(1-a_o2)*w7)"
            "*a_h1*(1-a_h1)*i1")
SEED_E_TOTAL = "E_total = 1/2*(target_o1 - a_o1)^2 + 1/2*(target_o2 - a_o1)^2"


@pytest.fixture(scope="module")
def mazur():
    return symbp.load_spec("mazur")


# --------------------------------------------------------------------------- seed 000, neuron level


@pytest.mark.parametrize("text", [
    "dE_total/dw5 = -(target_o1 - a_o1)*a_o1*(1 - a_o1)*a_h1",
    r"\frac{\partial E_{total}}{\partial w_5} = -(target_{o_1} - a_{o_1}) * a_{o_1}*(1-a_{o_1}) * a_{h_1}",
    r"\frac {\partial E_{total}}{\partial w_5} = \delta_{o_1}*a_{h_1}",
    "∂E_total/∂w5 = delta_o1 * a_h1",
    W1_CLAIM,
    r"\delta_{o_1} = -(target_{o_1} - a_{o_1}) * a_{o_1}*(1-a_{o_1})",
    "dE_total/dw1 = (delta_o1*w5 + delta_o2*w7)*a_h1*(1 - a_h1)*i1",
    "dE_total/dw5 = dE_total/da_o1 * da_o1/dz_o1 * dz_o1/dw5",
    "d a_o1 / d z_o1 = sigmoid(z_o1)*(1 - sigmoid(z_o1))",
    "E_total = 1/2*(target_o1 - a_o1)^2 + 1/2*(target_o2 - a_o2)^2",
    "dE_total/da_h1 = dE_total/dz_o1 * w5 + dE_total/dz_o2 * w7",
])
def test_seed000_formulas_that_are_right_hold(mazur, text):
    report = check_claim(mazur, text)
    assert report.verdict == "holds", report.render()
    assert report.exit_code == 0 and "proven symbolically" in report.reason


def test_seed000_E_total_with_a_o1_for_a_o2_is_rejected_with_a_counterexample(mazur):
    report = check_claim(mazur, SEED_E_TOTAL)
    assert report.verdict == "does not hold" and report.exit_code == 1
    ce = report.counterexample
    assert ce.where == "at the spec's example values"
    assert "w5 = 0.4" in ce.inputs and "target_o2 = 0.99" in ce.inputs
    assert ce.true.startswith("0.29837110876")
    assert ce.claimed.startswith("0.30328439819")
    assert report.diagnosis == "a_o1 is written where a_o2 belongs"
    assert report.correct == "E_total = (target_o1 - a_o1)**2/2 + (target_o2 - a_o2)**2/2"


@pytest.mark.parametrize("text, diagnosis", [
    ("dE_total/dw5 = (target_o1 - a_o1)*a_o1*(1 - a_o1)*a_h1", "the sign is flipped"),
    ("dE_total/dw5 = (a_o1 - target_o1)*a_o1*(1 - a_o1)", "the factor ∂z_o1/∂w5 = a_h1 is missing"),
    (W1_CLAIM.replace("*a_h1*(1-a_h1)", ""), "the factor ∂a_h1/∂z_h1 = a_h1*(1 - a_h1) is missing"),
    (W1_CLAIM.replace("w7", "w6"), "w6 is written where w7 belongs (its indices are swapped)"),
    ("dE_total/dw1 = dE_total/da_o1 * da_o1/dz_o1 * dz_o1/da_h1 * da_h1/dz_h1 * dz_h1/dw1",
     "the path through z_h1 → a_h1 → z_o2 → a_o2 is missing (every path must be summed)"),
    ("dE_total/da_h1 = dE_total/dz_o1 * w5 * dE_total/dz_o2 * w7",
     "the paths are multiplied where they must be summed"),
    ("dE_total/dw5 = (a_o2 - target_o2)*a_o2*(1 - a_o2)*a_h1",
     "a_o2, target_o2 written where neuron 1 of layer 2 belongs (a wrong index)"),
    ("dE_total/dw5 = -(target_o1 - a_o1)*a_o1*(1 - a_o2)*a_h1", "a_o2 is written where a_o1 belongs (once)"),
    ("dE_total/dw5 = 2*(a_o1 - target_o1)*a_o1*(1 - a_o1)*a_h1", "off by a factor of 2 (an extra 2)"),
    ("dE_total/dw5 = (a_o1 - target_o1)*z_o1*(1 - z_o1)*a_h1",
     "∂a_o1/∂z_o1 is written with z_o1 in place of a_o1"),
])
def test_mistakes_are_diagnosed_by_the_mutation_that_reproduces_them(mazur, text, diagnosis):
    report = check_claim(mazur, text)
    assert report.verdict == "does not hold"
    assert report.diagnosis == diagnosis


@pytest.mark.parametrize("spec, text, n", [
    (str(DATA.parent / "posts" / "mean_net.toml"), "dE/da_o1 = -2*(t1 - a_o1)", 3),
    ("tanh_mse", "delta[L] = 2*(a[L] - y)", 3),  # matrix level: 1/S_L on the 2-3-2-3 instantiation
], ids=["neuron", "matrix"])
def test_a_missing_mean_factor_is_named(spec, text, n):
    report = check_claim(spec, text)
    assert report.diagnosis == f"the mean's factor 1/{n} is missing (the loss averages over the {n} outputs)"


def test_textbook_names_V11_P1_O1_are_the_users_own_names():
    named = str(DATA / "named_v.toml")
    right = "dE/dV11 = ((O1 - T1)*O1*(1 - O1)*W11 + (O2 - T2)*O2*(1 - O2)*W21)*P1*(1 - P1)*X1"
    assert check_claim(named, right).verdict == "holds"
    latex = (r"\frac{\partial E}{\partial V_{11}} = "
             r"\left(\delta_{O1} W_{11} + \delta_{O2} W_{21}\right) P_1 (1 - P_1) X_1")
    assert check_claim(named, latex).verdict == "holds"
    wrong = check_claim(named, right.replace("W21", "W12"))
    assert wrong.diagnosis == "W12 is written where W21 belongs (its indices are swapped)"
    assert wrong.correct == "dE/dV11 = P1*X1*(1 - P1)*(O1*W11*(1 - O1)*(O1 - T1) + O2*W21*(1 - O2)*(O2 - T2))"


def test_false_gradient_gets_the_neuron_level_simplified_gradient_in_the_users_names(mazur):
    report = check_claim(mazur, r"\frac{\partial E_{total}}{\partial w_1} = \delta_{h_1}")
    assert report.verdict == "does not hold"
    assert report.correct == ("dE_total/dw1 = a_h1*i1*(1 - a_h1)*(a_o1*w5*(1 - a_o1)*(a_o1 - target_o1) + "
                              "a_o2*w7*(1 - a_o2)*(a_o2 - target_o2))")
    assert report.correct_latex.startswith(r"\frac{\partial E_{total}}{\partial w_{1}} = ")
    assert report.diagnosis == "the factor ∂z_h1/∂w1 = i1 is missing"


def test_chain_rule_over_named_quantities_matches_the_neuron_derivation(mazur):
    from symbp.backprop.neuron import derive_neurons
    from symbp.check.system import system_for

    n = derive_neurons(mazur)
    system = system_for(mazur)
    for g in n.gradients:
        d = system.derivative(system.loss, system.symbols[g.param])
        assert (system.definitions[d] - g.expr).expand() == 0
    for z, delta in n.deltas.items():
        d = system.derivative(system.loss, system.symbols[z])
        assert (system.definitions[d] - delta).expand() == 0


def test_a_claim_without_a_real_value_does_not_hold(mazur):
    report = check_claim(mazur, "E_total = log(-a_o1)")
    assert report.verdict == "does not hold"
    assert report.counterexample.claimed == "undefined (no real value)"


def test_an_equality_sympy_cannot_prove_is_undecided_with_exit_3(mazur):
    report = check_claim(mazur, "1 = heaviside(z_o1) + heaviside(-z_o1)")
    assert report.verdict == "undecided" and report.exit_code == 3


def test_unknown_names_are_bad_input_with_a_caret(mazur):
    report = check_claim(mazur, "dE_total/dw5 = a_o3 * a_h1")
    assert report.verdict == "bad input" and report.exit_code == 2
    assert "unknown name 'a_o3'; did you mean a_o" in report.error.reason
    caret = report.error.caret().splitlines()
    assert caret[1].index("^") - 2 == report.text.index("a_o3")


# --------------------------------------------------------------------------- matrix level


@pytest.mark.parametrize("text", [
    r"\delta^l = ((w^{l+1})^T*\delta^{l+1}) \odot g'(z^l)",  # seed 000's pseudo-code, as printed
    r"\delta_i^l = g'(z_i^l) * \sum_{j=1}^{S_{l+1}} \delta_j^{l+1} * w_{ji}^{l+1}",  # its recurrence
    r"\frac{\partial J(\theta)}{\partial w_{ij}^l} = \delta_i^l * a_j^{l-1}",
    r"\frac{\partial J(\theta)}{\partial b_i^l} = \delta_i^l",
    r"\delta_i^{n l} = -(y_i - a_i^{n l}) g'(z_i^{n l})",  # its initial condition
    "delta[l] = W[l+1]^T delta[l+1] * a[l]*(1 - a[l])",
    "dW[l] = delta[l] a[l-1]^T",
    "dW[l][i,j] = delta[l][i] * a[l-1][j]",
    "delta[l][i] = sum(j, W[l+1][j,i] * delta[l+1][j]) * a[l][i]*(1 - a[l][i])",
    "db[l] = delta[l]",
    r"\delta^L = (a^L - y) \odot \sigma'(z^L)",
])
def test_seed000_general_recurrence_and_weight_gradient_hold_for_every_layer(text):
    report = check_claim(GENERAL, text)
    assert report.verdict == "holds", report.render()
    assert report.level == "matrix"


@pytest.mark.parametrize("text", ["delta[l] = W[l+1]^T delta[l+1] * heaviside(z[l])",
                                  "delta[l] = W[l+1]^T delta[l+1] * relu'(z[l])",
                                  "delta[l] = W[l+1]^T delta[l+1] * g'(z[l])"])
def test_relu_recurrence_holds_with_the_step_written_in_z_or_a(text):
    report = check_claim("mnist_mlp", text)
    assert report.verdict == "holds", report.render()


def test_a_claim_about_every_layer_fails_on_the_layer_where_it_is_false():
    report = check_claim("mnist_mlp", "a[l] = max(z[l], 0)")  # not for the softmax output layer
    assert report.verdict == "does not hold" and "l = 3" in report.counterexample.where


def test_matrix_claims_are_checked_on_two_non_square_instantiations_and_every_layer():
    report = check_claim(GENERAL, "dW[l] = delta[l] a[l-1]^T")
    checked = next(n for n in report.notes if n.startswith("checked on"))
    for l in (1, 2, 3):
        assert f"sizes 2-3-2-3, l = {l}" in checked and f"sizes 3-2-4-2, l = {l}" in checked


def test_missing_activation_derivative_in_the_recurrence_is_named():
    report = check_claim(GENERAL, "delta[l] = W[l+1]^T delta[l+1]")
    assert report.verdict == "does not hold"
    assert report.diagnosis == "the factor ∂a[1]/∂z[1] = g'(z[1]) is missing"
    assert report.correct == "delta[l] = W[l+1]^T delta[l+1] * a[l]*(1 - a[l])"
    assert "W[1] = [[" in report.counterexample.inputs


def test_a_quantity_at_the_wrong_layer_is_named_with_the_corrected_claim():
    report = check_claim(GENERAL, "delta^{l} = (W^{l+1})^T delta^{l+1} * a^{l}*(1 - a^{l+1})")
    assert report.verdict == "does not hold"
    assert report.diagnosis == "a^{l+1} is at layer 'l+1', but the left side is at layer 'l': write a^{l}"
    assert report.correct_latex == "delta^{l} = (W^{l+1})^T delta^{l+1} * a^{l}*(1 - a^{l})"
    assert check_claim(GENERAL, report.correct_latex).holds


@pytest.mark.parametrize("text, words", [
    ("delta[l] = W[l+1] delta[l+1] * a[l]*(1 - a[l])", "is a transpose ^T missing"),
    ("dW[l] = a[l-1] delta[l]^T", "transposed shape"),
    ("delta[l] = W[l+1]^T delta[l+1] a[l]", "for an elementwise product write * or ⊙"),
])
def test_shape_mistakes_do_not_hold_and_say_why(text, words):
    report = check_claim(GENERAL, text)
    assert report.verdict == "does not hold" and report.exit_code == 1
    assert words in report.reason


def test_seed002_softmax_with_loss_is_y_minus_t():
    for k in (1, 2, 3):
        report = check_claim(SOFTMAX, f"dL/da{k} = y{k} - t{k}")
        assert report.verdict == "holds", report.render()
        assert any("sum to 1" in n for n in report.notes)
    assert check_claim(SOFTMAX, "delta[L] = a[L] - y").verdict == "holds"
    wrong = check_claim(SOFTMAX, "dL/da2 = (y2 - t2)*y2*(1 - y2)")
    assert wrong.verdict == "does not hold" and wrong.diagnosis == "an extra factor ∂y2/∂a2 = y2*(1 - y2)"


def test_seed004_output_delta_for_sigmoid_and_logistic_loss_holds():
    report = check_claim("seed004", r"\delta^{(3)} = a^{(3)} - y", numbering="from1")
    assert report.verdict == "holds"
    assert check_claim("seed004", r"\delta^{(2)} = (\Theta^{(2)})^T \delta^{(3)} .* sigmoidGradient(z^{(2)})",
                       numbering="from1").verdict == "holds"
    wrong = check_claim("seed004", r"\delta^{(3)} = (a^{(3)} - y) .* sigmoidGradient(z^{(3)})",
                        numbering="from1")
    assert wrong.verdict == "does not hold" and wrong.correct == "delta[L] = a[L] - y"
    assert "extra factor" in wrong.diagnosis


def test_seed004_numbering_without_the_option_is_bad_input_with_a_hint():
    report = check_claim("seed004", r"\delta^{(3)} = a^{(3)} - y")
    assert report.verdict == "bad input" and "--layer-numbering from1" in report.error.reason


# --------------------------------------------------------------------------- command line


def test_check_command_exit_codes_and_output(run):
    code, out, _ = run("check", "--claim", "dE_total/dw5 = -(target_o1 - a_o1)*a_o1*(1 - a_o1)*a_h1")
    assert code == 0 and "HOLDS (neuron level)" in out
    code, out, _ = run("check", "mazur", "--claim", SEED_E_TOTAL)
    assert code == 1 and "DOES NOT HOLD" in out and "diagnosis: a_o1 is written where a_o2 belongs" in out
    code, out, _ = run("check", "--claim", "dE_total/dw5 = (a_o1 - target_o1")
    assert code == 2 and "bad input" in out and "^" in out
    code, out, err = run("check", "nosuch", "--claim", "a = b")
    assert code == 2 and err.startswith("symbp: error:") and "Traceback" not in err
    code, _, _ = run("check", "seed004", "--layer-numbering", "from1",
                     "--claim", r"\delta^{(3)} = a^{(3)} - y")
    assert code == 0


def test_claims_file_skips_comments_and_blank_lines(tmp_path, run):
    path = tmp_path / "claims.txt"
    path.write_text("# seed 000\n\n" + "dE_total/dw5 = delta_o1*a_h1\n  # indented comment\n"
                    + SEED_E_TOTAL + "\n", encoding="utf-8")
    assert read_claims(path) == ["dE_total/dw5 = delta_o1*a_h1", SEED_E_TOTAL]
    code, out, _ = run("check", "mazur", "--claims", str(path))
    assert code == 1 and "1 holds, 1 does not hold" in out


def test_overall_exit_code_prefers_bad_input_then_failure_then_undecided(mazur):
    holds = check_claim(mazur, "dE_total/dw5 = delta_o1*a_h1")
    fails = check_claim(mazur, SEED_E_TOTAL)
    bad = check_claim(mazur, "a_o1 = ")
    assert overall_exit_code([holds, fails, bad]) == 2
    assert overall_exit_code([holds, fails]) == 1
    assert overall_exit_code([holds]) == 0


# --------------------------------------------------------------------------- check-example


@pytest.fixture(scope="module")
def seed000_report():
    return check_example("mazur", read_table(TABLE))


def test_seed000_table_disagrees_exactly_where_the_seed_is_wrong(seed000_report):
    rows = {r.key: r for r in seed000_report.rows}
    bad = {k for k, r in rows.items() if not r.agrees(strict=False)}
    assert bad == {"E_total+", "dE_total/da_o2 * da_o2/dz_o2 * dz_o2/da_h1",
                   "E_total@10000", "a_o1@10000", "a_o2@10000"}
    assert seed000_report.exit_code == 1
    after = rows["E_total+"]
    assert after.computed.startswith("0.2910277736") and (after.agreeing, after.printed) == (6, 9)
    # The seed's 10000-step numbers come from code that backpropagates through the already
    # updated w5..w8; plain gradient descent gives 0.0000351019 and [0.0159136, 0.9840643].
    assert rows["E_total@10000"].computed.startswith("0.0000351018")
    assert rows["a_o1@10000"].computed.startswith("0.0159136")


def test_truncated_values_are_accepted_and_marked_but_not_with_strict_rounding(seed000_report):
    a_o1 = next(r for r in seed000_report.rows if r.key == "a_o1")
    assert a_o1.verdict == "truncated" and a_o1.computed.startswith("0.7513650695")
    strict = check_example("mazur", {"a_o1": "0.751365069", "a_h1": "0.593269992"}, strict=True)
    assert [r.verdict for r in strict.rows] == ["truncated", "rounded"] and strict.exit_code == 1
    assert check_example("mazur", {"a_o1": "0.751365069"}).exit_code == 0


@pytest.mark.parametrize("claimed, true, verdict, digits", [
    ("0.751365069", "0.7513650695523", "truncated", 9),
    ("0.751365070", "0.7513650695523", "rounded", 9),
    ("0.291027924", "0.2910277736936", "DISAGREES", 6),
    ("0.05", "0.05", "exact", 1),
    ("-0.019049119", "-0.0190491182582781", "DISAGREES", 7),
    ("-0.019049118", "-0.0190491182582781", "rounded", 8),
    ("0.0159122", "0.0159136204435507", "DISAGREES", 4),
])
def test_judging_rounded_truncated_and_wrong_values(claimed, true, verdict, digits):
    from decimal import Decimal

    got, _printed, agreeing = judge(claimed, Decimal(true))
    assert (got, agreeing) == (verdict, digits)


def test_tables_in_csv_json_and_toml_read_alike(tmp_path):
    rows = {"a_h1": "0.593269992", "dE_total/dw5": "0.082167041", "w5+": "0.35891648"}
    (tmp_path / "t.csv").write_text("name,value\n" + "".join(f"{k},{v}\n" for k, v in rows.items()))
    (tmp_path / "t.json").write_text("{" + ", ".join(f'"{k}": {v}' for k, v in rows.items()) + "}")
    (tmp_path / "t.toml").write_text("".join(f'"{k}" = {v}\n' for k, v in rows.items()))
    tables = [read_table(tmp_path / f"t.{ext}") for ext in ("csv", "json", "toml")]
    assert tables[0] == tables[1] == tables[2] == rows


def test_check_example_command_with_explicit_values(tmp_path, run):
    values = tmp_path / "values.json"
    values.write_text(json.dumps({**symbp.load_spec("mazur").example["values"], "learning_rate": 0.5}))
    claimed = tmp_path / "claimed.csv"
    claimed.write_text("a_o1,0.751365069\nE_total,0.298371109\nw5+,0.35891648\n")
    code, out, _ = run("check-example", "mazur", "--values", str(values), "--claimed", str(claimed))
    assert code == 0 and "truncated" in out and "verdict: all 3 values agree" in out
    code, out, _ = run("check-example", "mazur", "--claimed", str(claimed), "--strict-rounding")
    assert code == 1


def test_files_with_a_byte_order_mark_read_like_files_without(tmp_path, run):
    """Spreadsheets and Windows editors save UTF-8 with a BOM; it is not part of the first name."""
    from symbp.check.claim import read_claims
    from symbp.docs.example import read_values

    bom = "\ufeff"
    values = tmp_path / "values.json"
    values.write_text(bom + json.dumps({**symbp.load_spec("mazur").example["values"],
                                        "learning_rate": 0.5}), "utf-8")
    claimed = tmp_path / "claimed.csv"
    claimed.write_text(bom + "a_o1,0.751365069\nE_total,0.298371109\nw5+,0.35891648\n", "utf-8")
    code, out, err = run("check-example", "mazur", "--values", str(values), "--claimed", str(claimed))
    assert code == 0 and "verdict: all 3 values agree" in out, out + err
    assert list(read_table(claimed)) == ["a_o1", "E_total", "w5+"]
    assert read_values(values)["values"]["i1"] == 0.05
    claims = tmp_path / "claims.txt"
    claims.write_text(bom + "E_total = 1/2*(target_o1 - a_o1)^2 + 1/2*(target_o2 - a_o2)^2\n", "utf-8")
    assert read_claims(claims)[0].startswith("E_total")
