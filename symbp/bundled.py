"""The committed output in ``generated/``: every bundled network's kernel and derivation.

``symbp regenerate`` rewrites the folder; the test suite regenerates it into a temporary folder
and fails on any byte of difference.
"""

from __future__ import annotations

from pathlib import Path

from .document import derivation
from .emit import emit_numpy
from .files import write_output
from .spec import bundled_names, load_spec

FOLDER = "generated"


def generated_files(folder: str = FOLDER) -> dict[str, str]:
    """Relative path → content for every file that belongs in ``generated/``."""
    files: dict[str, str] = {}
    for name in bundled_names():
        net = load_spec(name)
        kernel = f"{folder}/{name}.py"
        files[kernel] = emit_numpy(net, command=f"symbp emit {name} -o {kernel}")
        doc = f"{folder}/{name}_derivation.txt"
        files[doc] = derivation(net, "both", f"symbp derive {name} --format text -o {doc}").text()
    return files


def regenerate(root: str | Path = ".", *, force: bool = False) -> list[Path]:
    """Write every generated file under ``root``; returns the paths written."""
    return [write_output(Path(root) / rel, text, force=force)
            for rel, text in generated_files().items()]
