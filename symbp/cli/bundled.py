"""The committed output in ``generated/``: every bundled network's kernel and derivation.

For each bundled dense network: the NumPy kernel (``<name>.py``), and the derivation as text
(``<name>_derivation.txt``), LaTeX (``<name>.tex``), Markdown (``<name>.md``) and the figure the
Markdown links to (``<name>_network.svg``); for each bundled graph network, its kernel, its
derivation at the index and tensor levels (text, LaTeX, Markdown) and the figure of its graph.
``symbp regenerate`` rewrites the folder; the test suite regenerates it into a temporary folder
and fails on any byte of difference.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from ..codegen.emit import emit_numpy
from ..codegen.graph_emit import derive_graph, render
from ..core.errors import SymbpError
from ..core.files import read_text, write_outputs
from ..core.spec import bundled_names, graph_names, load_spec
from ..docs.document import derivation, figure_name
from ..docs.graph_document import GraphDerivation

FOLDER = "generated"


def generated_files(folder: str = FOLDER) -> dict[str, str]:
    """Relative path → content for every file that belongs in ``generated/``."""
    files: dict[str, str] = {}
    for name in bundled_names():
        net = load_spec(name)
        kernel = f"{folder}/{name}.py"
        files[kernel] = emit_numpy(net, command=f"symbp emit {name} -o {kernel}")
        doc = derivation(net, "both")
        text, tex, md = (f"{folder}/{name}_derivation.txt", f"{folder}/{name}.tex",
                         f"{folder}/{name}.md")
        files[text] = doc.text(command=f"symbp derive {name} --format text -o {text}")
        files[tex] = doc.latex(command=f"symbp derive {name} --format latex -o {tex}")
        files[md] = doc.markdown(figure=figure_name(net),
                                 command=f"symbp derive {name} --format markdown -o {md}")
        # The SVG's header is an XML comment, which may not contain "--": short options.
        files[f"{folder}/{figure_name(net)}"] = doc.svg(
            command=f"symbp derive {name} -f markdown -o {md}")
    for name in graph_names():  # graph networks: the kernel and the index-level derivation
        derived = derive_graph(load_spec(name, graphs=True))  # once, for the kernel and documents
        kernel = f"{folder}/{name}.py"
        files[kernel] = render(derived, command=f"symbp emit {name} -o {kernel}")
        doc = GraphDerivation(derived)
        for suffix, fmt in (("_derivation.txt", "text"), (".tex", "latex"), (".md", "markdown")):
            path = f"{folder}/{name}{suffix}"
            files[path] = getattr(doc, fmt)(command=f"symbp derive {name} --format {fmt} -o {path}")
        md = f"{folder}/{name}.md"
        files[f"{folder}/{name}_network.svg"] = doc.svg(command=f"symbp derive {name} -f markdown -o {md}")
    return files


def regenerate(root: str | Path = ".", *, force: bool = False) -> list[Path]:
    """Write every generated file under ``root`` (each checked before any is written); returns
    the paths written."""
    return write_outputs([(Path(root) / rel, text) for rel, text in generated_files().items()],
                         force=force)


def project_root(folder: Path) -> Path:
    """``folder`` when it is the symbp project (its pyproject.toml names symbp), where
    ``generated/`` belongs; a SymbpError otherwise, so that nothing lands in a stray folder."""
    try:
        name = tomllib.loads(read_text(folder / "pyproject.toml")).get("project", {}).get("name")
    except (SymbpError, tomllib.TOMLDecodeError, AttributeError):
        name = None
    if name != "symbp":
        raise SymbpError(f"{folder}: is not the symbp project (no pyproject.toml naming symbp); "
                         "run symbp regenerate there, or name a new folder")
    return folder
