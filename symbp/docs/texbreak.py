"""Long display equations broken across aligned continuation lines, to fit the page.

The documents print every formula as one LaTeX string (``texprint.tex``), in rows of
(left side, ``= right side``) for align*/aligned. A chain rule or a simplified gradient of a
network a few neurons wide runs to thousands of points; here each row that would not fit is cut
at the top level of its formula, in this order of preference:

* between the terms of a sum (the next line starts with its ``+`` or ``-``),
* between the factors of a product (the next line starts with ``\\cdot`` when the product had one),
* inside a parenthesised factor that alone is too wide: ``\\left( … \\right)`` becomes
  ``\\Bigl( … \\Bigr)`` (delimiters that may span lines) and its content is cut the same way.

Continuation lines start at the alignment point, indented by ``\\quad``. Widths are estimates in
pt of the 10pt Computer Modern math font, a little generous; the tests compile the documents and
read pdflatex's log for overfull lines.

Markdown has no page width, but GitHub refuses a math block with more than 99 sub- and
superscripts, so ``blocks`` cuts a display's rows into blocks below that count.
"""

from __future__ import annotations

import re

Row = tuple[str, str]

TEXT_WIDTH = 472.0  # pt: A4 with 2.2 cm margins (derivation.tex.j2)
SAFETY = 16.0  # pt kept free of the estimate's error
INDENT = r"\quad "
INDENT_WIDTH = 10.0
MAX_LEFT = 0.4  # a left side wider than this share of the line moves to the right column
MAX_SCRIPTS = 99  # GitHub's limit of sub/superscripts per math block

_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[{}_^]|\s+|.", re.S)
# pt per token (10pt font, operators with their spacing); letters and digits 5.5, the rest below
_WIDTH = {"+": 13.0, "-": 13.0, "=": 14.0, ",": 3.0, "(": 4.0, ")": 4.0, "[": 3.0, "]": 3.0,
          ".": 3.0, "<": 13.0, ">": 13.0, "|": 3.0, "'": 3.0, "/": 5.0, "!": 3.0}
_COMMANDS = {r"\cdot": 8.0, r"\odot": 13.0, r"\times": 13.0, r"\partial": 6.0, r"\quad": 10.0,
             r"\qquad": 20.0, r"\sum": 15.0, r"\log": 16.0, r"\tanh": 24.0, r"\exp": 18.0,
             r"\sinh": 22.0, r"\cosh": 24.0, r"\sin": 15.0, r"\cos": 16.0, r"\max": 21.0,
             r"\min": 19.0, r"\leftarrow": 13.0, r"\neq": 13.0, r"\,": 2.0, r"\ ": 3.5,
             r"\left": 0.0, r"\right": 0.0, r"\bigl": 1.0, r"\bigr": 1.0, r"\Bigl": 2.0,
             r"\Bigr": 2.0, r"\Biggl": 3.0, r"\Biggr": 3.0, r"\mathbf": 0.0, r"\mathit": 0.0,
             r"\mathrm": 0.0, r"\operatorname": 0.0, r"\text": 0.0, r"\{": 5.0, r"\}": 5.0}
_LETTER = 5.5
_GREEK = 6.5


def _group(tokens: list[str], k: int) -> tuple[list[str], int]:
    """The tokens of the brace group (or single token) starting at ``k``, and the index after."""
    if k >= len(tokens):
        return [], k
    if tokens[k] != "{":
        return [tokens[k]], k + 1
    depth, j = 0, k
    while j < len(tokens):
        depth += {"{": 1, "}": -1}.get(tokens[j], 0)
        if depth == 0:
            return tokens[k + 1:j], j + 1
        j += 1
    return tokens[k + 1:], j


def _width(tokens: list[str]) -> float:
    total, k = 0.0, 0
    while k < len(tokens):
        tok = tokens[k]
        k += 1
        if tok in ("_", "^"):
            arg, k = _group(tokens, k)
            total += 0.75 * _width(arg)
        elif tok == r"\frac":
            num, k = _group(tokens, k)
            den, k = _group(tokens, k)
            total += max(_width(num), _width(den)) + 4.0
        elif tok in (r"\left", r"\right"):
            delim, k = _group(tokens, k)
            total += 5.0 if delim != ["."] else 0.0
        elif tok in ("{", "}") or tok.isspace():
            continue
        elif tok in _COMMANDS:
            total += _COMMANDS[tok]
        elif tok.startswith("\\"):
            total += _GREEK if tok[1:].isalpha() else 4.0
        else:
            total += _WIDTH.get(tok, _LETTER)
    return total


def width(tex: str) -> float:
    """The estimated width in pt of LaTeX math ``tex`` in display style."""
    return _width(_TOKEN.findall(tex))


def chunks(tex: str) -> list[str]:
    """``tex`` cut at the spaces outside every brace and ``\\left … \\right`` pair."""
    out, depth, start = [], 0, 0
    for m in _TOKEN.finditer(tex):
        tok = m.group()
        if tok in ("{", r"\left"):
            depth += 1
        elif tok in ("}", r"\right"):
            depth -= 1
        elif tok.isspace() and depth == 0:
            out.append(tex[start:m.start()])
            start = m.end()
    out.append(tex[start:])
    return [c for c in out if c]


