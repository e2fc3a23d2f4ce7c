"""Symbolic proof that the derived backward pass equals brute-force differentiation.

For a small instantiation of a network (every weight, bias, input and target a sympy symbol) two
computations are compared entry by entry:

* ``run_plan_symbolic`` interprets the ``Plan`` (the very steps the NumPy emitter prints) on
  sympy matrices: the forward pass, the loss and the backward pass with the derived elementwise
  formulas (δ^L, g').
* ``brute_force`` builds the loss J directly from the registry *definitions* (g(x), softmax,
  ℓ(a, y), reduction, regulariser) and differentiates it with ``sympy.diff`` with respect to
  every trained parameter entry.

``is_zero`` then decides that each difference is identically zero (see its docstring for why
the decision is rigorous), and ``prove`` reports one verdict per parameter entry.

Piecewise activations (relu, leaky_relu): sympy cannot decide the branch of a symbolic z, so the
proof runs region by region. A region fixes, for every piecewise neuron of every sample, the
open half-line its pre-activation lies in (z > 0 or z < 0). On such an open region every
piecewise activation *is* one analytic branch expression, so the true loss is an analytic
function there, its gradient is the derivative of the branch-wise loss built by
``brute_force``, and the plan's formulas (whose ``Heaviside(a, 0)`` is evaluated under the same
sign assumption) compute exactly what the emitted kernel computes on that region. If the two
agree identically on every region, the derived gradient equals the true gradient everywhere
except on the measure-zero set where some pre-activation is exactly 0 (where the loss need not
be differentiable and the kernel uses the subgradient H(0) = 0).
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import sympy as sp

from . import losses, naming
from .derive import B, derive, reg_coefficient
from .errors import DerivationError
from .plan import Plan, build_plan
from .spec import Network, load_spec
from .sym import as_expr

__all__ = ["ProofError", "ProofResult", "Region", "branch", "brute_force", "is_zero",
           "piecewise_neurons", "prove", "regions", "run_plan_symbolic", "split_by_rows",
           "symbolic_params", "trained_entries"]

Region = Mapping[tuple[int, int, int], int]
"""Sign of the pre-activation (+1: z > 0, −1: z < 0) for (layer, sample row, neuron)."""

SIMPLIFY_MAX_OPS = 400  # larger differences get only the first route of is_zero
_POS = sp.Dummy("zeta_pos", positive=True)
_NEG = sp.Dummy("zeta_neg", negative=True)


class ProofError(DerivationError):
    """The plan cannot be interpreted symbolically (unknown step, unresolved branch, …)."""


# --------------------------------------------------------------------------- symbols


def symbolic_params(net: Network, batch: int) -> tuple[dict[str, sp.Matrix], sp.Matrix, sp.Matrix]:
    """Symbols for every parameter entry, the inputs X (batch × n_in) and the targets Y.

    Weights have the shapes of ``net.param_shapes()`` (``W1_i_j`` = entry (i, j)); a per-neuron
    bias is a 1 × n row (``b1_i``), a shared bias a 1 × 1 matrix (``b1``); layers without bias
    have no entry. For a loss whose targets are distributions (softmax cross-entropy) the last
    target of each row is ``1 − Σ`` of the others, so every row sums to one as the derivation
    assumes.
    """
    params: dict[str, sp.Matrix] = {}
    for name, shape in net.param_shapes().items():
        if len(shape) == 2:
            params[name] = sp.Matrix(*shape, lambda i, j, n=name: sp.Symbol(f"{n}_{i}_{j}", real=True))
        elif len(shape) == 1:
            params[name] = sp.Matrix(1, shape[0], lambda _, j, n=name: sp.Symbol(f"{n}_{j}", real=True))
        else:
            params[name] = sp.Matrix([[sp.Symbol(name, real=True)]])
    X = sp.Matrix(batch, net.inputs, lambda n, j: sp.Symbol(f"x_{n}_{j}", real=True))
    n_out = net.layers[-1].size
    Y = sp.Matrix(batch, n_out, lambda n, k: sp.Symbol(f"y_{n}_{k}", real=True))
    if net.loss_entry().targets_sum_to_one:
        for n in range(batch):
            Y[n, n_out - 1] = 1 - sum(Y[n, k] for k in range(n_out - 1))
    return params, X, Y


def trained_entries(net: Network, params: Mapping[str, sp.Matrix]) -> list[tuple[str, int, int]]:
    """(parameter name, row, column) of every trained entry: all weights, trained biases."""
    out = []
    for l, layer in enumerate(net.layers, start=1):
        names = [naming.W(l)] + ([naming.b(l)] if layer.trains_bias else [])
        for name in names:
            M = params[name]
            out += [(name, i, j) for i in range(M.rows) for j in range(M.cols)]
    return out


def entry_label(name: str, i: int, j: int, params: Mapping[str, sp.Matrix]) -> str:
    """``W1[0,1]``, ``b1[2]`` (per-neuron bias) or ``b1`` (shared bias)."""
    if name.startswith("W"):
        return f"{name}[{i},{j}]"
    return name if str(params[name][0, 0]) == name else f"{name}[{j}]"


# --------------------------------------------------------------------------- piecewise regions


# Functions with a kink: a branch is chosen per region (kinks at x = 0 only).
_KINKED = (sp.Piecewise, sp.Max, sp.Min, sp.Abs, sp.sign, sp.Heaviside, sp.DiracDelta)


def _is_piecewise(g: sp.Expr | None) -> bool:
    return g is not None and g.has(*_KINKED)


def branch(g: sp.Expr, sign: int) -> sp.Expr:
    """The branch of a piecewise g(x) on x > 0 (sign +1) or x < 0 (sign −1), in x.

    g is evaluated at a symbol carrying the sign assumption, so sympy itself picks the branch
    (Piecewise conditions, Max, Min, Abs, sign, Heaviside); a kink elsewhere than at 0 is refused.
    """
    zeta = _POS if sign > 0 else _NEG
    out = g.xreplace({losses.x: zeta})
    if out.has(*_KINKED):
        raise ProofError(f"cannot resolve the branch of {g} for sign {sign:+d}")
    return out.xreplace({zeta: losses.x})


def piecewise_neurons(net: Network, batch: int) -> list[tuple[int, int, int]]:
    """(layer, row, neuron) of every neuron whose activation is piecewise."""
    out = []
    for l, layer in enumerate(net.layers, start=1):
        if _is_piecewise(net.activation_expr(l)):
            out += [(l, n, i) for n in range(batch) for i in range(layer.size)]
    return out


def regions(net: Network, batch: int) -> list[dict[tuple[int, int, int], int]]:
    """Every assignment of a sign to every piecewise neuron (one empty region if none)."""
    keys = piecewise_neurons(net, batch)
    return [dict(zip(keys, signs, strict=True)) for signs in itertools.product((1, -1), repeat=len(keys))]


def _activation_value(g: sp.Expr, z: sp.Expr, sign: int | None) -> sp.Expr:
    body = branch(g, sign) if sign is not None and _is_piecewise(g) else g
    return body.xreplace({losses.x: z})


# --------------------------------------------------------------------------- plan interpreter


def _elementwise(formula: sp.Expr, values: Mapping[sp.Symbol, sp.Expr], g: sp.Expr | None,
                 z: sp.Expr | None, sign: int | None) -> sp.Expr:
    """Evaluate an elementwise plan formula at one entry.

    On a piecewise neuron, ``a`` and ``x`` are first replaced by the branch of g at a
    pre-activation carrying the region's sign assumption, so that ``Heaviside(a, 0)`` evaluates
    exactly as it does on that region; the sign-carrying symbol is then replaced by z.
    """
    if sign is not None and _is_piecewise(g):
        zeta = _POS if sign > 0 else _NEG
        local = {losses.a: branch(g, sign).xreplace({losses.x: zeta}), losses.x: zeta}
        out = formula.xreplace(local)
        if out.has(*_KINKED):
            raise ProofError(f"cannot evaluate {formula} on the region sign {sign:+d}")
        rest = {k: v for k, v in values.items() if k not in (losses.a, losses.x)}
        return out.xreplace(rest).xreplace({zeta: z})
    return formula.xreplace(dict(values))


def run_plan_symbolic(plan: Plan, params: Mapping[str, sp.Matrix], X: sp.Matrix, Y: sp.Matrix,
                      region: Region | None = None) -> tuple[sp.Expr, dict[str, sp.Matrix]]:
    """Run the plan's steps on sympy matrices (one row per sample): returns (J, gradients).

    Semantics follow ``plan.numpy_lines`` step kind by step kind: ``affine`` Z = A Wᵀ + b
    (``out_in``) or A W + b (``in_out``), a row bias broadcast over rows or one shared scalar;
    ``activate`` g elementwise, softmax row-wise as exp(z_k)/Σ_j exp(z_j) (the kernel's
    exp(log_softmax(z)) is the same function) and log-softmax z − log Σ exp z where the loss
    reads it; ``loss`` r·Σ ℓ + c·ΣW²; ``delta_out`` the derived formula with s the row sum of
    ``rowsum``; ``delta_hidden`` (δ W) ⊙ g'; ``grad_W`` δᵀ A (+ 2c W); ``grad_b`` column sums or
    the total sum. The batch size B is replaced by the number of rows. ``region`` fixes the branch
    of piecewise activations (see the module docstring); without it they stay ``Piecewise``.
    Gradients are keyed by the parameter name (``W1``, ``b1``) and have the parameter's shape.
    """
    d = plan.derivation
    net = d.network
    rows = X.rows
    batch = {B: sp.Integer(rows)}
    env: dict[str, sp.Matrix] = {"X": X, "Y": Y, **params}
    pre: dict[int, sp.Matrix] = {}
    log_a: dict[int, sp.Matrix] = {}
    reg = as_expr(d.reg_coeff).xreplace(batch)
    reg_grad = as_expr(d.reg_grad_coeff).xreplace(batch)
    J: sp.Expr | None = None
    grads: dict[str, sp.Matrix] = {}

    def sign_of(l: int, n: int, i: int) -> int | None:
        return None if region is None else region.get((l, n, i))

    def values_at(l: int, n: int, i: int, extra: Mapping[sp.Symbol, sp.Expr] | None = None) -> dict:
        vals = {losses.a: env[naming.A(l)][n, i], losses.x: pre[l][n, i], B: sp.Integer(rows)}
        if l == net.depth:
            vals[losses.y] = Y[n, i]
        if l in log_a:
            vals[losses.LOG_A] = log_a[l][n, i]
        vals.update(extra or {})
        return vals

    for step in plan.forward + plan.loss + plan.backward:
        l = step.layer
        if step.kind == "affine":
            W = env[naming.W(l)]
            Z = env[naming.A(l - 1)] * (W.T if net.weight_layout == "out_in" else W)
            mode = d.layers[l - 1].bias
            if mode in ("neuron", "shared"):
                b = env[naming.b(l)]
                col = (lambda i: i) if mode == "neuron" else (lambda i: 0)
                Z = Z + sp.Matrix(rows, Z.cols, lambda n, i, b=b, col=col: b[0, col(i)])
            elif mode != "none":
                raise ProofError(f"unknown bias mode {mode!r}")
            pre[l] = Z
            env[step.target] = Z
        elif step.kind == "activate":
            Z = pre[l]
            g = d.layers[l - 1].expr
            if g is None:
                A = sp.zeros(rows, Z.cols)
                for n in range(rows):
                    total = sum(sp.exp(Z[n, k]) for k in range(Z.cols))
                    for k in range(Z.cols):
                        A[n, k] = sp.exp(Z[n, k]) / total
                if d.loss_term_reads == "log_a":
                    log_a[l] = sp.Matrix(rows, Z.cols, lambda n, k, Z=Z: Z[n, k] - sp.log(
                        sum(sp.exp(Z[n, j]) for j in range(Z.cols))))
            else:
                A = sp.Matrix(rows, Z.cols,
                              lambda n, i, g=g, Z=Z, l=l: _activation_value(g, Z[n, i], sign_of(l, n, i)))
            env[step.target] = A
        elif step.kind == "loss":
            g = d.layers[l - 1].expr
            total = sp.Integer(0)
            for n in range(rows):
                for k in range(Y.cols):
                    total += _elementwise(step.formula, values_at(l, n, k), g, pre[l][n, k],
                                          sign_of(l, n, k))
            J = as_expr(d.batch_factor).xreplace(batch) * total
            if d.reg_coeff != 0:
                J += reg * sum(sum(w**2 for w in env[naming.W(m)]) for m in range(1, net.depth + 1))
            env[step.target] = sp.Matrix([[J]])
        elif step.kind == "delta_out":
            g = d.layers[l - 1].expr
            delta = sp.zeros(rows, Y.cols)
            for n in range(rows):
                extra = {}
                if step.rowsum is not None:
                    extra[losses.S] = sum(
                        _elementwise(step.rowsum, values_at(l, n, k), g, pre[l][n, k], sign_of(l, n, k))
                        for k in range(Y.cols))
                for k in range(Y.cols):
                    delta[n, k] = _elementwise(step.formula, values_at(l, n, k, extra), g,
                                               pre[l][n, k], sign_of(l, n, k))
            env[step.target] = delta
        elif step.kind == "delta_hidden":
            W = env[naming.W(l + 1)]
            back = env[naming.delta(l + 1)] * (W if net.weight_layout == "out_in" else W.T)
            g = d.layers[l - 1].expr
            if step.formula != 1:
                back = back.copy()
                for n in range(rows):
                    for i in range(back.cols):
                        back[n, i] *= _elementwise(step.formula, values_at(l, n, i), g, pre[l][n, i],
                                                   sign_of(l, n, i))
            env[step.target] = back
        elif step.kind == "grad_W":
            delta, A_prev = env[naming.delta(l)], env[naming.A(l - 1)]
            dW = delta.T * A_prev if net.weight_layout == "out_in" else A_prev.T * delta
            if d.reg_coeff != 0:
                dW = dW + reg_grad * env[naming.W(l)]
            env[step.target] = dW
            grads[naming.W(l)] = dW
        elif step.kind == "grad_b":
            delta = env[naming.delta(l)]
            if d.layers[l - 1].bias == "shared":
                db = sp.Matrix([[sum(delta)]])
            else:
                db = sp.Matrix(1, delta.cols, lambda _, i, delta=delta: sum(delta[:, i]))
            env[step.target] = db
            grads[naming.b(l)] = db
        else:
            raise ProofError(f"unknown step kind {step.kind!r} ({step.target})")
    if J is None:
        raise ProofError("the plan has no loss step")
    return J, grads


# --------------------------------------------------------------------------- brute force


def brute_force(net: Network, params: Mapping[str, sp.Matrix], X: sp.Matrix, Y: sp.Matrix,
                region: Region | None = None) -> tuple[sp.Expr, dict[str, sp.Matrix]]:
    """J from the definitions only, and ``sympy.diff(J, p)`` for every trained entry p.

    The forward pass is written with explicit sums (z_ni = Σ_j w_ij a_nj + b_i), activations from
    ``net.activation_expr`` (the branch fixed by ``region`` for piecewise ones), softmax from
    exp, the loss term ``net.loss_entry().term`` with n = output width, the reduction (mean: 1/B)
    and c·ΣW² with c from ``reg_coefficient``. No derived formula is used. Gradients are keyed and
    shaped like the parameters; untrained biases get no entry.
    """
    rows = X.rows
    A = X
    for l, layer in enumerate(net.layers, start=1):
        W = params[naming.W(l)]
        n_in = A.cols

        def weight(i: int, j: int, W: sp.Matrix = W) -> sp.Expr:
            return W[i, j] if net.weight_layout == "out_in" else W[j, i]

        Z = sp.zeros(rows, layer.size)
        for n in range(rows):
            for i in range(layer.size):
                z = sum((weight(i, j) * A[n, j] for j in range(n_in)), sp.Integer(0))
                if layer.bias == "neuron":
                    z += params[naming.b(l)][0, i]
                elif layer.bias == "shared":
                    z += params[naming.b(l)][0, 0]
                Z[n, i] = z
        g = net.activation_expr(l)
        if g is None:
            A = sp.Matrix(rows, layer.size, lambda n, k, Z=Z: sp.exp(Z[n, k]) / sum(
                sp.exp(Z[n, j]) for j in range(Z.cols)))
        else:
            A = sp.Matrix(rows, layer.size, lambda n, i, g=g, Z=Z, l=l: _activation_value(
                g, Z[n, i], None if region is None else region.get((l, n, i))))
    term = net.loss_entry().term.subs(losses.N_OUT, net.layers[-1].size)
    total = sum((term.xreplace({losses.a: A[n, k], losses.y: Y[n, k]})
                 for n in range(rows) for k in range(A.cols)), sp.Integer(0))
    J = (sp.Rational(1, rows) if net.reduction == "mean" else 1) * total
    c = reg_coefficient(net).xreplace({B: sp.Integer(rows)})
    if c != 0:
        J += c * sum(sum(w**2 for w in params[naming.W(l)]) for l in range(1, net.depth + 1))
    grads: dict[str, sp.Matrix] = {}
    for name, i, j in trained_entries(net, params):
        M = grads.setdefault(name, sp.zeros(*params[name].shape))
        M[i, j] = sp.diff(J, params[name][i, j])
    return J, grads


# --------------------------------------------------------------------------- zero test


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


def _rational_is_zero(expr: sp.Expr) -> bool:
    """Whether a rational expression (+, ×, integer powers of symbols) is the zero function.

    The expression is evaluated bottom-up into sparse integer polynomials as N / Π b_i^{k_i}:
    sums bring their terms to the least common product of the denominator bases seen so far,
    without any gcd or expansion at the sympy level (rational numbers p/q become p / q with q a
    constant base). Every base is a nonzero polynomial, so the rational function is zero
    exactly when N is the zero polynomial.
    """
    symbols = sorted(expr.free_symbols, key=sp.default_sort_key)
    if not symbols:
        return as_expr(expr) == 0  # exact rational arithmetic, already evaluated by sympy
    ring, *gens = sp.ring(symbols, sp.ZZ)
    of_symbol = dict(zip(symbols, gens, strict=True))
    cache: dict[sp.Expr, tuple] = {}

    def common(parts: list[tuple]) -> tuple:
        den: dict = {}
        for _, d in parts:
            for base, k in d.items():
                den[base] = max(den.get(base, 0), k)
        num = ring.zero
        for n, d in parts:
            for base, k in den.items():
                if k > d.get(base, 0):
                    n = n * base ** (k - d.get(base, 0))
            num += n
        return num, den

    def inverse(n, d: dict, k: int) -> tuple:
        if not n:
            raise ZeroDivisionError("division by a zero polynomial")
        num = ring.one
        for base, j in d.items():
            num = num * base ** (j * k)
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
                num = num * n
                for base, k in d.items():
                    den[base] = den.get(base, 0) + k
            out = (num, den)
        elif e.is_Pow and e.exp.is_Integer:
            n, d = ev(e.base)
            k = int(e.exp)
            out = (n**k, {base: j * k for base, j in d.items()}) if k >= 0 else inverse(n, d, -k)
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
        return _rational_is_zero(generators.unify_roots(generators.convert(expr.rewrite(sp.exp))))
    except (ValueError, ZeroDivisionError, sp.PolynomialError, RecursionError):
        return False


def is_zero(expr: sp.Expr, *, allow_simplify: bool = True, generators: _Generators | None = None) -> bool:
    """Decide that ``expr`` is identically zero; False means "not established".

    The fast route replaces every transcendental atom by a generator symbol (see
    ``_Generators``: each replacement is an identity) and checks that the numerator of the
    resulting rational function is the zero polynomial (``_rational_is_zero``). A rational
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
        if _rational_is_zero(generators.unify_roots(generators.convert(expr))):
            return True
    except (ValueError, ZeroDivisionError, sp.PolynomialError, RecursionError):
        pass
    if not allow_simplify or sp.count_ops(expr) > SIMPLIFY_MAX_OPS or _numerically_nonzero(expr):
        return False
    return _zero_in_exponentials(expr)


