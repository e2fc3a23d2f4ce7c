"""Matrix-level claims: ``delta[l] = W[l+1]^T delta[l+1] * a[l]*(1 - a[l])`` and friends.

A matrix claim is checked on small instantiations of the spec's architecture (same activations,
loss, reduction and bias modes; widths such as 2-3-2 and 3-2-4, so that no weight matrix is square and a
missing transpose cannot go unnoticed), for every layer l the claim applies to. On an
instantiation every quantity is a sympy matrix of the neuron-level names of that small network
(see ``symbp.check.system``), so the check itself is the neuron-level one, entry by entry.

Notation (one sample, column vectors; the loss J of one sample without the regulariser):

==========================  ==============================================================
``W[l]``, ``W^l``, ``w^l``    weights into layer l (S_l × S_{l−1}); ``Theta`` / ``Θ`` alike
``b[l]``, ``z[l]``, ``a[l]``  bias, pre-activation and activation of layer l; ``a[0]`` = ``x``
``delta[l]``, ``δ^l``          ∂J/∂z^l;  ``dW[l]``, ``db[l]``, ``da[l]``: ∂J/∂W^l, ∂J/∂b^l, ∂J/∂a^l
``y``, ``t``                  targets; ``\\hat{y}`` = a^L;  ``J``, ``E``, ``C``: the loss
``L``, ``nl``, ``n_l``         the output layer; ``S_l`` the width of layer l
``g(z[l])``, ``g'(z[l])``     layer l's activation and its derivative (σ', tanh', …)
``W[l][i,j]``, ``w^l_{ij}``    entries (from 1); ``\\sum_j`` / ``sum(j, …)`` sums over an index
``^T``, ``^\\top``, ``ᵀ``, ``.T``, ``'``  transpose
==========================  ==============================================================

A claim that writes ``A[l]``, ``Z[l]``, ``dZ[l]`` or ``dA[l]`` is about a batch of
``BATCH_SIZE`` samples (``symbp.check.batch``), one column per sample: ``X``, ``Y``, ``A[l]``,
``Z[l]`` the samples' quantities, ``dZ[l]``, ``dA[l]`` each sample's own ∂L/∂z, ∂L/∂a (Ng's,
without the 1/m), ``dW[l]``, ``db[l]``, ``J`` of the batch loss (the mean, or the sum under
``reduction = "sum"``); ``m``, ``N``, ``B`` the batch size; a bias is added to every column;
``sum(dZ[l])`` sums over the samples.

``numbering="from1"`` reads layers as seed 004 does: the input is layer 1 (a^{(1)} = x), so
a, z, δ carry indices one higher, and Θ^{(l)} maps layer l to layer l+1.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy as sp

from ..core.spec import Network
from .batch import BATCH_SIZE, BATCH_WORDS, batch_system, sample_name
from .claims import Claim, Group, Index, Name, Node, Num, Script, Transpose, TupleNode
from .system import System, system_for
from .values import (
    Evaluator,
    ShapeError,
    UnboundIndexError,
    Value,
    flatten,
    is_matrix,
    shape_text,
)

LAYERED = {"W": "W", "w": "W", "Theta": "W", "b": "b", "z": "z", "a": "a",
           "delta": "delta", "dz": "delta", "dW": "dW", "dTheta": "dW", "db": "db", "da": "da",
           "A": "A", "Z": "Z", "dZ": "dZ", "dA": "dA"}
# A batch, one column per sample (Ng): A[l], Z[l], and dZ[l], dA[l] of each sample's own loss.
BATCHED = {"A", "Z", "dZ", "dA"}
ONE_SAMPLE = {"a": "A", "z": "Z", "delta": "dZ", "da": "dA"}  # in a batched claim, write the right
LOSS_WORDS = {"J", "E", "C", "cost", "loss"}
TARGET_WORDS = {"y", "t", "Y"}
INPUT_WORDS = {"x", "X"}
OUTPUT_WORDS = {"y_hat", "yhat", "h"}
LAST_LAYER = {"L", "nl", "n_l", "nL"}
NUMBERINGS = ("from0", "from1")
# The range of internal layer indices each quantity has (a^0 = x has no z, δ or W).
FIRST_LAYER = {"W": 1, "b": 1, "z": 1, "a": 0, "delta": 1, "dW": 1, "db": 1, "da": 0,
               "A": 0, "Z": 1, "dZ": 1, "dA": 0}
SHIFTED = {"z", "a", "delta", "da", "A", "Z", "dZ", "dA"}  # indexed one higher under numbering from1


class OutsideNetworkError(Exception):
    """This value of l puts some quantity outside the network: l is skipped."""


class LayerVariableError(Exception):
    """The claim uses l: it is checked for every l it applies to."""


def instantiation_sizes(net: Network) -> list[list[int]]:
    """Two width patterns for the spec's depth: 2-3-2-3… and 3-2-4-2-4…"""
    n = net.depth + 1
    first = [2 + (k % 2) for k in range(n)]
    second = [3] + [2 if k % 2 else 4 for k in range(1, n)]
    return [first, second]


