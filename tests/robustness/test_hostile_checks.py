"""Hostile claims, tables and functions for the checkers: every one ends in a verdict or a
one-line error (exit 2), never a traceback or a silently dropped row.

Each class found by an adversarial pass is a list here; the summary line counts them as
hostile claims, hostile tables and hostile functions.
"""

from __future__ import annotations

import random

import pytest

import symbp
from symbp.check.claim import check_claim
from symbp.check.example import ExampleError, check_example, read_table
from symbp.check.function import FunctionError, check_function

from .tally import count

MATRIX_SPEC = {"name": "hostile_checks", "inputs": 2, "loss": "half_sse",
               "layers": [{"size": 3, "activation": "tanh"}, {"size": 2, "activation": "sigmoid"}]}
MATRIX_ATOMS = ["a[l]", "a[L]", "z[l]", "W[l]", "W[l+1]", "delta[l]", "delta[l+1]", "x", "y", "b[l]",
                "a^l", "W^{l}", "\\delta^{l}", "a[l]_1", "y_2", "J", "dW[l]", "a_1^l", "w_{12}^l",
                "g(z[l])", "g'(z[l])", "sigma(z[l])", "(1 - a[l])", "a[0]", "S_l", "2"]
NEURON_ATOMS = ["a_o1", "z_h1", "w5", "E_total", "target_o1", "delta_o1", "dE_total/dw5",
                "sigmoid(z_o1)", "\\sigma(z_{o_1})", "exp(w1)", "\\tanh(w_1)", "g'(z_o1)", "2", "(1 - a_o1)"]
POSTS = ["", "^2", "^T", "_1", "'", "_{i}", "[1]", "[1,2]", "^{-1}", "_1^2", ".T", "ᵀ", "²"]
OPS = [" * ", " @ ", " ", " + ", " - ", " / ", " \\odot "]


