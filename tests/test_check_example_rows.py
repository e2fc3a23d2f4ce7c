"""check-example checks every row of a table or refuses the table, naming the row; it judges
values of any printed length and size, and trains once for all the rows after N steps."""

from __future__ import annotations

import importlib

import pytest

import symbp
from symbp.check.example import ExampleError, check_example, read_table

check_example_module = importlib.import_module("symbp.check.example")

TRUE_A_O1 = "0.751365069552315707956911533485"  # a_o1 of seed 000 to 30 digits


@pytest.mark.parametrize("name, text, words", [
    ("dup.csv", "a_o1,0.751365070\na_o1,0.5\n", "a_o1: given twice"),
    ("dup_spaced.csv", "a_o1,0.751365070\n a_o1 ,0.5\n", "a_o1: given twice"),
    ("dup.json", '{"a_o1": 0.5, "a_o1": 0.751365070}', "a_o1: given twice"),
    ("dup_nested.toml", 'a_o1 = 0.5\n[values]\na_o1 = 0.751365070\n', "a_o1: given twice"),
    ("bad_first.csv", "a_o1,0.9O\nE_total,0.298371109\n", "a_o1: '0.9O' is not a number"),
    ("bad_later.csv", "name,value\nE_total,0.298371109\na_o1,0.9O\n", "a_o1: '0.9O' is not a number"),
    ("extra.csv", "a_o1,0.751365070,0.2\n", "line 1: expected name,value"),
    ("empty.csv", "", "has no rows"),
    ("header_only.csv", "name,value\n# nothing else\n", "has no rows"),
    ("empty.toml", "", "has no rows"),
    ("empty.json", "{}", "has no rows"),
])
def test_tables_that_would_drop_a_row_are_refused_with_the_row_named(tmp_path, run, name, text, words):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ExampleError, match=words):
        read_table(path)
    code, out, err = run("check-example", "mazur", "--claimed", str(path))
    assert code == 2 and words in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_header_row_is_still_skipped_and_every_other_row_checked(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("quantity,claimed\na_o1,0.751365070\nE_total,0.298371109\n")
    assert read_table(path) == {"a_o1": "0.751365070", "E_total": "0.298371109"}


def test_claimed_values_given_directly_are_refused_when_empty_or_repeated():
    with pytest.raises(ExampleError, match="no rows"):
        check_example("mazur", {})
    with pytest.raises(ExampleError, match="a_o1: given twice"):
        check_example("mazur", {"a_o1": "0.751365070", "a_o1 ": "0.5"})


def test_thirty_digit_tiny_and_huge_values_are_judged_to_thirty_digits():
    report = check_example("mazur", {
        "a_o1": TRUE_A_O1,
        "1e30*a_o1": TRUE_A_O1[2:],
        "a_o1*1e-40": "7.51365069552315707956911533485e-41",
        "2*a_o1": "1e400",
        "exp(w1*300)": "3.49342710574851e19",
    })
    verdicts = {r.key: (r.verdict, r.agreeing, r.printed) for r in report.rows}
    assert verdicts["a_o1"] == ("exact", 30, 30)
    assert verdicts["1e30*a_o1"] == ("exact", 30, 30)  # an expression row, not only a table row
    assert verdicts["a_o1*1e-40"] == ("exact", 30, 30)
    assert verdicts["2*a_o1"] == ("DISAGREES", 0, 1)
    assert verdicts["exp(w1*300)"][0] == "rounded"
    assert report.exit_code == 1


@pytest.mark.parametrize("claimed, words", [
    ({"a_o1": "1e1001"}, "exponent beyond"),
    ({"a_o1": "0." + "7" * 61}, "more than 60 digits"),
])
def test_claimed_values_beyond_the_limits_are_refused(claimed, words):
    with pytest.raises(ExampleError, match=words):
        check_example("mazur", claimed)


def test_values_beyond_float64_are_refused_with_the_name():
    values = {k: repr(float(v)) for k, v in symbp.load_spec("mazur").example["values"].items()}
    with pytest.raises(ExampleError, match="values: w1: 1e400 is beyond the float64 range"):
        check_example("mazur", {"a_o1": "0.75"}, {**values, "w1": "1e400"})
    with pytest.raises(ExampleError, match="learning rate: 1e999 is beyond"):
        check_example("mazur", {"a_o1": "0.75"}, values, lr="1e999")


def test_rows_after_n_steps_share_one_training_run(monkeypatch):
    calls = []
    real = check_example_module.reference_kernel

    def counting(net):
        kernel = real(net)

        class Counting:
            def sgd_step(self, *args):
                calls.append(1)
                return kernel.sgd_step(*args)

        return Counting()

    monkeypatch.setattr(check_example_module, "reference_kernel", counting)
    rows = {"E_total@300": "0.1", "a_o1@300": "0.1", "E_total@100": "0.1", "a_o2@200": "0.1"}
    report = check_example("mazur", rows)
    assert len(calls) == 300  # max(n) steps for the whole table, not 300 + 300 + 100 + 200
    alone = {r.key: r.computed for r in check_example("mazur", {"E_total@100": "0.1"}).rows}
    assert {r.key: r.computed for r in report.rows}["E_total@100"] == alone["E_total@100"]


@pytest.mark.parametrize("lr", ["1e19", "1e300"])
def test_example_refuses_a_learning_rate_too_large_to_mean_anything_in_one_line(run, lr):
    code, out, err = run("example", "mazur", "--lr", lr, "--steps", "1")
    assert code == 2 and out == "" and err.count("\n") == 1 and "--lr" in err, err


@pytest.mark.parametrize("argv, printed", [
    (["--values", "VALUES", "--steps", "2"], "1.00000000e25"),
])
def test_example_prints_huge_values_in_scientific_notation(tmp_path, run, argv, printed):
    values = dict(symbp.load_spec("mazur").example["values"], i1=1e25)
    path = tmp_path / "values.json"
    path.write_text(__import__("json").dumps(values))
    code, out, err = run("example", "mazur", *[str(path) if a == "VALUES" else a for a in argv])
    assert code == 0 and printed in out and "Traceback" not in err