def split_by_rows(expr: sp.Expr, rows: list[set[sp.Symbol]]) -> list[sp.Expr]:
    """Split a sum into the parts that involve the symbols of one sample row each.

    Products whose only row-dependent factor is a sum are distributed over it (c·(t₁ + t₂));
    terms are then grouped by the rows whose symbols (inputs, targets) they contain. Terms with
    no row symbols (the regulariser's) form one more part; if any term mixes two rows, the
    whole expression is the only part. The parts always add up to ``expr``, so proving each of
    them zero proves ``expr`` zero; it is only faster (smaller rational functions).
    """
    def rows_of(e: sp.Expr) -> frozenset[int]:
        free = e.free_symbols
        return frozenset(n for n, symbols in enumerate(rows) if free & symbols)

    def flatten(e: sp.Expr) -> list[sp.Expr]:
        if e.is_Add:
            return [t for arg in e.args for t in flatten(arg)]
        if e.is_Mul:
            dependent = [f for f in e.args if rows_of(f)]
            if len(dependent) == 1 and dependent[0].is_Add:
                terms = flatten(dependent[0])
                if all(rows_of(t) for t in terms):  # else a row-free piece would stray
                    rest = sp.Mul(*[f for f in e.args if f is not dependent[0]])
                    return [rest * t for t in terms]
        return [e]

    groups: dict[frozenset[int], list[sp.Expr]] = {}
    for term in flatten(expr):
        groups.setdefault(rows_of(term), []).append(term)
    if any(len(key) > 1 for key in groups):
        return [expr]
    return [sp.Add(*terms) for terms in groups.values()]