def _claims(atoms: list[str], n: int, seed: int) -> list[str]:
    """Random claims from the pieces people combine: names, layer indices, scripts, operators."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        terms = [rng.choice(atoms) + rng.choice(POSTS) for _ in range(rng.randint(2, 5))]
        rhs = terms[1] + "".join(rng.choice(OPS) + t for t in terms[2:])
        out.append(f"{terms[0]} = {rhs}")
    return out


# Claims that crashed with AttributeError: ^ or _ on an indexed name, S_l in a power.
INDEXED_SCRIPTS = ["delta[l] = W[l+1]^T delta[l+1] * (1 - a[l]^2)", "a[L]_1 = sigmoid(z[L]_1)",
                   "delta[L]_2 = (a[L]_2 - y_2)*a[L]_2*(1 - a[L]_2)", "W[l] = S_l^{-1} W[l]",
                   "W[l]_{12}^2 = W[l]_{12} W[l]_{12}", "a[l]'_1 = a[l]_1"]


@pytest.mark.parametrize("level, atoms, spec", [("matrix", MATRIX_ATOMS, MATRIX_SPEC),
                                                ("neuron", NEURON_ATOMS, "mazur")])
def test_random_claims_end_in_a_verdict(level, atoms, spec):
    net = symbp.Network.from_dict(spec) if isinstance(spec, dict) else symbp.load_spec(spec)
    claims = _claims(atoms, 150, seed=len(level)) + (INDEXED_SCRIPTS if level == "matrix" else [])
    for text in claims:
        report = check_claim(net, text)  # anything but a report is a crash
        assert report.verdict in ("holds", "does not hold", "bad input", "undecided"), text
        count("hostile_claims")


# Claims about a batch (one column per sample) and the batch size, mixed with one sample's words.
BATCH_ATOMS = ["A[l]", "Z[l]", "dZ[l]", "dA[l]", "dW[l]", "db[l]", "X", "Y", "m", "N", "1/m", "W[l]",
               "sum(dZ[l])", "sum(A[l])", "A[l-1]^T", "g(Z[l])", "g'(Z[l])", "delta[l]", "b[l]", "(1 - A[l])"]
BATCH_CLAIMS = ["dZ[l] = 1/(m - 5) * dZ[l]", "db[l] = sum(A[l]^T A[l])", "db[l] = sum(m)",
                "sum(dZ[l]) = sum(sum(dZ[l]))", "A[l] = A[l]^64", "dW[l] = m^m^m", "J = 1/m * J",
                "dA[0] = W[1]^T dZ[1]", "A[l]_{2,3} = g(Z[l]_{2,3})", "dW[l] = 1/m * delta[l] @ A[l-1]^T"]


def test_random_batch_claims_end_in_a_verdict():
    net = symbp.Network.from_dict(MATRIX_SPEC)
    for text in _claims(BATCH_ATOMS, 30, seed=5) + BATCH_CLAIMS:
        report = check_claim(net, text)  # anything but a report is a crash
        assert report.verdict in ("holds", "does not hold", "bad input", "undecided"), text
        count("hostile_claims")


def test_claims_with_scripts_on_indexed_names_hold():
    net = symbp.Network.from_dict(MATRIX_SPEC)
    for text in INDEXED_SCRIPTS[:3] + INDEXED_SCRIPTS[4:5]:
        assert check_claim(net, text).verdict == "holds", text


# Tables that lost rows silently or crashed the judging arithmetic.
TABLES = {
    "dup.csv": "a_o1,0.751365070\na_o1,0.5\n", "dup.json": '{"a_o1": 0.5, "a_o1": 0.75}',
    "dup_flat.toml": 'a_o1 = 0.5\n[values]\na_o1 = 0.75\n', "typo_first.csv": "a_o1,0.9O\n",
    "typo_later.csv": "name,value\nE_total,0.298371109\na_o1,0.75.1\n", "empty.csv": "",
    "header_only.csv": "name,value\n", "comments_only.csv": "# a_o1,0.75\n\n", "empty.json": "{}",
    "three_cells.csv": "a_o1,0.75,0.76\n", "no_value.csv": "a_o1\n", "nan.csv": "a_o1,nan\n",
    "inf.json": '{"a_o1": "inf"}', "huge_exponent.csv": "a_o1,1e5000\n",
    "too_many_digits.csv": "a_o1,0." + "1" * 80 + "\n", "list.json": "[1, 2]",
    "nested.toml": "[a]\n[a.b]\nc = 1\n", "bool.toml": "a_o1 = true\n",
}
JUDGED = {"a_o1": "0.751365069552315707956911533485", "1e30*a_o1": "751365069552315707956911533485",
          "a_o1 * 1e-90 * 1e-90": "7.5e-181", "exp(w1*700)": "1e45", "2*a_o1": "1e400", "E_total@3": "0.2",
          "a_o1@3": "0.7", "E_total@2": "0.29"}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_hostile_tables_are_refused_with_one_line(tmp_path, run, name):
    path = tmp_path / name
    path.write_text(TABLES[name])
    with pytest.raises(ExampleError):
        read_table(path)
    code, _, err = run("check-example", "mazur", "--claimed", str(path))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    count("hostile_tables")


def test_extreme_values_are_judged_row_by_row():
    report = check_example("mazur", JUDGED)
    assert [r.key for r in report.rows] == list(JUDGED)  # every row, in order
    count("hostile_tables", len(JUDGED))


def _kernel():
    from symbp.codegen.load import load_module

    return load_module(symbp.emit_numpy(symbp.load_spec("mazur")), "mazur_hostile_checks")


HOSTILE_FUNCTIONS = {
    "exits": lambda k: lambda p, X, Y: exit(0),
    "raises_generator_exit": lambda k: lambda p, X, Y: (_ for _ in ()).throw(GeneratorExit()),
    "returns_none": lambda k: lambda p, X, Y: None,
    "returns_strings": lambda k: lambda p, X, Y: ("J", {"W1": "x"}),
    "complex_loss": lambda k: lambda p, X, Y: (1j, k.loss_and_grad(p, X, Y)[1]),
    "loss_is_an_array": lambda k: lambda p, X, Y: (X, k.loss_and_grad(p, X, Y)[1]),
}
WRONG_FUNCTIONS = {
    "complex_grads": lambda k: lambda p, X, Y: (lambda J, g: (J, {n: v * (1 + 1j) for n, v in g.items()}))(
        *k.loss_and_grad(p, X, Y)),
    "nan_grads": lambda k: lambda p, X, Y: (lambda J, g: (J, {n: v * float("nan") for n, v in g.items()}))(
        *k.loss_and_grad(p, X, Y)),
    "nan_loss": lambda k: lambda p, X, Y: (float("nan"), k.loss_and_grad(p, X, Y)[1]),
    "inf_grads": lambda k: lambda p, X, Y: (lambda J, g: (J, {n: v / 0.0 for n, v in g.items()}))(
        *k.loss_and_grad(p, X, Y)),
}


def test_hostile_functions_are_reported_never_obeyed():
    kernel = _kernel()
    for make in HOSTILE_FUNCTIONS.values():
        with pytest.raises(FunctionError):
            check_function("mazur", make(kernel))
        count("hostile_functions")
    for name, make in WRONG_FUNCTIONS.items():
        import numpy as np

        with np.errstate(all="ignore"):
            report = check_function("mazur", make(kernel))
        assert report.exit_code == 1 and "verdict: WRONG" in report.render(), name
        count("hostile_functions")


SEQUENCE_SPEC = {"name": "hostile_seq", "inputs": [3, 2], "loss": "softmax_ce",
                 "layers": [{"type": "lstm", "size": 2}, {"size": 3, "activation": "softmax"}]}
SEQUENCE_ATOMS = ["h_t", "h_{t-1}", "h_{t+1}", "c_t", "c_{t-1}", "f_t", "o_t", "x_t", "delta_t",
                  "\\delta_{t+1}", "dy_t", "dh_T", "dc_{t+1}", "ds_t", "Wh", "Wx", "W_h", "b", "dWh",
                  "dWx", "db", "z_t", "h_0", "h_{T+1}", "\\sum_t h_t", "sum(t, dc_t)", "sum(s, h_s)",
                  "\\sum_{t=1}^{T} ds_t h_{t-1}^T", "tanh(c_t)", "sqrt(h_t - 5)", "log(f_t - 1)",
                  "1/(h_t - h_t)", "J", "\\frac{\\partial J}{\\partial W_h}", "dJ/dh_t", "h_q", "2"]
# Claims that crashed: values that are complex or not a number at the test points, free indices
# other than t.
SEQUENCE_CLAIMS = ["h_t = sqrt(h_t - 5)", "h_t = 1/(h_t - h_t)", "h_t = log(f_t - 1)", "h_t = \\sum_s h_s",
                   "h_t = h_s", "h_t = h_{t}^{100}", "dWh = \\sum_t \\sum_t h_t", "h_{t-1} = h_{t-1}"]


def test_random_sequence_claims_end_in_a_verdict():
    from symbp.check.seq_claims import check_sequence_claims
    from symbp.core.graph_spec import from_dict

    claims = _claims(SEQUENCE_ATOMS, 150, seed=7) + SEQUENCE_CLAIMS
    for text, report in zip(claims, check_sequence_claims(from_dict(SEQUENCE_SPEC), claims)):
        assert report.verdict in ("holds", "does not hold", "bad input", "undecided"), text
        count("hostile_claims")
