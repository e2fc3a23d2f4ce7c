"""The element level written out: given values, then every forward and backward entry as
``name = formula in named entries = value``, in text, LaTeX and Markdown (KaTeX)."""

from __future__ import annotations

from symbp.core import naming
from symbp.core.texprint import number
from symbp.core.textprint import text as plain

from .element_level import ElementLevel, Entry
from .graph_document import _LATEX, _tex_prose

TEMPLATE = "graph_derivation.{fmt}.j2"  # the same page layout as the derivation


def _line(e: Entry, fmt: str) -> str:
    """name = formula = value (the formula left out where it is the number itself)."""
    show = _LATEX.doprint if fmt == "tex" else plain
    parts = [show(e.read)]
    if e.formula is not None and not e.formula.is_Number:
        parts.append(show(e.formula))
    value = number(e.value)
    parts.append(value)
    line = " = ".join(parts)
    return rf"\textstyle {line}" if fmt == "tex" else line  # text-size fractions: long sums fit


def _intro(level: ElementLevel) -> list[str]:
    spec = level.spec
    return [f"{spec.description or spec.name}.", f"Network: {spec.summary()}.",
            f"A batch of {level.batch} sample{'s' if level.batch > 1 else ''}; every entry of every "
            "tensor, first as its index formula reads at that entry, then its value (9 decimals "
            f"of 30-digit arithmetic). {naming.grad('t')} (a bar over t in LaTeX) is dJ/dt; a read outside a "
            "tensor's range is 0 and left out."]


def render(level: ElementLevel, fmt: str, command: str) -> str:
    """The element level as a document: fmt is "txt", "tex" or "md"."""
    from symbp._version import __version__
    from symbp.codegen.emit import environment
    from symbp.core.spec import one_line

    spec = level.spec
    escape = _tex_prose if fmt == "tex" else (lambda t: t)
    kind = "tex" if fmt in ("tex", "md") else "text"
    sections = [{"title": title, "note": "", "notes": [],
                 "equations": [{"what": "", "eq": _line(e, kind)} for e in entries]}
                for title, entries in (("Given values", level.given), ("Forward pass", level.forward),
                                       ("Backward pass (derived)", level.backward))]
    info = {"version": __version__, "template": TEMPLATE.format(fmt=fmt), "network": one_line(spec.name),
            "spec_hash": spec.spec_hash(), "description": one_line(spec.description or spec.name),
            "command": one_line(command)}
    return environment().get_template(TEMPLATE.format(fmt=fmt)).render(
        info=info, title=escape(f"{spec.name}: the element level, every entry with names and numbers"),
        intro=[escape(p) for p in _intro(level)], sections=sections, figure="")


