"""Verdicts on hand-written claims: holds, does not hold, undecided, or bad input.

A claim ``left = right`` (see ``symbp.check.claims`` for the notation) is read at the neuron level in
the spec's own names (``dE_total/dw5 = …``, ``E_total = …``) or, when it uses layer notation,
at the matrix level on small instantiations (``symbp.check.matrix``). Either way it becomes one
or more scalar equations ``true = claimed`` in the names of a ``System``, and:

1. both sides are evaluated at several points (the spec's example values first, then random
   two-decimal points) in mpmath at 50 digits; a difference is a counterexample, and the claim
   **does not hold**;
2. otherwise the difference is simplified symbolically (names first, then intermediates
   expanded into their definitions down to the free inputs); zero means the claim **holds**;
3. equal numbers without a proof leave the claim **undecided**.

For a false claim the left side's true expression is mutated in the ways people go wrong (a sign,
a missing or extra factor of the chain, a missing path, paths multiplied instead of summed, a
neighbour's name where another belongs) and a mutant that reproduces the claimed values at
every point names the mistake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import mpmath
import sympy as sp

from ..backprop.matrix import derive
from ..core import activations as act
from ..core.claim_vocabulary import ACTIVATION_NAMES, TRANSPOSE_MARKS
from ..core.errors import DerivationError
from ..core.files import read_text
from ..core.spec import Network, load_spec
from .batch import BATCH_SIZE, batch_repairs
from .claims import (
    Accent,
    BigSum,
    Claim,
    ClaimError,
    Group,
    Index,
    Name,
    Node,
    Script,
    Transpose,
    parse_claim,
)
from .diagnosis import close, diagnose, show, value_at
from .matrix import (
    LAST_LAYER,
    LAYERED,
    claim_batch_word,
    is_batched,
    matrix_entries,
    mentions_layer_variable,
)
from .system import System, UndefinedValueError, system_for
from .values import (
    NeuronEvaluator,
    ShapeError,
    claim_budget,
    flatten,
    is_matrix,
)

NEURON_LIMIT = 300  # parameters; above this a claim is read at the matrix level only
RANDOM_POINTS = {"neuron": 5, "matrix": 3}
EXIT_CODES = {"holds": 0, "does not hold": 1, "bad input": 2, "undecided": 3}
MATRIX_WORDS = set(LAYERED) | {"l", "nl", "n_l", "yhat", "y_hat"} | LAST_LAYER


@dataclass
class Comparison:
    """One scalar equation: the left side's value (true) against the right side's (claimed)."""

    system: System
    truth: sp.Expr
    claimed: sp.Expr
    label: str
    namer: Callable[[sp.Symbol], str]


@dataclass
class Counterexample:
    where: str
    inputs: str
    claimed: str
    true: str


@dataclass
class ClaimReport:
    """The answer for one claim; ``render`` gives the text the CLI prints."""

    text: str
    verdict: str
    level: str = ""
    reason: str = ""
    counterexample: Counterexample | None = None
    diagnosis: str | None = None
    correct: str | None = None
    correct_latex: str | None = None
    notes: list[str] = field(default_factory=list)
    error: ClaimError | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def holds(self) -> bool:
        return self.verdict == "holds"

    def render(self) -> str:
        lines = [f"claim: {self.text}"]
        if self.error is not None:
            lines.append(f"  bad input: {self.error.reason}")
            caret = self.error.caret()
            if caret:
                lines.append(caret)
            return "\n".join(lines)
        head = {"holds": "HOLDS", "does not hold": "DOES NOT HOLD", "undecided": "UNDECIDED"}[self.verdict]
        lines.append(f"  {head} ({self.level} level): {self.reason}")
        c = self.counterexample
        if c is not None:
            lines.append(f"  counterexample, {c.where}:")
            lines.append(f"    {c.inputs}")
            lines.append(f"    claimed (right side): {c.claimed}")
            lines.append(f"    true (left side):     {c.true}")
        if self.diagnosis:
            lines.append(f"  diagnosis: {self.diagnosis}")
        if self.correct:
            lines.append(f"  correct: {self.correct}")
        if self.correct_latex:
            lines.append(f"  correct (LaTeX): {self.correct_latex}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# --------------------------------------------------------------------------- entry points


def check_claim(net: Network | str | None, text: str, *, numbering: str = "from0",
                seed: int = 0, batch_word: str = "m") -> ClaimReport:
    """Check one claim against the derivation of ``net`` (a Network, spec file or bundled name);
    ``batch_word`` names the batch size in answers when the claim does not (m, N or B)."""
    net = load_spec(net) if not isinstance(net, Network) else net
    with claim_budget():
        return _check_claim(net, text, numbering, seed, batch_word)


def _check_claim(net: Network, text: str, numbering: str, seed: int, batch_word: str) -> ClaimReport:
    try:
        claim = parse_claim(text)
        level = choose_level(net, claim)
        if level == "neuron":
            comparisons, notes = _neuron_comparisons(net, claim), []
        else:
            comparisons, notes = _matrix_comparisons(net, claim, numbering, batch_word)
    except ClaimError as exc:
        return ClaimReport(text, "bad input", error=exc)
    except _Shape as shape:
        report = ClaimReport(text, "does not hold", "matrix", f"the shapes do not fit: {shape.message}",
                             correct=None if is_batched(claim) else _matrix_correct(net, claim, numbering),
                             notes=shape.notes)
        return _name_wrong_layer(report, net, claim, numbering, seed)
    except DerivationError as exc:
        return ClaimReport(text, "bad input", error=ClaimError(str(exc)))
    if any(is_matrix(c.truth) or is_matrix(c.claimed) for c in comparisons):
        return ClaimReport(text, "bad input", error=ClaimError(
            "a neuron-level claim must compare two numbers"))
    report = _decide(net, claim, level, comparisons, seed)
    report.notes = notes + report.notes
    if level == "matrix" and report.verdict == "does not hold":
        report.correct = None if is_batched(claim) else _matrix_correct(net, claim, numbering)
        _name_wrong_layer(report, net, claim, numbering, seed)
        _repair_batch_factor(report, net, claim, numbering, seed, comparisons[0].system.batch_word)
    return report


def check_claims(net: Network | str | None, texts: Iterable[str], **options) -> list[ClaimReport]:
    """Check each claim; a sequence spec's claims are read in sequence notation (``seq_claims``)."""
    if not isinstance(net, Network):
        spec = load_spec(net, graphs=True)
        if getattr(spec, "sequence", False):
            from .seq_claims import check_sequence_claims  # it builds on this module's reports

            return check_sequence_claims(spec, list(texts), seed=options.get("seed", 0))
        net = spec if isinstance(spec, Network) else load_spec(net)  # other graph specs: refused
    return [check_claim(net, t, **options) for t in texts]