def _parts(tex: str) -> list[str]:
    """The terms of a top-level sum (each after the first starting with its sign), else the
    factors of a top-level product (each after the first starting with ``\\cdot`` if written)."""
    pieces = chunks(tex)
    for ops in (("+", "-"), (r"\cdot",)):
        cuts = [k for k, c in enumerate(pieces) if c in ops and k > 0 and pieces[k - 1] not in
                ("+", "-", "=", r"\cdot")]
        if cuts:
            bounds = [0] + cuts + [len(pieces)]
            return [" ".join(pieces[a:b]) for a, b in zip(bounds, bounds[1:])]
    return pieces


_PAREN = re.compile(r"^(\\cdot |[-+] )?\\left(\(|\[)(.*)\\right(\)|\])$", re.S)


def _open_paren(part: str) -> tuple[str, str, str, str] | None:
    """(prefix, opening, content, closing) when ``part`` is one parenthesised group."""
    m = _PAREN.match(part)
    if m is None or chunks(m.group(3)) == [] or len(chunks(part)) > (2 if m.group(1) else 1):
        return None
    return m.group(1) or "", m.group(2), m.group(3), m.group(4)


def lines(tex: str, room: float) -> list[str]:
    """``tex`` as lines no wider than ``room`` pt where it can be cut (see the module doc)."""
    if width(tex) <= room:
        return [tex]
    parts = _parts(tex)
    if len(parts) == 1:
        return _paren_lines(tex, room)
    out: list[str] = []
    for part in parts:
        if out and width(out[-1] + " " + part) <= room:
            out[-1] += " " + part
        elif width(part) <= room:
            out.append(part)
        else:
            out += lines(part, room)
    return out


def _fraction(tex: str) -> tuple[str, str, str] | None:
    """(prefix, numerator, denominator) when ``tex`` is one ``\\frac{…}{…}``, maybe signed."""
    tokens = _TOKEN.findall(tex)
    k = 0
    while k < len(tokens) and (tokens[k].isspace() or tokens[k] in ("+", "-", r"\cdot")):
        k += 1
    if k >= len(tokens) or tokens[k] != r"\frac":
        return None
    num, j = _group(tokens, k + 1)
    den, j = _group(tokens, j)
    if "".join(tokens[j:]).strip():
        return None
    return "".join(tokens[:k]), "".join(num), "".join(den)


def _paren_lines(tex: str, room: float) -> list[str]:
    """A factor cut inside: a parenthesised one as ``\\Biggl(`` first line … last line
    ``\\Biggr)`` (``\\bigl``/``\\bigr`` without fractions), a fraction too wide for the line as
    ``\\frac{1}{den}`` times its numerator in such parentheses; anything else stays whole."""
    opened = _open_paren(tex)
    if opened is None:
        fraction = _fraction(tex)
        if fraction is None or width(fraction[2]) > room / 2:
            return [tex]
        prefix, num, den = fraction
        opened = (f"{prefix}\\frac{{1}}{{{den}}} ", "(", num, ")")
    prefix, left, inner, right = opened
    size = "Bigg" if r"\frac" in inner else "big"
    inner_lines = lines(inner, room - 2 * INDENT_WIDTH)
    inner_lines[0] = f"{prefix}\\{size}l{left}{inner_lines[0]}"
    inner_lines[-1] += f"\\{size}r{right}"
    return inner_lines[:1] + [INDENT + _binary(x) for x in inner_lines[1:]]


def _split_left(row: Row) -> list[Row]:
    """A row whose left side is too wide: the left side moves to the right column, cut too."""
    left, right = row
    room = TEXT_WIDTH - SAFETY - INDENT_WIDTH
    return [("", x) for x in lines(left, room)] + [("", INDENT + right)]


def _binary(line: str) -> str:
    """A continuation line that starts with an operator gets an empty atom before it, so that
    LaTeX spaces the operator as binary (``{} + a``), not as a sign."""
    return "{}" + line if line.startswith(("+ ", "- ", r"\cdot ")) else line


def break_rows(rows: list[Row]) -> list[Row]:
    """The rows of one display, each cut into lines that fit the page with the others."""
    limit = MAX_LEFT * TEXT_WIDTH
    fitted: list[Row] = []
    for row in rows:
        fitted += _split_left(row) if width(row[0]) > limit else [row]
    left = max((width(l) for l, _ in fitted), default=0.0)
    room = TEXT_WIDTH - SAFETY - left
    out: list[Row] = []
    for l, r in fitted:
        head, sep, body = r.partition(" ") if r.startswith(("= ", INDENT)) else ("", "", r)
        body_lines = lines(body, room - width(head) - INDENT_WIDTH)
        out.append((l, head + sep + body_lines[0]))
        out += [("", INDENT + _binary(x)) for x in body_lines[1:]]
    return out


def scripts(tex: str) -> int:
    """The number of sub- and superscripts in ``tex`` (``_`` and ``^`` that are not escaped)."""
    return sum(1 for tok in _TOKEN.findall(tex) if tok in ("_", "^"))


def blocks(rows: list[Row]) -> list[list[Row]]:
    """``rows`` cut into consecutive blocks of at most ``MAX_SCRIPTS`` sub/superscripts each."""
    out: list[list[Row]] = [[]]
    count = 0
    for row in rows:
        n = scripts(row[0]) + scripts(row[1])
        if out[-1] and count + n > MAX_SCRIPTS:
            out.append([])
            count = 0
        out[-1].append(row)
        count += n
    return out
