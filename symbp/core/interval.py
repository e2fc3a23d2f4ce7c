"""Whole-range checks: is an expression, computed in float64 as the printers print it, finite for
every input in [−RANGE, RANGE]?

Interval arithmetic on outward-rounded floats encloses every value the expression takes on a
subinterval; where an enclosure is inconclusive (a divisor interval holding 0, a log argument
that may be ≤ 0, a magnitude that may pass LIMIT) the subinterval is halved, nearest 0 first,
down to MIN_WIDTH. The work is a fixed number of node evaluations, so the answer depends on the
expression alone, never on time or machine load.
"""

from __future__ import annotations

import heapq
import math
from typing import NamedTuple

import sympy as sp

from .functions import BY_CLASS, TABLE, Elementary
from .printing import stable_form

RANGE = 1000.0  # the pre-activations a kernel is promised to handle
LIMIT = 1e307  # a magnitude beyond this may overflow float64 (1.8e308) in the printed order
TINY = 1e-300  # a divisor or log argument below this underflows
MIN_WIDTH = 1e-6  # subintervals narrower than this are not halved again: the problem is real
MAX_WORK = 300_000  # node evaluations per check; beyond, the expression is called too hard

Interval = tuple[float, float]
# Python-float forms of the table's smooth functions (math.exp, math.atan, …).
_FLOAT = {f.name: getattr(math, f.math.removeprefix("math.")) for f in TABLE
          if f.math.startswith("math.") and "{" not in f.math}


class Problem(NamedTuple):
    """Why an expression fails the check, and a point where it does."""

    kind: str  # "undefined", "overflow" or "too complex"
    at: float

    def describe(self) -> str:
        where = f"x = {_short(self.at)}"
        return {"undefined": f"is not a finite real number near {where}",
                "overflow": f"leaves the float64 range (about 1e308) near {where}",
                "too complex": f"is too complex to check over [−{RANGE:g}, {RANGE:g}] (near {where})",
                }[self.kind]


class _UnsafeError(Exception):
    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


def _short(value: float) -> str:
    return f"{value:.6g}"


def _widen(lo: float, hi: float, ulps: int = 4) -> Interval:
    """[lo, hi] pushed outwards by a few units in the last place (rounding of a math function)."""
    for _ in range(ulps):
        lo, hi = math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf)
    return lo, hi


def _checked(lo: float, hi: float) -> Interval:
    if not (math.isfinite(lo) and math.isfinite(hi)) or max(abs(lo), abs(hi)) > LIMIT:
        raise _UnsafeError("overflow")
    return lo, hi


def _apply(fn, lo: float, hi: float) -> Interval:
    try:
        return _widen(fn(lo), fn(hi))
    except OverflowError:
        raise _UnsafeError("overflow") from None
    except ValueError:  # a math domain error
        raise _UnsafeError("undefined") from None


def _even(fn, lo: float, hi: float) -> Interval:
    """f decreasing up to 0 and increasing after (cosh, abs)."""
    if lo >= 0:
        return _apply(fn, lo, hi)
    if hi <= 0:
        return _apply(fn, hi, lo)[::-1]
    return _apply(fn, 0.0, max(-lo, hi))


def _contains(lo: float, hi: float, start: float, period: float) -> bool:
    """Whether [lo, hi] holds a point start + k·period (with a margin for rounding)."""
    k = math.ceil((lo - start) / period - 1e-9)
    return start + k * period <= hi + 1e-9 * max(1.0, abs(hi))


def _periodic(entry: Elementary, lo: float, hi: float) -> Interval:
    fn = _FLOAT[entry.name]
    if entry.shape == "tan":
        if hi - lo >= math.pi or _contains(lo, hi, math.pi / 2, math.pi):
            raise _UnsafeError("undefined")
        return _apply(fn, lo, hi)
    if hi - lo >= 2 * math.pi:
        return -1.0, 1.0
    peak = math.pi / 2 if entry.shape == "sin" else 0.0  # where the maximum 1 lies
    values = [fn(lo), fn(hi)]
    top = 1.0 if _contains(lo, hi, peak, 2 * math.pi) else max(values)
    bottom = -1.0 if _contains(lo, hi, peak + math.pi, 2 * math.pi) else min(values)
    return _widen(bottom, top)


