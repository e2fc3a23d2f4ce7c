"""The package's layout: stage subpackages whose imports point one way.

core < backprop < codegen < {docs, verify, training} < check < cli < the package facade. A module
may import from its own stage and from earlier ones; the three middle stages are independent of
each other. Every import counts, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import symbp

PACKAGE = Path(symbp.__file__).parent
RANK = {"_version": 0, "core": 0, "backprop": 1, "codegen": 2, "docs": 3, "verify": 3, "training": 3,
        "check": 4, "cli": 5, "__init__": 6, "__main__": 6}
TOP_LEVEL = {"__init__.py", "__main__.py", "_version.py"}

# Upward imports the move kept, each to be removed by moving the code it needs down a stage.
KNOWN_UPWARD: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def imported(path: Path, source: str | None = None) -> set[str]:
    """Every symbp module (relative to symbp) that a file (or ``source`` read as that file) imports,
    wherever the import sits."""
    module = module_name(path)
    package = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
    if path.parent == PACKAGE:
        package = []
    found = set()
    source = path.read_text(encoding="utf-8") if source is None else source
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name.removeprefix("symbp.") for a in node.names if a.name.startswith("symbp.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                named = node.module.split(".") if node.module else []
                base = package[: len(package) - node.level + 1] + named
            elif node.module == "symbp" or (node.module or "").startswith("symbp."):
                base = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:
                sub = [*base, alias.name]
                is_module = (PACKAGE.joinpath(*sub).with_suffix(".py").is_file()
                             or (PACKAGE.joinpath(*sub) / "__init__.py").is_file())
                found.add(".".join(sub if is_module else base) or "__init__")
    return found


def stage(module: str) -> str:
    return module.split(".")[0]


def allowed(importer: str, target: str) -> bool:
    a, b = stage(importer), stage(target)
    return a == b or RANK[b] < RANK[a]


def upward_imports(replaced: dict[Path, str] | None = None) -> set[tuple[str, str]]:
    """Every (importer, target) against the stage order; ``replaced`` reads some files as other text."""
    replaced = replaced or {}
    return {(module_name(p), target) for p in sorted(PACKAGE.rglob("*.py"))
            for target in imported(p, replaced.get(p)) if not allowed(module_name(p), target)}


def test_every_module_lives_in_a_stage_package():
    stray = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in TOP_LEVEL)
    assert not stray, f"modules directly in symbp/: {stray}; move them into a stage package"
    stages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert stages == {s for s in RANK if s[0] != "_"}, stages


def test_no_import_runs_against_the_stage_order():
    new = sorted(upward_imports() - set(KNOWN_UPWARD))
    assert not new, "imports against core < backprop < codegen < {docs, verify, training} < check < cli: " + \
        "; ".join(f"symbp/{a.replace('.', '/')} imports {b}" for a, b in new)


def test_every_kept_upward_import_still_exists():
    gone = sorted(set(KNOWN_UPWARD) - upward_imports())
    assert not gone, f"no longer imported, remove from KNOWN_UPWARD: {gone}"


def test_the_order_check_sees_function_level_and_relative_imports():
    source = ("from ..cli.app import main\n\n"
              "def f():\n    from symbp.docs import pdf\n    import symbp.check.claim\n")
    found = imported(PACKAGE / "core" / "errors.py", source)
    assert found == {"cli.app", "docs.pdf", "check.claim"}
    assert not any(allowed("core.errors", t) for t in found)
    assert allowed("cli.app", "core.errors") and not allowed("docs.pdf", "verify.kernel")


def test_an_upward_import_planted_in_a_module_is_found():
    errors = PACKAGE / "core" / "errors.py"
    planted = errors.read_text(encoding="utf-8") + "\n\ndef f():\n    from ..codegen.emit import emit_numpy\n"
    assert upward_imports({errors: planted}) - set(KNOWN_UPWARD) == {("core.errors", "codegen.emit")}
