"""Claims in the sequence notation of backpropagation through time, checked on a tiny instance.

Notation (one sample, column vectors, steps t = 1 … T; anything before step 1 or after step T
is zero: h_0 = 0, δ_{T+1} = 0), for the spec's first recurrent layer:

==============================  ============================================================
``h_t``, ``c_t``, ``x_t``        the state, the LSTM cell, the layer's input at step t
``z_t``, ``i_t`` ``f_t`` …       the cell's own step tensors (rnn z; lstm s, i, f, g, o;
                                 gru r, z, n)
``delta_t``, ``δ_t``, ``dh_t``   ∂J/∂h_t, by every path;  ``dy_t``: through the layers above only
``dz_t``, ``dc_t``, ``df_t`` …   ∂J/∂ of a step tensor
``Wh``, ``Wx``, ``b`` (``W_h``)   the layer's parameters (gru: ``bx``, ``bh``); ``dWh`` … ∂J/∂them
``\\sum_t``, ``sum(t, …)``        a sum over the steps 1 … T; ``T`` the number of steps
==============================  ============================================================

A claim that uses t holds when it holds at every step. Both sides are compared at random points
(a difference is a counterexample), then proven by substituting the derived gradients, and
then the forward values, until both sides are one expression; a claim that fails and equals the
backward pass made with one of the known slips (``bptt_slips``) names that slip.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import SimpleNamespace

import sympy as sp

from ..core import naming
from ..core.graph_spec import GraphSpec
from .claim import ClaimReport, Counterexample
from .claims import Claim, ClaimError, Name, Node, Script, parse_claim
from .matrix import _pair_up
from .seq_instance import STEPS, UNITS, Instance, Numbers, instance
from .values import (
    TRANSPOSE_MARKS,
    Evaluator,
    ShapeError,
    UnboundIndexError,
    Value,
    claim_budget,
    flatten,
)

PARAMS = ("Wh", "Wx", "b", "bx", "bh")
LOSS_WORDS = {"J", "E", "L", "loss"}
STATE_GRADS = {"delta": "h", "δ": "h", "dh": "h"}
ALIASES = {"gru": {"z": "zg"}}  # claim words whose step tensor has another name
TOLERANCE = 1e-9
PROOF_STEPS = 200
Pair = tuple[sp.Expr, sp.Expr, str]


class _Names:
    """What the sequence evaluator's hint and the evaluator base need of a system."""

    def __init__(self, words: list[str]):
        self.words = words

    def all(self) -> list[str]:
        return self.words


class _System:
    """The parts of a dense ``System`` the evaluator base reads: names for hints, no spec
    formulas, no neuron kinds (g(z) of a layer is dense notation)."""

    def __init__(self, words: list[str]):
        self.names, self.kind = _Names(words), {}
        self.network = SimpleNamespace(formulas={"activations": {}})