def instantiate(net: Network, sizes: list[int]) -> Network:
    """The spec's architecture (and batch reduction) with the given widths and default neuron names."""
    layers = []
    for layer, size in zip(net.layers, sizes[1:]):
        entry = {"size": size, "activation": layer.activation, "bias": layer.bias,
                 "train_bias": layer.train_bias}
        if layer.alpha is not None:
            entry["alpha"] = layer.alpha
        layers.append(entry)
    data = {"name": f"{net.name}_{'_'.join(map(str, sizes))}", "inputs": sizes[0], "layers": layers,
            "loss": net.loss, "reduction": net.reduction}
    for kind in ("activations", "losses"):
        if net.formulas.get(kind):
            data[kind] = {k: {"formula": v} for k, v in net.formulas[kind].items()}
    return Network.from_dict(data)


def is_batched(claim: Claim) -> bool:
    """Whether the claim is about a batch: it writes A[l], Z[l], dZ[l] or dA[l]."""
    return any(isinstance(n, Name) and n.text.partition("_")[0] in BATCHED
               for side in (claim.lhs, claim.rhs) for n in _nodes(side))


def claim_batch_word(claim: Claim) -> str | None:
    """The word the claim uses for the batch size (1/m, 1/N), if any."""
    found = sorted((n.pos, n.text) for side in (claim.lhs, claim.rhs) for n in _nodes(side)
                   if isinstance(n, Name) and n.text in BATCH_WORDS)
    return found[0][1] if found else None


def _nodes(node: Node) -> list[Node]:
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(v for v in vars(n).values() if isinstance(v, Node))
        for v in vars(n).values():
            if isinstance(v, tuple):
                stack.extend(x[1] if isinstance(x, tuple) else x for x in v)
    return out


