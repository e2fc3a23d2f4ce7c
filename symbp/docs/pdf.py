"""LaTeX to PDF with pdflatex, in a temporary folder so that no .aux/.log is left behind.

pdflatex is a tool symbp calls, not a dependency: when it is missing, ``--pdf`` fails with one
line that says how to install it. A PDF symbp compiled carries the key ``/SymbpOutput`` with one
fixed value in its document information dictionary (set on pdflatex's command line, so a PDF a
user compiles from symbp's .tex is not marked); only such a PDF is replaced without --force.
"""

from __future__ import annotations

import mmap
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..core.errors import SymbpError
from ..core.files import Output, open_regular, write_outputs

RUNS = 2  # longtable settles its column widths on the second run
TIMEOUT = 120  # seconds per run
MARK = b"/SymbpOutput (symbp derivation PDF)"  # in the /Info dictionary of every PDF symbp writes
# pdflatex's first line of input: the mark, then the document.
FIRST_LINE = r"\pdfinfo{" + MARK.decode() + r"}\input{document.tex}"
INFO_REF = re.compile(rb"/Info\s+(\d+)\s+(\d+)\s+R")
INSTALL = ("install TeX Live (Debian/Ubuntu: apt-get install texlive-latex-base "
           "texlive-latex-recommended) or leave out --pdf")


def pdflatex() -> str:
    """The pdflatex executable, or a one-line error saying how to get it."""
    exe = shutil.which("pdflatex")
    if exe is None:
        raise SymbpError(f"pdflatex not found; {INSTALL}")
    return exe


def _first_error(log: str) -> str:
    """The first "! ..." message of a pdflatex log, with its line number when given."""
    lines = log.splitlines()
    for k, line in enumerate(lines):
        if line.startswith("!"):
            where = next((m.group(1) for m in (re.match(r"l\.(\d+)", x) for x in lines[k:k + 12])
                          if m), None)
            return line[1:].strip() + (f" (line {where})" if where else "")
    return "no PDF was written"


def compile_pdf(tex: str, *, runs: int = RUNS) -> bytes:
    """The PDF for the LaTeX source ``tex``; raises SymbpError with pdflatex's first error."""
    exe = pdflatex()
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}  # reproducible PDFs
    with tempfile.TemporaryDirectory(prefix="symbp_pdf_") as tmp:
        (Path(tmp) / "document.tex").write_text(tex, encoding="utf-8")
        for _ in range(runs):
            try:
                proc = subprocess.run(
                    [exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                     "-jobname=document", FIRST_LINE], cwd=tmp, env=env, capture_output=True, timeout=TIMEOUT,
                    stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise SymbpError(f"pdflatex did not finish within {TIMEOUT} s") from None
            if proc.returncode != 0 or not (Path(tmp) / "document.pdf").is_file():
                log = Path(tmp) / "document.log"
                text = log.read_text("utf-8", "replace") if log.is_file() else ""
                raise SymbpError(f"pdflatex failed: {_first_error(text)}")
        return (Path(tmp) / "document.pdf").read_bytes()


def _info_dictionary(pdf: bytes | mmap.mmap) -> bytes | None:
    """The body of the document information dictionary the last trailer names, if any."""
    refs = list(INFO_REF.finditer(pdf))
    if not refs:
        return None
    number, generation = refs[-1].groups()
    objects = re.compile(rb"(?<![0-9])" + number + rb"\s+" + generation
                         + rb"\s+obj\s*<<(.*?)>>\s*endobj", re.DOTALL)
    found = list(objects.finditer(pdf))
    return found[-1].group(1) if found else None


def made_by_symbp(path: Path) -> bool:
    """True for a PDF whose document information dictionary has symbp's mark (``MARK``);
    the phrase anywhere else (a /Creator, a page, a text file named .pdf) does not count."""
    fh = open_regular(path)
    if fh is None:
        return False
    try:
        with fh:
            if fh.read(5) != b"%PDF-":
                return False
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as pdf:
                info = _info_dictionary(pdf)
    except (OSError, ValueError):
        return False
    return info is not None and MARK in info


def pdf_output(path: str | Path, tex: str) -> Output:
    """The PDF of ``tex`` as a planned output: compiled only once every target is checked."""
    return Output(Path(path), lambda: compile_pdf(tex), made_by_symbp)


def write_pdf(path: str | Path, tex: str, *, force: bool = False) -> Path:
    """Compile ``tex`` and write the PDF atomically; refuse to replace a PDF symbp did not make."""
    return write_outputs([pdf_output(path, tex)], force=force)[0]
