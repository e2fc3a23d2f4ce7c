"""LaTeX for documents: the names of quantities, numbers, and sympy's printer with small overrides.

One place decides how a spec name looks in math (``w5`` → ``w_{5}``, ``a_o1`` → ``a_{o1}``,
``E_total`` → ``E_{total}``, ``target_o1`` → ``\\mathit{target}_{o1}``), how a number is shown in a
worked example, and how text is escaped for LaTeX and Markdown. Both the LaTeX and the Markdown
documents print math through ``tex``, so the two always show the same formulas.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

GREEK = frozenset(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau "
    "upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split())
_NAME = re.compile(r"^([A-Za-z]+?)(\d*)((?:_[A-Za-z0-9]+)*)$")

DECIMALS = 9  # seed 000 prints its worked example to 9 decimals


def tex_name(name: str) -> str:
    """LaTeX for a validated identifier: letters, then subscripts from digits and ``_`` parts.

    ``w5`` → ``w_{5}``, ``a_o1`` → ``a_{o1}``, ``w2_11`` → ``w_{2,11}``, ``V11`` → ``V_{11}``;
    a base of several letters is set upright-italic as one word (``\\mathit{target}``), Greek
    letter names become the letter.
    """
    m = _NAME.match(name)
    if m is None:  # e.g. "h1x": no reading as base + subscripts, show the whole word
        escaped = name.replace("_", "\\_")
        return rf"\mathit{{{escaped}}}"
    base, digits, parts = m.groups()
    subs = ([digits] if digits else []) + [p for p in parts.split("_") if p]
    if base in GREEK:
        head = "\\" + base
    elif len(base) == 1:
        head = base
    else:
        head = rf"\mathit{{{base}}}"
    return f"{head}_{{{','.join(subs)}}}" if subs else head


LARGE_DIGITS = 15  # integer digits from which a worked example prints a value as d.ddde+k


def is_exact(value: sp.Float, decimals: int = DECIMALS) -> bool:
    """True when ``value`` has no digits beyond ``decimals`` (0.3775, not 0.751365069552…)."""
    scaled = sp.Float(value, 40) * 10**decimals
    return abs(scaled - sp.Integer(round(scaled))) < sp.Float("1e-12")


def number(value: float | sp.Float, decimals: int = DECIMALS) -> str:
    """A value as a worked example prints it: rounded to 9 decimals, trailing zeros kept unless
    the value is exact at that precision (0.3775 stays 0.3775, a_o1 is 0.751365070). Tiny
    values switch to scientific notation so that they do not print as 0.000000000."""
    v = sp.Float(value, 40)
    if v.is_zero:  # (sympy's Float("0.0") == 0 is False)
        return "0"
    if abs(v) < sp.Float(10) ** (3 - decimals):
        mantissa, exponent = f"{float(v):.{decimals - 1}e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    if abs(v) >= sp.Float(10) ** LARGE_DIGITS:  # beyond 15 integer digits fixed point is unreadable
        mantissa, exponent = f"{Decimal(str(v)):.{decimals - 1}e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    text = str(Decimal(str(v)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN))
    if is_exact(v, decimals):
        text = text.rstrip("0").rstrip(".")
    return text


def tex_number(text: str) -> str:
    """A printed number inside math: ``1.5e-7`` → ``1.5 \\times 10^{-7}``."""
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text


class TexPrinter(LatexPrinter):
    """sympy's LaTeX printer with symbp's names and a few documented overrides.

    * Symbols print through ``names`` (a layer's ``a`` → ``a^{2}``), then ``tex_name``; a symbol in
      ``numbers`` prints as that number instead, so a formula and the same formula evaluated
      share one term order.
    * A sum starts with a positive term when it has one: ``y - a``, not ``- a + y``.
    * With ``vectors``, products of vector quantities are elementwise and print with ``\\odot``.
    * The Heaviside step H(a) with H(0) = 0 prints as the indicator ``\\mathbf{1}[a > 0]``.
    * log, tanh and friends drop sympy's braces: ``\\log a``, ``\\tanh^{2} x``.
    """

    def __init__(self, names: dict[sp.Symbol, str] | None = None,
                 numbers: dict[sp.Symbol, str] | None = None,
                 vectors: frozenset[sp.Symbol] = frozenset(), **settings):
        super().__init__(settings)
        self._names = names or {}
        self._numbers = numbers or {}
        self._vectors = vectors

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:  # noqa: N802
        if expr in self._numbers:
            text = tex_number(self._numbers[expr])
            return rf"\left({text}\right)" if text.startswith("-") else text
        if expr in self._names:
            return self._names[expr]
        return tex_name(expr.name)

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:  # noqa: N802
        terms = list(self._as_ordered_terms(expr, order=order))
        positive = [t for t in terms if not t.could_extract_minus_sign()]
        if positive and terms[0].could_extract_minus_sign():
            terms.remove(positive[0])
            terms.insert(0, positive[0])
        return super()._print_Add(sp.Add(*terms, evaluate=False), order="none")

    def _print_Mul(self, expr: sp.Mul) -> str:  # noqa: N802
        if not isinstance(expr, sp.Mul) or not (expr.free_symbols & self._vectors):
            return super()._print_Mul(expr)  # also reached from _print_Pow for 1/x
        if expr.could_extract_minus_sign():
            return "- " + self._print(-expr)
        coeff, rest = expr.as_independent(*self._vectors, as_Add=False)
        factors = sp.Mul.make_args(rest)
        if sp.fraction(rest, exact=True)[1] != 1:  # a quotient of vectors: elementwise anyway
            body = super()._print_Mul(rest)
        elif len(factors) == 1 and coeff.is_Rational and not rest.is_Add:
            return super()._print_Mul(expr)  # a/2 prints as sympy does: \frac{a}{2}
        elif len(factors) == 1:
            body = self._print(rest)
            if rest.is_Add and coeff != 1:
                body = rf"\left({body}\right)"
        else:
            body = r" \odot ".join(self.parenthesize(f, PRECEDENCE["Mul"], strict=True)
                                   for f in factors)
        return body if coeff == 1 else f"{self._print(coeff)} {body}"

    def _print_unary(self, expr: sp.Function, exp: str | None = None) -> str:
        """log, tanh, …: ``\\log a`` for a single symbol, ``\\log\\left(1 - a\\right)`` otherwise."""
        (arg,) = expr.args
        name = self._function_name(expr)
        head = name if exp is None else f"{name}^{{{exp}}}"
        if arg.is_Symbol:
            return f"{head} {self._print(arg)}"
        return rf"{head}\left({self._print(arg)}\right)"

    @staticmethod
    def _function_name(expr: sp.Function) -> str:
        return "\\" + type(expr).__name__

    _print_log = _print_tanh = _print_sinh = _print_cosh = _print_sin = _print_cos = _print_unary

    def _print_Heaviside(self, expr: sp.Heaviside, exp: str | None = None) -> str:  # noqa: N802
        arg = expr.args[0]
        h0 = expr.args[1] if len(expr.args) == 2 else None
        if h0 == 0:
            return rf"\mathbf{{1}}[{self._print(arg)} > 0]"
        return rf"H\left({self._print(arg)}\right)"


def tex(expr: sp.Expr, names: dict[sp.Symbol, str] | None = None,
        numbers: dict[sp.Symbol, str] | None = None,
        vectors: frozenset[sp.Symbol] = frozenset()) -> str:
    """LaTeX for ``expr``: symbols through ``names``/``tex_name``, or as ``numbers`` when given.

    Evaluated formulas use ``\\cdot`` between factors, so that numbers never run together.
    """
    settings = {"mul_symbol": "dot"} if numbers else {}
    return TexPrinter(names, numbers, vectors, **settings).doprint(expr)


def partial(num: str, den: str) -> str:
    """∂num/∂den as a LaTeX fraction; arguments are already LaTeX."""
    return rf"\frac{{\partial {num}}}{{\partial {den}}}"


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "^": r"\^{}",
                "#": r"\#", "$": r"\$", "%": r"\%", "&": r"\&", "~": r"\textasciitilde{}",
                "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
_TEX_UNICODE = {"–": "--", "—": "---", "‘": "`", "’": "'", "“": "``", "”": "''", "…": r"\dots{}",
                "·": r"$\cdot$", "×": r"$\times$", "²": r"$^2$", "λ": r"$\lambda$",
                "δ": r"$\delta$", "η": r"$\eta$", "σ": r"$\sigma$", "∂": r"$\partial$",
                "é": r"\'e", "è": r"\`e", "ü": r'\"u', "ö": r'\"o', "ä": r'\"a'}


def tex_escape(text: str) -> str:
    """Plain text for a LaTeX document (pdflatex with the default fonts): specials escaped,
    common non-ASCII characters spelled in LaTeX, any other one shown as ``[U+XXXX]``."""
    out = []
    for ch in " ".join(text.split()):
        if ch in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append(_TEX_UNICODE.get(ch, f"[U+{ord(ch):04X}]"))
    return "".join(out).replace("--", "-{}-").replace("--", "-{}-")  # no en/em dashes


_DECIMAL = re.compile(r"^(-?\d+)(\.\d+)?(?:e(-?\d+))?$")


def tex_decimal(text: str) -> tuple[str, str]:
    """A printed number as two table cells split at its decimal point (columns ``r@{}l`` align
    on it), each in math so that a minus is a minus: ``-0.25`` → ``$-0$``, ``$.25$``; scientific
    notation as ``\\times 10^{…}``. Anything else is text in the first cell."""
    m = _DECIMAL.match(text)
    if m is None:
        return tex_escape(text), ""
    whole, frac, exponent = m.groups()
    right = (frac or "") + (rf" \times 10^{{{int(exponent)}}}" if exponent else "")
    return f"${whole}$", f"${right}$" if right else ""


def tex_code(text: str) -> str:
    """Code for ``\\texttt``: escaped as ``tex_escape`` does, with a permitted line break after
    each operator and opening parenthesis, so that a long NumPy statement wraps in the margin."""
    return re.sub(r"([*/+(,=@])", r"\1\\allowbreak{}", tex_escape(text))


_MD_SPECIAL = set("\\`*_[]<>#|$~")


def md_escape(text: str) -> str:
    """Plain text for Markdown: every character Markdown (or a math extension) could read as
    markup is backslash-escaped."""
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in " ".join(text.split()))


def comment_text(text: str, forbid: str = "--") -> str:
    """Text on one line of a comment: newlines flattened, and ``forbid`` (``--`` for XML
    comments, ``-->`` for HTML ones, nothing for LaTeX) broken up by dropping its last character."""
    flat = " ".join(text.split())
    while forbid and forbid in flat:
        flat = flat.replace(forbid, forbid[:-1])
    return flat.rstrip("-") if forbid == "--" else flat