def mentions_layer_variable(node: Node) -> bool:
    """Whether the layer variable l occurs (``n l``, seed 000's name for the last layer, does not count)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Name) and n.text == "l":
            return True
        if flatten(n) in LAST_LAYER:
            continue
        stack.extend(v for v in vars(n).values() if isinstance(v, Node))
        for v in vars(n).values():
            if isinstance(v, tuple):
                stack.extend(x[1] if isinstance(x, tuple) else x for x in v)
    return False


class MatrixEvaluator(Evaluator):
    """Reads layer-indexed quantities on one instantiation for one value of l."""

    def __init__(self, system: System, text: str, numbering: str, layer: int | None):
        super().__init__(system, text)
        self.depth = system.network.depth
        self.shift = 1 if numbering == "from1" else 0
        self.l = layer
        self.n = system.names
        self.loss_words = LOSS_WORDS | {system.names.loss}
        self.fixed_entry = False  # the claim names an entry by number (a_1, W_12): sizes matter

    def names_hint(self) -> str:
        return "matrix names: W, b, z, a, delta, dW, db, da with a layer (W[l], a^{l-1}), x, y, J, L"

    # ------------------------------------------------------------------ layers

    def layer_value(self, node: Node) -> int:
        if flatten(node) in LAST_LAYER:
            return self.depth + self.shift
        return self.integer(node, "a layer index")

    def quantity(self, node: Node) -> Value | None:
        if isinstance(node, Name):
            return self.plain(node)
        if isinstance(node, Index):
            return self.on_Index(node) if _base_word(node) is not None else None
        if isinstance(node, Script):
            return self.script(node) if _base_word(node) is not None else None
        return None

    def plain(self, node: Name) -> Value | None:
        text, s = node.text, self.system
        if text in self.bound:
            return sp.Integer(self.bound[text])
        if text == "l":
            if self.l is None:
                raise LayerVariableError
            return sp.Integer(self.l)
        if text in LAST_LAYER:
            return sp.Integer(self.depth + self.shift)
        if text in self.loss_words:
            return s.loss
        if text in BATCH_WORDS:
            return sp.Integer(s.batch or BATCH_SIZE)
        if text in TARGET_WORDS:
            return self.column(self.n.targets)
        if text in INPUT_WORDS:
            return self.column(self.n.inputs)
        if text in OUTPUT_WORDS:
            return self.column(self.n.activations[-1])
        head, _, tail = text.partition("_")
        if text in LAYERED:
            self.fail(f"{head} needs a layer, e.g. {head}[l] or {head}^{{l}}", node.pos)
        if tail and head in LAYERED.keys() | TARGET_WORDS | INPUT_WORDS:
            sub = Name(node.pos + len(head) + 1, tail)
            return self.script(Script(node.pos, Name(node.pos, head), sub, None))
        return None

    def column(self, names: list[str]) -> sp.ImmutableMatrix:
        """One sample's quantities as a column; in a batch, one column per sample."""
        s = self.system
        if not s.batch:
            return sp.ImmutableMatrix([s.symbols[x] for x in names])
        return sp.ImmutableMatrix(len(names), s.batch,
                                  lambda i, k: s.symbols[sample_name(names[i], k + 1)])

    def per_sample_derivative(self, names: list[str]) -> sp.ImmutableMatrix:
        """Column k: ∂(sample k's loss)/∂(sample k's quantity), as Ng's dZ[l] (no 1/m)."""
        s = self.system
        loss = self.n.loss
        return sp.ImmutableMatrix(len(names), s.batch, lambda i, k: s.derivative(
            s.symbols[sample_name(loss, k + 1)], s.symbols[sample_name(names[i], k + 1)]))

    def layered(self, word: str, user_layer: int, pos: int) -> Value:
        kind = LAYERED[word]
        k = user_layer - (self.shift if kind in SHIFTED else 0)
        if not FIRST_LAYER[kind] <= k <= self.depth:
            raise OutsideNetworkError
        self.same_batch(word, kind, pos)
        s, n = self.system, self.n
        sym = s.symbols
        neurons = {"a": n.inputs if k == 0 else n.activations[k - 1], "z": n.pre_activations[k - 1]}
        neurons.update({"A": neurons["a"], "da": neurons["a"], "dA": neurons["a"],
                        "Z": neurons["z"], "delta": neurons["z"], "dZ": neurons["z"]})
        if kind in ("a", "z", "A", "Z"):
            return self.column(neurons[kind])
        if kind in ("dZ", "dA"):
            return self.per_sample_derivative(neurons[kind])
        if kind in ("delta", "da"):
            return sp.ImmutableMatrix([s.derivative(s.loss, sym[x]) for x in neurons[kind]])
        if kind in ("W", "dW"):
            rows = [[sym[w] for w in row] for row in n.weights[k - 1]]
            if kind == "dW":
                rows = [[s.derivative(s.loss, w) for w in row] for row in rows]
            return sp.ImmutableMatrix(rows)
        layer = s.network.layers[k - 1]
        biases = [sym[x] for x in n.biases[k - 1]]
        if kind == "db":
            biases = [s.derivative(s.loss, x) for x in biases]
        if layer.bias == "none":
            return sp.zeros(layer.size, 1).as_immutable()
        return biases[0] if layer.bias == "shared" else sp.ImmutableMatrix(biases)

    def same_batch(self, word: str, kind: str, pos: int) -> None:
        """One claim is about one sample (a[l], delta[l]) or about a batch (A[l], dZ[l]), not both."""
        if self.system.batch and kind in ONE_SAMPLE:
            self.fail(f"{word} is one sample's; in a claim about a batch (one column per sample) "
                      f"write {ONE_SAMPLE[kind]}", pos)

    # ------------------------------------------------------------------ scripts and indices

    def script(self, node: Script) -> Value:
        word, sub = _base_word(node), node.sub
        if flatten(node) in self.loss_words:
            return self.system.loss
        base_text = flatten(node.base)
        if base_text is not None and "_" in base_text and sub is None:
            head, _, tail = base_text.partition("_")
            if head in LAYERED or head in TARGET_WORDS | INPUT_WORDS | {"S"}:
                base_text, sub = head, Name(node.pos, tail)
        if base_text == "S" and sub is not None:
            return sp.Integer(self.width(self.layer_value(sub), node.pos))
        if base_text in LAYERED:
            if node.sup is None:
                self.fail(f"{base_text} needs a layer, e.g. {base_text}^{{l}}", node.pos)
            value = self.layered(base_text, self.layer_value(node.sup), node.pos)
        elif word is not None:
            # a[l]^2, a[L]_1: the base is an indexed quantity, not a name
            value = self.plain(Name(node.pos, base_text)) if base_text is not None else self.value(node.base)
            if value is None:
                self.unknown(base_text, node.pos)
            if node.sup is not None:
                value = self.power(value, node.sup)
        else:
            return super().script(node)
        if sub is None:
            return value
        return self.entry(value, self.sub_indices(sub, value), node.pos)

    def width(self, user_layer: int, pos: int) -> int:
        k = user_layer - self.shift
        if not 0 <= k <= self.depth:
            raise OutsideNetworkError
        return self.system.network.sizes[k]

    def sub_indices(self, sub: Node, value: Value) -> list[Node]:
        """``w_{ij}`` → [i, j]; ``\\delta_j`` → [j]; ``w_{i,j}`` → [i, j]."""
        if isinstance(sub, Group) and isinstance(sub.body, TupleNode):
            return list(sub.body.items)
        need = 2 if is_matrix(value) and value.cols > 1 else 1
        text = flatten(sub)
        if need == 2 and text is not None and len(text) == 2:
            return [_index_node(ch, sub.pos) for ch in text]
        return [sub]

    def on_Index(self, node: Index) -> Value:
        word = _base_word(node)
        if isinstance(node.base, Name) and word is not None and node.base.text in LAYERED:
            if len(node.args) != 1:
                self.fail(f"{node.base.text}[…] takes one layer index", node.pos)
            return self.layered(node.base.text, self.layer_value(node.args[0]), node.pos)
        return self.entry(self.value(node.base), list(node.args), node.pos)

    def entry(self, value: Value, indices: list[Node], pos: int) -> Value:
        """Entries count from 1; a vector takes one index, a matrix two."""
        if not is_matrix(value):
            self.fail("only a vector or a matrix has entries (a bias shared by a whole layer is "
                      "one number)", pos)
        if len(indices) == 1 and value.cols == 1:
            return value[self.index_value(indices[0], value.rows) - 1, 0]
        if len(indices) == 1 and value.rows == 1:
            return value[0, self.index_value(indices[0], value.cols) - 1]
        if len(indices) == 2:
            i = self.index_value(indices[0], value.rows)
            j = self.index_value(indices[1], value.cols)
            return value[i - 1, j - 1]
        self.fail(f"a {shape_text(value)} matrix takes {1 if value.cols == 1 else 2} index(es)", pos)

    def index_value(self, node: Node, size: int) -> int:
        if isinstance(node, Name) and node.text.isdigit():  # y_2 read as one name: entry 2
            k = int(node.text)
            self.fixed_entry = True
        elif isinstance(node, Name) and len(node.text) == 1 and node.text not in ("l", "L"):
            if node.text not in self.bound:
                raise UnboundIndexError(node.text, size)
            k = self.bound[node.text]
        else:
            k = self.integer(node, "an index")
            self.fixed_entry = self.fixed_entry or isinstance(node, Num)
        if not 1 <= k <= size:
            raise ShapeError(f"index {k} is outside 1…{size}", node.pos)
        return k

    # ------------------------------------------------------------------ a batch

    def add(self, a: Value, b: Value, pos: int) -> Value:
        """In a batch, a bias column (or row) is added to every sample's column (or row):
        Z[l] = W[l] A[l-1] + b[l], out = X W + b."""
        if self.system.batch and is_matrix(a) and is_matrix(b) and a.shape != b.shape:
            wide, narrow = (a, b) if a.rows * a.cols >= b.rows * b.cols else (b, a)
            if narrow.shape in ((wide.rows, 1), (1, wide.cols)):
                return sp.ImmutableMatrix(wide.rows, wide.cols, lambda i, j: wide[i, j] + narrow[
                    min(i, narrow.rows - 1), min(j, narrow.cols - 1)])
        return super().add(a, b, pos)

    def plain_sum(self, arg_node: Node, pos: int) -> Value:
        """sum(dZ[l]): in a batch, the sum over the samples (Ng's np.sum(dZ, axis=1), CS231n's
        np.sum(dout, axis=0)); sum(j, body) is a Σ over j as everywhere."""
        m = self.system.batch
        if not m or isinstance(arg_node, TupleNode):
            return super().plain_sum(arg_node, pos)
        v = self.value(arg_node)
        if is_matrix(v) and v.cols == m and v.rows != m:
            return sp.ImmutableMatrix(v.rows, 1, lambda i, _: sp.Add(*v.row(i)))
        if is_matrix(v) and v.rows == m and v.cols != m:
            return sp.ImmutableMatrix(1, v.cols, lambda _, j: sp.Add(*v.col(j)))
        self.fail(f"sum(…) of one argument sums over the {m} samples of the batch: it needs a "
                  "matrix with one column (or row) per sample", pos)

    # ------------------------------------------------------------------ the rest

    def prime_of_value(self, v: Value, node: Node) -> Value:
        return self.transpose(v)  # Octave's A'

    def derivative(self, x: Value, y: Value, pos: int) -> Value:
        s = self.system
        if is_matrix(x) or not (isinstance(x, sp.Symbol) and x in s.kind):
            self.fail("only a derivative of a named number (J, or one entry) is supported", pos)
        if is_matrix(y):
            if not all(isinstance(e, sp.Symbol) and e in s.kind for e in y):
                self.fail("the variable of a derivative must be a named quantity", pos)
            return sp.ImmutableMatrix(y.rows, y.cols, lambda i, j: s.derivative(x, y[i, j]))
        if not (isinstance(y, sp.Symbol) and y in s.kind):
            self.fail("the variable of a derivative must be a named quantity", pos)
        return s.derivative(x, y)

    def generic_name(self, sym: sp.Symbol) -> str:
        """A neuron symbol of the instantiation in matrix words: a1_2 → a[1], w2_13 → W[2]."""
        s = self.system
        kind, l = s.kind.get(sym), s.layer.get(sym, 0)
        shift = self.shift
        words = {"input": "x", "target": "y", "loss": "J",
                 "weight": f"W[{l}]", "bias": f"b[{l}]", "pre": f"z[{l + shift}]",
                 "act": f"a[{l + shift}]"}
        if s.batch:
            words |= {"input": "X", "target": "Y", "pre": f"Z[{l + shift}]", "act": f"A[{l + shift}]",
                      "loss": "J" if sym not in s.sample else "L"}
        if kind == "derivative":
            x, y = s.pair[sym]
            return f"∂{self.generic_name(x)}/∂{self.generic_name(y)}"
        return words.get(kind, sym.name)


