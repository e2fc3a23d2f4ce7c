"""Bad specs: every one is refused with one line naming the field, exit code 2, no traceback and
no file written, by ``symbp emit``, ``symbp derive`` and ``symbp run``.

The corpus is tests/bad_specs/: each TOML case names its expected field on its first line
(``# expect: layers[0].size``), JSON cases in tests/bad_specs/expected.toml. ``text: …`` instead
of a field means a phrase the message must contain, for errors about the file as a whole (syntax,
encoding). Hypothesis then mutates valid specs (delete a key, replace a value with junk, change a
type, add a key) and checks the same contract on every mutation that is refused.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import tempfile
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbp.cli.app import main

from .tally import count

CORPUS = Path(__file__).resolve().parent.parent / "bad_specs"
PREFIX = "symbp: error: "


def corpus() -> list[tuple[Path, str]]:
    sidecar = tomllib.loads((CORPUS / "expected.toml").read_text("utf-8"))
    cases = []
    for path in sorted(CORPUS.iterdir()):
        if path.suffix == ".toml" and path.name != "expected.toml":
            first = path.read_bytes().split(b"\n", 1)[0].decode("ascii", "replace")
            match = re.fullmatch(r"# expect: (.+)", first.strip())
            cases.append((path, match[1] if match else ""))
        elif path.suffix == ".json":
            cases.append((path, sidecar.get(path.name, "")))
    return cases


CASES = corpus()


def test_corpus_has_forty_cases_or_more_each_stating_its_field():
    assert len(CASES) >= 40
    assert {p.suffix for p, _ in CASES} == {".toml", ".json"}
    missing = [p.name for p, expect in CASES if not expect]
    assert not missing, f"cases without an expected field: {missing}"
    stale = set(tomllib.loads((CORPUS / "expected.toml").read_text("utf-8"))) - {p.name for p, _ in CASES}
    assert not stale, f"expected.toml lists missing files: {sorted(stale)}"


def names_the_field(message: str, expect: str) -> bool:
    """The message leads with the field (``layers[0].size: …``) or, for a whole-file problem,
    contains the expected phrase."""
    if expect.startswith("text: "):
        return expect[len("text: "):] in message
    return message.startswith(expect + ":")


def refuse(argv: list[str], capsys) -> str:
    """Run the CLI; it must exit 2 with exactly one line on stderr and no traceback. Returns
    the message without the ``symbp: error:`` prefix."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (argv, code, out, err)
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(PREFIX) and "Traceback" not in err + out, err
    return err[len(PREFIX):].rstrip("\n")