def _step(expr: sp.Expr, lo: float, hi: float) -> Interval:
    """sign and Heaviside: nondecreasing steps."""
    if isinstance(expr, sp.sign):
        return float((lo > 0) - (lo < 0)), float((hi > 0) - (hi < 0))
    h0 = float(expr.args[1]) if len(expr.args) == 2 else 0.5
    return (0.0 if lo <= 0 else 1.0), (1.0 if hi > 0 else h0 if hi == 0 else 0.0)


def _softplus(lo: float, hi: float) -> Interval:
    """log(1 + e^u), printed as np.logaddexp(0, u) or the softplus helper: never overflows."""
    def f(u: float) -> float:
        return max(u, 0.0) + math.log1p(math.exp(-abs(u)))
    return _widen(f(lo), f(hi))


def _mul(a: Interval, b: Interval) -> Interval:
    products = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]]
    return _widen(min(products), max(products), 1)


def _power(base: Interval, n: sp.Rational) -> Interval:
    lo, hi = base
    if n.is_integer:
        n = int(n)
        if n < 0:
            lo, hi = _power(base, sp.Integer(-n))
            if lo <= 0 <= hi:
                raise _UnsafeError("undefined")
            if min(abs(lo), abs(hi)) < TINY:
                raise _UnsafeError("overflow")
            return _widen(1 / hi, 1 / lo)
        if n % 2 == 0 and lo < 0:
            lo, hi = (0.0, max(-lo, hi)) if hi > 0 else (-hi, -lo)
        return _apply(lambda v: math.pow(v, n), lo, hi)
    if lo < 0 or (n < 0 and lo < TINY):
        raise _UnsafeError("undefined" if lo <= 0 else "overflow")
    p = float(n)
    out = _apply(lambda v: math.pow(v, p), lo, hi)
    return out if p > 0 else out[::-1]


class _Enclosure:
    """Enclosures of every node of one expression on one subinterval, counting the work."""

    def __init__(self, env: dict[sp.Symbol, Interval], budget: list[int]):
        self.env, self.budget, self.memo = env, budget, {}

    def of(self, expr: sp.Basic) -> Interval:
        if expr in self.memo:
            return self.memo[expr]
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise _UnsafeError("too complex")
        out = _checked(*self.node(expr))
        self.memo[expr] = out
        return out

    def node(self, expr: sp.Basic) -> Interval:
        if expr.is_Symbol:
            return self.env[expr]
        if expr.is_Number or expr in (sp.pi, sp.E):
            try:
                value = float(expr)
            except OverflowError:
                raise _UnsafeError("overflow") from None
            return _widen(value, value, 1)
        if isinstance(expr, sp.Add):
            lo = hi = 0.0
            for arg in expr.args:
                a, b = self.of(arg)
                lo, hi = _widen(lo + a, hi + b, 1)
            return lo, hi
        if isinstance(expr, sp.Mul):
            out = (1.0, 1.0)
            for arg in expr.args:
                out = _checked(*_mul(out, self.of(arg)))
            return out
        if isinstance(expr, sp.Pow):
            return self.power(expr)
        if isinstance(expr, sp.log):
            return self.log(expr.args[0])
        if isinstance(expr, sp.Piecewise):  # np.where computes every branch everywhere
            parts = [self.of(value) for value, _ in expr.args]
            return min(p[0] for p in parts), max(p[1] for p in parts)
        if isinstance(expr, (sp.Max, sp.Min)):
            parts = [self.of(arg) for arg in expr.args]
            pick = max if isinstance(expr, sp.Max) else min
            return pick(p[0] for p in parts), pick(p[1] for p in parts)
        entry = BY_CLASS.get(type(expr))
        if entry is None:
            raise _UnsafeError("too complex")  # a node outside the table: nothing can be said
        lo, hi = self.of(expr.args[0])
        if entry.shape == "step":
            return _step(expr, lo, hi)
        if entry.shape in ("sin", "cos", "tan"):
            return _periodic(entry, lo, hi)
        fn = abs if entry.name == "abs" else _FLOAT[entry.name]
        if entry.shape == "decreasing":
            return _apply(fn, hi, lo)
        return _even(fn, lo, hi) if entry.shape == "even" else _apply(fn, lo, hi)

    def power(self, expr: sp.Pow) -> Interval:
        base, exponent = expr.args
        if exponent.is_Rational:
            return _power(self.of(base), exponent)
        lo, hi = self.of(base)  # b^e = exp(e·log b) for b > 0
        if lo < TINY:
            raise _UnsafeError("undefined" if lo <= 0 else "overflow")
        log_b = _apply(math.log, lo, hi)
        e = _checked(*_mul(log_b, self.of(exponent)))
        return _apply(math.exp, *e)

    def log(self, arg: sp.Expr) -> Interval:
        rest = arg - 1
        if isinstance(rest, sp.exp):  # printed as softplus
            return _softplus(*self.of(rest.args[0]))
        lo, hi = self.of(arg)
        if lo <= 0:
            raise _UnsafeError("undefined")
        if lo < TINY:
            raise _UnsafeError("overflow")
        return _apply(math.log, lo, hi)


