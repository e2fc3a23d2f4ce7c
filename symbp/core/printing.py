"""Printing sympy expressions as NumPy code: one printer, small documented overrides.

Symbols are printed by name, so callers substitute array-named symbols (``A1``, ``Y``) first.
Constants stay Python numbers, which NumPy treats as "weak" scalars: float32 arrays stay float32.
"""

from __future__ import annotations

import functools
import math

import sympy as sp
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pycode import PythonCodePrinter

from .errors import DerivationError
from .functions import BY_CLASS, BY_NAME, TABLE

# sympy function class name -> NumPy ufunc, for the printers and the in-place chains (inplace.py).
# Every function of the table has a NumPy form; a function outside it (gamma, floor, …) is refused
# rather than printed by the Python printer as ``math.gamma``: a module the kernel does not import,
# and scalar-only.
FUNCTIONS = {f.sympy.__name__: f.numpy for f in TABLE if f.sympy is not None and f.ufunc}
SPECIAL = {"Heaviside", "Piecewise", "logistic"}  # printed by the overrides below


MAX_STABLE_OPS = 400  # larger expressions are printed as they are (the rewrite costs sympy time)
# Highest power of E = e^{g·u} the rational rewrite handles: e^{-x²/1}, …, e^{-x²/20} would make
# g = 1/lcm(1..20) and powers up to 232792560, a polynomial sympy cannot build.
MAX_EXP_DEGREE = 64


def _exp_base(node: sp.Basic) -> tuple[sp.Expr, sp.Rational] | None:
    """exp(k·u) → (u, k) with k a nonzero rational and u's sign fixed (u, not −u); else None."""
    if not isinstance(node, sp.exp) or not node.args[0].free_symbols:
        return None
    k, u = node.args[0].as_coeff_Mul()
    if u.could_extract_minus_sign():
        k, u = -k, -u
    return (u, k) if k.is_Rational and k != 0 else None


def _bounded_rational(expr: sp.Expr, u: sp.Expr) -> sp.Expr | None:
    """expr = N(E)/D(E) with E = e^{g·u}, deg N ≤ deg D = d and D(0) ≠ 0 (bounded as u → ±∞):
    rewritten as N(E)e^{−d·max(g·u,0)} / D(E)e^{−d·max(g·u,0)}, where every power of e has an
    exponent ≤ 0. None when expr is not of that form."""
    E = sp.Dummy("E", positive=True)
    bases = {_exp_base(n) for n in sp.preorder_traversal(expr) if isinstance(n, sp.exp)}
    if not bases or None in bases or {b for b, _ in bases} != {u}:
        return None
    ks = [k for _, k in bases]
    g = sp.Rational(math.gcd(*[int(k.p) for k in ks]), math.lcm(*[int(k.q) for k in ks]))
    if max(abs(k / g) for k in ks) > MAX_EXP_DEGREE:
        return None
    subbed = expr.replace(lambda n: _exp_base(n) is not None,
                          lambda n: E ** int(_exp_base(n)[1] / g))
    num, den = sp.fraction(sp.together(subbed))
    try:
        pn, pd = sp.Poly(num, E), sp.Poly(den, E)
    except sp.PolynomialError:
        return None  # E sits inside another function: not a rational function of it
    d = pd.degree()
    if d <= 0 or pn.is_zero or pn.degree() > d or pd.coeff_monomial(1) == 0:
        return None
    v = g * u
    m = sp.Max(v, 0)

    def scaled(p: sp.Poly) -> sp.Expr:
        return sp.Add(*[c * sp.exp(k * v - d * m) for (k,), c in p.terms()])

    return scaled(pn) / scaled(pd)


def _stabilize(expr: sp.Expr) -> sp.Expr:
    if expr.is_Atom or not expr.has(sp.exp) or isinstance(expr, sp.log):
        return expr  # log(1 + e^u) is printed as np.logaddexp(0, u) (or the softplus helper)
    if isinstance(expr, sp.Piecewise):
        return sp.Piecewise(*[(_stabilize(value), cond) for value, cond in expr.args])
    bases = {b[0] for n in sp.preorder_traversal(expr) if (b := _exp_base(n)) is not None}
    if len(bases) == 1:
        stable = _bounded_rational(expr, next(iter(bases)))
        if stable is not None:
            return stable
    if isinstance(expr, (sp.Add, sp.Mul)):
        # The factors (terms) rational in e^u together, so that e^x/(1 + e^x) stays one fraction.
        plain = [arg for arg in expr.args if not any(isinstance(n, sp.Function) and not
                 isinstance(n, sp.exp) and n.has(sp.exp) for n in sp.preorder_traversal(arg))]
        other = [arg for arg in expr.args if arg not in plain]
        if plain and other:
            return expr.func(_stabilize(expr.func(*plain)), *[_stabilize(a) for a in other])
    return expr.func(*[_stabilize(arg) for arg in expr.args])


