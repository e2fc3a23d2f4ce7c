"""A post's own symbols rewritten into names the claim grammar matches to the network.

The claim grammar already matches ``a_{o_1}``, ``a_{o1}`` and ``a_o1`` to the spec's ``a_o1``.
What it cannot know are the post's extra names, read here by rules that are tables, not cases:

* ``out``/``net`` for the activation and the weighted input (``out_{o1}`` is ``a_o1``);
* a per-output loss (``E_{o_1}``), the output's share of the spec's loss: its value is the loss
  function of that output alone, and its derivative goes through the output's activation only;
* a quotient of two quantities on the left of a line (``\\frac{a_{h_1}}{z_{h_1}} = …``), a
  derivative written without its ∂;
* in a table of given values, an output neuron's bare name (``o_1 | 0.01``) is its target;
* a superscript written before a subscript (Nielsen's ``w^l_{jk}``) is the same symbol as
  ``w_{jk}^l``.

A preset (PRESETS) names a textbook's conventions: its layer numbering and its own symbols.

Each rule that fires says so in a note, so that a reader sees how the line was read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.errors import SymbpError
from ..core.naming import NeuronNames
from ..core.spec import Network
from .claim import neuron_level_available
from .system import system_for


@dataclass(frozen=True)
class Preset:
    """A textbook's notation: how it numbers layers, its symbols rewritten (pattern -> text), and
    its words (a whole name, not part of a longer one) read as symbp's layer-l quantities."""

    numbering: str
    rewrites: tuple[tuple[str, str], ...]
    description: str
    words: tuple[tuple[str, str], ...] = ()
    batch_word: str = "m"  # the batch size, as the textbook writes it


def _rows_of(quantity: str) -> str:
    """A batch with one column per sample written as CS231n's rows: (matrix)^T, parenthesised so
    that the post's own ^T applies to it as a whole."""
    return rf"\left(\left({quantity}\right)^{{T}}\right)"


def _gradient(quantity: str) -> str:
    return rf"\frac{{\partial J}}{{\partial {quantity}}}"


# CS231n's affine layer: a batch of N samples is the rows of X (N, D), W is (D, M), out = X W + b,
# and dout, dx, dW, db are the gradients of the batch loss J (the mean over the N samples, so
# dout carries the 1/N); each is the transpose of symbp's layer-l batch quantity with one column
# per sample (X = (A^{l-1})^T, W = (W^l)^T, dout = (∂J/∂Z^l)^T, …); scores are the output
# layer's out, y the targets.
CS231N_WORDS = tuple((word, _rows_of(q)) for words, q in (
    (("dout",), _gradient("Z^{l}")), (("dx", "dX"), _gradient("A^{l-1}")), (("dW", "dw"), "dW^{l}"),
    (("db",), "db^{l}"), (("out",), "Z^{l}"), (("X", "x"), "A^{l-1}"), (("W", "w"), "W^{l}"),
    (("b",), "b^{l}"), (("scores",), "Z^{L}"), (("dscores",), _gradient("Z^{L}")), (("y", "Y"), "Y"))
    for word in words)

PRESETS = {
    "symbp": Preset("from0", (), "symbp's own: a^0 = x, W[l] (out, in), delta[l] = dJ/dz[l]"),
    "nielsen": Preset("from0", ((r"\\nabla_\s*\{?\s*a\s*\}?\s*C", r"\frac{\partial C}{\partial a^L}"),),
                      "Nielsen: w^l_{jk} from neuron k into neuron j, delta^l = dC/dz^l, BP1-BP4"),
    "ng": Preset("from1", (), "Ng: Theta^{(l)}, a^{(l)}, delta^{(l)}, the input is layer 1"),
    "cs231n": Preset("from0", (), "CS231n: a batch as the rows of X (N, D), W (D, M), out = X W + b, "
                     "dW = X^T dout, dx = dout W^T (dout, dx, dW, db the gradients of the batch "
                     "mean)", CS231N_WORDS, "N"),
}
# A superscript before a subscript: ^{l}_{jk} -> _{jk}^{l}.
SCRIPTS = re.compile(r"(\^\s*(?:\{[^{}]*\}|[A-Za-z0-9]))\s*(_\s*(?:\{[^{}]*\}|[A-Za-z0-9]))")
# The aliases of the spec's name prefixes: the post's prefix -> the spec's.
PREFIX_ALIASES = {"out": "a", "net": "z"}
# One output's share of the loss, in LaTeX (@t its target, @a its activation), for sums over outputs.
PER_OUTPUT_LOSS = {
    "half_sse": r"\frac{1}{2}\left(@t - @a\right)^{2}",
    "sse": r"\left(@t - @a\right)^{2}",
}
# A name such as a_{o_1}: letters, an underscore, then a subscript in braces or a short word.
NAME = r"[A-Za-z]+_(?:\{[^{}]*\}|[A-Za-z0-9]+)"
QUOTIENT = re.compile(r"^\\frac\s*\{\s*(?P<a>" + NAME + r")\s*\}\s*\{\s*(?P<b>" + NAME + r")\s*\}$")
ARGUMENT = r"(?P<y>[^{}]*(?:\{[^{}]*\}[^{}]*)*)"


def neuron_names(net: Network) -> NeuronNames | None:
    """The spec's neuron-level names, or None for a network too large to have them."""
    if not neuron_level_available(net):
        return None
    try:
        return system_for(net).names
    except SymbpError:
        return None


