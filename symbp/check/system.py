"""Every named quantity of a small network as one system of definitions, for checking claims.

The free inputs (inputs, weights, biases, targets) are independent symbols; each intermediate
(z_h1, a_h1, …, E_total) has a one-level definition in earlier names, in forward order. A
derivative ∂X/∂Y of any named X by any named Y becomes one more named symbol, defined as the
chain rule over this graph: the sum over every path from Y up to X of the product of local
partials (∂a/∂z in the output form a(1−a) the registry derives, ∂z/∂w the input it multiplies).

Two questions are then asked of an equation ``truth = claimed`` written in these names:
* ``identical``: is the difference zero as a function? First with the names treated as
  independent symbols (enough when both sides use the same intermediates), then expanding the
  latest-defined intermediate into its definition, one at a time, down to the free inputs. Only a
  proof counts; failing to find one is not a disproof.
* ``values``: every named quantity at a point, in mpmath at ``DIGITS`` significant digits, so that
  a false claim gets a concrete counterexample.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache

import mpmath
import sympy as sp

from ..backprop.neuron import Factor, derive_neurons
from ..core import activations as act
from ..core.errors import DerivationError
from ..core.naming import NeuronNames
from ..core.spec import Network
from ..core.zero import is_zero

DIGITS = 50
MAX_PATHS = 5_000
MAX_EXPANSION = 10**6  # bound on the terms a symbolic zero test may have to expand
MAX_SIMPLIFY_OPS = 300
MAX_MAGNITUDE = mpmath.mpf(10) ** 5000


class UndefinedValueError(ArithmeticError):
    """An expression has no finite real value at a point (log of a negative, 1/0, overflow)."""


@dataclass
class System:
    """Names, kinds and definitions of one network, plus the derivative symbols made so far."""

    network: Network
    names: NeuronNames
    symbols: dict[str, sp.Symbol]
    kind: dict[sp.Symbol, str]  # input, target, weight, bias, pre, act, loss, derivative
    layer: dict[sp.Symbol, int]  # 0 for inputs and targets
    position: dict[sp.Symbol, tuple[int, ...]]  # (i,) for neurons, (i, j) for weights: 1-based
    free: list[sp.Symbol]
    definitions: dict[sp.Symbol, sp.Expr]  # in forward order; derivative symbols at the end
    constraints: dict[sp.Symbol, sp.Expr] = field(default_factory=dict)
    paths: dict[sp.Symbol, tuple[tuple[Factor, ...], ...]] = field(default_factory=dict)
    pair: dict[sp.Symbol, tuple[sp.Symbol, sp.Symbol]] = field(default_factory=dict)
    act_of: dict[sp.Symbol, sp.Symbol] = field(default_factory=dict)  # z → its neuron's a
    sample: dict[sp.Symbol, int] = field(default_factory=dict)  # per-sample quantities of a batch
    batch: int = 0  # samples of a batch (symbp.check.batch); 0: one sample's loss
    batch_word: str = "m"  # how the claim names the batch size (m, N, B)
    _children: dict[sp.Symbol, list[sp.Symbol]] = field(default_factory=dict)
    _pre_of: dict[sp.Symbol, sp.Symbol] = field(default_factory=dict)
    _local: dict[tuple[sp.Symbol, sp.Symbol], sp.Expr] = field(default_factory=dict)

    def copy(self) -> System:
        """A copy whose derivative symbols and batch word can be added without touching this one."""
        return System(self.network, self.names, dict(self.symbols), dict(self.kind), dict(self.layer),
                      dict(self.position), list(self.free), dict(self.definitions),
                      dict(self.constraints), act_of=self.act_of, sample=self.sample,
                      batch=self.batch, batch_word=self.batch_word, _pre_of=self._pre_of,
                      _local=self._local)

    # ------------------------------------------------------------------ structure

    @property
    def loss(self) -> sp.Symbol:
        return self.symbols[self.names.loss]

    def siblings(self, s: sp.Symbol) -> list[sp.Symbol]:
        """Other quantities of the same kind in the same layer (candidates for a wrong index)."""
        k, l, n = self.kind.get(s), self.layer.get(s), self.sample.get(s)
        if k in (None, "loss", "derivative"):
            return []
        return [t for t in self.kind if t != s and self.kind[t] == k and self.layer[t] == l
                and self.sample.get(t) == n]

    def activation_of(self, z: sp.Symbol) -> sp.Symbol:
        """The activation symbol a_i of the neuron whose pre-activation is z_i."""
        return self.act_of[z]

    def pre_activation_of(self, a: sp.Symbol) -> sp.Symbol:
        """The pre-activation symbol z_i of the neuron whose activation is a_i."""
        if not self._pre_of:
            self._pre_of.update({x: z for z, x in self.act_of.items()})
        return self._pre_of[a]

    def children(self, s: sp.Symbol) -> list[sp.Symbol]:
        if not self._children:
            for n, expr in self.definitions.items():
                if self.kind[n] == "derivative":
                    continue
                for m in expr.free_symbols:
                    self._children.setdefault(m, []).append(n)
        return self._children.get(s, [])

    # ------------------------------------------------------------------ the chain rule

    def local(self, n: sp.Symbol, m: sp.Symbol) -> sp.Expr:
        """∂n/∂m for m in n's own definition; activations in the output form (σ' = a(1−a)).
        Computed once per pair, for this system and its copies (the definitions are the same)."""
        if (n, m) not in self._local:
            self._local[(n, m)] = self._local_partial(n, m)
        return self._local[(n, m)]

    def _local_partial(self, n: sp.Symbol, m: sp.Symbol) -> sp.Expr:
        if self.kind[n] == "act":
            l = self.layer[n]
            g = self.network.activation_expr(l)
            if g is None:  # softmax: ∂a_k/∂z_i = a_i(1 − a_i) on the diagonal, −a_i a_k off it
                diag, off = act.softmax_jacobian()
                ai, ak = sp.Symbol("a_i", real=True), sp.Symbol("a_k", real=True)
                a_i = self.activation_of(m)
                return diag.subs(ai, a_i) if a_i == n else off.subs({ai: a_i, ak: n})
            d = act.derivative(g)
            return d.expr.subs(act.a, n) if d.variable == "a" else d.expr.subs(act.x, m)
        return sp.diff(self.definitions[n], m)

    def derivative(self, X: sp.Symbol, Y: sp.Symbol) -> sp.Expr:
        """The symbol ∂X/∂Y, defined as the sum over paths of products of local partials."""
        if X == Y:
            return sp.Integer(1)
        name = f"∂{X.name}/∂{Y.name}"
        if name in self.symbols:
            return self.symbols[name]
        paths = self._paths(X, Y)
        sym = sp.Symbol(name, real=True)
        self.symbols[name] = sym
        self.kind[sym], self.layer[sym] = "derivative", 0
        self.paths[sym] = paths
        self.pair[sym] = (X, Y)
        self.definitions[sym] = sp.Add(*[sp.Mul(*[f.value for f in p]) for p in paths])
        return sym

    def _paths(self, X: sp.Symbol, Y: sp.Symbol) -> tuple[tuple[Factor, ...], ...]:
        memo: dict[sp.Symbol, list[tuple[Factor, ...]]] = {}
        count = 0

        def up(m: sp.Symbol) -> list[tuple[Factor, ...]]:
            nonlocal count
            if m == X:
                return [()]
            if m not in memo:
                out = []
                for n in self.children(m):
                    step = Factor(n.name, m.name, self.local(n, m))
                    out += [p + (step,) for p in up(n)]
                count += len(out)
                if count > MAX_PATHS:
                    raise DerivationError("too many chain-rule paths for a neuron-level check")
                memo[m] = out
            return memo[m]

        return tuple(up(Y))

    def simplified(self, s: sp.Symbol) -> sp.Expr:
        """A derivative's or intermediate's definition, tidied for people (common factors out)."""
        expr = self.definitions[s]
        if self.constraints:
            expr = self.tidy_constrained(expr)
        return sp.factor_terms(expr)

    def tidy_constrained(self, expr: sp.Expr) -> sp.Expr:
        """Use Σ targets = 1 (softmax cross-entropy): a_i(t1 + t2 + t3) − t_i becomes a_i − t_i."""
        reduced = sp.expand(expr.xreplace(self.constraints))
        for last, value in self.constraints.items():  # one constraint per sample of a batch
            others = value.free_symbols
            reduced = reduced.subs(sp.Add(*others), 1 - last) if others else reduced
        return reduced

    # ------------------------------------------------------------------ symbolic decision

    def identical(self, difference: sp.Expr) -> bool:
        """True when ``difference`` is proven to be the zero function of the free inputs; in a
        batch, sample by sample when it splits so (a common denominator over every sample's
        quantities would be huge)."""
        parts = self._per_sample(difference) if self.batch else None
        if parts is not None:
            return all(self._identical(p) for p in parts)
        return self._identical(difference)

    def _per_sample(self, d: sp.Expr) -> list[sp.Expr] | None:
        """``d`` as Σ_k d_k over two or more samples, each term in one sample's quantities (and
        the shared weights), or None."""
        while derivatives := [s for s in d.free_symbols if self.kind.get(s) == "derivative"]:
            d = d.xreplace({s: self.definitions[s] for s in derivatives})
        groups: dict[int, list[sp.Expr]] = {}
        for term in _terms(d):
            samples = {self.sample[s] for s in term.free_symbols if s in self.sample}
            if len(samples) != 1:  # shared by samples, or of none: d does not split
                return None
            groups.setdefault(samples.pop(), []).append(term)
        return [sp.Add(*terms) for terms in groups.values()] if len(groups) > 1 else None

    def _identical(self, difference: sp.Expr) -> bool:
        kinks = self._kinks()
        d = self._sign_form(difference.xreplace(self.constraints), kinks)
        if _quick_zero(d):
            return True
        order = list(self.definitions)
        rank = {s: k for k, s in enumerate(order)}
        while True:
            present = [s for s in d.free_symbols if s in self.definitions and s not in kinks]
            if not present:
                break
            d = d.xreplace(self._next_expansion(d, present, rank)).xreplace(self.constraints)
            d = self._sign_form(d, kinks)
            if _quick_zero(d):
                return True
        if (_expansion_size(d) > MAX_EXPANSION or sp.count_ops(d) > MAX_SIMPLIFY_OPS
                or d.has(sp.Piecewise, sp.Heaviside)):
            return False
        return is_zero(d)

    def _kinks(self) -> dict[sp.Symbol, sp.Symbol]:
        """a → z for piecewise activations whose derivative is written in the output's sign
        (relu' = H(a)): g(0) = 0 and g keeps the sign of z, so H(a) = H(z) exactly."""
        out = {}
        for a, kind in self.kind.items():
            if kind != "act":
                continue
            g = self.network.activation_expr(self.layer[a])
            if g is not None and g.has(sp.Piecewise) and act.derivative(g).variable == "a":
                out[a] = self.pre_activation_of(a)
        return out

    def _sign_form(self, d: sp.Expr, kinks: dict[sp.Symbol, sp.Symbol]) -> sp.Expr:
        """relu(z) written out becomes a again, and H(a) becomes H(z): piecewise expressions are
        never expanded (sympy's Piecewise algebra is slow), the sign relation is used instead."""
        if not kinks or not d.has(sp.Piecewise, sp.Heaviside):
            return d
        d = d.xreplace({self.definitions[a]: a for a in kinks})
        steps = {}
        for h in d.atoms(sp.Heaviside):
            if h.args[0] in kinks:
                steps[h] = sp.Heaviside(kinks[h.args[0]], *h.args[1:])
        return d.xreplace(steps)

    def _next_expansion(self, d: sp.Expr, present: list[sp.Symbol], rank: dict) -> dict:
        """What to expand next: derivative symbols first; then an activation whose own z also
        occurs (one side wrote σ(z), the other a), which settles most claims without expanding
        the layers above; else the latest-defined intermediate."""
        derivatives = [s for s in present if self.kind[s] == "derivative"]
        if derivatives:
            return {s: self.definitions[s] for s in derivatives}
        local = {}
        for s in present:
            if self.kind[s] == "act":
                z = self.pre_activation_of(s)
                if z in d.free_symbols or any(z in f.free_symbols for f in d.atoms(sp.Function)):
                    local[s] = self.definitions[s]
        if local:
            return local
        latest = max(present, key=rank.__getitem__)
        return {latest: self.definitions[latest]}

    # ------------------------------------------------------------------ numbers

    def values(self, point: dict[sp.Symbol, sp.Rational]) -> dict[sp.Symbol, mpmath.mpf]:
        """Every named quantity (and derivative symbol) at ``point``; raises UndefinedValueError."""
        with mpmath.workdps(DIGITS + 10):
            env = {s: mpmath.mpf(v.p) / v.q for s, v in point.items()}
            for s, value in self.constraints.items():
                env[s] = numeric(value, env)
            for s, expr in self.definitions.items():
                env[s] = numeric(expr, env)
        return env

    def random_points(self, count: int, seed: int, example: dict[str, float] | None = None
                      ) -> list[dict[sp.Symbol, sp.Rational]]:
        """Points with two-decimal values (readable counterexamples); the example first if given.

        Targets lie in (0, 1) for the losses that need it and sum to one for softmax
        cross-entropy (the last target is then 1 − the others).
        """
        rng = random.Random(seed)
        out = []
        if example and all(s.name in example for s in self.free):
            out.append({s: sp.Rational(repr(float(example[s.name]))) for s in self.free})
        while len(out) < count:
            out.append({s: self._draw(s, rng) for s in self.free})
        return out

    def _draw(self, s: sp.Symbol, rng: random.Random) -> sp.Rational:
        if self.kind[s] == "target":
            loss = self.network.loss_entry()
            if loss.targets_sum_to_one:
                return sp.Rational(rng.randint(5, 60), 100)
            if loss.requires is not None:
                return sp.Rational(rng.randint(5, 95), 100)
        value = 0
        while value == 0:
            value = rng.randint(-150, 150)
        return sp.Rational(value, 100)


def _quick_zero(d: sp.Expr) -> bool:
    if d == 0:
        return True
    if _expansion_size(d) > MAX_EXPANSION:
        return False
    return is_zero(d, allow_simplify=False)


def _terms(e: sp.Expr) -> list[sp.Expr]:
    """The terms of a sum, a product with one sum among its factors distributed over it (c·(u + v)
    is c·u + c·v), never multiplied out further: at most as many terms as the leaves."""
    if isinstance(e, sp.Add):
        return [t for a in e.args for t in _terms(a)]
    if isinstance(e, sp.Mul):
        sums = [a for a in e.args if isinstance(a, sp.Add)]
        if len(sums) == 1:
            rest = sp.Mul(*[a for a in e.args if a is not sums[0]])
            return [rest * t for t in _terms(sums[0])]
    return [e]


def _expansion_size(e: sp.Expr) -> float:
    """An upper bound on the number of terms of ``e`` multiplied out (sums add, products multiply)."""
    if e.is_Atom:
        return 1
    if isinstance(e, sp.Add):
        return sum(_expansion_size(a) for a in e.args)
    if isinstance(e, sp.Mul):
        out = 1.0
        for a in e.args:
            out *= _expansion_size(a)
        return out
    if isinstance(e, sp.Pow) and e.exp.is_Integer:
        return float(_expansion_size(e.base)) ** min(abs(int(e.exp)), 10_000)
    return max((_expansion_size(a) for a in e.args), default=1)


# --------------------------------------------------------------------------- building


@cache
def _system_cached(key: str, net: Network) -> System:  # noqa: ARG001 - key makes names count
    return _build(net)


def system_for(net: Network) -> System:
    """The named system of a small network (cached per spec), a fresh copy each call."""
    return _system_cached(net.spec_hash() + net.name, net).copy()


def _build(net: Network) -> System:
    n = derive_neurons(net)
    sym = n.symbols
    kind: dict[sp.Symbol, str] = {}
    layer: dict[sp.Symbol, int] = {}
    position: dict[sp.Symbol, tuple[int, ...]] = {}

    def mark(name: str, k: str, l: int, pos: tuple[int, ...]) -> None:
        s = sym[name]
        kind[s], layer[s], position[s] = k, l, pos

    for i, name in enumerate(n.names.inputs, start=1):
        mark(name, "input", 0, (i,))
    for i, name in enumerate(n.names.targets, start=1):
        mark(name, "target", 0, (i,))
    for l in range(1, net.depth + 1):
        for i, row in enumerate(n.names.weights[l - 1], start=1):
            for j, name in enumerate(row, start=1):
                mark(name, "weight", l, (i, j))
        for i, name in enumerate(n.names.biases[l - 1], start=1):
            mark(name, "bias", l, (i,))
        for i, name in enumerate(n.names.pre_activations[l - 1], start=1):
            mark(name, "pre", l, (i,))
        for i, name in enumerate(n.names.activations[l - 1], start=1):
            mark(name, "act", l, (i,))
    mark(n.names.loss, "loss", net.depth, ())
    free = [sym[x] for x in n.names.inputs]
    for l in range(net.depth):
        free += [sym[w] for row in n.names.weights[l] for w in row] + [sym[b] for b in n.names.biases[l]]
    free += [sym[t] for t in n.names.targets]
    definitions = {sym[k]: v for k, v in n.definitions.items()}
    constraints = {}
    if net.loss_entry().targets_sum_to_one:
        *others, last = [sym[t] for t in n.names.targets]
        constraints[last] = 1 - sp.Add(*others)
        free.remove(last)
    act_of = {sym[z]: sym[a] for zs, acts in zip(n.names.pre_activations, n.names.activations)
              for z, a in zip(zs, acts)}
    return System(net, n.names, dict(sym), kind, layer, position, free, definitions, constraints,
                  act_of=act_of)


# --------------------------------------------------------------------------- numeric evaluation


def _pow(base: mpmath.mpf, exponent: mpmath.mpf) -> mpmath.mpf:
    if base < 0 and exponent != int(exponent):
        raise UndefinedValueError("a fractional power of a negative number")
    if base == 0 and exponent < 0:
        raise UndefinedValueError("division by zero")
    if abs(exponent) > 10_000:
        raise UndefinedValueError("an exponent out of range")
    return mpmath.power(base, exponent)


def _log(x: mpmath.mpf) -> mpmath.mpf:
    if x <= 0:
        raise UndefinedValueError("log of a number ≤ 0")
    return mpmath.log(x)


def _sqrt(x: mpmath.mpf) -> mpmath.mpf:
    if x < 0:
        raise UndefinedValueError("square root of a negative number")
    return mpmath.sqrt(x)


def _exp(x: mpmath.mpf) -> mpmath.mpf:
    if x > 10_000:
        raise UndefinedValueError("exp overflows")
    return mpmath.exp(x)


def _heaviside(x: mpmath.mpf, h0: mpmath.mpf | int = 0) -> mpmath.mpf:
    return mpmath.mpf(1) if x > 0 else mpmath.mpf(h0 if x == 0 else 0)


# sympy class → mpmath function; anything else cannot be evaluated (the claim stays undecided).
NUMERIC = {
    sp.exp: _exp, sp.log: _log, sp.tanh: mpmath.tanh, sp.sinh: mpmath.sinh, sp.cosh: mpmath.cosh,
    sp.sin: mpmath.sin, sp.cos: mpmath.cos, sp.atan: mpmath.atan, sp.erf: mpmath.erf,
    sp.Abs: abs, sp.Heaviside: _heaviside, sp.sign: mpmath.sign,
}
RELATIONS = {sp.StrictGreaterThan: lambda a, b: a > b, sp.GreaterThan: lambda a, b: a >= b,
             sp.StrictLessThan: lambda a, b: a < b, sp.LessThan: lambda a, b: a <= b}


def numeric(expr: sp.Basic, env: dict[sp.Symbol, mpmath.mpf]) -> mpmath.mpf:
    """The value of a sympy expression at ``env`` in mpmath, refusing overflow and complex values.

    Written as a walk over the expression, so that no code is ever generated from
    anything a user typed, and every operation is checked.
    """
    if expr.is_Symbol:
        return env[expr]
    if expr.is_Rational:
        return mpmath.mpf(expr.p) / expr.q
    if expr.is_Float or expr in (sp.E, sp.pi):
        return mpmath.mpf(expr.evalf(mpmath.mp.dps))
    if isinstance(expr, sp.Add):
        out = mpmath.fsum(numeric(a, env) for a in expr.args)
    elif isinstance(expr, sp.Mul):
        out = mpmath.mpf(1)
        for a in expr.args:
            out *= numeric(a, env)
    elif isinstance(expr, sp.Pow):
        if expr.exp == sp.Rational(1, 2):
            out = _sqrt(numeric(expr.base, env))
        else:
            out = _pow(numeric(expr.base, env), numeric(expr.exp, env))
    elif isinstance(expr, sp.Piecewise):
        for value, cond in expr.args:
            if _truth(cond, env):
                return numeric(value, env)
        raise UndefinedValueError("no branch of a piecewise expression applies")
    elif isinstance(expr, (sp.Max, sp.Min)):
        values = [numeric(a, env) for a in expr.args]
        out = max(values) if isinstance(expr, sp.Max) else min(values)
    elif type(expr) in NUMERIC:
        out = NUMERIC[type(expr)](*[numeric(a, env) for a in expr.args])
    else:
        raise UndefinedValueError(f"cannot evaluate {type(expr).__name__}")
    if not mpmath.isfinite(out) or abs(out) > MAX_MAGNITUDE:
        raise UndefinedValueError("a value out of range")
    return out


def _truth(cond: sp.Basic, env: dict[sp.Symbol, mpmath.mpf]) -> bool:
    if cond is sp.true:
        return True
    if cond is sp.false:
        return False
    if type(cond) in RELATIONS:
        return RELATIONS[type(cond)](numeric(cond.lhs, env), numeric(cond.rhs, env))
    if isinstance(cond, sp.And):
        return all(_truth(c, env) for c in cond.args)
    if isinstance(cond, sp.Or):
        return any(_truth(c, env) for c in cond.args)
    raise UndefinedValueError(f"cannot evaluate the condition {cond}")