def _index_node(ch: str, pos: int) -> Node:
    return Num(pos, sp.Integer(int(ch)), ch) if ch.isdigit() else Name(pos, ch)


def _base_word(node: Node) -> str | None:
    """The quantity word at the root of Name / Script / Index chains (W, delta, y, J, S), if any."""
    while isinstance(node, (Script, Index, Transpose)):
        node = node.base
    if not isinstance(node, Name):
        return None
    head = node.text.partition("_")[0]
    known = LAYERED.keys() | LOSS_WORDS | TARGET_WORDS | INPUT_WORDS | OUTPUT_WORDS | {"S"}
    return head if node.text in known or head in known else None


@dataclass
class Entry:
    """One scalar equation of an instantiation: left (true) and right (claimed) values."""

    system: System
    evaluator: MatrixEvaluator
    truth: sp.Expr
    claimed: sp.Expr
    label: str


def evaluate_entries(ev: Evaluator, claim: Claim) -> list[tuple[sp.Expr, sp.Expr, str]]:
    """Both sides for every value of the claim's free indices (i, j), entry by entry."""
    ranges: dict[str, int] = {}
    while True:
        ev.bound = {v: 1 for v in ranges}
        try:
            ev.value(claim.lhs)
            ev.value(claim.rhs)
            break
        except UnboundIndexError as need:
            if need.var in ranges:
                raise
            ranges[need.var] = need.size
    out = []
    names = sorted(ranges)
    for combo in itertools.product(*[range(1, ranges[v] + 1) for v in names]):
        ev.bound = dict(zip(names, combo))
        lhs, rhs = ev.value(claim.lhs), ev.value(claim.rhs)
        where = ", ".join(f"{v} = {k}" for v, k in zip(names, combo))
        out += _pair_up(lhs, rhs, where, claim)
    ev.bound = {}
    return out


