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
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import sympy as sp

from ..backprop.matrix import B, derive, reg_coefficient
from ..backprop.plan import Plan, Step, build_plan
from ..core import losses, naming
from ..core.errors import DerivationError
from ..core.spec import Network, load_spec
from ..core.sym import as_expr
from ..core.zero import _Generators, is_zero

__all__ = ["ProofError", "ProofResult", "Region", "branch", "brute_force", "is_zero",
           "piecewise_neurons", "prove", "regions", "run_plan_symbolic", "split_by_rows",
           "symbolic_params", "trained_entries"]

Region = Mapping[tuple[int, int, int], int]
"""Sign of the pre-activation (+1: z > 0, −1: z < 0) for (layer, sample row, neuron)."""

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


class _SymbolicRun:
    """The state of one symbolic run of a plan: arrays by name, pre-activations, log a, J."""

    def __init__(self, plan: Plan, params: Mapping[str, sp.Matrix], X: sp.Matrix, Y: sp.Matrix,
                 region: Region | None):
        self.d = plan.derivation
        self.net = self.d.network
        self.rows = X.rows
        self.Y = Y
        self.region = region
        batch = {B: sp.Integer(self.rows)}
        self.batch_factor = as_expr(self.d.batch_factor).xreplace(batch)
        self.reg = as_expr(self.d.reg_coeff).xreplace(batch)
        self.reg_grad = as_expr(self.d.reg_grad_coeff).xreplace(batch)
        self.env: dict[str, sp.Matrix] = {"X": X, "Y": Y, **params}
        self.pre: dict[int, sp.Matrix] = {}
        self.log_a: dict[int, sp.Matrix] = {}
        self.J: sp.Expr | None = None
        self.grads: dict[str, sp.Matrix] = {}

    def sign_of(self, l: int, n: int, i: int) -> int | None:
        return None if self.region is None else self.region.get((l, n, i))

    def values_at(self, l: int, n: int, i: int,
                  extra: Mapping[sp.Symbol, sp.Expr] | None = None) -> dict:
        vals = {losses.a: self.env[naming.A(l)][n, i], losses.x: self.pre[l][n, i],
                B: sp.Integer(self.rows)}
        if l == self.net.depth:
            vals[losses.y] = self.Y[n, i]
        if l in self.log_a:
            vals[losses.LOG_A] = self.log_a[l][n, i]
        vals.update(extra or {})
        return vals

    def at(self, formula: sp.Expr, l: int, n: int, i: int,
           extra: Mapping[sp.Symbol, sp.Expr] | None = None) -> sp.Expr:
        """An elementwise formula of layer l at (row n, unit i)."""
        return _elementwise(formula, self.values_at(l, n, i, extra), self.d.layers[l - 1].expr,
                            self.pre[l][n, i], self.sign_of(l, n, i))

    def affine(self, step: Step) -> sp.Matrix:
        l, env = step.layer, self.env
        W = env[naming.W(l)]
        Z = env[naming.A(l - 1)] * (W.T if self.net.weight_layout == "out_in" else W)
        mode = self.d.layers[l - 1].bias
        if mode in ("neuron", "shared"):
            b = env[naming.b(l)]
            col = (lambda i: i) if mode == "neuron" else (lambda i: 0)
            Z = Z + sp.Matrix(self.rows, Z.cols, lambda n, i, b=b, col=col: b[0, col(i)])
        elif mode != "none":
            raise ProofError(f"unknown bias mode {mode!r}")
        self.pre[l] = Z
        return Z

    def activate(self, step: Step) -> sp.Matrix:
        l, rows = step.layer, self.rows
        Z = self.pre[l]
        g = self.d.layers[l - 1].expr
        if g is not None:
            return sp.Matrix(rows, Z.cols,
                             lambda n, i: _activation_value(g, Z[n, i], self.sign_of(l, n, i)))
        A = sp.zeros(rows, Z.cols)
        for n in range(rows):
            total = sum(sp.exp(Z[n, k]) for k in range(Z.cols))
            for k in range(Z.cols):
                A[n, k] = sp.exp(Z[n, k]) / total
        if self.d.loss_term_reads == "log_a":
            self.log_a[l] = sp.Matrix(rows, Z.cols, lambda n, k: Z[n, k] - sp.log(
                sum(sp.exp(Z[n, j]) for j in range(Z.cols))))
        return A

    def loss(self, step: Step) -> sp.Matrix:
        total = sum((self.at(step.formula, step.layer, n, k)
                     for n in range(self.rows) for k in range(self.Y.cols)), sp.Integer(0))
        J = self.batch_factor * total
        if self.d.reg_coeff != 0:
            J += self.reg * sum(sum(w**2 for w in self.env[naming.W(m)])
                                for m in range(1, self.net.depth + 1))
        self.J = J
        return sp.Matrix([[J]])

    def delta_out(self, step: Step) -> sp.Matrix:
        l = step.layer
        delta = sp.zeros(self.rows, self.Y.cols)
        for n in range(self.rows):
            extra = {}
            if step.rowsum is not None:
                extra[losses.S] = sum(self.at(step.rowsum, l, n, k) for k in range(self.Y.cols))
            for k in range(self.Y.cols):
                delta[n, k] = self.at(step.formula, l, n, k, extra)
        return delta

    def delta_hidden(self, step: Step) -> sp.Matrix:
        l = step.layer
        W = self.env[naming.W(l + 1)]
        back = self.env[naming.delta(l + 1)] * (W if self.net.weight_layout == "out_in" else W.T)
        if step.formula != 1:
            back = back.copy()
            for n in range(self.rows):
                for i in range(back.cols):
                    back[n, i] *= self.at(step.formula, l, n, i)
        return back

    def grad_W(self, step: Step) -> sp.Matrix:  # noqa: N802
        l = step.layer
        delta, A_prev = self.env[naming.delta(l)], self.env[naming.A(l - 1)]
        dW = delta.T * A_prev if self.net.weight_layout == "out_in" else A_prev.T * delta
        if self.d.reg_coeff != 0:
            dW = dW + self.reg_grad * self.env[naming.W(l)]
        self.grads[naming.W(l)] = dW
        return dW

    def grad_b(self, step: Step) -> sp.Matrix:
        l = step.layer
        delta = self.env[naming.delta(l)]
        if self.d.layers[l - 1].bias == "shared":
            db = sp.Matrix([[sum(delta)]])
        else:
            db = sp.Matrix(1, delta.cols, lambda _, i: sum(delta[:, i]))
        self.grads[naming.b(l)] = db
        return db