def _subscript(suffix: str) -> str:
    """A pattern for the subscript ``suffix`` (o1) however the post writes it: o1, o_1, {o_1}, {o 1}."""
    m = re.fullmatch(r"([A-Za-z]+)_?([0-9]+)", suffix)
    if m is None:
        return re.escape(suffix)
    letters, digits = m.groups()
    inner = rf"{letters}\s*_?\s*(?:\{{\s*{digits}\s*\}}|{digits})"
    return rf"_(?:\{{\s*{inner}\s*\}}|{letters}_?{digits}(?![0-9]))"


def rename_prefixes(text: str) -> tuple[str, list[str]]:
    """out_{o1} -> a_{o1}, net_{h1} -> z_{h1}."""
    notes = []
    for alias, prefix in PREFIX_ALIASES.items():
        new = re.sub(rf"(?<![A-Za-z\\]){alias}(?=_)", prefix, text)
        if new != text:
            notes.append(f"{alias}_… is read as {prefix}_…")
            text = new
    return text, notes


def per_output_losses(net: Network) -> list[tuple[re.Pattern, re.Pattern, str, str, str, str]]:
    """(derivative pattern, plain pattern, activation, target, loss, shown name) per output."""
    names = neuron_names(net)
    template = PER_OUTPUT_LOSS.get(net.loss)
    out = []
    if names is None:
        return out
    base = names.loss.split("_")[0]
    if names is None or template is None or not base:
        return out
    for a, t in zip(names.activations[-1], names.targets):
        suffix = a.split("_", 1)[1] if "_" in a else None
        if suffix is None:
            continue
        name = re.escape(base) + _subscript(suffix)
        derivative = re.compile(r"\\frac\s*\{\s*\\partial\s*" + name + r"\s*\}\s*\{\s*\\partial\s*"
                                + ARGUMENT + r"\}")
        plain = re.compile(r"(?<![A-Za-z\\])" + name)
        out.append((derivative, plain, a, t, names.loss, f"{base}_{suffix}"))
    return out


def rewrite_losses(text: str, net: Network) -> tuple[str, list[str]]:
    """E_{o_k} -> the output's share of the loss; ∂E_{o_k}/∂y -> ∂E/∂a_ok · ∂a_ok/∂y."""
    notes = []
    template = PER_OUTPUT_LOSS.get(net.loss, "")
    for derivative, plain, a, t, loss, shown in per_output_losses(net):
        share = r"\left(" + template.replace("@t", t).replace("@a", a) + r"\right)"
        new = derivative.sub(lambda m, a=a, loss=loss: (
            rf"\left(\frac{{\partial {loss}}}{{\partial {a}}} "
            rf"\frac{{\partial {a}}}{{\partial {m['y']}}}\right)"), text)
        new = plain.sub(lambda m, share=share: share, new)
        if new != text:
            notes.append(f"{shown} is read as output {a}'s share of {loss}")
            text = new
    return text, notes


def missing_partial(lhs: str) -> tuple[str, list[str]]:
    r"""\frac{a_{h_1}}{z_{h_1}} on the left of a line -> \frac{\partial a_{h_1}}{\partial z_{h_1}}."""
    m = QUOTIENT.match(lhs.strip())
    if m is None:
        return lhs, []
    return (rf"\frac{{\partial {m['a']}}}{{\partial {m['b']}}}",
            [f"\\frac{{{m['a']}}}{{{m['b']}}} is read as the derivative "
             f"∂{m['a']}/∂{m['b']} (the ∂ is missing)"])


def table_name(name: str, net: Network) -> tuple[str, list[str]]:
    """In a table of given values an output neuron's bare name (o_1) stands for its target."""
    names = neuron_names(net)
    if names is None:
        return name, []
    for a, t in zip(names.activations[-1], names.targets):
        suffix = a.split("_", 1)[1] if "_" in a else a
        letters = re.fullmatch(r"([A-Za-z]+)_?([0-9]+)", suffix)
        if letters and re.fullmatch(rf"{letters[1]}_?\{{?\s*{letters[2]}\s*\}}?", name.strip()):
            return t, [f"{name} in a table of given values is read as its target {t}"]
    return name, []


def _words(text: str, preset: Preset) -> str:
    """The preset's words replaced in one pass (a replacement is never read again)."""
    if not preset.words:
        return text
    table = dict(preset.words)
    words = "|".join(sorted(map(re.escape, table), key=len, reverse=True))
    pattern = r"(?<![A-Za-z\\])(" + words + r")(?![A-Za-z_])"
    return re.sub(pattern, lambda m: table[m.group(1)], text)


def rewrite(text: str, net: Network, *, left: bool = False,
            preset: Preset = PRESETS["symbp"]) -> tuple[str, list[str]]:
    """One side of a line in the spec's notation, and a note for each rule that fired."""
    for pattern, replacement in preset.rewrites:
        text = re.sub(pattern, lambda m, r=replacement: r, text)
    text = _words(text, preset)
    text = SCRIPTS.sub(lambda m: m.group(2) + m.group(1), text)
    text, notes = rename_prefixes(text)
    if left:
        text, more = missing_partial(text)
        notes += more
    text, more = rewrite_losses(text, net)
    return text, notes + more
