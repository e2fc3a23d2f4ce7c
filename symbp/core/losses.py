"""Loss registry and the output error δ^L, derived by sympy at the element level.

Every loss here is a sum over the outputs of one term ℓ(a_k, y_k) (times a scale such as 1/S_L
for the mean squared error). δ^L = ∂J/∂z^L is derived from that term and the output activation:
  elementwise g:  δ_k = ∂ℓ/∂a_k · g'(z_k)
  softmax:        δ_i = Σ_k ∂ℓ/∂a_k · a_k(δ_ki − a_i) = a_i (u_i − Σ_k u_k a_k),  u = ∂ℓ/∂a
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, lru_cache

import sympy as sp

from . import activations as act
from .errors import DerivationError

a, y, x = act.a, sp.Symbol("y", real=True), act.x
N_OUT = sp.Symbol("n", positive=True, integer=True)  # width of the output layer
S = sp.Symbol("s", real=True)  # a row sum over the outputs, Σ_k h(a_k, y_k)
LOG_A = sp.Symbol("log_a", real=True)  # log-softmax, computed stably by the kernel


def softplus(v: sp.Expr) -> sp.Expr:
    return sp.log(1 + sp.exp(v))


@dataclass(frozen=True, eq=False)
class Loss:
    """One registry entry: the per-output term ℓ(a, y) and what it needs of the network."""

    name: str
    term: sp.Expr  # ℓ(a, y) for one output; J_sample = Σ_k term
    latex: str
    requires: frozenset[str] | None = None  # allowed output activations (None: any elementwise)
    targets_sum_to_one: bool = False  # targets are distributions (softmax cross-entropy)
    # ℓ written in the pre-activation x for an output activation, stable for any |x|: proven
    # equal to term(g(x), y) in the tests.
    logit_terms: dict[str, sp.Expr] = field(default_factory=dict)
    formula: str | None = None


REGISTRY: dict[str, Loss] = {
    entry.name: entry
    for entry in [
        Loss("half_sse", sp.Rational(1, 2) * (y - a) ** 2, r"\tfrac12\sum_k (y_k - a_k)^2"),
        Loss("sse", (y - a) ** 2, r"\sum_k (y_k - a_k)^2"),
        Loss("mse", (y - a) ** 2 / N_OUT, r"\tfrac1{S_L}\sum_k (y_k - a_k)^2"),
        Loss("bce", -(y * sp.log(a) + (1 - y) * sp.log(1 - a)),
             r"-\sum_k \left[y_k \log a_k + (1-y_k)\log(1-a_k)\right]",
             requires=frozenset({"sigmoid"}),
             # softplus(x) − y·x cancels at y = 1, x ≫ 0; this sum of two nonnegative terms does not
             logit_terms={"sigmoid": (1 - y) * softplus(x) + y * softplus(-x)}),
        Loss("ce", -y * sp.log(a), r"-\sum_k y_k \log a_k",
             requires=frozenset({"sigmoid", "softmax"}),
             logit_terms={"sigmoid": y * softplus(-x)}),
        Loss("softmax_ce", -y * sp.log(a), r"-\sum_k y_k \log \operatorname{softmax}(z)_k",
             requires=frozenset({"softmax"}), targets_sum_to_one=True),
    ]
}


@lru_cache(maxsize=64)
def formula_loss(name: str, text: str) -> Loss:
    """An elementwise loss term ℓ(a, y) the user defined as a formula, read by the safe parser.

    Cached so that one network gives one Loss, and ``output_delta`` (cached by Loss) derives
    δ^L once per run, not once per document.
    """
    from .formula import parse_formula

    term = parse_formula(text, {"a": a, "y": y}, what=f"loss '{name}'")
    if a not in term.free_symbols:
        raise DerivationError(f"losses.{name}.formula: '{text}' does not depend on the output a")
    return Loss(name, term, rf"\sum_k \operatorname{{{name}}}(a_k, y_k)".replace("_", r"\_"),
                formula=text)


@dataclass(frozen=True)
class OutputDelta:
    """δ^L_k = expr(a_k, y_k, x_k, s) with s = Σ_j rowsum(a_j, y_j) when rowsum is set."""

    expr: sp.Expr
    rowsum: sp.Expr | None
    dJ_da: sp.Expr  # ∂ℓ/∂a_k, shown in the derivation before simplification
    activation_derivative: sp.Expr | None  # g'(z) in a (or x); None for softmax
    # Σ_k δ_k = 0 on every row, proven by ``_sums_to_zero`` (softmax, s depending on a): the
    # kernels take δ of a row's largest output as minus the sum of the others, since its own
    # formula cancels where that output rounds to 1 (u_m − s with s ≈ u_m).
    sums_to_zero: bool = False


def _cancel_tidy(u: sp.Expr) -> sp.Expr:
    return act._tidy(act.frozen_atoms(sp.cancel, u))


def _together_tidy(e: sp.Expr) -> sp.Expr:
    return act._tidy(act.frozen_atoms(lambda f: sp.cancel(sp.together(f)), e))


def _simplify_delta(u: sp.Expr, gprime: sp.Expr) -> sp.Expr:
    """The shorter of ∂ℓ/∂a · g' kept as a product and the cancelled product.

    (a − y)·a(1 − a) stays a product; (a − y)/(a(1 − a)) · a(1 − a) cancels to a − y. A rewrite
    is skipped where the degree or size gate says it would be slow (``act.tidiable``: cancel
    expands 99(a − y)^98), and ∂ℓ/∂a is then kept as sympy derived it.
    """
    product = act.bounded(_cancel_tidy, u) * gprime
    if product.has(sp.Heaviside) or not act.tidiable(u * gprime):
        return product
    cancelled = _together_tidy(u * gprime)
    return cancelled if sp.count_ops(cancelled) <= sp.count_ops(u) else product


@cache
def output_delta(loss: Loss, g: sp.Expr | None, n_out: int) -> OutputDelta:
    """Derive δ^L for loss ``loss`` over output activation g (None: softmax) of width n_out."""
    term = loss.term.subs(N_OUT, n_out)
    u = sp.diff(term, a)
    if g is not None:
        d = act.derivative(g)
        return OutputDelta(_simplify_delta(u, d.expr), None, u, d.expr)
    diag, off = act.softmax_jacobian()
    ai, ak = sp.Symbol("a_i", real=True), sp.Symbol("a_k", real=True)
    if sp.expand(diag - ai * (1 - ai)) != 0 or sp.expand(off + ai * ak) != 0:
        raise DerivationError("softmax Jacobian is not a_k(δ_ki − a_i)")
    # δ_i = a_i (u_i − Σ_k u_k a_k): the softmax Jacobian a_k(δ_ki − a_i) applied to u.
    h = sp.cancel(u * a)
    if loss.targets_sum_to_one and sp.expand(h + y) == 0:
        return OutputDelta(_simplify_delta(u + 1, a), None, u, None)  # Σ_k y_k = 1
    delta = _simplify_delta(u - S, a)
    return OutputDelta(delta, h, u, None, a in h.free_symbols and _sums_to_zero(delta, h))


def _sums_to_zero(delta: sp.Expr, rowsum: sp.Expr, n: int = 3) -> bool:
    """Whether Σ_i delta(a_i, y_i, s) = 0 with s = Σ_k rowsum(a_k, y_k) for outputs that sum to
    1 (a_n = 1 − the others), decided by expanding over n outputs; False above the size gate."""
    if not act.tidiable(delta * rowsum):
        return False
    outs, targets = sp.symbols(f"a1:{n + 1}", real=True), sp.symbols(f"y1:{n + 1}", real=True)
    last = {outs[-1]: 1 - sum(outs[:-1])}
    at = [{a: ai, y: yi} for ai, yi in zip(outs, targets, strict=True)]
    total_s = sum(rowsum.xreplace(v) for v in at)
    total = sum(delta.xreplace(v) for v in at).xreplace({S: total_s}).xreplace(last)
    return sp.expand(total) == 0


def loss_term_in_logits(loss: Loss, activation: str, g: sp.Expr | None) -> tuple[sp.Expr, str]:
    """The per-output loss term for the kernel, and which variable it reads: "x", "a" or "log_a".

    Stable logit forms are used where the registry has them; softmax losses read log-softmax.
    """
    if activation in loss.logit_terms:
        return loss.logit_terms[activation], "x"
    if g is None and loss.term.has(sp.log(a)):
        return loss.term.subs(sp.log(a), LOG_A), "log_a"
    return loss.term, "a"