def _pair_up(lhs: Value, rhs: Value, where: str, claim: Claim) -> list[tuple[sp.Expr, sp.Expr, str]]:
    if is_matrix(lhs) != is_matrix(rhs) or (is_matrix(lhs) and lhs.shape != rhs.shape):
        hint = ""
        if is_matrix(lhs) and is_matrix(rhs) and rhs.T.shape == lhs.shape:
            hint = " (the right side has the transposed shape: is it transposed?)"
        raise ShapeError(f"the left side is {shape_text(lhs)} but the right side is "
                         f"{shape_text(rhs)}{hint}", claim.rhs.pos)
    if not is_matrix(lhs):
        return [(lhs, rhs, where)]
    out = []
    for i in range(lhs.rows):
        for j in range(lhs.cols):
            at = f"entry [{i + 1}]" if lhs.cols == 1 else f"entry [{i + 1},{j + 1}]"
            out.append((lhs[i, j], rhs[i, j], ", ".join(x for x in (where, at) if x)))
    return out


def layer_candidates(net: Network, numbering: str) -> list[int]:
    shift = 1 if numbering == "from1" else 0
    return list(range(shift - 1, net.depth + shift + 2))


def matrix_entries(net: Network, claim: Claim, numbering: str,
                   batch_word: str = "m") -> tuple[list[Entry], list[str]]:
    """Every scalar equation of the claim on every instantiation and layer it applies to.

    Raises ShapeError (with the instantiation in the message) when the shapes do not fit.
    """
    if numbering not in NUMBERINGS:
        raise ValueError(numbering)
    own = max(net.sizes) <= MAX_OWN_WIDTH
    try:
        generic = instantiation_sizes(net)
        entries, checked, fixed = _entries_on(net, claim, numbering, batch_word, generic, own)
    except _FixedEntryShapeError:
        fixed = True
    if fixed and own:
        # entries named by number (δ_1 = Θ_11 δ_1 + Θ_21 δ_2) state the spec's own widths
        entries, checked, _ = _entries_on(net, claim, numbering, batch_word, [list(net.sizes)])
    return entries, checked