# --------------------------------------------------------------------------- the proof


@dataclass
class ProofResult:
    """Outcome of ``prove``: one verdict per trained parameter entry (and one for J)."""

    network: str
    verdicts: dict[str, bool]  # "J", "W1[0,1]", "b1[0]", "b2" (shared) -> proven on every region
    regions: int
    seconds: float
    batch: int = 1
    failures: list[str] = field(default_factory=list)  # "W1[0,1] on region {...}"

    @property
    def ok(self) -> bool:
        return bool(self.verdicts) and all(self.verdicts.values())

    def summary(self) -> str:
        proven = sum(self.verdicts.values())
        status = "PROVEN" if self.ok else "NOT PROVEN"
        return (f"{self.network}: {status} — {proven}/{len(self.verdicts)} entries "
                f"(J and gradients) equal on {self.regions} region(s), batch {self.batch}, "
                f"{self.seconds:.2f}s")


def _proven_equal(mine: sp.Expr, theirs: sp.Expr, rows: list[set[sp.Symbol]],
                  generators: _Generators) -> bool:
    difference = mine - theirs
    parts = split_by_rows(difference, rows)
    if len(parts) > 1 and all(is_zero(part, allow_simplify=False, generators=generators) for part in parts):
        return True
    return is_zero(difference, generators=generators)