def read_claims(path: str | Path) -> list[str]:
    """One claim per line; blank lines and lines starting with # are skipped."""
    text = read_text(path)
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def overall_exit_code(reports: list[ClaimReport]) -> int:
    """2 if any claim is bad input, else 1 if any does not hold, else 3 if any is undecided."""
    codes = {r.exit_code for r in reports}
    for code in (2, 1, 3):
        if code in codes:
            return code
    return 0


# --------------------------------------------------------------------------- reading


def neuron_level_available(net: Network) -> bool:
    return net.n_params() <= NEURON_LIMIT


def choose_level(net: Network, claim: Claim) -> str:
    """Matrix level when the claim uses layer notation (brackets, ^T, δ^l, W, Σ), else neuron."""
    if not neuron_level_available(net):
        return "matrix"
    ev = NeuronEvaluator(system_for(net), claim.text)
    stack: list[Node] = [claim.lhs, claim.rhs]
    while stack:
        n = stack.pop()
        if isinstance(n, (Index, Transpose, BigSum)):
            return "matrix"
        if isinstance(n, Script):
            sup = flatten(n.sup) if n.sup is not None else None
            layered = n.sup is not None and mentions_layer_variable(n.sup)
            if sup in TRANSPOSE_MARKS or sup in LAST_LAYER or layered:
                return "matrix"
            if n.sub is not None and ev.quantity(Script(n.pos, n.base, n.sub, None)) is not None:
                stack += [n.sup] if n.sup is not None else []
                continue
        if isinstance(n, Name) and n.text in MATRIX_WORDS and ev.quantity(n) is None:
            return "matrix"
        if isinstance(n, Accent) and ev.quantity(Name(n.pos, f"{flatten(n.body)}_{n.accent}")) is None:
            return "matrix"
        stack += _children(n)
    return "neuron"


def _children(n: Node) -> list[Node]:
    out: list[Node] = []
    for v in vars(n).values():
        if isinstance(v, Node):
            out.append(v)
        elif isinstance(v, tuple):
            out += [x[1] if isinstance(x, tuple) else x for x in v]
    return out