def enclose(expr: sp.Expr, env: dict[sp.Symbol, Interval]) -> Interval | None:
    """An interval holding every value of expr (as printed) for the variables in env, or None."""
    try:
        return _Enclosure(env, [MAX_WORK]).of(stable_form(expr))
    except _UnsafeError:
        return None


def _simplest(lo: float, hi: float) -> float:
    """The number with fewest decimals in [lo, hi]: the point named in messages."""
    for digits in range(0, 12):
        value = round((lo + hi) / 2, digits)
        if lo <= value <= hi:
            return value + 0.0  # not -0.0
    return (lo + hi) / 2


def first_problem(expr: sp.Expr, var: sp.Symbol, lo: float = -RANGE, hi: float = RANGE,
                  env: dict[sp.Symbol, Interval] | None = None) -> Problem | None:
    """The problem nearest 0 of expr, as printed for NumPy, over var ∈ [lo, hi], or None when
    every value is a finite float64. ``env`` binds other symbols to intervals."""
    printed = stable_form(expr)
    budget = [MAX_WORK]
    queue = [(_distance(lo, hi), lo, hi)]
    while queue:
        _, a, b = heapq.heappop(queue)
        try:
            _Enclosure({**(env or {}), var: (a, b)}, budget).of(printed)
        except _UnsafeError as exc:
            if exc.kind == "too complex" or b - a <= MIN_WIDTH:
                return Problem(exc.kind, _simplest(a, b))
            mid = (a + b) / 2
            heapq.heappush(queue, (_distance(a, mid), a, mid))
            heapq.heappush(queue, (_distance(mid, b), mid, b))
    return None


def _distance(lo: float, hi: float) -> float:
    return 0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))


def range_of(expr: sp.Expr, var: sp.Symbol, pieces: int = 64) -> Interval | None:
    """An interval holding expr(var) for every var in [−RANGE, RANGE], or None if some piece
    cannot be enclosed (the union of the enclosures of ``pieces`` equal parts)."""
    width = 2 * RANGE / pieces
    parts = [enclose(expr, {var: (-RANGE + k * width, -RANGE + (k + 1) * width)}) for k in range(pieces)]
    if any(p is None for p in parts):
        return None
    return min(p[0] for p in parts), max(p[1] for p in parts)