def _region_text(region: Region) -> str:
    if not region:
        return "everywhere"
    return ", ".join(f"z{l}[{n},{i}]{'>' if s > 0 else '<'}0" for (l, n, i), s in sorted(region.items()))


def prove(net: Network | str | dict, batch: int = 1, *, plan: Plan | None = None,
          stop_at_first_failure: bool = False) -> ProofResult:
    """Prove that the plan's J and gradients equal brute-force differentiation of J.

    ``net`` is a Network, a bundled name, a spec file or plain data; ``plan`` defaults to
    ``build_plan(derive(net))`` (pass a modified plan to check that a wrong one is rejected).
    Every sample of the batch is a row of symbols; piecewise activations are handled region by
    region (2^k regions for k piecewise neurons, so keep instantiations small). An entry that
    ``is_zero`` does not settle is reported as not proven, never as proven.
    """
    start = time.perf_counter()
    net = load_spec(net)
    plan = plan if plan is not None else build_plan(derive(net))
    params, X, Y = symbolic_params(net, batch)
    entries = trained_entries(net, params)
    labels = {e: entry_label(*e, params) for e in entries}
    verdicts = {"J": True, **{label: True for label in labels.values()}}
    failures: list[str] = []
    all_regions = regions(net, batch)
    generators = _Generators()
    row_symbols = [X[n, :].free_symbols | Y[n, :].free_symbols for n in range(batch)]
    for region in all_regions:
        J_plan, g_plan = run_plan_symbolic(plan, params, X, Y, region)
        J_true, g_true = brute_force(net, params, X, Y, region)
        checks = [("J", J_plan, J_true)]
        for name, i, j in entries:
            got = g_plan.get(name)
            value = got[i, j] if got is not None and got.shape == params[name].shape else None
            checks.append((labels[(name, i, j)], value, g_true[name][i, j]))
        for label, mine, theirs in checks:
            if not verdicts[label] and stop_at_first_failure:
                continue
            if mine is None or not _proven_equal(mine, theirs, row_symbols, generators):
                verdicts[label] = False
                failures.append(f"{label} on {_region_text(region)}")
        if failures and stop_at_first_failure:
            break
    return ProofResult(net.name, verdicts, len(all_regions), time.perf_counter() - start, batch, failures)