def _neuron_comparisons(net: Network, claim: Claim) -> list[Comparison]:
    system = system_for(net)
    ev = NeuronEvaluator(system, claim.text)
    lhs, rhs = ev.value(claim.lhs), ev.value(claim.rhs)
    return [Comparison(system, lhs, rhs, "", lambda s: s.name)]


class _Shape(Exception):  # noqa: N818 - internal signal
    def __init__(self, message: str, notes: list[str]):
        super().__init__(message)
        self.message, self.notes = message, notes


def _matrix_comparisons(net: Network, claim: Claim, numbering: str,
                        batch_word: str = "m") -> tuple[list[Comparison], list[str]]:
    numbered = "with the input as layer 1 (seed 004)" if numbering == "from1" else "from a^0 = x"
    word = claim_batch_word(claim) or batch_word
    about = (f"a batch of {BATCH_SIZE} samples, one column per sample (J is the {net.reduction} of "
             f"their losses, {word} = {BATCH_SIZE})" if is_batched(claim)
             else "one sample's loss J (no batch mean)")
    notes = [f"matrix claims are about {about}, without the regulariser; layers numbered {numbered}"]
    try:
        entries, checked = matrix_entries(net, claim, numbering, word)
    except ShapeError as exc:
        raise _Shape(str(exc), notes) from None
    if not entries:
        raise ClaimError("the claim applies to no layer of this network (check the layer indices"
                         + ("; seed 004 numbers the input as layer 1: use --layer-numbering from1"
                            if numbering == "from0" else "") + ")", claim.text, claim.lhs.pos)
    notes.append("checked on " + "; ".join(dict.fromkeys(checked)))
    comparisons = [Comparison(e.system, e.truth, e.claimed, e.label, e.evaluator.generic_name)
                   for e in entries]
    return comparisons, notes


# --------------------------------------------------------------------------- a wrong layer

MAX_LAYER_REPAIRS = 6  # right-side quantities whose layer is tried as the left side's


def _layer_scripts(text: str, node: Node) -> list[tuple[int, int, int]]:
    """(start, superscript start, end) in ``text`` of every layered quantity with a braced layer
    superscript under ``node`` (``z_i^{l l}``), in order."""
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Script) and isinstance(n.sup, Group) and n.sup.brace and \
                (flatten(n.base) or "").partition("_")[0] in LAYERED:
            end = _closing_brace(text, n.sup.pos)
            if end is not None:
                out.append((n.pos, n.sup.pos, end))
        stack += _children(n)
    return sorted(out)


def _closing_brace(text: str, start: int) -> int | None:
    depth = 0
    for k in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[k], 0)
        if depth == 0:
            return k + 1
    return None


def _name_wrong_layer(report: ClaimReport, net: Network, claim: Claim, numbering: str,
                      seed: int) -> ClaimReport:
    """A right-side quantity at a layer where the left side's layer belongs (z_i^{l l} for
    z_i^{n l}): if the claim holds with that one superscript replaced, say so, in the claim's
    own notation, and give the corrected claim."""
    text = claim.text
    left = {text[s:e] for _, s, e in _layer_scripts(text, claim.lhs)}
    if len(left) != 1 or report.diagnosis:
        return report
    (layer,) = left
    right = [(p, s, e) for p, s, e in _layer_scripts(text, claim.rhs) if text[s:e] != layer]
    for p, s, e in right[:MAX_LAYER_REPAIRS]:
        fixed = text[:s] + layer + text[e:]
        if _holds_plainly(net, fixed, numbering, seed):
            shown, sup = text[p:e], text[s:e]
            report.reason = f"the layers do not match; {report.reason}"
            report.diagnosis = (f"{shown} is at layer '{sup[1:-1].strip()}', but the left side is at "
                                f"layer '{layer[1:-1].strip()}': write {shown.replace(sup, layer)}")
            report.correct_latex = fixed
            return report
    return report


def _holds_plainly(net: Network, text: str, numbering: str, seed: int) -> bool:
    """Does the claim hold (checked without naming mistakes, so that a repair never recurses)?"""
    try:
        claim = parse_claim(text)
        comparisons, _ = _matrix_comparisons(net, claim, numbering)
    except (ClaimError, _Shape, DerivationError):
        return False
    return _decide(net, claim, "matrix", comparisons, seed).verdict == "holds"