def _log_cosh(node: sp.Basic) -> sp.Expr | None:
    """log(cosh(u)) = |u| + log(1 + e^{−2|u|}) − log 2: cosh overflows for |u| > 710."""
    if isinstance(node, sp.log) and isinstance(node.args[0], sp.cosh):
        u = sp.Abs(node.args[0].args[0])
        return u + sp.log(1 + sp.exp(-2 * u)) - sp.log(2)
    return None


def _log_reciprocal(node: sp.Basic) -> sp.Expr | None:
    """log(1/u) = −log(u) (u > 0 where the log is defined): log σ(x) is then −softplus(−x)."""
    if isinstance(node, sp.log) and isinstance(node.args[0], sp.Pow) and node.args[0].exp == -1:
        return -sp.log(node.args[0].base)
    return None


def _tanh_quotient(node: sp.Basic) -> sp.Expr | None:
    """sinh(u)/cosh(u) = tanh(u): inf/inf = nan for |u| > 710 (log cosh's derivative)."""
    if not isinstance(node, sp.Mul):
        return None
    factors = list(node.args)
    for f in factors:
        if isinstance(f, sp.sinh) and sp.cosh(f.args[0]) ** -1 in factors:
            rest = [g for g in factors if g not in (f, sp.cosh(f.args[0]) ** -1)]
            return sp.Mul(sp.tanh(f.args[0]), *rest)
    return None


def _erf_complement(node: sp.Basic) -> sp.Expr | None:
    """c + c·erf(u) = c·erfc(−u) and c − c·erf(u) = c·erfc(u): 1 + erf(u) cancels for u ≪ 0 (a
    GELU x(1 + erf(x/√2))/2 loses all digits below x = −8), erfc does not."""
    if not isinstance(node, sp.Add):
        return None
    const, rest = node.as_coeff_Add()
    for term in sp.Add.make_args(rest):
        coeff, f = term.as_coeff_Mul()
        if isinstance(f, sp.erf) and const != 0 and abs(coeff) == abs(const):
            u = f.args[0] if coeff == -const else -f.args[0]
            others = [t for t in sp.Add.make_args(rest) if t != term]
            return sp.Add(const * sp.erfc(u, evaluate=False), *others)
    return None


_CLAMP = {">": sp.Max, ">=": sp.Max, "<": sp.Min, "<=": sp.Min}
_OTHER_SIDE = {sp.Max: sp.Min, sp.Min: sp.Max}


def _clamped_branches(node: sp.Basic) -> sp.Expr | None:
    """where(x > c, f, h) → where(x > c, f(max(x, c)), h(min(x, c))): np.where computes both
    branches everywhere, so each is computed on its own region only (exp(x) − 1 of an ELU then
    cannot overflow for large x); the value where a branch is selected is unchanged. A
    polynomial branch (relu's x) needs no clamp and is left alone."""
    if not isinstance(node, sp.Piecewise) or len(node.args) != 2 or node.args[1].cond is not sp.true:
        return None
    (then, cond), (other, _) = node.args
    if not isinstance(cond, sp.core.relational.Relational) or cond.rel_op not in _CLAMP:
        return None
    var, bound = cond.lhs, cond.rhs
    if not (var.is_Symbol and bound.is_number):
        return None
    inside = _CLAMP[cond.rel_op]
    outside = _OTHER_SIDE[inside]
    def clamp(branch: sp.Expr, side) -> sp.Expr:  # a polynomial branch cannot overflow: kept as is
        return branch if branch.is_polynomial(var) else branch.xreplace({var: side(var, bound)})

    clamped = (clamp(then, inside), clamp(other, outside))
    if clamped == (then, other):
        return None
    return sp.Piecewise((clamped[0], cond), (clamped[1], True))


# Exact rewrites applied before printing, each to the node it matches (tests prove each equal).
REWRITES = (_log_cosh, _log_reciprocal, _tanh_quotient, _erf_complement, _clamped_branches)


