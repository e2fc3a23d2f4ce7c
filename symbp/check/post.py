"""The math of a post: every ``$…$``, ``$$…$$``, ``\\[…\\]`` and display environment of a
Markdown or LaTeX file, with its line number, split into equation rows.

A post is data: it is scanned, never executed or expanded. The scan is linear in the file's size
(every delimiter is looked for once, an unclosed one ends the scan), and a span that is too long,
nested too deeply or that defines macros or reads files (``\\def``, ``\\input`` …) is kept with
the reason it is not read, so that it still gets a verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import SymbpError
from ..core.files import read_text

MAX_SPAN_CHARS = 4_000  # one span; longer ones are not read
MAX_DEPTH = 30  # braces, \left … \right and environments nested in one span
MAX_SPANS = 1_000  # spans read from one post (seed 000 has 129); the rest are not read
MAX_POST_BYTES = 1_000_000
# Commands that define macros, change catcodes or read and write files: a post using them in math
# is not read (their meaning is not the text's, and symbp expands nothing).
HOSTILE = re.compile(r"\\(?:[gex]?def|let|(?:re)?newcommand|providecommand|newenvironment|"
                     r"DeclareMathOperator|input|include|catcode|csname|expandafter|write|"
                     r"immediate|openin|openout|read|usepackage|futurelet)(?![A-Za-z])")
DISPLAY_ENVS = ("equation", "equation*", "align", "align*", "gather", "gather*", "multline",
                "multline*", "eqnarray", "eqnarray*", "displaymath", "math")
WRAPPERS = re.compile(r"\\(?:begin|end)\{(?:aligned|split|gathered|alignedat|array)\}(?:\{[^{}]*\})?")
OPENER = re.compile(r"(?<!\\)(?P<dd>\$\$)|(?<!\\)(?P<d>\$)|(?P<br>\\\[)|(?P<par>\\\()|"
                    r"\\begin\{(?P<env>" + "|".join(re.escape(e) for e in DISPLAY_ENVS) + r")\}")


class PostError(SymbpError):
    """A post cannot be read (missing, too large, not UTF-8, not .md or .tex)."""


@dataclass
class Row:
    """One equation row of a span (a span's rows are split at ``\\\\``)."""

    line: int
    text: str


@dataclass
class Span:
    line: int
    text: str
    display: bool
    context: str  # the source line an inline span sits on (for table cells and prose)
    rows: list[Row] = field(default_factory=list)
    refused: str | None = None  # why the span is not read, if it is not


@dataclass
class Post:
    path: str
    kind: str  # markdown or latex
    lines: list[str]
    spans: list[Span]
    notes: list[str]


def read_post(path: str | Path) -> Post:
    """Read a .md or .tex post (bounded in size) and extract its math spans."""
    path = Path(path)
    kind = {".md": "markdown", ".markdown": "markdown", ".txt": "markdown", ".tex": "latex"}.get(
        path.suffix.lower())
    if kind is None:
        raise PostError(f"{path}: a post must be Markdown (.md, .txt) or LaTeX (.tex)")
    text = read_text(path, PostError, max_bytes=MAX_POST_BYTES)
    return parse_post(text, kind, str(path))


def parse_post(text: str, kind: str, path: str = "<post>") -> Post:
    """The spans of a post's text; ``kind`` is markdown or latex."""
    masked = _mask(text, kind)
    spans, notes = _scan(text, masked)
    if kind == "latex":
        m = HOSTILE.search(masked)
        if m:
            notes.append(f"line {_line_of(text, m.start())}: the post uses {m.group(0)}; macros are "
                         "never expanded, so math using them is not checked")
    return Post(path, kind, text.split("\n"), spans, notes)


# --------------------------------------------------------------------------- scanning


def _blank(m: re.Match) -> str:
    return re.sub(r"[^\n]", " ", m.group(0))


def _mask(text: str, kind: str) -> str:
    """The text with code, comments and front matter blanked (newlines kept, offsets unchanged)."""
    if kind == "latex":
        return re.sub(r"(?<!\\)%[^\n]*", _blank, text)
    text = re.sub(r"\A---\n.*?\n---\n", _blank, text, count=1, flags=re.S)
    text = re.sub(r"<!--.*?-->", _blank, text, flags=re.S)
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", _blank, text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", _blank, text)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _closer(m: re.Match) -> str:
    if m.group("env"):
        return "\\end{" + m.group("env") + "}"
    return {"dd": "$$", "d": "$", "br": "\\]", "par": "\\)"}[m.lastgroup]