@pytest.mark.parametrize("path, expect", CASES, ids=[p.name for p, _ in CASES])
def test_bad_spec_is_refused_with_one_line_naming_the_field_and_writes_nothing(
        path, expect, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for argv in (["emit", str(path), "-o", "kernel.py"],
                 ["derive", str(path), "-o", "derivation.txt"],
                 ["run", str(path), "-o", "folder"]):
        message = refuse(argv, capsys)
        assert names_the_field(message, expect), (argv[0], expect, message)
    assert list(tmp_path.iterdir()) == [], "a refused spec must not write anything"
    count("bad_specs")


def test_oversized_spec_file_is_refused_before_it_is_parsed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "big.toml"
    spec.write_text("inputs = 2\n" + "# padding\n" * 120_000)
    message = refuse(["emit", str(spec), "-o", "kernel.py"], capsys)
    assert "larger than" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.toml"]
    count("bad_specs")


def test_directory_and_missing_spec_paths_are_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.toml").mkdir()
    assert "no such spec file" in refuse(["emit", "folder.toml", "-o", "k.py"], capsys)
    assert "no such spec file" in refuse(["emit", "absent.json", "-o", "k.py"], capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.toml"]
    count("bad_specs", 2)


def bad_options() -> list[tuple[str, list[str]]]:
    """(expected field or phrase, argv) from tests/bad_specs/bad_options.txt."""
    cases = []
    for line in (CORPUS / "bad_options.txt").read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            expect, argv = line.split(" | ", 1)
            cases.append((expect.strip(), shlex.split(argv)))
    return cases


OPTION_CASES = bad_options()


def test_option_corpus_covers_every_command_with_options():
    assert len(OPTION_CASES) >= 30
    assert {argv[0] for _, argv in OPTION_CASES} >= {"run", "verify", "check", "check-example",
                                                     "example", "derive", "regenerate"}


@pytest.mark.parametrize("expect, argv", OPTION_CASES, ids=[" ".join(a) for _, a in OPTION_CASES])
def test_bad_option_is_refused_with_one_line_naming_it_and_writes_nothing(
        expect, argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    message = refuse(argv, capsys)
    assert names_the_field(message, expect), (argv, expect, message)
    assert list(tmp_path.iterdir()) == [], "a refused command must not write anything"
    count("bad_options")


# --- hypothesis: mutations of valid specs ---------------------------------------------------------

BASES = [
    {"name": "mut_a", "inputs": 3, "loss": "bce", "reduction": "sum", "description": "base A",
     "layers": [{"size": 4, "activation": "swish"},
                {"size": 3, "activation": "tanh", "bias": "shared"},
                {"size": 2, "activation": "sigmoid", "train_bias": False}],
     "regularization": {"convention": "half", "strength": 0.1},
     "activations": {"swish": {"formula": "x/(1+exp(-x))"}},
     "names": {"inputs": "x{i}", "weights": "w{l}_{i}{j}", "loss": "E"}},
    {"name": "mut_b", "inputs": 2, "loss": "softmax_ce", "weight_layout": "in_out",
     "layers": [{"size": 3, "activation": "leaky_relu", "alpha": 0.2},
                {"size": 3, "activation": "softmax"}],
     "names": {"inputs": ["i1", "i2"], "targets": "t{i}", "activations": ["h{i}", "o{i}"]}},
    {"inputs": 2, "loss": "mine", "layers": [{"size": 2, "activation": "identity"}],
     "losses": {"mine": {"formula": "log(cosh(a - y))"}}},
]

SNIPPETS = ["__import__('os').system('touch PWNED')", "x\nimport os", "{{ 7*7 }}", "${x}",
            "lambda: 0", "x.__class__", "\u202e", "\x00", "sigm\u043eid", "-1", "1e999", "",
            "softmax", "relu", "x", "a", "W1", "np", "None", "nan"]

junk = st.one_of(
    st.none(), st.booleans(), st.integers(-10**13, 10**13),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), st.sampled_from(SNIPPETS),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.sampled_from(["size", "formula", "x", "__class__"]), st.integers(-2, 5), max_size=2))


def paths(value, prefix=()):
    """Every path into a spec: tuples of keys and list indices."""
    out = []
    if isinstance(value, dict):
        for key, item in value.items():
            out.append(prefix + (key,))
            out += paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.append(prefix + (i,))
            out += paths(item, prefix + (i,))
    return out


def field(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@st.composite
def mutations(draw):
    """(mutated spec, the field path that was changed)."""
    spec = json.loads(json.dumps(draw(st.sampled_from(BASES))))
    path = draw(st.sampled_from(paths(spec)))
    parent = spec
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    op = draw(st.sampled_from(["delete", "junk", "junk", "retype", "add"]))
    changed = path
    if op == "delete":
        del parent[last]
        changed = path[:-1] if isinstance(last, int) else path
    elif op == "junk":
        parent[last] = draw(junk)
    elif op == "retype":
        value = parent[last]
        parent[last] = draw(st.sampled_from([[value], str(value), {"value": value}, None]))
    elif isinstance(parent[last], dict):
        key = draw(st.sampled_from(["zz_unknown", "formula", "size", "__init__"]))
        parent[last][key] = draw(junk)
        changed = path + (key,)
    else:
        parent[last] = draw(junk)
    return spec, field(changed)


# A change to one field may be reported at another that depends on it: an output activation at
# the loss it no longer suits, a size at the neuron names it no longer matches, a formula at the
# layer that uses it. (changed field pattern, reported field pattern)
DEPENDS = [
    (r"layers(\[\d+\](\.activation)?)?", r"loss|names(\..*|\[.*)?|layers\[\d+\]\.size"),
    (r"layers\[\d+\]\.(size|bias)", r"names(\..*|\[.*)?|layers"),
    (r"inputs", r"names(\..*|\[.*)?|layers"),
    (r"activations(\..*)?", r"layers\[\d+\]\.activation|loss"),
    (r"losses(\..*)?", r"loss"),
    (r"loss", r"losses\.\w+\.formula"),
]


def related(changed: str, reported: str) -> bool:
    if reported == changed or reported.startswith((changed + ".", changed + "[")):
        return True
    if changed.startswith((reported + ".", reported + "[")):
        return True
    layer = re.match(r"layers\[\d+\]", changed)
    if layer and reported.startswith(layer[0] + "."):
        return True  # fields of one layer depend on each other (alpha needs leaky_relu)
    return any(re.fullmatch(c, changed) and re.fullmatch(r, reported) for c, r in DEPENDS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutations())
def test_mutated_specs_are_either_accepted_or_refused_with_one_line_naming_the_changed_field(case):
    spec, changed = case
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        path = folder / "spec.json"
        path.write_text(json.dumps(spec), "utf-8")
        out = folder / "kernel.py"
        with _Capture() as stream:
            code = main(["emit", str(path), "-o", str(out)])
        err = stream.err.getvalue()
        if code == 0:
            assert out.read_text("utf-8").startswith("# Generated by symbp")
            return
        assert code == 2, (changed, err)
        assert err.count("\n") == 1 and err.startswith(PREFIX) and "Traceback" not in err, err
        message = err[len(PREFIX):]
        reported = message.split(": ", 1)[0]
        assert related(changed, reported), f"changed {changed}, reported {message!r}"
        assert sorted(p.name for p in folder.iterdir()) == ["spec.json"]
        count("bad_specs")


class _Capture:
    """Capture stdout/stderr inside a hypothesis example (capsys is function-scoped)."""

    def __enter__(self):
        self.out, self.err = io.StringIO(), io.StringIO()
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(contextlib.redirect_stdout(self.out))
        self._stack.enter_context(contextlib.redirect_stderr(self.err))
        return self

    def __exit__(self, *exc):
        self._stack.close()
        return False


def test_run_on_a_valid_spec_with_a_max_formula_shows_no_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "maxed.json"
    spec.write_text(json.dumps({
        "inputs": 2, "loss": "half_sse", "activations": {"lrelu2": {"formula": "max(x, 0.2*x)"}},
        "layers": [{"size": 2, "activation": "lrelu2"}, {"size": 2, "activation": "sigmoid"}]}))
    assert main(["run", str(spec), "-o", "out"]) == 0
    assert "verdict: PASS" in capsys.readouterr().out