def _rewritten(expr: sp.Expr) -> sp.Expr:
    """expr with REWRITES applied bottom-up."""
    if expr.is_Atom:
        return expr
    args = [_rewritten(arg) for arg in expr.args]
    node = expr.func(*args) if args != list(expr.args) else expr
    for rule in REWRITES:
        out = rule(node)
        if out is not None:
            return out
    return node


@functools.lru_cache(maxsize=4096)
def stable_form(expr: sp.Expr) -> sp.Expr:
    """expr rewritten so that printing it cannot overflow where its value is finite.

    First the exact identities of REWRITES (log cosh, sinh/cosh, the branches of a where); then
    every bounded rational function of one exponential e^u is rewritten so that no power of e has
    a positive exponent: with m = max(x, 0), 1/(1 + e^{−x}) = e^x/(e^x + 1) becomes
    e^{x−m}/(e^{x−m} + e^{−m}), both exponents ≤ 0 whatever the sign of x.

    Printed as is, x/(1 + exp(−x)) (a swish typed as a formula) overflows exp at x = −1000 and
    its derivative x·e^{−x}/(1 + e^{−x})² is inf/inf = nan there; the rewritten forms are exact
    reformulations that cannot overflow and keep full relative accuracy. Expressions without such
    a part, or too large to rewrite cheaply, are returned unchanged.
    """
    if not expr.has(sp.exp, sp.log, sp.sinh, sp.erf, sp.Piecewise) or sp.count_ops(expr) > MAX_STABLE_OPS:
        return expr
    expr = _rewritten(expr)
    return _stabilize(expr) if expr.has(sp.exp) else expr


def _irrational_constant(expr) -> bool:
    """A number such as sqrt(2) or log(2)/2: no symbols, not a rational, not pi or e alone."""
    return (isinstance(expr, sp.Expr) and not expr.is_Atom and not expr.free_symbols
            and expr.is_number and not expr.is_Rational and expr.is_real is True)


def expm1_form(expr: sp.Expr) -> tuple[sp.Expr, sp.Expr] | None:
    """(k, u) when expr is k·(e^u − 1), e.g. 1 − e^{−a} = −(e^{−a} − 1); else None.

    Printed as k·expm1(u): e^u − 1 loses every digit where e^u ≈ 1 (softplus′ at z ≪ 0), expm1 none.
    """
    if not isinstance(expr, sp.Add) or len(expr.args) != 2:
        return None
    c, rest = expr.as_coeff_Add()
    k, e = rest.as_coeff_Mul()
    return (k, e.args[0]) if c != 0 and k == -c and isinstance(e, sp.exp) else None


