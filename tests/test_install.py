"""Packaging: the templates ship inside the wheel and are found from an editable checkout too."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import symbp.emit

ROOT = Path(__file__).resolve().parent.parent


def test_editable_checkout_uses_the_top_level_templates_folder():
    assert symbp.emit.template_dir() == ROOT / "templates"


def test_wheel_ships_templates_and_a_fresh_venv_can_emit(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(ROOT)], check=True)
    (wheel,) = wheels.glob("symbp-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for template in ("numpy_module.py.j2", "derivation.txt.j2", "_header.j2", "graph_module.py.j2"):
        assert f"symbp/templates/{template}" in names
    assert "symbp/networks/mazur.toml" in names
    assert "symbp/networks/graphs/lenet5.toml" in names

    env = tmp_path / "venv"
    # System site-packages supply numpy, sympy, jinja2 and autograd without a download; the
    # wheel installed into the venv comes first on sys.path, ahead of the editable checkout.
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env)
    python = env / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel],
                   check=True)
    work = tmp_path / "work"
    work.mkdir()
    where = subprocess.run([python, "-c", "import symbp.emit as e; print(e.template_dir())"],
                           cwd=work, check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(env), where
    proc = subprocess.run([env / "bin" / "symbp", "run", "-o", "out"], cwd=work,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "verdict: PASS" in proc.stdout
    assert (work / "out" / "mazur.py").is_file()
    proc = subprocess.run([env / "bin" / "symbp", "run", "lenet5", "-o", "cnn"], cwd=work,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "verdict: PASS" in proc.stdout, proc.stderr
