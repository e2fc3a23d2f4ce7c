"""Importing an emitted kernel module: the step between code generation and running it."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path
from types import ModuleType

_counter = 0


def load_module(text: str, name: str = "symbp_kernel") -> ModuleType:
    """Import generated module source (our own output) from a temporary file, which is removed
    again once the module is loaded."""
    global _counter
    _counter += 1
    with tempfile.TemporaryDirectory(prefix="symbp_") as folder:
        path = Path(folder) / f"{name}_{_counter}.py"
        path.write_text(text, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
    return module
