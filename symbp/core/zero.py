"""The exact zero test: is a sympy expression identically zero? Decided without a clock.

Shared by the proof (verify), the checkers and the stages that accept a rewritten form only once
it is proven equal to the derived one (activations, the unrolled kernel), so it sits in core.
"""

from __future__ import annotations

import random

import sympy as sp

from .sym import as_expr

SIMPLIFY_MAX_OPS = 400  # larger differences get only the first route of is_zero


class _Generators:
    """Replaces exp, log and tanh atoms by fresh symbols, consistently and innermost first.

    * exp(u): u is expanded; each term c·m holding a log generator gives its own factor
      exp(c·m), the remaining sum is written c·v with v primitive and of canonical sign, and
      exp(c·v) = E_{v/q}^p for c = p/q with one generator per v: exp(z), exp(−z) and exp(2z)
      become E, E^-1 and E^2, and exp(w·log u + b) = exp(w·log u)·exp(b) as sympy writes it.
    * tanh(u) = (e^{2u} − 1)/(e^{2u} + 1), sinh(u) = (e^u − e^{−u})/2, cosh(u) = (e^u + e^{−u})/2.
    * log(u) with u known to be positive: u is written as c·Π f_i^{k_i} (factored over the
      generators), and log(u) = log|c| + Σ k_i·L_{f_i} with L_f a generator for log|f| (and
      log|c| = Σ e_p·log p over the primes of the rational c), or
      k_i·m when f_i is the generator E_m. Otherwise log(u) is one opaque generator L, and
      exp(k·L) = u^k for integer k.
    * any other function: one opaque generator per (function, converted arguments).

    Each replacement is an identity wherever the expression is defined, so the converted
    expression equals the original when every generator is read as the function it stands for.
    """

    def __init__(self) -> None:
        self.table: dict[sp.Expr, sp.Symbol] = {}
        self.meaning: dict[sp.Symbol, sp.Expr] = {}
        self.exp_of: dict[sp.Symbol, sp.Expr] = {}  # E -> its exponent m/q
        self.roots: dict[sp.Symbol, tuple[sp.Expr, int]] = {}  # E = exp(m/q) -> (m, q)
        self.log_gens: set[sp.Symbol] = set()
        self.opaque_logs: dict[sp.Symbol, sp.Expr] = {}  # L = log(w) kept whole -> w (converted)
        self.cache: dict[sp.Expr, sp.Expr] = {}

    def _gen(self, key: sp.Expr, meaning: sp.Expr) -> sp.Symbol:
        sym = self.table.get(key)
        if sym is None:
            sym = sp.Dummy(f"g{len(self.table)}")
            self.table[key] = sym
            self.meaning[sym] = meaning
        return sym

    def convert(self, e: sp.Expr) -> sp.Expr:
        if e.is_Symbol or e.is_Rational:
            return e
        if e.is_Float:
            return sp.Rational(e)  # the exact binary value
        if e.is_Atom:  # pi, E, I, …: independent generators
            return self._gen(sp.Tuple(sp.Symbol("atom"), e), e)
        hit = self.cache.get(e)
        if hit is None:
            hit = self._convert(e)
            self.cache[e] = hit
        return hit

    def _convert(self, e: sp.Expr) -> sp.Expr:
        if isinstance(e, sp.exp):
            return self._exp(self.convert(e.args[0]))
        if isinstance(e, (sp.tanh, sp.sinh, sp.cosh)):
            t = self._exp(self.convert(e.args[0]))  # e^u
            return {sp.tanh: (t**2 - 1) / (t**2 + 1), sp.sinh: (t - 1 / t) / 2,
                    sp.cosh: (t + 1 / t) / 2}[type(e)]
        if isinstance(e, sp.log):
            return self._log(e.args[0])
        if isinstance(e, sp.Pow):
            base, expo = self.convert(e.base), e.exp
            if expo.is_Integer:
                return base**expo
            if expo.is_Rational:  # base^(p/q) = (base^(1/q))^p
                root = self._gen(sp.Tuple(sp.Symbol("root"), base, expo.q), e.base ** sp.Rational(1, expo.q))
                return root**expo.p
            return self._exp(self.convert(expo) * self._log_converted(base, e.base))
        if isinstance(e, (sp.Add, sp.Mul)):
            return e.func(*[self.convert(arg) for arg in e.args])
        args = [self.convert(arg) for arg in e.args]
        return self._gen(sp.Tuple(sp.Symbol(type(e).__name__), *args), e)

    def _exp(self, u: sp.Expr) -> sp.Expr:
        u = sp.expand(u)
        c, rest = u.as_coeff_Add()
        out = self._power(sp.Integer(1), c) if c != 0 else sp.Integer(1)  # exp(p/q) = exp(1/q)^p
        # Terms holding a log generator are split off one by one (sympy itself rewrites
        # exp(w·log u + b) as u^w·exp(b)); the remaining sum stays one generator.
        logs = [t for t in sp.Add.make_args(rest) if t.free_symbols & self.log_gens]
        plain = rest - sp.Add(*logs)
        for term in logs:
            k, m = sp.cancel(term).as_coeff_Mul()
            if m in self.opaque_logs and k.is_Integer:
                out *= self.opaque_logs[m] ** k  # exp(k·log w) = w^k for every w ≠ 0
            else:
                out *= self._power(m, k)
        if plain != 0:
            content, primitive = plain.as_content_primitive()
            out *= self._power(primitive, content)
        return out

    def _power(self, m: sp.Expr, c: sp.Rational) -> sp.Expr:
        """exp(c·m) = E_{m/q}^p for c = p/q, with m of canonical sign."""
        if m.could_extract_minus_sign():
            c, m = -c, -m
        m = sp.expand(m)
        return self._exp_gen(m, c.q) ** c.p

    def _exp_gen(self, m: sp.Expr, q: int) -> sp.Symbol:
        sym = self._gen(sp.Tuple(sp.Symbol("exp"), m, q), sp.exp(m / q))
        self.exp_of[sym] = m / q
        self.roots[sym] = (m, q)
        return sym

    def unify_roots(self, expr: sp.Expr) -> sp.Expr:
        """Write exp(m/q₁), exp(m/q₂), … in ``expr`` as powers of one exp(m/Q), Q = lcm(qᵢ).

        exp(z) and exp(2z) with z = v/100 give exp(v/100) and exp(v/50); both become powers of
        T = exp(v/100), an exact substitution.
        """
        groups: dict[sp.Expr, list[tuple[sp.Symbol, int]]] = {}
        for sym in expr.free_symbols & self.roots.keys():
            m, q = self.roots[sym]
            groups.setdefault(m, []).append((sym, q))
        change = {}
        for m, members in groups.items():
            if len(members) > 1:
                lcm = sp.ilcm(*(q for _, q in members))
                root = self._exp_gen(m, lcm)
                change.update({sym: root ** (lcm // q) for sym, q in members if sym != root})
        return expr.xreplace(change) if change else expr

    def _log(self, arg: sp.Expr) -> sp.Expr:
        return self._log_converted(self.convert(arg), arg)

    def _log_converted(self, u: sp.Expr, original: sp.Expr) -> sp.Expr:
        if original.is_positive is not True and sp.together(original).is_positive is not True:
            gen = self._gen(sp.Tuple(sp.Symbol("log"), u), sp.log(original))
            self.log_gens.add(gen)
            self.opaque_logs[gen] = u
            return gen
        num, den = sp.fraction(sp.cancel(sp.together(u)))
        out = sp.Integer(0)
        const = sp.Integer(1)
        for part, power in ((num, 1), (den, -1)):
            coeff, factors = sp.factor_list(part)
            const *= coeff**power
            for f, k in factors:
                if f in self.exp_of:
                    out += power * k * self.exp_of[f]
                    continue
                if f.could_extract_minus_sign():
                    f = -f
                    const *= (-1) ** (power * k)
                gen = self._gen(sp.Tuple(sp.Symbol("log"), f), sp.log(abs(f)))
                self.log_gens.add(gen)
                out += power * k * gen
        return out + self._log_number(abs(const))

    def _log_number(self, c: sp.Rational) -> sp.Expr:
        """log c for a positive rational c = Σ e_p·log p over its primes (one generator each)."""
        out = sp.Integer(0)
        for part, sign in ((c.p, 1), (c.q, -1)):
            if part == 1:
                continue
            factors = sp.factorint(part, limit=10**6) if part < 10**30 else {part: 1}
            for prime, e in factors.items():
                gen = self._gen(sp.Tuple(sp.Symbol("log"), sp.Integer(prime)), sp.log(prime))
                self.log_gens.add(gen)
                self.opaque_logs[gen] = sp.Integer(prime)
                out += sign * e * gen
        return out


class TooLargeError(ValueError):
    """A polynomial of the zero test would pass its size gate: the test gives up (not proven)."""


def rational_is_zero(expr: sp.Expr, max_terms: int | None = None) -> bool:
    """Whether a rational expression (+, ×, integer powers of symbols) is the zero function.

    The expression is evaluated bottom-up into sparse integer polynomials as N / Π b_i^{k_i}:
    sums bring their terms to the least common product of the denominator bases seen so far,
    without any gcd or expansion at the sympy level (rational numbers p/q become p / q with q a
    constant base). Every base is a nonzero polynomial, so the rational function is zero
    exactly when N is the zero polynomial. With ``max_terms``, a product whose factors' term
    counts multiply to more than ``max_terms`` raises ``TooLargeError`` before it is formed.
    """
    symbols = sorted(expr.free_symbols, key=sp.default_sort_key)
    if not symbols:
        return as_expr(expr) == 0  # exact rational arithmetic, already evaluated by sympy
    ring, *gens = sp.ring(symbols, sp.ZZ)
    of_symbol = dict(zip(symbols, gens, strict=True))
    cache: dict[sp.Expr, tuple] = {}

    def times(a, b):
        if max_terms is not None and len(a) * len(b) > max_terms:
            raise TooLargeError(f"a product of {len(a)} by {len(b)} terms")
        return a * b

    def power(a, k: int):
        if max_terms is None:
            return a**k
        out = ring.one
        for _ in range(k):
            out = times(out, a)
        return out

    def common(parts: list[tuple]) -> tuple:
        den: dict = {}
        for _, d in parts:
            for base, k in d.items():
                den[base] = max(den.get(base, 0), k)
        num = ring.zero
        for n, d in parts:
            for base, k in den.items():
                if k > d.get(base, 0):
                    n = times(n, power(base, k - d.get(base, 0)))
            num += n
        return num, den

    def inverse(n, d: dict, k: int) -> tuple:
        if not n:
            raise ZeroDivisionError("division by a zero polynomial")
        num = ring.one
        for base, j in d.items():
            num = times(num, power(base, j * k))
        content, primitive = n.primitive()
        if primitive.LC < 0:
            content, primitive = -content, -primitive
        den = {} if primitive == ring.one else {primitive: k}
        if content < 0 and k % 2:
            num = -num
        if abs(content) != 1:
            den[ring(abs(content))] = k
        return num, den

    def ev(e: sp.Expr) -> tuple:
        hit = cache.get(e)
        if hit is not None:
            return hit
        if e.is_Symbol:
            out = (of_symbol[e], {})
        elif e.is_Integer:
            out = (ring(int(e)), {})
        elif e.is_Rational:
            out = (ring(e.p), {ring(e.q): 1})
        elif e.is_Add:
            out = common([ev(arg) for arg in e.args])
        elif e.is_Mul:
            num, den = ring.one, {}
            for arg in e.args:
                n, d = ev(arg)
                num = times(num, n)
                for base, k in d.items():
                    den[base] = den.get(base, 0) + k
            out = (num, den)
        elif e.is_Pow and e.exp.is_Integer:
            n, d = ev(e.base)
            k = int(e.exp)
            out = (power(n, k), {base: j * k for base, j in d.items()}) if k >= 0 else inverse(n, d, -k)
        else:
            raise ValueError(f"not a rational expression: {e}")
        cache[e] = out
        return out

    return not ev(expr)[0]


def _numerically_nonzero(expr: sp.Expr, trials: int = 2) -> bool:
    """True when expr is clearly nonzero at a random rational point (a disproof, not a proof)."""
    symbols = sorted(expr.free_symbols, key=str)
    rng = random.Random(1729)
    for _ in range(trials):
        point = {s: sp.Rational(rng.randint(-9, 9), rng.randint(3, 7)) for s in symbols}
        try:
            value = complex(sp.N(expr.xreplace(point), 30))
        except (TypeError, ValueError, ZeroDivisionError):
            continue
        if value == value and abs(value) != float("inf") and abs(value) > 1e-12:
            return True
    return False


def _zero_in_exponentials(expr: sp.Expr) -> bool:
    """The rational route once more, after rewriting trigonometric and hyperbolic functions in
    exponentials: sin² + cos² = 1 is a rational identity in e^{iz}. Bounded like the first."""
    generators = _Generators()
    try:
        return rational_is_zero(generators.unify_roots(generators.convert(expr.rewrite(sp.exp))))
    except (ValueError, ZeroDivisionError, sp.PolynomialError, RecursionError):
        return False


def is_zero(expr: sp.Expr, *, allow_simplify: bool = True, generators: _Generators | None = None) -> bool:
    """Decide that ``expr`` is identically zero; False means "not established".

    The fast route replaces every transcendental atom by a generator symbol (see
    ``_Generators``: each replacement is an identity) and checks that the numerator of the
    resulting rational function is the zero polynomial (``rational_is_zero``). A rational
    function that is zero as an element of ℚ(generators, symbols) stays zero whatever the
    generators stand for, so expr = 0 wherever it is defined. If that route fails (a relation
    among the generators it does not know, e.g. sin² + cos² = 1), expr is small (at most
    ``SIMPLIFY_MAX_OPS`` operations) and not visibly nonzero at a random point, the same route
    is tried on expr rewritten in exponentials. No route reads a clock or calls an unbounded
    sympy routine (simplify), so the verdict depends on expr alone. Passing the same
    ``generators`` to several calls shares the conversion work between related expressions.
    """
    expr = as_expr(expr)
    if expr == 0:
        return True
    if expr.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        return False  # undefined somewhere: nothing to prove
    try:
        generators = generators or _Generators()
        if rational_is_zero(generators.unify_roots(generators.convert(expr))):
            return True
    except (ValueError, ZeroDivisionError, sp.PolynomialError, RecursionError):
        pass
    if not allow_simplify or sp.count_ops(expr) > SIMPLIFY_MAX_OPS or _numerically_nonzero(expr):
        return False
    return _zero_in_exponentials(expr)
