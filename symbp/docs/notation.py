"""The letters and layer numbers a derivation document writes its matrix level in (``--notation``).

One entry per textbook, the same names as ``check-post --notation``:

========  ==============================================================================
symbp     a^0 = x, z^l = W^l a^{l-1} + b^l, delta^l = dJ/dz^l (seed 000 and seed 004's formulas)
nielsen   the input is layer 1, weights w^l, the cost C
ng        a^{(1)} = x, Theta^{(l)} from layer l to layer l+1, J(Theta)
cs231n    a sample is a row: z^l = a^{l-1} W^l + b^l with W^l of shape (S_{l-1}, S_l), and the
          gradients are dW^l, db^l, dz^l (the upstream gradient "dout" of layer l's affine map)
========  ==============================================================================

Every symbol of the matrix level is made here, so a document changes notation by its table
entry, never by editing what was rendered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.texprint import partial

LAYER_EXPR = re.compile(r"(?P<name>[A-Za-z]+)(?P<offset>[+-]\d+)?")


@dataclass(frozen=True)
class DocNotation:
    """How a document names the matrix-level quantities of layer l (symbp's numbering in, this
    notation's out)."""

    description: str
    loss: str = "J"
    weight: str = "W"
    entry: str = "w"  # one entry of a weight matrix
    error: str = r"\delta"
    shift: int = 0  # this notation's number of a layer is symbp's + shift (the input is layer shift)
    weight_shift: int = 0  # and a weight matrix into layer k is numbered k + shift + weight_shift
    parenthesised: bool = False  # a^{(l)} rather than a^{l}
    rows: bool = False  # a sample is a row vector: z = a W + b
    gradient_prefix: str = ""  # "d": dW^{l} rather than ∂J/∂W^{l}
    lead: str = "The notation follows the seeds"  # how the document introduces it
    vectors: str = "column vectors"

    def layer(self, l: int | str, *, weight: bool = False) -> str:
        """Layer l in this notation: a number is shifted; a generic index (l, l+1, L) names the
        same layer in any numbering, except that a weight's may be offset (Ng's Θ^{(l)})."""
        extra = self.weight_shift if weight else 0
        if isinstance(l, int):
            return str(l + self.shift + extra)
        return _offset(l, extra)

    def sup(self, symbol: str, l: int | str, *, weight: bool = False) -> str:
        n = self.layer(l, weight=weight)
        return f"{symbol}^{{({n})}}" if self.parenthesised else f"{symbol}^{{{n}}}"

    def a(self, l: int | str) -> str:
        return self.sup("a", l)

    def z(self, l: int | str) -> str:
        return self.sup("z", l)

    def b(self, l: int | str) -> str:
        return self.sup("b", l)

    def W(self, l: int | str) -> str:  # noqa: N802 - the math's letter
        return self.sup(self.weight, l, weight=True)

    def w(self, l: int | str, i: str, j: str) -> str:
        """The entry from neuron j of the layer below to neuron i of layer l (indexed (j, i) when
        a sample is a row)."""
        return self.sup(self.entry, l, weight=True) + (f"_{{{j}{i}}}" if self.rows else f"_{{{i}{j}}}")

    def delta(self, l: int | str) -> str:
        return self.sup(self.error, l)

    def grad(self, quantity: str) -> str:
        """The loss's gradient by a quantity: ∂J/∂W^{l}, or dW^{l}."""
        return f"{self.gradient_prefix}{quantity}" if self.gradient_prefix else partial(self.loss, quantity)

    def grad_inline(self, quantity: str) -> str:
        """The same, for running text: ∂J / ∂W^{l}, or dW^{l}."""
        if self.gradient_prefix:
            return f"{self.gradient_prefix}{quantity}"
        return rf"\partial {self.loss} / \partial {quantity}"

    def transpose(self, quantity: str) -> str:
        return rf"\left({quantity}\right)^{{T}}"


def _offset(expr: str, k: int) -> str:
    """``l+1`` offset by -1 is ``l``; ``L`` by -1 is ``L-1``."""
    m = LAYER_EXPR.fullmatch(expr)
    if k == 0 or m is None:
        return expr
    total = int(m["offset"] or 0) + k
    return m["name"] + (f"{total:+d}" if total else "")


NOTATIONS = {
    "symbp": DocNotation("symbp's own: a^0 = x, W^l (out, in), delta^l = dJ/dz^l"),
    "nielsen": DocNotation("Nielsen: the input is layer 1, weights w^l, the cost C",
                           loss="C", weight="w", shift=1, lead="The notation is Nielsen's"),
    "ng": DocNotation("Ng: a^{(1)} = x, Theta^{(l)} maps layer l to l+1, J(Theta)",
                      weight=r"\Theta", entry=r"\Theta", shift=1, weight_shift=-1, parenthesised=True,
                      lead="The notation is Ng's (the bias kept apart from the weights)"),
    "cs231n": DocNotation("CS231n: a sample is a row, z = a W + b with W (in, out); dW, db, dz",
                          loss="L", error="dz", rows=True, gradient_prefix="d",
                          lead="The notation is CS231n's (dz is the upstream gradient dout)",
                          vectors="row vectors, so that a batch stacks them as the rows of X"),
}
SYMBP = NOTATIONS["symbp"]
