"""Packaging: the templates ship inside the wheel and are found from an editable checkout too."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import symbp.codegen.emit

ROOT = Path(__file__).resolve().parent.parent


def test_editable_checkout_uses_the_top_level_templates_folder():
    assert symbp.codegen.emit.template_dir() == ROOT / "templates"


# The child sees only its own venv: a PYTHONPATH (a checkout put first for the tests) would
# shadow the installed wheel.
CHILD_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def run(cmd: list, **options) -> subprocess.CompletedProcess:
    """Run a child process; on failure the assertion shows its command, stdout and stderr."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=CHILD_ENV,
                          **options)
    assert proc.returncode == 0, (f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
                                  f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}")
    return proc


def child_venv(env: Path) -> Path:
    """A venv whose own site-packages come first, then the packages of the interpreter running
    the tests (numpy, sympy, jinja2, autograd, lark: no download). That interpreter may itself
    be a venv without system site packages, so the child is not built on the base interpreter's
    site packages; its .pth file adds the paths only, so an editable symbp is not picked up."""
    venv.EnvBuilder(system_site_packages=False, with_pip=True).create(env)
    python = env / "bin" / "python"
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout
    ours = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (Path(site.strip()) / "symbp_test_parent.pth").write_text("".join(f"{p}\n" for p in ours))
    return python


def test_wheel_ships_templates_and_a_fresh_venv_can_emit(tmp_path):
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", wheels, ROOT])
    (wheel,) = wheels.glob("symbp-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for template in ("numpy_module.py.j2", "derivation.txt.j2", "_header.j2", "graph_module.py.j2"):
        assert f"symbp/templates/{template}" in names
    assert "symbp/networks/mazur.toml" in names
    assert "symbp/networks/graphs/lenet5.toml" in names

    env = tmp_path / "venv"
    python = child_venv(env)
    run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel])
    work = tmp_path / "work"
    work.mkdir()
    where = run([python, "-c", "import symbp.codegen.emit as e; print(e.template_dir())"], cwd=work)
    assert Path(where.stdout.strip()).is_relative_to(env), where.stdout
    proc = run([env / "bin" / "symbp", "run", "-o", "out"], cwd=work)
    assert "verdict: PASS" in proc.stdout
    assert (work / "out" / "mazur.py").is_file()
    proc = subprocess.run([env / "bin" / "symbp", "run", "lenet5", "-o", "cnn"], cwd=work,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "verdict: PASS" in proc.stdout, proc.stderr
