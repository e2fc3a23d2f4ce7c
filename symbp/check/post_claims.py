"""What each line of a post claims, and whether it holds.

A row ``L = A = B = 0.3775`` is read as the claims ``L = A``, ``L = B`` and ``L = 0.3775``:

* a side with names is checked as ``symbp check`` does (proof, or a counterexample with a
  diagnosis and the correct line);
* a printed number is judged as ``symbp check-example`` does (rounded or truncated to the digits
  printed), and arithmetic on printed numbers must agree with the true value to ARITHMETIC_DIGITS;
* an update rule ``w_5^+ = w_5 - \\eta …`` is evaluated with the learning rate and compared with
  the true updated value.

Tables of given values (``| $w_1$ | 0.15 |``) and figures in prose ("after 10000 iterations the
total error is 0.000035085", in the phrasings of PROSE_FIGURES) are checked the same way. Every
row gets a verdict: holds, wrong (with the reason), truncated, or not checked (with the reason).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal

from ..core.errors import SymbpError
from ..core.spec import Network
from .batch import batch_repairs
from .claim import check_claim
from .claims import parse_expression
from .example import check_example, judge
from .notation import PRESETS, neuron_names, rewrite, table_name
from .post import Row
from .system import system_for
from .values import NeuronEvaluator

MAX_SIDES = 12  # sides of one row checked; a longer chain is not checked (each side is a proof)
MAX_CLAIMS = 300  # distinct claims with names proven per post (seed 000 has 60)
MAX_COMPUTED = 300  # distinct quantities computed per post
ARITHMETIC_DIGITS = 6  # arithmetic on printed (rounded) numbers must agree to this many digits
ORDER = {"wrong": 3, "truncated": 2, "holds": 1, "not checked": 0}
NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")
UPDATED = re.compile(r"^(?P<base>.+?)\s*\^\s*(?:\{\s*\+\s*\}|\+)$")
RATE_SYMBOLS = re.compile(r"\\eta(?![A-Za-z])|\\alpha(?![A-Za-z])")
SPACING = re.compile(r"\\[,;:!](?![A-Za-z])|\\q?quad(?![A-Za-z])|&")
TEXT = re.compile(r"\\(?:text|mathrm|textrm|operatorname)\s*\{([^{}]*)\}")
TABLE_ROW = re.compile(r"^\s*\|\s*\$(?P<name>[^$|]+)\$\s*\|\s*(?P<value>[+-]?\d*\.?\d+)\s*\|\s*$")
NUM = r"([+-]?\d*\.\d+|\d+)"
BATCH_FACTOR = re.compile(r"factor 1/(?P<word>[A-Za-z]+)")  # a diagnosis naming the batch mean's 1/m
# Figures stated in prose, by phrasing: the pattern and, per group, the check-example key.
# {loss} and {out1}, {out2}, … are the spec's loss and output names; {n} is the pattern's n.
PROSE_FIGURES: tuple[tuple[re.Pattern, dict[str, str]], ...] = (
    (re.compile(r"第一次迭代之后[^。]*?由\s*" + NUM + r"\s*下降至\s*" + NUM),
     {"1": "{loss}", "2": "{loss}+"}),
    (re.compile(r"迭代\s*(?P<n>\d+)\s*次后[，,]\s*总误差为\s*" + NUM), {"2": "{loss}@{n}"}),
    (re.compile(r"迭代\s*(?P<n>\d+)\s*次后[^。]*?输出为\s*\$?\s*\[\s*" + NUM + r"\s*,\s*" + NUM),
     {"2": "{out1}@{n}", "3": "{out2}@{n}"}),
    (re.compile(r"after the first (?:iteration|step|update)[^.]*?from\s+" + NUM + r"\s+to\s+" + NUM, re.I),
     {"1": "{loss}", "2": "{loss}+"}),
    (re.compile(r"after\s+(?P<n>\d+)\s+(?:iterations|steps|updates)[^.]*?error (?:is|of|=)\s*" + NUM, re.I),
     {"2": "{loss}@{n}"}),
)


@dataclass
class Verdict:
    status: str  # holds, wrong, truncated or not checked
    reason: str
    diagnosis: str | None = None
    correct: str | None = None
    latex: bool = False  # the correct line is LaTeX (a formula), not a number or plain text


@dataclass
class Item:
    """One claim of the post with its line, its kind and its verdict."""

    line: int
    text: str
    kind: str
    verdict: Verdict
    notes: list[str] = field(default_factory=list)


def worst(verdicts: list[Verdict]) -> Verdict:
    """The verdict of a row: its worst checked side; not checked only when nothing was."""
    return max(verdicts, key=lambda v: ORDER[v.status])


def clean(text: str) -> str:
    """A row without alignment marks, spacing, \\text{…} wrappers and trailing punctuation."""
    text = TEXT.sub(lambda m: m.group(1).replace(" ", ""), text)
    text = SPACING.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text.rstrip(",.;，。").strip()


def split_equals(text: str) -> list[str]:
    """The sides of a row, split at '=' outside braces and brackets."""
    parts, depth, start = [], 0, 0
    for k, c in enumerate(text):
        depth += {"{": 1, "(": 1, "[": 1, "}": -1, ")": -1, "]": -1}.get(c, 0)
        if c == "=" and depth == 0:
            parts.append(text[start:k].strip())
            start = k + 1
    parts.append(text[start:].strip())
    return parts


def split_claims(text: str) -> list[str]:
    """Claims listed on one row: ``A = B \\qquad C = D`` (a piece after \\qquad without '=' is a
    remark such as ``\\eta: the learning rate``) and ``z^l = …, a^l = g(z^l)``."""
    first, *rest = re.split(r"\\qquad(?![A-Za-z])", text)
    return [c for piece in [first] + [r for r in rest if "=" in r] for c in _split_commas(clean(piece))]


def _split_commas(text: str) -> list[str]:
    """Split at top-level commas when every piece has an '='; otherwise the text is one claim."""
    pieces, depth, start = [], 0, 0
    for k, c in enumerate(text):
        depth += {"{": 1, "(": 1, "[": 1, "}": -1, ")": -1, "]": -1}.get(c, 0)
        if c == "," and depth == 0:
            pieces.append(text[start:k])
            start = k + 1
    pieces.append(text[start:])
    return [p.strip() for p in pieces] if all("=" in p for p in pieces) else [text]


def numeric_only(text: str) -> bool:
    """True when a side has numbers and operators only (e^{…} is Euler's number)."""
    rest = re.sub(r"\\(?:frac|dfrac|tfrac|left|right|cdot|times)(?![A-Za-z])|\be\^", " ", text)
    return not re.search(r"[A-Za-z\\]", rest) and bool(re.search(r"\d", rest))


class PostChecker:
    """Checks a post's rows against one network, caching what it computes."""

    def __init__(self, net: Network, *, lr: str | None = None, strict: bool = False,
                 numbering: str | None = None, notation: str = "symbp"):
        self.preset = PRESETS[notation]
        self.net, self.lr, self.strict = net, lr, strict
        self.numbering = numbering or self.preset.numbering
        self._true: dict[str, Decimal | SymbpError] = {}
        self._notes: dict[str, str] = {}  # how a true value was computed (after one step, …)
        self._claims: dict[str, Verdict] = {}
        self.names = output_names(net)

    # ------------------------------------------------------------------ rows

    def row(self, row: Row, previous: str | None) -> tuple[Item, str | None]:
        """The verdict of one row and the left side that a following ``& = …`` row continues."""
        claims = split_claims(row.text)
        if len(claims) > 1:
            items = [self.row(Row(row.line, c), None)[0] for c in claims]
            verdict = worst([i.verdict for i in items])
            return Item(row.line, row.text, items[0].kind, verdict,
                        [n for i in items for n in i.notes]), None
        sides = split_equals(claims[0])
        if len(sides) == 1:
            return Item(row.line, row.text, "expression", Verdict(
                "not checked", "no '=': a name or an expression, nothing is claimed")), previous
        if len(sides) > MAX_SIDES:
            return Item(row.line, row.text, "expression", Verdict(
                "not checked", f"more than {MAX_SIDES} '=' on one row")), previous
        lhs = sides[0] or previous
        if not lhs:
            return Item(row.line, row.text, "expression", Verdict(
                "not checked", "a continued line with nothing before it to continue")), previous
        lhs_read, notes = rewrite(lhs, self.net, left=True, preset=self.preset)
        updated = UPDATED.match(lhs_read)
        key = f"{updated['base']}+" if updated else lhs_read
        verdicts = []
        for side in sides[1:]:
            side_read, more = rewrite(side, self.net, preset=self.preset)
            notes += [n for n in more if n not in notes]
            verdict = self.side(lhs_read, key, side_read, bool(updated))
            verdicts.append(self.batch_factor_repaired(verdict, lhs, side))
        item = Item(row.line, row.text, self.kind(lhs, sides[1:], bool(updated)), worst(verdicts), notes)
        unread = [v.reason for v in verdicts if v.status == "not checked"]
        if unread and item.verdict.status != "not checked":
            item.notes.append("a side is not checked: " + unread[0])
        return item, lhs

    def batch_factor_repaired(self, verdict: Verdict, lhs: str, side: str) -> Verdict:
        """A batch mean's 1/m missing or in excess: the correct line in the post's own notation
        (the claim's repair is in the names it was rewritten into), offered only if it holds."""
        found = BATCH_FACTOR.search(verdict.diagnosis or "") if verdict.status == "wrong" else None
        if found is None:
            return verdict
        missing = "missing" in verdict.diagnosis
        left, _ = rewrite(lhs, self.net, left=True, preset=self.preset)
        for right in batch_repairs(side.strip(), found["word"], missing, latex=True):
            read, _ = rewrite(right, self.net, preset=self.preset)
            if self.symbolic(f"{left} = {read}").status == "holds":
                return replace(verdict, correct=f"{lhs.strip()} = {right}", latex=True)
        return verdict

    @staticmethod
    def kind(lhs: str, sides: list[str], updated: bool) -> str:
        if updated:
            return "update rule"
        if any(numeric_only(s) for s in sides):
            return "evaluation"
        if sum(s.count("\\partial") for s in sides) >= 4:
            return "chain-rule product"
        return "derivative" if "\\partial" in lhs else "definition"

    def side(self, lhs: str, key: str, side: str, updated: bool) -> Verdict:
        if numeric_only(lhs):
            return self.sum_of_numbers(lhs, side)
        if NUMBER.match(side.replace(" ", "")):
            return self.number(key, side.replace(" ", ""))
        if numeric_only(side):
            return self.arithmetic(key, side)
        if updated:
            return self.update(key, side)
        return self.symbolic(f"{lhs} = {side}")

    # ------------------------------------------------------------------ kinds of sides

    def symbolic(self, claim: str) -> Verdict:
        """A claim with names, checked once per text; at most MAX_CLAIMS distinct claims a post."""
        if claim not in self._claims:
            over = f"the post has more than {MAX_CLAIMS} distinct claims; this one is not proven"
            self._claims[claim] = (self._symbolic(claim) if len(self._claims) < MAX_CLAIMS
                                   else Verdict("not checked", over))
        return self._claims[claim]

    def _symbolic(self, claim: str) -> Verdict:
        report = check_claim(self.net, claim, numbering=self.numbering, batch_word=self.preset.batch_word)
        if report.verdict == "holds":
            return Verdict("holds", f"proven ({report.level} level)")
        if report.verdict == "does not hold":
            c = report.counterexample
            where = f" ({c.where}: claimed {c.claimed}, true {c.true})" if c else ""
            return Verdict("wrong", report.reason + where, report.diagnosis,
                           report.correct_latex or report.correct, bool(report.correct_latex))
        if report.verdict == "undecided":
            return Verdict("not checked", "undecided: " + report.reason)
        return Verdict("not checked", report.error.reason if report.error else "cannot be read")

    def number(self, key: str, printed: str) -> Verdict:
        """A printed number judged as check-example does, against the key's true value."""
        try:
            true, how = self.true_value(key), self._notes.get(key, "")
        except SymbpError as exc:
            return Verdict("not checked", _unprefixed(str(exc)))
        verdict, digits, agreeing = judge(printed, true)
        rounded = true.quantize(Decimal((0, (1,), Decimal(printed).as_tuple().exponent)), ROUND_HALF_EVEN)
        note = f" {how}" if how else ""
        if verdict in ("exact", "rounded"):
            return Verdict("holds", f"{printed} is the true value {true}{note} {verdict}")
        if verdict == "truncated":
            status = "wrong" if self.strict else "truncated"
            return Verdict(status, f"{printed} is the true value {true}{note} truncated, "
                           f"not rounded (rounded: {rounded})"
                           + (" (--strict-rounding)" if self.strict else ""),
                           correct=str(rounded))
        return Verdict("wrong", f"{printed} disagrees with the true value {true}{note} "
                       f"({agreeing} of {digits} digits agree)", correct=str(rounded))

    def true_value(self, key: str) -> Decimal:
        """The true value of a key (check-example's notation) at the example, computed once per
        key (to 15 digits); SymbpError if it has none. At most MAX_COMPUTED keys per post."""
        if key not in self._true:
            if len(self._true) >= MAX_COMPUTED:
                raise SymbpError(f"the post has more than {MAX_COMPUTED} distinct quantities; "
                                 "the rest are not computed")
            try:
                row = check_example(self.net, {key: "0"}, lr=self.lr).rows[0]
                self._true[key], self._notes[key] = Decimal(row.computed), row.note
            except SymbpError as exc:
                self._true[key] = exc
        value = self._true[key]
        if isinstance(value, SymbpError):
            raise value
        return value

    def arithmetic(self, key: str, side: str) -> Verdict:
        try:
            computed, true = self.number_value(side), self.true_value(key)
        except SymbpError as exc:
            return Verdict("not checked", _unprefixed(str(exc)))
        except (TypeError, ValueError, ArithmeticError, AttributeError):
            return Verdict("not checked", "the arithmetic has no real value")
        return self.compare(computed, true, "the arithmetic on the printed numbers", ARITHMETIC_DIGITS)

    def sum_of_numbers(self, lhs: str, side: str) -> Verdict:
        """Arithmetic on numbers alone (44/40 = 1.1): a printed result is judged by its digits."""
        try:
            true, value = self.number_value(lhs), self.number_value(side)
        except (SymbpError, TypeError, ValueError, ArithmeticError, AttributeError):
            return Verdict("not checked", "the arithmetic cannot be read")
        if NUMBER.match(side.replace(" ", "")):
            verdict = judge(side.replace(" ", ""), true)[0]
            if verdict != "DISAGREES":
                return Verdict("holds", f"{side} is {lhs} = {true:.15g} {verdict}")
            return Verdict("wrong", f"{lhs} is {true:.15g}, not {side}")
        return self.compare(value, true, "the arithmetic", ARITHMETIC_DIGITS)

    def number_value(self, text: str) -> Decimal:
        value = NeuronEvaluator(system_for(self.net), text).value(parse_expression(text))
        return Decimal(str(value.evalf(30)))

    def update(self, key: str, side: str) -> Verdict:
        if self.lr is None:
            return Verdict("not checked", "an update rule needs the learning rate (--lr)")
        with_rate = RATE_SYMBOLS.sub(f"({self.lr})", side)
        try:
            computed, true = self.true_value(with_rate), self.true_value(key)
        except SymbpError as exc:
            return Verdict("not checked", _unprefixed(str(exc)))
        return self.compare(computed, true, f"the rule with learning rate {self.lr}", 12)

    @staticmethod
    def compare(computed: Decimal, true: Decimal, what: str, digits: int) -> Verdict:
        scale = max(abs(true), Decimal("1e-30"))
        if abs(computed - true) / scale <= Decimal(10) ** -digits:
            return Verdict("holds", f"{what} gives {computed:.12g}, the true value is {true:.12g}")
        return Verdict("wrong", f"{what} gives {computed:.12g}, but the true value is {true:.12g}")

    # ------------------------------------------------------------------ tables and prose

    def table_value(self, line: int, name: str, value: str) -> Item:
        key, notes = table_name(name, self.net)
        key, more = rewrite(key, self.net)
        return Item(line, f"{name} | {value}", "table value", self.number(key, value), notes + more)

    def prose(self, line: int, text: str) -> list[Item]:
        items = []
        if not self.names:
            return items
        for pattern, keys in PROSE_FIGURES:
            for m in pattern.finditer(text):
                for group, template in keys.items():
                    key = template.format(n=m.groupdict().get("n", ""), **self.names)
                    printed = m.group(int(group))
                    items.append(Item(line, f"{key} = {printed}", "prose figure", self.number(key, printed)))
        return items


def output_names(net: Network) -> dict[str, str]:
    """{loss, out1, out2, …}: the spec's loss and output names (none when the network is too
    large to have neuron-level names)."""
    names = neuron_names(net)
    if names is None:
        return {}
    return {"loss": names.loss, **{f"out{k}": a for k, a in enumerate(names.activations[-1], 1)}}


def table_cell(context: str) -> tuple[str, str] | None:
    """(name, value) when a line is a table row ``| $name$ | value |``."""
    m = TABLE_ROW.match(context)
    return (m["name"], m["value"]) if m else None


def _unprefixed(message: str) -> str:
    """A check-example message without its "row '…': " prefix (the report names the line)."""
    return re.sub(r"^row '.*?': ", "", message, count=1, flags=re.S)
