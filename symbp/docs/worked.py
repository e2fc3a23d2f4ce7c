"""``symbp example``: the worked numeric example on its own, as text, Markdown or LaTeX.

The same tables as the worked-example section of a derivation document (seed 000's tables):
given values, every forward quantity, the loss, every δ, every gradient, every updated parameter,
and the loss and outputs along N training steps of the generated kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..backprop.neuron import NeuronDerivation, derive_neurons
from ..core.errors import SymbpError
from ..core.spec import Network
from .document import NEURON_LIMIT, doc_header_info, environment
from .example import ExampleNumbers, example_numbers
from .example_section import example_tables
from .neuron_section import NeuronTex
from .optimizer_example import OptimizerSteps
from .text_section import example_rows

FORMATS = ("text", "markdown", "latex")
TEMPLATES = {"text": "example.txt.j2", "markdown": "example.md.j2", "latex": "example.tex.j2"}


@dataclass(frozen=True)
class WorkedExample:
    """One step of gradient descent at named values, then N steps of the kernel."""

    network: Network
    neuron: NeuronDerivation
    numbers: ExampleNumbers
    command: str | None = None
    optimizer: OptimizerSteps | None = None  # --optimizer: N steps of it, every number

    def render(self, fmt: str, *, command: str | None = None) -> str:
        """The example as ``fmt`` (text, markdown or latex: a complete document)."""
        if fmt not in FORMATS:
            raise SymbpError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        if fmt == "text":
            tables = example_rows(self.numbers)
        else:
            tables = example_tables(NeuronTex(self.neuron, self.numbers), self.numbers)
        command = command or self.command or f"symbp example {self.network.name} --format {fmt}"
        info = doc_header_info(self.network, TEMPLATES[fmt], command)
        return environment().get_template(TEMPLATES[fmt]).render(
            info=info, example=tables, name=self.network.name, optimizer=self.optimizer)

    def text(self, **kw) -> str:
        return self.render("text", **kw)

    def markdown(self, **kw) -> str:
        return self.render("markdown", **kw)

    def latex(self, **kw) -> str:
        return self.render("latex", **kw)

    def __str__(self) -> str:
        return self.text()


def worked_example(net: Network, values: dict[str, float], lr: float, steps: int,
                   command: str | None = None) -> WorkedExample:
    """The worked example of ``net`` at ``values`` with learning rate ``lr``, trained ``steps``
    steps; ``example.example_settings`` fills these in from a values file or the spec."""
    if net.n_params() > NEURON_LIMIT:
        raise SymbpError(f"{net.name} has {net.n_params()} parameters; a worked example names "
                         f"every one and is limited to {NEURON_LIMIT}")
    return WorkedExample(net, derive_neurons(net), example_numbers(net, values, lr, steps), command)
