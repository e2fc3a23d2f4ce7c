"""The README's specs and commands work as shown: every TOML block is a valid spec, and every
command (``sh`` blocks, ``$`` lines of ``console`` blocks, inline ``symbp …`` commands) is run in
a temporary folder; a console block's output lines must appear in the command's output.

Commands that would take minutes or install software run as a small stand-in (``STAND_INS``);
a README command this test does not know fails it, so a new command gets checked too.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import symbp
from symbp.cli import app as cli
from symbp.core.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text("utf-8")
DATA = Path(__file__).resolve().parent / "data" / "handwritten"
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.M | re.S)
# Inline commands with arguments and no placeholder (SPEC, TABLE): `symbp check seed004 …`.
INLINE = re.compile(r"`(symbp [a-z-]+ (?:(?![A-Z]{3,})[^`\[…|<])+)`")

# Stand-ins for commands that take minutes or change the machine: (prefix, what runs instead).
STAND_INS = {
    "pip install .": [sys.executable, "-m", "pip", "--version"],  # tests/test_install.py installs
    "bash tests/run": ["bash", "-n", "tests/run"],  # this suite is what it runs
    "pip install -r benchmarks/requirements.txt": ["test", "-s", "benchmarks/requirements.txt"],
    "python benchmarks/run.py": [sys.executable, "-m", "py_compile", "benchmarks/run.py"],
}


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README) if lang == language]


def toml_specs() -> list[str]:
    return [body for body in blocks("toml") if "layers" in body]


def commands() -> list[tuple[str, list[str]]]:
    """(command, output lines shown under it) for every command in the README; a command may
    be a chain ``a && b``, run in order in one folder."""
    out: list[tuple[str, list[str]]] = []
    for body in blocks("sh"):
        for line in body.splitlines():
            line = re.split(r"\s#\s", line, maxsplit=1)[0].strip()
            if line:
                out.append((line, []))
    for body in blocks("console"):
        for chunk in re.split(r"^\$ ", body, flags=re.M)[1:]:
            first, *shown = chunk.splitlines()
            out.append((first.strip(), [s.strip() for s in shown if s.strip() and s.strip() != "..."]))
    for text in INLINE.findall(README):
        if text.strip() not in (c for c, _ in out):
            out.append((text.strip(), []))
    return out


# Rounding-level figures (1.8e-16 here, 3.5e-16 there) depend on the machine's BLAS; times
# ("(0.03 s)") on its load.
ROUNDING = re.compile(r"\b\d\.\de-(1\d|[2-9]\d)\b")
TIME = re.compile(r"\(\d+(\.\d+)? s\)")


def normal(line: str) -> str:
    return TIME.sub("(time)", ROUNDING.sub("(rounding)", " ".join(line.split())))


def test_the_readme_shows_specs_and_commands():
    assert len(toml_specs()) >= 2 and len(commands()) >= 15


@pytest.mark.parametrize("text", toml_specs(), ids=lambda t: t.split("\n", 1)[0][:40])
def test_every_readme_spec_is_valid(text):
    net = load_spec(tomllib.loads(text), graphs=True)  # dense or graph
    assert net.name


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A folder with the files the README's commands name: its own specs, values, a network
    2-3-2-3 for the matrix claim and seed 004's backprop with its missing sigmoid gradient."""
    for text in toml_specs():
        name = tomllib.loads(text).get("name")
        (tmp_path / f"{name}.toml").write_text(text, "utf-8")
    (tmp_path / "my_net.toml").write_text(toml_specs()[0], "utf-8")
    values = symbp.load_spec("mazur").example["values"]
    (tmp_path / "values.toml").write_text("".join(f"{k} = {v}\n" for k, v in values.items()))
    layers = "".join(f'[[layers]]\nsize = {n}\nactivation = "sigmoid"\n' for n in (3, 2, 3))
    (tmp_path / "net.toml").write_text(f'inputs = 2\nloss = "half_sse"\n{layers}')
    source = (DATA / "seed004_backward.py").read_text("utf-8")
    (tmp_path / "backprop.py").write_text(source + "\nnnCostFunction = broken_no_sigmoid_gradient\n")
    optim = DATA.parent / "optimizer_steps" / "cs231n_optim.py"
    (tmp_path / "optim.py").write_text(optim.read_text("utf-8"))
    (tmp_path / "post.md").write_text((DATA.parent / "posts" / "seed000.md").read_text("utf-8"))
    (tmp_path / "docs").mkdir()
    shutil.copytree(DATA.parent.parent.parent / "docs" / "examples", tmp_path / "docs" / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


WRONG = ("DOES NOT HOLD", "verdict: WRONG", "✗ WRONG")  # shown output of a command that exits 1


def expected_code(shown: list[str]) -> int:
    return 1 if any(mark in s for s in shown for mark in WRONG) else 0


@pytest.mark.parametrize("command, shown", commands(), ids=[c for c, _ in commands()])
def test_every_readme_command_runs_as_shown(command, shown, folder, capsys):
    for part in (p.strip() for p in command.split("&&")):
        if part.startswith("symbp "):
            run_symbp(part, shown, capsys)
        else:
            run_other(part, folder)


def run_symbp(command: str, shown: list[str], capsys) -> None:
    code = cli.main(shlex.split(command)[1:])
    out, err = capsys.readouterr()
    assert code == expected_code(shown), (command, out, err)
    lines = {normal(line) for line in out.splitlines()}
    missing = [s for s in shown if normal(s) not in lines]
    assert not missing, (command, missing, out)


def run_other(command: str, folder: Path) -> None:
    stand_in = next((v for k, v in STAND_INS.items() if command.startswith(k)), None)
    if stand_in is None:
        stand_in = shlex.split(command)
        assert stand_in[0] == "pdftoppm", f"a README command this test does not know: {command}"
    proc = subprocess.run(stand_in, cwd=folder if stand_in[0] == "pdftoppm" else ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, (command, proc.stdout, proc.stderr)


def test_run_output_folders_are_ignored_by_git():
    patterns = (ROOT / ".gitignore").read_text("utf-8").split()
    assert any(fnmatch.fnmatch("symbp_mazur/", p) for p in patterns), patterns