class NumpyPrinter(PythonCodePrinter):
    """Prints elementwise expressions over arrays with the ``np`` alias."""

    EXPM1 = "np.expm1"

    def _print_Add(self, expr: sp.Add, order=None) -> str:  # noqa: N802
        """k·(e^u − 1) as k·expm1(u) (see ``expm1_form``); any other sum as sympy prints it."""
        form = expm1_form(expr)
        if form is None:
            return super()._print_Add(expr, order)
        k, u = form
        call = f"{self.EXPM1}({self._print(u)})"
        return call if k == 1 else f"-{call}" if k == -1 else f"{self._print(k)}*{call}"

    def doprint(self, expr, assign_to=None):
        """Print ``stable_form(expr)``: overflow-free forms of exponentials (see there)."""
        return super().doprint(stable_form(expr) if isinstance(expr, sp.Basic) else expr, assign_to)

    def _print(self, expr, **kwargs) -> str:
        known = type(expr) in BY_CLASS or type(expr).__name__ in SPECIAL
        if isinstance(expr, sp.Function) and not known:
            raise DerivationError(f"no NumPy form for the function {type(expr).__name__}")
        if _irrational_constant(expr):
            # np.sqrt(2) or np.log(2) would be a NumPy float64, which turns float32 arrays
            # into float64; a Python float is a "weak" scalar that keeps the array's dtype
            return repr(float(expr))
        return super()._print(expr, **kwargs)

    def _print_Function(self, expr: sp.Function) -> str:  # noqa: N802
        entry = BY_CLASS.get(type(expr))
        if entry is None:
            raise DerivationError(f"no NumPy form for the function {type(expr).__name__}")
        return f"{entry.numpy}({', '.join(self._print(arg) for arg in expr.args)})"

    _print_exp = _print_tanh = _print_sinh = _print_cosh = _print_Function
    _print_sin = _print_cos = _print_tan = _print_atan = _print_sign = _print_Function
    _print_erf = _print_erfc = _print_Function

    SIGMOID = "sigmoid"  # the generated module's overflow-free helper

    def _print_logistic(self, expr: sp.Function) -> str:
        """σ(u) (saturation.logistic, a distance to a bound) as the module's sigmoid helper."""
        return f"{self.SIGMOID}({self._print(expr.args[0])})"

    def _print_log(self, expr: sp.log) -> str:
        """log(1 + exp(u)) → np.logaddexp(0, u): softplus without overflow."""
        (arg,) = expr.args
        rest = arg - 1
        if isinstance(rest, sp.exp):
            return f"np.logaddexp(0, {self._print(rest.args[0])})"
        return f"{self.form(BY_NAME['log'])}({self._print(arg)})"

    def _print_Abs(self, expr: sp.Abs) -> str:  # noqa: N802
        return f"{self.form(BY_NAME['abs'])}({self._print(expr.args[0])})"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:  # noqa: N802
        """H(a, h0) → np.heaviside(a, h0); keeps the dtype of ``a``."""
        arg, h0 = expr.args if len(expr.args) == 2 else (expr.args[0], sp.Rational(1, 2))
        return f"np.heaviside({self._print(arg)}, {self._print(h0)})"

    def _print_Max(self, expr: sp.Max) -> str:  # noqa: N802
        return self._pairwise(self.form(BY_NAME["max"]), expr.args)

    def _print_Min(self, expr: sp.Min) -> str:  # noqa: N802
        return self._pairwise(self.form(BY_NAME["min"]), expr.args)

    def form(self, entry) -> str:
        """The entry's spelling for this printer's backend (NumPy here)."""
        return entry.numpy

    def _pairwise(self, fn: str, args: tuple[sp.Expr, ...]) -> str:
        out = self._print(args[0])
        for arg in args[1:]:
            out = f"{fn}({out}, {self._print(arg)})"
        return out

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:  # noqa: N802
        """x**2 → x*x (cheaper than a power); 1/x stays a division; sqrt → np.sqrt."""
        base, exp = expr.args
        if exp == 2 and (base.is_Symbol or base.is_Function):
            b = self._print(base)
            return f"{b}*{b}"
        if exp == -1:
            return f"1/{self.parenthesize(base, 50)}"
        # sqrt in this printer's backend, also in 1/sqrt(u) (the Python printer's is math.sqrt)
        return self._hprint_Pow(expr, rational=rational, sqrt=self.form(BY_NAME["sqrt"]))

    def _print_Mul(self, expr: sp.Mul) -> str:  # noqa: N802
        """A square printed as x*x in a denominator keeps its parentheses: a/(x*x), not a/x*x."""
        numer, denom = expr.as_numer_denom()
        if denom != 1 and any(self._is_square(f) for f in sp.Mul.make_args(denom)):
            return f"{self.parenthesize(numer, PRECEDENCE['Mul'])}/({self._print(denom)})"
        return super()._print_Mul(expr)

    @staticmethod
    def _is_square(factor: sp.Expr) -> bool:
        """A factor ``_print_Pow`` writes as a product."""
        square = isinstance(factor, sp.Pow) and factor.exp == 2
        return square and (factor.base.is_Symbol or factor.base.is_Function)

    def _print_Rational(self, expr: sp.Rational) -> str:  # noqa: N802
        return f"{expr.p}/{expr.q}"

    def _print_Float(self, expr: sp.Float) -> str:  # noqa: N802
        return repr(float(expr))

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:  # noqa: N802
        """where(c1, e1, where(c2, e2, …)): a formula's where(); the last condition is True."""
        if expr.args[-1].cond is not sp.true:
            raise DerivationError("a piecewise expression needs a last branch for every other case")
        out = self._print(expr.args[-1].expr)
        for value, cond in reversed(expr.args[:-1]):
            out = f"np.where({self._print(cond)}, {self._print(value)}, {out})"
        return out

    def _print_Exp1(self, expr) -> str:  # noqa: N802
        return "np.e"

    def _print_Pi(self, expr) -> str:  # noqa: N802
        return "np.pi"


_PRINTER = NumpyPrinter({"standard": "python3"})


def numpy_code(expr: sp.Expr, names: dict[sp.Symbol, str] | None = None) -> str:
    """NumPy source for ``expr``, with symbols renamed to the arrays they stand for."""
    if names:
        expr = expr.xreplace({s: sp.Symbol(n, real=True) for s, n in names.items()})
    return _PRINTER.doprint(expr)