class SequenceEvaluator(Evaluator):
    """Reads the sequence notation on one tiny instance; ``t`` is bound by the caller or a Σ."""

    def __init__(self, inst: Instance, text: str):
        step = re.compile(rf"{inst.prefix}_([a-z]+)_t0")
        parts = sorted({m.group(1) for n in inst.shapes if (m := step.fullmatch(n))})
        self.aliases = ALIASES.get(inst.kind, {})
        back = {v: k for k, v in self.aliases.items()}
        self.step_words = [back.get(p, p) for p in parts]
        self.params = [p for p in PARAMS if f"{p}{inst.position}" in inst.shapes]
        super().__init__(_System([*self.params, "x", "delta", "dy", *self.step_words]), text)
        self.inst, self.counting = inst, 0
        self.outside = False  # a step outside 1 … T was read (zero there)

    def names_hint(self) -> str:
        steps = ", ".join(f"{w}_t" for w in self.step_words)
        return (f"sequence names: {steps}, x_t, delta_t, dy_t, d… of each, {', '.join(self.params)}, "
                "d… of each; t = 1 … T")

    def integer(self, node: Node, what: str) -> int:
        self.counting += 1  # T and an unbound t are numbers here only (h^T is a transpose)
        try:
            return super().integer(node, what)
        finally:
            self.counting -= 1

    def on_Script(self, node: Script) -> Value:
        if node.sup is not None and flatten(node.sup) in TRANSPOSE_MARKS:
            inner = Script(node.pos, node.base, node.sub, None) if node.sub is not None else node.base
            return self.transpose(self.value(inner))
        return super().on_Script(node)

    def script(self, node: Script) -> Value:
        word = flatten(node.base)
        if node.sub is None or word is None:
            return super().script(node)
        value = self.at_step(word, node.sub, node.pos)
        return value if node.sup is None else self.power(value, node.sup)

    def quantity(self, node: Node) -> Value | None:
        if not isinstance(node, Name):
            return None
        text = node.text
        if text in self.bound:
            return sp.Integer(self.bound[text])
        if text in LOSS_WORDS:
            return self.loss()
        if self.counting and text == "T":
            return sp.Integer(STEPS)
        if self.counting and len(text) == 1 and text.islower():  # a step index of a Σ or the claim
            raise UnboundIndexError(text, STEPS)
        if text.replace("_", "") in {*PARAMS, *(f"d{p}" for p in PARAMS)}:
            return self.parameter(text.replace("_", ""))
        if text.startswith("sum_"):
            self.fail("write a sum over the steps as \\sum_t … or sum(t, …)", node.pos)
        head, _, tail = text.rpartition("_")
        if head and tail:
            return self.at_step(head, Name(node.pos + len(head) + 1, tail), node.pos)
        return None

    def derivative(self, x: Value, y: Value, pos: int) -> Value:
        """∂J/∂Y for a named Y (a parameter, or a step tensor at a step): its gradient's entries."""
        if x != self.loss():
            self.fail("only a derivative of the loss J is supported (∂J/∂W_h, ∂J/∂h_t)", pos)
        entries = list(y) if isinstance(y, sp.MatrixBase) else [y]
        shapes = self.inst.shapes
        named = all(isinstance(e, sp.Indexed) and naming.grad(str(e.base)) in shapes for e in entries)
        if not named:
            self.fail("the variable of a derivative must be a named quantity (W_h, h_t, c_t, …)", pos)
        grad = [self.inst.entries(naming.grad(str(e.base)))[tuple(int(i) for i in e.indices)]
                for e in entries]
        return sp.ImmutableMatrix(y.rows, y.cols, grad) if isinstance(y, sp.MatrixBase) else grad[0]

    def loss(self) -> sp.Expr:
        return self.inst.entries(self.inst.graph.output).item()

    def parameter(self, word: str) -> Value:
        grad = word.startswith("d")
        name = f"{word[1:] if grad else word}{self.inst.position}"
        if name not in self.inst.shapes:
            self.fail(f"the {self.inst.kind} layer has no parameter {word[1:] if grad else word}", 0)
        return _column(self.inst.entries(naming.grad(str(name)) if grad else name))

    def at_step(self, word: str, sub: Node, pos: int) -> Value:
        """A step tensor (or its gradient) at the step the subscript gives; zero outside 1 … T."""
        s = self.integer(sub, "a step") - 1
        inst, word = self.inst, word.replace("\\", "")
        if word == "x":
            x = inst.entries(inst.source())
            return self.zero_outside(s, lambda: _column(x[0, s]), x.shape[-1])
        if word == "dy":
            return self.from_above(s)
        grad = word in STATE_GRADS or (word.startswith("d") and len(word) > 1)
        part = STATE_GRADS.get(word) or (word[1:] if grad else word)
        name = f"{inst.prefix}_{self.aliases.get(part, part)}"
        if f"{name}_t0" not in inst.shapes:
            self.unknown(f"{word}_t", pos)
        width = inst.shapes[f"{name}_t0"][1]
        tensor = naming.grad(f"{name}_t{s}") if grad else f"{name}_t{s}"
        if tensor not in inst.shapes:  # a gradient J does not depend on (f_1 ⊙ c_0 with c_0 = 0)
            return self.zero_outside(s, lambda: sp.zeros(width, 1).as_immutable(), width)
        return self.zero_outside(s, lambda: _column(inst.entries(tensor)[0]), width)

    def from_above(self, s: int) -> Value:
        """∂J/∂h_t through the layers above: the gradient of the stacked sequence at step t."""
        inst = self.inst
        seq = naming.grad(f"{inst.prefix}_seq")
        if seq in inst.shapes:
            return self.zero_outside(s, lambda: _column(inst.entries(seq)[0, s]), UNITS)
        last = naming.grad(f"{inst.prefix}_h_t{STEPS - 1}")  # return = "last": only h_T is read above
        return self.zero_outside(s, lambda: _column(inst.entries(last)[0]) if s == STEPS - 1
                                 else sp.zeros(UNITS, 1).as_immutable(), UNITS)

    def zero_outside(self, s: int, value: Callable[[], Value], width: int) -> Value:
        if 0 <= s < STEPS:
            return value()
        self.outside = True
        return sp.zeros(width, 1).as_immutable()


def _column(entries) -> sp.ImmutableMatrix:
    """A vector as a column, a matrix as itself."""
    rows = [list(r) for r in entries] if entries.ndim == 2 else [[e] for e in entries]
    return sp.ImmutableMatrix(rows)


# --------------------------------------------------------------------------- deciding


def _pairs(inst: Instance, claim: Claim) -> list[Pair]:
    """Both sides entry by entry, at every step t = 1 … T if the claim uses t."""
    ev = SequenceEvaluator(inst, claim.text)
    try:
        try:
            return _pair_up(ev.value(claim.lhs), ev.value(claim.rhs), "", claim)
        except UnboundIndexError as need:
            if need.var != "t":
                raise
        return _at_every_step(ev, claim)
    except UnboundIndexError as need:
        raise ClaimError(f"the step index {need.var} is free: write t for the claim's step, or sum "
                         f"over {need.var}", claim.text, 0) from None