class _FixedEntryShapeError(Exception):
    """A claim naming an entry by number did not fit a width other than the spec's own."""


MAX_OWN_WIDTH = 8  # a claim with numbered entries is checked at the spec's own widths up to this


def _entries_on(net: Network, claim: Claim, numbering: str, batch_word: str,
                widths: list[list[int]], own: bool = False) -> tuple[list[Entry], list[str], bool]:
    """The claim's scalar equations on each instantiation of ``widths``, and whether the claim
    names an entry by number."""
    entries: list[Entry] = []
    checked: list[str] = []
    fixed = False
    uses_l = mentions_layer_variable(claim.lhs) or mentions_layer_variable(claim.rhs)
    batched = is_batched(claim)
    for sizes in widths:
        small = instantiate(net, sizes)
        system = batch_system(small) if batched else system_for(small)
        system.batch_word = batch_word
        shape = "-".join(map(str, sizes))
        for l in (layer_candidates(net, numbering) if uses_l else [None]):
            ev = MatrixEvaluator(system, claim.text, numbering, l)
            try:
                pairs = evaluate_entries(ev, claim)
            except OutsideNetworkError:
                continue
            except ShapeError as exc:
                if own and ev.fixed_entry and sizes != list(net.sizes):
                    raise _FixedEntryShapeError() from None
                where = f"sizes {shape}" + (f", l = {l}" if l is not None else "")
                raise ShapeError(f"{exc} ({where})", exc.pos) from None
            fixed = fixed or ev.fixed_entry
            label = f"sizes {shape}" + (f", l = {l}" if l is not None else "")
            checked.append(label)
            for truth, claimed, where in pairs:
                entries.append(Entry(system, ev, truth, claimed, f"{label}, {where}" if where else label))
    return entries, checked, fixed

