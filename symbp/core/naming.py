"""Names shared by the code and document emitters.

Array names in kernels follow the math: z^l ↔ ``Z1``, a^l ↔ ``A1``, δ^l ↔ ``delta1``,
∂J/∂W^l ↔ ``dW1``, ∂J/∂b^l ↔ ``db1``.  Neuron-level names (seed 000's w1…w8, a_h1, E_total, or
seed-style V11, P1, O1) come from the spec's ``names`` table: each kind is a list, a list per
layer, or a template with the placeholders {l} (layer), {i} (neuron in the layer) and {j}
(neuron in the layer below).

Graph specs name their tensors here too (``param``, ``compute``, ``grad``, ``grad_part``,
``share``): the kernels, documents and example tables read these names, and the documents take
them apart only through ``gradient_of``, ``compute_of`` and ``param_of``.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .claim_vocabulary import claim_words
from .errors import SpecError

if TYPE_CHECKING:
    from .spec import Network

# The names the generated module's functions bind for themselves (arguments and locals of
# templates/*module*.j2 and of the kernel statements). The Python-float kernel binds neuron names
# in the same functions, so a neuron name there may be none of these (see ``kernel_locals``).
KERNEL_LOCALS = frozenset({
    "params", "X", "Y", "work", "lr", "seed", "B", "J", "dtype", "grads", "key", "ws", "out",
    "rows", "top", "total", "rest", "log_total", "rowsum", "r", "s", "e", "z", "rng", "shifted",
    "tail", "math", "np"})
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
ALLOWED = {"l", "i", "j"}
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")  # ASCII only; \Z so "w1\n" is refused
MAX_NAME = 64


def Z(l: int) -> str:  # noqa: N802 - the names mirror the math
    return f"Z{l}"


def A(l: int) -> str:  # noqa: N802
    return "X" if l == 0 else f"A{l}"


def W(l: int) -> str:  # noqa: N802
    return f"W{l}"


def b(l: int) -> str:
    return f"b{l}"


def delta(l: int) -> str:
    return f"delta{l}"


NEURON_DELTA = "delta_"  # a neuron's δ = ∂E/∂z is delta_z_o1 for z_o1


def neuron_delta(z: str) -> str:
    """The name of ∂E/∂z for the pre-activation ``z``: in example tables, symbols and claims."""
    return f"{NEURON_DELTA}{z}"


def neuron_of_delta(name: str) -> str:
    """The pre-activation whose δ ``name`` is (``neuron_delta``'s inverse)."""
    return name.removeprefix(NEURON_DELTA)


def dW(l: int) -> str:  # noqa: N802
    return f"dW{l}"


def db(l: int) -> str:
    return f"db{l}"


def kernel_locals(depth: int, n_out: int) -> frozenset[str]:
    """Every name the functions of a module for ``depth`` layers and ``n_out`` outputs bind:
    KERNEL_LOCALS, the softmax terms e1…, and the gradient arrays dW1…, db1…."""
    layers = range(1, depth + 1)
    return (KERNEL_LOCALS | {f"e{k}" for k in range(1, n_out + 1)}
            | {dW(l) for l in layers} | {db(l) for l in layers})


# -- graph names: one spelling for each tensor of the engine ---------------------------------

GRAD = "grad_"  # ∂J/∂X is grad_X
PART = "__"  # grad_X__reader_term_read: one read's contribution to ∂J/∂X
SHARE = "share_"  # share_X: the δ a max compute passes to each tied arg-max
_COMPUTE = re.compile(r"([A-Za-z][A-Za-z0-9]*?)(\d+)_([A-Za-z]+)\Z")
_PARAM = re.compile(r"([A-Za-z]+?)(\d+)\Z")


def param(stem: str, position: int) -> str:
    """A layer's parameter or data input, keyed by the layer's position: W3, gamma5, mask8."""
    return f"{stem}{position}"


def compute(kind: str, position: int, part: str) -> str:
    """A tensor a layer computes: conv2d1_z, batchnorm2_var, attention1_q."""
    return f"{kind}{position}_{part}"


def grad(tensor: str) -> str:
    """The name of ∂J/∂tensor."""
    return f"{GRAD}{tensor}"


def grad_after(tensor: str, position: int) -> str:
    """The part of ∂J/∂tensor from its readers after the recurrent layer at ``position`` (a
    sequence kernel gathers the parts of one tensor read across several loops over time)."""
    return f"{grad(tensor)}_after{position}"


def grad_part(tensor: str, reader: str, term: int, read: int) -> str:
    """The contribution to ∂J/∂tensor through read ``read`` of term ``term`` of compute ``reader``."""
    return f"{grad(tensor)}{PART}{reader}_{term}_{read}"


def kept_view(tensor: str, k: int) -> str:
    """The kept copy of the ``k``-th window view (im2col columns) of ``tensor`` two GEMMs read."""
    return f"{tensor}:cols{k}"


def share(tensor: str) -> str:
    """The share of δ each tied arg-max of the max compute ``tensor`` receives."""
    return f"{SHARE}{tensor}"


def gradient_of(name: str) -> tuple[str, str] | None:
    """(tensor, part) for a gradient's name, part '' for the whole ∂J/∂tensor; else None."""
    if not name.startswith(GRAD):
        return None
    tensor, _, part = name[len(GRAD):].partition(PART)
    return tensor, part


def part_reader(part: str) -> tuple[str, int, int]:
    """(reader, term, read) of a part as ``grad_part`` spells it."""
    reader, term, read = part.rsplit("_", 2)
    return reader, int(term), int(read)


def shared_of(name: str) -> str | None:
    """The max compute whose tie share ``name`` is, or None."""
    return name[len(SHARE):] if name.startswith(SHARE) else None


def compute_of(name: str) -> tuple[str, int, str] | None:
    """(kind, position, part) of a layer's computed tensor, or None."""
    m = _COMPUTE.match(name)
    return (m[1], int(m[2]), m[3]) if m else None


def param_of(name: str) -> tuple[str, int] | None:
    """(stem, position) of a parameter or numbered data input, or None."""
    m = _PARAM.match(name)
    return (m[1], int(m[2])) if m else None


@dataclass(frozen=True)
class NeuronNames:
    """Resolved neuron-level names; lists are indexed from 0 (layer 0 = inputs)."""

    inputs: list[str]
    weights: list[list[list[str]]]  # [l-1][i][j]: from neuron j of layer l-1 to i of layer l
    biases: list[list[str]]  # [l-1]: one name per neuron, one if shared, none if no bias
    pre_activations: list[list[str]]
    activations: list[list[str]]
    targets: list[str]
    loss: str

    def all(self) -> list[str]:
        flat = list(self.inputs) + list(self.targets) + [self.loss]
        for l in range(len(self.weights)):
            flat += [n for row in self.weights[l] for n in row]
            flat += self.biases[l] + self.pre_activations[l] + self.activations[l]
        return flat


def _fill(template: str, where: str, **idx: int) -> str:
    fields = set(PLACEHOLDER.findall(template))
    if fields - ALLOWED:
        bad = sorted(fields - ALLOWED)[0]
        raise SpecError(f"{where}: unknown placeholder {{{bad}}}; use {{l}}, {{i}} or {{j}}")
    out = template
    for key, value in idx.items():
        out = out.replace("{" + key + "}", str(value))
    if "{" in out or "}" in out:
        raise SpecError(f"{where}: placeholder not available here in '{template}'")
    return out


def _defaults(net: Network) -> dict[str, Any]:
    wide = max(net.sizes) >= 10
    return {
        "inputs": "x{i}", "targets": "y{i}", "loss": "J",
        "weights": "w{l}_{i}_{j}" if wide else "w{l}_{i}{j}",
        "biases": [("b{l}" if layer.bias == "shared" else "b{l}_{i}") for layer in net.layers],
        "pre_activations": "z{l}_{i}", "activations": "a{l}_{i}",
    }


def _per_layer(spec: Any, counts: list[int], where: str, make) -> list[list[str]]:
    """Resolve a name kind given per layer: template, flat list or list of per-layer items."""
    if isinstance(spec, str):
        return [make(spec, l, f"{where}") for l in range(len(counts))]
    if not isinstance(spec, list):
        raise SpecError(f"{where}: must be a template string or a list of names")
    per_layer = len(spec) == len(counts) and all(
        isinstance(s, list) or (isinstance(s, str) and "{" in s) for s in spec)
    if per_layer:
        out = []
        for l, item in enumerate(spec):
            if isinstance(item, str):
                out.append(make(item, l, f"{where}[{l}]"))
            else:
                out.append(_exact(item, counts[l], f"{where}[{l}]"))
        return out
    flat = _exact(spec, sum(counts), where)
    out, start = [], 0
    for n in counts:
        out.append(flat[start:start + n])
        start += n
    return out


def _exact(items: Any, n: int, where: str) -> list[str]:
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise SpecError(f"{where}: must be a list of names")
    if len(items) != n:
        raise SpecError(f"{where}: expected {n} names, got {len(items)}")
    return list(items)


def neuron_names(net: Network) -> NeuronNames:
    """Resolve and validate every neuron-level name of ``net`` (small networks only)."""
    spec = {**_defaults(net), **net.names}
    sizes = net.sizes
    layers = range(1, len(sizes))

    def vector(kind: str, n: int) -> list[str]:
        value = spec[kind]
        if isinstance(value, str):
            return [_fill(value, f"names.{kind}", i=i) for i in range(1, n + 1)]
        return _exact(value, n, f"names.{kind}")

    def neurons(kind: str):
        def make(template: str, l: int, where: str) -> list[str]:
            return [_fill(template, where, l=l + 1, i=i) for i in range(1, sizes[l + 1] + 1)]
        return _per_layer(spec[kind], [sizes[l] for l in layers], f"names.{kind}", make)

    bias_counts = [{"neuron": layer.size, "shared": 1, "none": 0}[layer.bias]
                   for layer in net.layers]

    def make_bias(template: str, l: int, where: str) -> list[str]:
        if bias_counts[l] == 1 and net.layers[l].bias == "shared":
            return [_fill(template, where, l=l + 1)]
        return [_fill(template, where, l=l + 1, i=i) for i in range(1, bias_counts[l] + 1)]

    def make_weights(template: str, l: int, where: str) -> list[str]:
        return [_fill(template, where, l=l + 1, i=i, j=j)
                for i in range(1, sizes[l + 1] + 1) for j in range(1, sizes[l] + 1)]

    flat_w = _per_layer(spec["weights"], [sizes[l] * sizes[l - 1] for l in layers],
                        "names.weights", make_weights)
    weights = [[flat_w[l][i * sizes[l]:(i + 1) * sizes[l]] for i in range(sizes[l + 1])]
               for l in range(len(flat_w))]
    loss = spec["loss"]
    if not isinstance(loss, str):
        raise SpecError("names.loss: must be a single name such as E_total")
    names = NeuronNames(vector("inputs", sizes[0]), weights,
                        _per_layer(spec["biases"], bias_counts, "names.biases", make_bias),
                        neurons("pre_activations"), neurons("activations"),
                        vector("targets", sizes[-1]), loss)
    _validate(names)
    return names


def _quoted(name: str) -> str:
    """A name as it appears in a message: repr escapes newlines and other control characters."""
    return repr(name) if len(name) <= 40 else repr(name[:39]) + "…"


# Letters the derivation prints for its own symbols: a name printed as one of them (sigma → σ,
# delta_o1 → δ_{o1}) would read as σ(z), δ = ∂E/∂z, the learning rate, λ or π.
DERIVATION_LETTERS = {"sigma": "the sigmoid σ", "delta": "δ = ∂E/∂z", "eta": "the learning rate η",
                      "lambda": "the regularisation strength λ", "pi": "the constant π"}


def _by_field(names: NeuronNames) -> list[tuple[str, str]]:
    """(field, name) for every name, the field as the spec's [names] table spells it."""
    out = [("names.inputs", n) for n in names.inputs] + [("names.targets", n) for n in names.targets]
    out.append(("names.loss", names.loss))
    for l in range(len(names.weights)):
        out += [("names.weights", n) for row in names.weights[l] for n in row]
        out += [("names.biases", n) for n in names.biases[l]]
        out += [("names.pre_activations", n) for n in names.pre_activations[l]]
        out += [("names.activations", n) for n in names.activations[l]]
    return out


def _check_rendering(names: NeuronNames) -> None:
    """Refuse names that print alike (w1 and w_1 are both w_{1}), that print as a letter the
    derivation uses for itself, or that a claim would read as a function or constant."""
    from .texprint import tex_name

    words = claim_words()
    printed: dict[str, tuple[str, str]] = {}
    for field, name in _by_field(names):
        tex = tex_name(name)
        head = tex.split("_", 1)[0].lstrip("\\")
        if head in DERIVATION_LETTERS and tex.startswith("\\"):
            raise SpecError(f"{field}: '{name}' prints as {DERIVATION_LETTERS[head]}, a symbol the "
                            "derivation uses itself; choose another name")
        if name in words:
            raise SpecError(f"{field}: '{name}' is the {words[name]} in claims; choose another name")
        if tex in printed:
            other_field, other = printed[tex]
            raise SpecError(f"{field}: '{name}' and {other_field} '{other}' both print as {tex}; "
                            "rename one")
        printed[tex] = (field, name)


def _validate(names: NeuronNames) -> None:
    _check_identifiers(names)
    _check_rendering(names)


def _check_identifiers(names: NeuronNames) -> None:
    from .spec import NEURON_FORBIDDEN, NEURON_PATTERN

    seen: set[str] = set()
    for name in names.all():
        if not IDENTIFIER.match(name):
            raise SpecError(f"names: {_quoted(name)} is not an identifier (ASCII letters, digits, _)")
        if len(name) > MAX_NAME:
            raise SpecError(f"names: {_quoted(name)} is longer than {MAX_NAME} characters")
        if keyword.iskeyword(name) or keyword.issoftkeyword(name):
            raise SpecError(f"names: '{name}' is a Python keyword")
        if name in NEURON_FORBIDDEN or NEURON_PATTERN.match(name):
            raise SpecError(f"names: '{name}' is reserved by the generated module")
        if name in seen:
            raise SpecError(f"names: '{name}' is used twice")
        seen.add(name)


def check_name_spec(spec: dict[str, Any]) -> None:
    """Types and characters of a ``names`` table, cheaply and for a network of any size.

    Each kind is a string (a template) or a list of strings or of lists of strings; every string,
    with its placeholders filled, must be an identifier. ``neuron_names`` checks the rest (counts,
    duplicates, keywords) on networks small enough to list.
    """
    for kind, value in spec.items():
        where = f"names.{kind}"
        items = value if isinstance(value, list) else [value]
        for n, item in enumerate(items):
            here = f"{where}[{n}]" if isinstance(value, list) else where
            for text in item if isinstance(item, list) else [item]:
                if not isinstance(text, str):
                    raise SpecError(f"{here}: must be a name or a template string, "
                                    f"got {type(text).__name__}")
                unknown = sorted(set(PLACEHOLDER.findall(text)) - ALLOWED)
                if unknown:
                    raise SpecError(f"{here}: unknown placeholder {_quoted('{' + unknown[0] + '}')}; "
                                    "use {l}, {i} or {j}")
                filled = PLACEHOLDER.sub("1", text)
                if not IDENTIFIER.match(filled) or len(text) > MAX_NAME:
                    raise SpecError(f"{here}: {_quoted(text)} is not an identifier or a template "
                                    "such as w{l}_{i}{j}")