def _repair_batch_factor(report: ClaimReport, net: Network, claim: Claim, numbering: str,
                         seed: int, word: str) -> ClaimReport:
    """For a batch mean's 1/m left out or written in excess, the claim with the factor written or
    removed, in the claim's own notation, when that claim holds."""
    if not (report.diagnosis and f"1/{word}" in report.diagnosis):
        return report
    missing = "missing" in report.diagnosis
    left, right = claim.text[:claim.eq].strip(), claim.text[claim.eq + 1:].strip()
    for repaired in batch_repairs(right, word, missing, claim.latex):
        text = f"{left} = {repaired}"
        if _holds_plainly(net, text, numbering, seed):
            report.correct, report.correct_latex = (None, text) if claim.latex else (text, None)
            break
    return report


# --------------------------------------------------------------------------- deciding


@dataclass
class _Point:
    where: str
    values: dict[sp.Symbol, sp.Rational]
    env: dict[sp.Symbol, mpmath.mpf]


def _points(system: System, level: str, seed: int) -> list[_Point]:
    example = system.network.example.get("values") if level == "neuron" else None
    raw = system.random_points(RANDOM_POINTS[level] + (1 if example else 0), seed, example)
    out = []
    for k, values in enumerate(raw):
        where = "at the spec's example values" if example and k == 0 else "at a random point"
        try:
            out.append(_Point(where, values, system.values(values)))
        except UndefinedValueError:
            continue
    return out


def _decide(net: Network, claim: Claim, level: str, comparisons: list[Comparison], seed: int) -> ClaimReport:
    points: dict[int, list[_Point]] = {}
    for c in comparisons:
        if id(c.system) not in points:
            points[id(c.system)] = _points(c.system, level, seed)
        pts = points[id(c.system)]
        for p in pts:
            t = value_at(c.truth, p.env)
            if t is None:
                continue
            v = value_at(c.claimed, p.env)
            if v is None or not close(t, v):
                return _refuted(claim, level, c, p, v, t, pts)
    n_points = sum(len(p) for p in points.values())
    if all(c.system.identical(c.claimed - c.truth) for c in comparisons):
        scope = f" for all {len(comparisons)} entries" if level == "matrix" else ""
        return ClaimReport(claim.text, "holds", level,
                           f"proven symbolically{scope} (the difference simplifies to 0), and equal "
                           f"at {n_points} points to 30 digits", notes=_assumptions(comparisons))
    return ClaimReport(claim.text, "undecided", level,
                       f"equal at {n_points} points to 30 digits, but sympy could not prove the identity",
                       notes=_assumptions(comparisons))


def _assumptions(comparisons: list[Comparison]) -> list[str]:
    s = comparisons[0].system
    if not s.constraints:
        return []
    targets = ", ".join(s.names.targets)
    return [f"the targets ({targets}) sum to 1, as softmax cross-entropy requires"]


def _refuted(claim: Claim, level: str, c: Comparison, p: _Point, v, t, pts: list[_Point]) -> ClaimReport:
    shown = lambda x: "undefined (no real value)" if x is None else mpmath.nstr(x, 15)  # noqa: E731
    where = p.where + (f", {c.label}" if c.label else "")
    ce = Counterexample(where, _point_text(c.system, p, c.namer), shown(v), shown(t))
    report = ClaimReport(claim.text, "does not hold", level,
                         "the two sides differ" + (f" ({c.label})" if c.label else ""), ce,
                         notes=_assumptions([c]))
    report.diagnosis = diagnose(c.system, c.truth, c.claimed, [q.env for q in pts], c.namer)
    if level == "neuron":
        report.correct, report.correct_latex = _neuron_correct(c, claim)
    return report


def _point_text(system: System, p: _Point, namer: Callable[[sp.Symbol], str]) -> str:
    """Every free input's value, by name; at matrix level grouped as x = [...], W[1] = [[...], ...]."""
    shown = {s: p.values[s] for s in system.free}
    shown.update({s: value.xreplace(p.values) for s, value in system.constraints.items()})
    groups: dict[str, list[tuple[tuple[int, ...], str]]] = {}
    for s, v in shown.items():
        groups.setdefault(namer(s), []).append((system.position.get(s, ()), _decimal(v)))
    return ", ".join(f"{name} = {_array_text(items)}" for name, items in groups.items())


def _array_text(items: list[tuple[tuple[int, ...], str]]) -> str:
    """One value as is; a vector as [a, b]; a matrix (positions (i, j)) as [[a, b], [c, d]]."""
    if len(items) == 1:
        return items[0][1]
    if len(items[0][0]) == 2:
        rows: dict[int, list[str]] = {}
        for (i, _j), text in sorted(items):
            rows.setdefault(i, []).append(text)
        return "[" + ", ".join("[" + ", ".join(r) + "]" for r in rows.values()) + "]"
    return "[" + ", ".join(text for _, text in sorted(items)) + "]"


