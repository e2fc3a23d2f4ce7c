"""Derivation documents for people: LaTeX, Markdown and text, at the neuron and matrix level.

``derivation(net)`` derives once; the ``Derivation`` it returns renders itself as a complete
LaTeX document (or a fragment), as Markdown with ``$…$``/``$$…$$`` math and an SVG figure, as
text, and shows itself as LaTeX in Jupyter. A network with example values (the bundled mazur
network has seed 000's) carries the worked example in the same document.

The neuron level (every ∂E/∂w as its chain rule) is for small networks: with ``--level neuron``
up to ``NEURON_LIMIT`` parameters; by default (``both``) for networks whose spec names its
quantities, or that have at most ``AUTO_NEURON_LIMIT`` parameters. Otherwise the document says
so and gives the matrix level, which has no size limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import jinja2

from ..backprop.matrix import MatrixDerivation, derive
from ..backprop.neuron import NeuronDerivation, derive_neurons
from ..backprop.plan import Plan, build_plan
from ..codegen import emit
from ..core.errors import DerivationError
from ..core.spec import Network
from ..core.texprint import comment_text, md_escape, tex_code, tex_decimal, tex_escape
from . import texbreak
from .example import ExampleNumbers, example_numbers, example_settings

LEVELS = ("matrix", "neuron", "both")
FORMATS = ("latex", "markdown", "text")
NEURON_LIMIT = 200  # parameters; --level neuron refuses larger networks
AUTO_NEURON_LIMIT = 40  # parameters; --level both shows unnamed networks up to this size
TEMPLATES = {"latex": "derivation.tex.j2", "markdown": "derivation.md.j2",
             "text": "derivation.txt.j2"}


def environment() -> jinja2.Environment:
    """``emit.environment()`` plus the filters the document templates use: escaping, long
    equations cut into lines, math blocks kept under GitHub's limit of sub/superscripts."""
    env = emit.environment()
    env.filters.update(tex_escape=tex_escape, tex_code=tex_code, tex_decimal=tex_decimal,
                       md_escape=md_escape,
                       break_rows=texbreak.break_rows, script_blocks=texbreak.blocks)
    return env


COMMENT_FORBIDS = {".tex": "", ".md": "-->", ".svg": "--", ".txt": ""}


def doc_header_info(net: Network, template: str, command: str) -> dict[str, str]:
    """``emit.header_info`` with every field made one line, and safe in the comment syntax of
    the template's format (XML comments may not contain ``--``: SVG commands use short options)."""
    forbid = COMMENT_FORBIDS[template.removesuffix(".j2")[template.removesuffix(".j2").rfind("."):]]
    return {k: comment_text(v, forbid) for k, v in emit.header_info(net, template, command).items()}


def figure_name(net: Network) -> str:
    """The SVG a Markdown document links to, written next to it."""
    return f"{net.name}_network.svg"


@dataclass(frozen=True)
class Derivation:
    """A derivation of one network at the requested level, ready to render."""

    network: Network
    matrix: MatrixDerivation
    neuron: NeuronDerivation | None
    command: str | None = None
    level: str = "both"
    example: ExampleNumbers | None = None
    note: str = ""  # why the neuron level is left out, if it is
    optimizer: str | None = None  # adds the optimiser's update rule (optimizer_doc)
    notation: str = "symbp"  # the matrix level's letters and layer numbers (doc_notation)
    plan: Plan | None = None  # the matrix level's plan, built once for the example and the document

    def _command(self, fmt: str, command: str | None) -> str:
        if command:
            return command
        if self.command and fmt == "text":
            return self.command
        return f"symbp derive {self.network.name} --format {fmt} --level {self.level}"

    def _render(self, template: str, context: dict, command: str) -> str:
        from .optimizer_section import update_context

        info = doc_header_info(self.network, template, command)
        context = {**context, "info": info, "update": update_context(self.optimizer)}
        return environment().get_template(template).render(context)

    def text(self, *, command: str | None = None) -> str:
        """Plain text (Unicode math), as in ``generated/*_derivation.txt``."""
        from .text_section import text_context

        return self._render("derivation.txt.j2", text_context(self),
                            self._command("text", command))

    def latex(self, *, fragment: bool = False, command: str | None = None) -> str:
        """A complete pdflatex document (amsmath, color, longtable, geometry, booktabs), or with
        ``fragment`` only its body, to \\input into a document that loads those packages."""
        from .context import document_context

        context = {**document_context(self, picture=True), "fragment": fragment}
        return self._render("derivation.tex.j2", context, self._command("latex", command))

    def markdown(self, *, figure: str | None = None, fragment: bool = False,
                 command: str | None = None) -> str:
        """Markdown with $…$ / $$…$$ math (GitHub, MathJax, KaTeX), linking the SVG ``figure``
        (default ``<name>_network.svg``, written by ``svg()``)."""
        from .context import document_context

        context = {**document_context(self, picture=False), "fragment": fragment,
                   "figure_file": figure or figure_name(self.network)}
        return self._render("derivation.md.j2", context, self._command("markdown", command))

    def svg(self, *, command: str | None = None) -> str:
        """The network figure as a standalone SVG."""
        from . import figure

        lay = figure.layout(self.network, self.neuron.names if self.neuron else None)
        context = {**figure.svg_context(lay), "title": f"The network {self.network.name}"}
        default = f"symbp derive {self.network.name} -f markdown -l {self.level}"
        return self._render("network.svg.j2", context, command or default)

    def _repr_latex_(self) -> str:
        """Jupyter: the equations that define backpropagation for this network."""
        from .context import document_context

        context = document_context(self, picture=False)
        return environment().get_template("derivation.jupyter.j2").render(context)

    def __str__(self) -> str:
        return self.text()


def _neuron_level(net: Network, level: str) -> tuple[NeuronDerivation | None, str]:
    if level == "matrix":
        return None, ""
    n = net.n_params()
    if level == "neuron" and n > NEURON_LIMIT:
        raise DerivationError(
            f"{net.name} has {n} parameters; the neuron level lists every weight and is "
            f"limited to {NEURON_LIMIT}: use --level matrix")
    if level == "both" and n > AUTO_NEURON_LIMIT and not (net.names and n <= NEURON_LIMIT):
        return None, (f"The neuron level (every weight's chain rule) is left out: {net.name} has "
                      f"{n} parameters. It is shown for networks whose spec names their "
                      f"quantities, or that have at most {AUTO_NEURON_LIMIT} parameters; "
                      f"--level neuron lists up to {NEURON_LIMIT}.")
    return derive_neurons(net), ""


def derivation(net: Network, level: str = "both", command: str | None = None, *,
               values: dict | None = None, lr: float | None = None, steps: int | None = None,
               example: bool = True) -> Derivation:
    """Derive ``net`` at ``level`` (matrix, neuron or both).

    With ``example`` (the default) and example values (``values``: name → number, else the
    spec's own ``[example]``), the neuron level carries the worked example; ``lr`` and ``steps``
    override the example's learning rate and number of training steps.
    """
    if level not in LEVELS:
        raise DerivationError(f"--level must be one of {', '.join(LEVELS)}, got {level!r}")
    neuron, note = _neuron_level(net, level)
    matrix = derive(net)
    plan = build_plan(matrix)
    numbers = None
    if example and neuron is not None and (values is not None or net.example.get("values")):
        given = {"values": values} if values is not None else None
        settings = example_settings(net, given, lr, steps)
        numbers = example_numbers(net, *settings, plan=plan, neurons=neuron)
    return Derivation(net, matrix, neuron, command, level, numbers, note, plan=plan)