def _at_every_step(ev: SequenceEvaluator, claim: Claim) -> list[Pair]:
    out = []
    for t in range(1, STEPS + 1):
        ev.bound, ev.outside = {"t": t}, False
        lhs = ev.value(claim.lhs)
        if ev.outside:  # the claim is about steps 1 … T only (dc_{t-1} from t = 2 on)
            continue
        out += [(a, b, f"t = {t}" + (f", {w}" if w else "")) for a, b, w in
                _pair_up(lhs, ev.value(claim.rhs), "", claim)]
    if not out:
        raise ClaimError(f"the left side is outside the steps 1 … {STEPS} at every t", claim.text,
                         claim.lhs.pos)
    return out


def _expr(value: sp.Expr | int | float) -> sp.Expr:
    """A side's value as a sympy expression: the evaluator's results are sympy objects, or a
    plain number (0 for an empty sum); never text."""
    return value if isinstance(value, sp.Basic) else sp.Number(value)


def _at(expr: sp.Expr, numbers: Numbers) -> complex:
    """The value at a point; a claim's side may be complex (√ of a negative) or not a number."""
    try:
        return complex(_expr(expr).xreplace(numbers))
    except (TypeError, ValueError):  # zoo, nan: 1/0 at this point
        return complex("nan")


def _differs(pair: Pair, numbers: Numbers) -> bool:
    true, claimed = _at(pair[0], numbers), _at(pair[1], numbers)
    return not abs(true - claimed) <= TOLERANCE * max(1.0, abs(true))  # NaN differs


def _show(value: complex) -> str:
    return f"{value.real:.12g}" if value.imag == 0 else f"{value:.12g}"


def _first_difference(pairs: list[Pair], points: list[Numbers]):
    return next(((k, p) for k, numbers in enumerate(points) for p in pairs if _differs(p, numbers)), None)


def _normal(expr: sp.Expr, single: dict) -> sp.Expr:
    """Forward entries that are a function of one other entry written as that function
    (h = tanh(z), tc = tanh(c)), so a claim's tanh(z_t) and the derivation's h_t agree."""
    for _ in range(len(single) + 1):
        swap = {a: single[a] for a in expr.atoms(sp.Indexed) if a in single}
        if not swap:
            break
        expr = expr.xreplace(swap)
    return expr


def _proven(pairs: list[Pair], inst: Instance) -> bool:
    """Every difference is 0 once gradient entries are replaced by their derived formulas,
    the last computed first, until the two sides meet (at most ``PROOF_STEPS`` replacements)."""
    grads, forward = inst.definitions
    single = {a: f for a, f in forward.items() if len(f.atoms(sp.Indexed)) == 1}
    order = {c.name: k for k, c in enumerate(inst.backward.computes)}
    for a, b, _ in pairs:
        diff = _normal(_expr(a - b), single)
        for _ in range(PROOF_STEPS):
            if sp.expand(diff) == 0:
                break
            found = [x for x in diff.atoms(sp.Indexed, sp.Symbol) if x in grads]
            if not found:
                return False
            last = max(found, key=lambda x: order[str(x.base) if isinstance(x, sp.Indexed) else x.name])
            diff = _normal(diff.xreplace({last: grads[last]}), single)
        else:
            return False
    return True


def check_sequence_claim(spec: GraphSpec, text: str, inst: Instance | None = None) -> ClaimReport:
    """The verdict on one claim in sequence notation for a sequence spec."""
    inst = inst or instance(spec)
    level, on = "sequence", f"on T = {STEPS} steps of {UNITS} units"
    try:
        with claim_budget():
            claim = parse_claim(text)
            pairs = _pairs(inst, claim)
    except ClaimError as exc:
        return ClaimReport(text, "bad input", error=exc)
    except ShapeError as exc:
        return ClaimReport(text, "does not hold", level, f"the shapes do not fit: {exc}")
    found = _first_difference(pairs, inst.points)
    if found is None:
        if _proven(pairs, inst):
            return ClaimReport(text, "holds", level, f"proven {on}: the two sides are equal once the derived "
                               "gradients are substituted")
        return ClaimReport(text, "undecided", level,
                           f"equal at {len(inst.points)} random points {on}, not proven")
    k, (true, claimed, where) = found
    report = ClaimReport(text, "does not hold", level, f"the two sides differ {on}", Counterexample(
        f"at {where}", f"random parameters, inputs and targets (point {k + 1})",
        _show(_at(claimed, inst.points[k])), _show(_at(true, inst.points[k]))))
    report.diagnosis = next((slip.name for slip, points in inst.slips
                             if _first_difference(pairs, points) is None), None)
    return report


def check_sequence_claims(spec: GraphSpec, texts: list[str], seed: int = 0) -> list[ClaimReport]:
    """Check claims on one tiny instance of ``spec`` (its random points from ``seed``)."""
    inst = instance(spec, seed)
    return [check_sequence_claim(spec, t, inst) for t in texts]