def _decimal(v: sp.Rational) -> str:
    return sp.sstr(v) if v.q == 1 else mpmath.nstr(mpmath.mpf(v.p) / v.q, 12)


def _neuron_correct(c: Comparison, claim: Claim) -> tuple[str | None, str | None]:
    s, ref = c.system, c.truth
    if not (isinstance(ref, sp.Symbol) and ref in s.definitions):
        return None, None
    expr = s.simplified(ref) if s.kind[ref] == "derivative" else s.definitions[ref]
    if s.kind[ref] == "derivative":
        x, y = s.pair[ref]
        left, left_tex = f"d{x.name}/d{y.name}", rf"\frac{{\partial {sp.latex(x)}}}{{\partial {sp.latex(y)}}}"
    else:
        left, left_tex = ref.name, sp.latex(ref)
    expr = _claim_form(s, ref, expr)
    text = f"{left} = {show(expr)}"
    return text, (f"{left_tex} = {sp.latex(expr, order='none')}" if claim.latex else None)


def _claim_form(s: System, ref: sp.Symbol, expr: sp.Expr) -> sp.Expr:
    """``expr`` in functions the claim grammar reads, so that the suggested correct line checks:
    H(x) as heaviside(x), a piecewise activation (relu) by its registry name."""
    step = sp.Function("heaviside")
    expr = expr.replace(lambda e: isinstance(e, sp.Heaviside) and e.args[1:] == (0,),
                        lambda e: step(e.args[0]))
    if not (expr.has(sp.Piecewise) and s.kind.get(ref) == "act"):
        return expr
    layer = s.layer[ref]
    name = s.network.layers[layer - 1].activation
    g = s.network.activation_expr(layer)
    if name in ACTIVATION_NAMES and g is not None and act.REGISTRY[ACTIVATION_NAMES[name]].instantiate() == g:
        (z,) = expr.free_symbols
        return sp.Function(name)(z)
    return expr


def _matrix_correct(net: Network, claim: Claim, numbering: str) -> str | None:
    """The derivation's formula for the quantity on the left: δ^L, the δ recurrence, ∂J/∂W, ∂J/∂b."""
    node = claim.lhs
    while isinstance(node, (Index, Script)) and not (isinstance(node.base, Name)):
        node = node.base
    word, layer = None, None
    if isinstance(node, Index) and isinstance(node.base, Name):
        word, layer = node.base.text, node.args[0]
    elif isinstance(node, Script) and isinstance(node.base, Name):
        word, layer = node.base.text, node.sup
    kind = LAYERED.get(word or "")
    if kind is None:
        return None
    one = numbering == "from1"
    last = layer is not None and (flatten(layer) in LAST_LAYER or flatten(layer) == str(net.depth + one))
    if kind == "delta" and last:
        d = derive(net)
        a, y, x = (sp.Symbol(n) for n in ("a[L]", "y", "z[L]"))
        from ..core import losses

        expr = d.output.expr.xreplace({losses.a: a, losses.y: y, losses.x: x})
        extra = "" if d.output.rowsum is None else " (s = sum over the outputs)"
        return f"delta[L] = {show(expr)}{extra}"
    if kind == "delta":
        gp = _hidden_derivative(net)
        return (f"delta[l] = W[{'l' if one else 'l+1'}]^T delta[l+1] * {gp}")
    if kind == "dW":
        return "dW[l] = delta[l+1] a[l]^T" if one else "dW[l] = delta[l] a[l-1]^T"
    if kind == "db":
        return "db[l] = delta[l+1]" if one else "db[l] = delta[l]"
    return None


def _hidden_derivative(net: Network) -> str:
    from ..core import activations as act

    forms = set()
    step = sp.Function("heaviside")  # printed as the claim grammar spells it
    for l in range(1, net.depth):
        g = net.activation_expr(l)
        if g is None:
            continue
        d = act.derivative(g)
        form = d.expr.xreplace({act.a: sp.Symbol("a[l]"), act.x: sp.Symbol("z[l]")})
        form = form.replace(lambda e: isinstance(e, sp.Heaviside), lambda e: step(e.args[0]))
        forms.add(show(form))
    return forms.pop() if len(forms) == 1 else "g'(z[l])"