SYMBOLIC_STEPS = {"affine": _SymbolicRun.affine, "activate": _SymbolicRun.activate,
                  "loss": _SymbolicRun.loss, "delta_out": _SymbolicRun.delta_out,
                  "delta_hidden": _SymbolicRun.delta_hidden, "grad_W": _SymbolicRun.grad_W,
                  "grad_b": _SymbolicRun.grad_b}


def run_plan_symbolic(plan: Plan, params: Mapping[str, sp.Matrix], X: sp.Matrix, Y: sp.Matrix,
                      region: Region | None = None) -> tuple[sp.Expr, dict[str, sp.Matrix]]:
    """Run the plan's steps on sympy matrices (one row per sample): returns (J, gradients).

    Semantics follow ``plan.numpy_lines`` step kind by step kind (``SYMBOLIC_STEPS``): ``affine``
    Z = A Wᵀ + b (``out_in``) or A W + b (``in_out``), a row bias broadcast over rows or one shared
    scalar; ``activate`` g elementwise, softmax row-wise as exp(z_k)/Σ_j exp(z_j) (the kernel's
    exp(log_softmax(z)) is the same function) and log-softmax z − log Σ exp z where the loss
    reads it; ``loss`` r·Σ ℓ + c·ΣW²; ``delta_out`` the derived formula with s the row sum of
    ``rowsum``; ``delta_hidden`` (δ W) ⊙ g'; ``grad_W`` δᵀ A (+ 2c W); ``grad_b`` column sums or
    the total sum. The batch size B is replaced by the number of rows. ``region`` fixes the branch
    of piecewise activations (see the module docstring); without it they stay ``Piecewise``.
    Gradients are keyed by the parameter name (``W1``, ``b1``) and have the parameter's shape.
    """
    run = _SymbolicRun(plan, params, X, Y, region)
    for step in plan.forward + plan.loss + plan.backward:
        interpret = SYMBOLIC_STEPS.get(step.kind)
        if interpret is None:
            raise ProofError(f"unknown step kind {step.kind!r} ({step.target})")
        run.env[step.target] = interpret(run, step)
    if run.J is None:
        raise ProofError("the plan has no loss step")
    return run.J, run.grads


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
