"""generated/ is exactly what symbp produces today, byte for byte."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

from symbp.cli.bundled import generated_files
from symbp.core.spec import bundled_names

ROOT = Path(__file__).resolve().parent.parent
UPDATE = "python -m symbp regenerate"


def test_generated_folder_matches_a_fresh_regeneration():
    fresh = generated_files()
    committed = {str(p.relative_to(ROOT)): p.read_text("utf-8")
                 for p in sorted((ROOT / "generated").glob("*")) if p.is_file()}
    missing = sorted(set(fresh) - set(committed))
    stale = sorted(set(committed) - set(fresh))
    diffs = []
    for rel in sorted(set(fresh) & set(committed)):
        if fresh[rel] != committed[rel]:
            diffs += difflib.unified_diff(committed[rel].splitlines(), fresh[rel].splitlines(),
                                          f"{rel} (committed)", f"{rel} (regenerated)", lineterm="")
    assert not (missing or stale or diffs), (
        f"generated/ is out of date; run `{UPDATE}`.\nmissing: {missing}\nstale: {stale}\n"
        + "\n".join(diffs[:80]))


def test_every_bundled_network_has_a_committed_kernel_and_derivation():
    for name in bundled_names():
        assert (ROOT / "generated" / f"{name}.py").is_file()
        assert (ROOT / "generated" / f"{name}_derivation.txt").is_file()
        for suffix in (".tex", ".md", "_network.svg"):
            assert (ROOT / "generated" / f"{name}{suffix}").is_file()


def test_output_is_identical_across_hash_seeds(tmp_path):
    """A process with another PYTHONHASHSEED writes the committed bytes. The test above proves
    the committed files equal this process's output, so two hash seeds give the same bytes."""
    seed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "987654"
    env = {**os.environ, "PYTHONHASHSEED": seed}
    subprocess.run([sys.executable, "-m", "symbp", "regenerate", str(tmp_path / "out")], check=True,
                   env=env, cwd=ROOT, capture_output=True)
    written = {p.name: p.read_bytes() for p in sorted((tmp_path / "out" / "generated").iterdir())}
    committed = {p.name: p.read_bytes() for p in sorted((ROOT / "generated").iterdir()) if p.is_file()}
    differ = sorted(n for n in written.keys() | committed.keys() if written.get(n) != committed.get(n))
    assert not differ, f"with PYTHONHASHSEED={seed}, regenerate writes other bytes than generated/: {differ}"


def test_generated_kernels_depend_on_numpy_only():
    """NumPy is the only dependency; the Python-float path of tiny networks also uses the
    standard library's math module (no install needed)."""
    for name in bundled_names():
        text = (ROOT / "generated" / f"{name}.py").read_text("utf-8")
        imports = {line.strip() for line in text.splitlines() if line.startswith(("import ", "from "))}
        allowed = {"import numpy as np"} | ({"import math"} if "MAX_ROWS" in text else set())
        assert "import numpy as np" in imports and imports <= allowed, (name, imports)


def test_generated_headers_say_how_to_regenerate_and_not_to_edit():
    for path in (ROOT / "generated").iterdir():
        head = path.read_text("utf-8").splitlines()[:3]
        assert "do not edit by hand" in head[0]
        # "# " in Python and text, "% " in LaTeX, inside <!-- --> in Markdown and SVG
        assert "Regenerate with: symbp " in head[2]
