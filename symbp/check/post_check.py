"""A whole post checked: every span's rows, table values and prose figures, with counts.

``check_post`` returns a PostReport: one Item per claim (with its line) and one verdict per
span, so that nothing is dropped silently; ``render`` is the terminal report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.spec import Network
from .post import Post, Span
from .post_claims import Item, PostChecker, Verdict, table_cell, worst

MARKS = {"holds": "✓", "wrong": "✗", "truncated": "~", "not checked": "·"}


@dataclass
class SpanResult:
    span: Span
    items: list[Item]

    @property
    def status(self) -> str:
        return worst([i.verdict for i in self.items]).status if self.items else "not checked"


@dataclass
class PostReport:
    post: Post
    spans: list[SpanResult]
    prose: list[Item]
    strict: bool
    notes: list[str] = field(default_factory=list)

    @property
    def items(self) -> list[Item]:
        out = [i for s in self.spans for i in s.items] + self.prose
        return sorted(out, key=lambda i: i.line)

    def counts(self) -> dict[str, int]:
        statuses = [s.status for s in self.spans]
        return {"read": len(statuses), "checked": sum(s != "not checked" for s in statuses),
                "held": statuses.count("holds"), "wrong": statuses.count("wrong"),
                "truncated": statuses.count("truncated"), "not checked": statuses.count("not checked")}

    @property
    def exit_code(self) -> int:
        return 1 if any(i.verdict.status == "wrong" for i in self.items) else 0

    def render(self, *, verbose: bool = False) -> str:
        lines = [f"symbp check-post: {self.post.path}"]
        lines += [f"note: {n}" for n in self.post.notes + self.notes]
        for item in self.items:
            if item.verdict.status == "not checked" and not verbose:
                continue
            lines += _item_lines(item)
        c = self.counts()
        figures = [i.verdict.status for i in self.prose]
        lines.append(f"spans: {c['read']} read, {c['checked']} checked: {c['held']} hold, "
                     f"{c['wrong']} wrong, {c['truncated']} truncated; {c['not checked']} not checked"
                     + (" (--verbose lists them with reasons)" if not verbose and c["not checked"] else ""))
        if figures:
            lines.append(f"figures in prose: {len(figures)} checked, {figures.count('wrong')} wrong")
        if any(i.verdict.status == "truncated" for i in self.items):
            lines.append("note: truncated values are accepted and marked; "
                         "--strict-rounding counts them as wrong")
        wrong = sorted({i.line for i in self.items if i.verdict.status == "wrong"})
        lines.append(f"verdict: wrong on line{'s' if len(wrong) > 1 else ''} {', '.join(map(str, wrong))}"
                     if wrong else "verdict: every checked line holds")
        return "\n".join(lines)


def _item_lines(item: Item) -> list[str]:
    v = item.verdict
    head = v.status.upper() if v.status == "wrong" else v.status
    out = [f"line {item.line:>4} {MARKS[v.status]} {head} ({item.kind}): {_short(item.text)}",
           f"            {v.reason}"]
    if v.diagnosis:
        out.append(f"            diagnosis: {v.diagnosis}")
    if v.correct and v.status != "holds":
        out.append(f"            correct: {v.correct}")
    out += [f"            read: {n}" for n in item.notes]
    return out


def _short(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def check_post(post: Post, net: Network, *, lr: str | None = None, strict: bool = False,
               numbering: str | None = None, notation: str = "symbp") -> PostReport:
    """Check every span, table value and prose figure of ``post`` against ``net``; ``notation``
    is a preset of symbp.check.notation (its layer numbering unless ``numbering`` is given)."""
    checker = PostChecker(net, lr=lr, strict=strict, numbering=numbering, notation=notation)
    results = [SpanResult(span, _span_items(checker, span)) for span in post.spans]
    prose = []
    for number, text in enumerate(post.lines, start=1):
        prose += checker.prose(number, text)
    return PostReport(post, results, prose, strict)


def _span_items(checker: PostChecker, span: Span) -> list[Item]:
    if span.refused:
        return [Item(span.line, span.text[:60], "span", Verdict("not checked", span.refused))]
    cell = table_cell(span.context) if not span.display else None
    if cell is not None:
        return [checker.table_value(span.line, *cell)]
    if not span.rows:
        return [Item(span.line, span.text[:60], "span", Verdict("not checked", "an empty span"))]
    items, previous = [], None
    for row in span.rows:
        item, previous = checker.row(row, previous)
        items.append(item)
    return items