def _scan(text: str, masked: str) -> tuple[list[Span], list[str]]:
    """Every math span in order; each delimiter is searched for once (linear time)."""
    spans: list[Span] = []
    notes: list[str] = []
    starts = _LineStarts(text)
    pos = 0
    while True:
        m = OPENER.search(masked, pos)
        if m is None:
            break
        closer, inline = _closer(m), m.lastgroup in ("d", "par")
        limit = masked.find("\n", m.end()) if inline else len(masked)
        end = masked.find(closer, m.end(), len(masked) if limit < 0 else limit)
        if end < 0 or (inline and end == m.end()):
            if not inline:
                notes.append(f"line {starts.line(m.start())}: {m.group(0)} is never closed; "
                             "the rest of the post is not read")
                break
            pos = m.end()
            continue
        if len(spans) >= MAX_SPANS:
            notes.append(f"more than {MAX_SPANS} math spans: the rest of the post is not read")
            break
        spans.append(_span(text, starts, m.end(), end, not inline))
        pos = end + len(closer)
    return spans, notes


class _LineStarts:
    """Line numbers of offsets, found by bisection (the scan stays linear)."""

    def __init__(self, text: str):
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, offset: int) -> int:
        import bisect
        return bisect.bisect_right(self.starts, offset)

    def context(self, text: str, offset: int) -> str:
        k = self.line(offset)
        end = self.starts[k] - 1 if k < len(self.starts) else len(text)
        return text[self.starts[k - 1]:end]


def _span(text: str, starts: _LineStarts, begin: int, end: int, display: bool) -> Span:
    body = text[begin:end]
    line = starts.line(begin)
    span = Span(line, body, display, "" if display else starts.context(text, begin))
    span.refused = refusal(body)
    if span.refused is None:
        span.rows = split_rows(body, line)
    return span


def refusal(body: str) -> str | None:
    """Why a span is not read (too long, too deep, macros or files), or None."""
    if len(body) > MAX_SPAN_CHARS:
        return f"longer than {MAX_SPAN_CHARS} characters"
    m = HOSTILE.search(body)
    if m:
        return f"{m.group(0)} defines macros or reads files; symbp expands nothing"
    depth = deepest = 0
    for token in re.finditer(r"(?<!\\)[{}]|\\left(?![a-z])|\\right(?![a-z])|\\begin\{|\\end\{", body):
        t = token.group(0)
        depth += 1 if t in ("{", "\\left", "\\begin{") else -1
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        return f"nested more than {MAX_DEPTH} levels deep"
    return None


def split_rows(body: str, line: int) -> list[Row]:
    """The rows of a span: split at ``\\\\`` outside braces, environment wrappers removed."""
    rows, depth, start = [], 0, 0
    k = 0
    while k < len(body):
        c = body[k]
        if c == "\\" and body.startswith("\\\\", k):
            if depth == 0:
                rows.append((start, body[start:k]))
                start = k + 2
            k += 2
            continue
        if c == "\\":
            k += 2  # an escaped character (\{ \}) does not count as a brace
            continue
        depth += {"{": 1, "}": -1}.get(c, 0)
        k += 1
    rows.append((start, body[start:]))
    out = []
    for offset, raw in rows:
        cleaned = WRAPPERS.sub(_blank, raw)  # same length: offsets stay those of the body
        stripped = cleaned.strip()
        if not stripped:
            continue
        lead = len(cleaned) - len(cleaned.lstrip())
        out.append(Row(line + body.count("\n", 0, offset + lead), " ".join(stripped.split())))
    return out
