"""Optimiser registry: each optimiser is its update rule as sympy assignments, defined once.

An entry lists the assignments of one step, in order, for one parameter array p with gradient g
and the optimiser's state arrays (m, v, b): ``m ← β₁m + (1 − β₁)g`` is ``(m, beta1*m + (1 -
beta1)*g)``. Everything else comes from these formulas: the generated ``init_state`` /
``train_step`` print them as in-place NumPy (``update_code``), the documents print them as LaTeX,
the worked example evaluates them, and ``verify`` compares hand-written steps with them.

Names, hyper-parameters and defaults follow PyTorch's ``torch.optim`` (SGD, RMSprop, Adam, AdamW);
``weight_decay`` applies to weights only, never to biases (like the spec's L2). Adam's ε sits
outside the square root of the bias-corrected v̂, as in PyTorch, Kingma & Ba, CS231n and the
deep-learning specialisation; Keras adds ε to the uncorrected √v instead (and defaults to 1e-7).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .errors import SymbpError

P, G = sp.Symbol("p", real=True), sp.Symbol("g", real=True)
M, V, BUF = sp.Symbol("m", real=True), sp.Symbol("v", real=True), sp.Symbol("b", real=True)
LR, T = sp.Symbol("lr", positive=True), sp.Symbol("t", positive=True, integer=True)
BETA1, BETA2 = sp.Symbol("beta1", positive=True), sp.Symbol("beta2", positive=True)
EPS, MU = sp.Symbol("eps", positive=True), sp.Symbol("momentum", positive=True)
ALPHA, WD = sp.Symbol("alpha", positive=True), sp.Symbol("weight_decay", nonnegative=True)

LATEX = {P: "p", G: "g", M: "m", V: "v", BUF: "b", LR: r"\eta", T: "t", BETA1: r"\beta_1",
         BETA2: r"\beta_2", EPS: r"\varepsilon", MU: r"\mu", ALPHA: r"\alpha", WD: r"\lambda"}
TEXT = {"m_hat": "m̂", "v_hat": "v̂"}  # plain-text names that differ from the symbol's


class OptimizerError(SymbpError):
    """An unknown optimiser or hyper-parameter (exit code 2)."""


@dataclass(frozen=True)
class Hyper:
    """One PyTorch keyword: its default and the symbols it fills (``betas`` fills two)."""

    keyword: str
    default: float | tuple[float, ...]
    symbols: tuple[sp.Symbol, ...]


@dataclass(frozen=True)
class Optimizer:
    """One registry entry: the rules of one step for one parameter array."""

    name: str
    title: str
    hyper: tuple[Hyper, ...]
    state: tuple[sp.Symbol, ...]  # arrays kept between steps, zero at the start
    rules: tuple[tuple[sp.Symbol, sp.Expr], ...]  # assignments, in order; the last one updates p
    lr: float = 1e-3  # PyTorch's default learning rate
    # Named quantities the rules use (Adam's m̂ and v̂), shown in documents and examples and
    # substituted into the rules for the kernel.
    defs: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()

    def expanded(self) -> tuple[tuple[sp.Symbol, sp.Expr], ...]:
        """The rules with every named quantity replaced by its definition."""
        return tuple((t, e.xreplace(dict(self.defs))) for t, e in self.rules)

    def shown(self) -> list[tuple[sp.Symbol, sp.Expr, bool]]:
        """(target, expr, is_definition) in reading order: the named quantities just before the
        parameter's update, which reads them."""
        rules = [(t, e, False) for t, e in self.rules]
        return rules[:-1] + [(t, e, True) for t, e in self.defs] + rules[-1:]

    def defaults(self) -> dict[str, float | tuple[float, ...]]:
        return {h.keyword: h.default for h in self.hyper}

    def decay_rules(self) -> tuple[tuple[sp.Symbol, sp.Expr], ...]:
        """The assignments that exist only for a decayed weight (they read ``weight_decay``)."""
        return tuple(r for r in self.expanded() if WD in r[1].free_symbols)

    def plain_rules(self) -> tuple[tuple[sp.Symbol, sp.Expr], ...]:
        return tuple(r for r in self.expanded() if WD not in r[1].free_symbols)

    def values(self, **hyper: float | tuple[float, ...]) -> dict[sp.Symbol, float]:
        """Symbol → number for the defaults overridden by ``hyper`` (checked names)."""
        merged = {**self.defaults(), **check_hyper(self, hyper)}
        out: dict[sp.Symbol, float] = {}
        for h in self.hyper:
            value = merged[h.keyword]
            numbers = value if len(h.symbols) > 1 else (value,)
            if not isinstance(numbers, tuple | list) or len(numbers) != len(h.symbols):
                raise OptimizerError(f"{self.name}: {h.keyword} must be {len(h.symbols)} numbers")
            out.update({s: float(n) for s, n in zip(h.symbols, numbers)})
        return out


def check_hyper(opt: Optimizer, hyper: dict) -> dict:
    """``hyper`` itself, or an OptimizerError naming the keyword the optimiser does not have."""
    allowed = opt.defaults()
    for key in hyper:
        if key not in allowed:
            raise OptimizerError(f"{opt.name} has no hyper-parameter {key!r}; "
                                 f"it takes {', '.join(allowed) or 'none'}")
    return hyper


def _decay() -> Hyper:
    return Hyper("weight_decay", 0.0, (WD,))


_COUPLED = (G, G + WD * P)  # L2 weight decay added to the gradient (PyTorch's weight_decay)
_ADAM_MOMENTS = ((M, BETA1 * M + (1 - BETA1) * G), (V, BETA2 * V + (1 - BETA2) * G**2))
# Bias correction: m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ); ε is added to √v̂.
M_HAT, V_HAT = sp.Symbol("m_hat", real=True), sp.Symbol("v_hat", real=True)
LATEX.update({M_HAT: r"\hat{m}", V_HAT: r"\hat{v}"})
_ADAM_DEFS = ((M_HAT, M / (1 - BETA1**T)), (V_HAT, V / (1 - BETA2**T)))
_ADAM_STEP = (P, P - LR * M_HAT / (sp.sqrt(V_HAT) + EPS))
_BETAS = Hyper("betas", (0.9, 0.999), (BETA1, BETA2))

REGISTRY: dict[str, Optimizer] = {o.name: o for o in [
    Optimizer("sgd", "stochastic gradient descent", (_decay(),), (),
              (_COUPLED, (P, P - LR * G))),
    Optimizer("momentum", "SGD with momentum (PyTorch's form: b ← μb + g, p ← p − ηb)",
              (Hyper("momentum", 0.9, (MU,)), _decay()), (BUF,),
              (_COUPLED, (BUF, MU * BUF + G), (P, P - LR * BUF))),
    Optimizer("nesterov", "SGD with Nesterov momentum (PyTorch's form)",
              (Hyper("momentum", 0.9, (MU,)), _decay()), (BUF,),
              (_COUPLED, (BUF, MU * BUF + G), (G, G + MU * BUF), (P, P - LR * G))),
    Optimizer("rmsprop", "RMSProp", (Hyper("alpha", 0.99, (ALPHA,)), Hyper("eps", 1e-8, (EPS,)),
                                     _decay()), (V,),
              (_COUPLED, (V, ALPHA * V + (1 - ALPHA) * G**2), (P, P - LR * G / (sp.sqrt(V) + EPS))),
              lr=1e-2),
    Optimizer("adam", "Adam with bias correction", (_BETAS, Hyper("eps", 1e-8, (EPS,)), _decay()),
              (M, V), (_COUPLED, *_ADAM_MOMENTS, _ADAM_STEP), defs=_ADAM_DEFS),
    Optimizer("adamw", "Adam with decoupled weight decay (AdamW)",
              (_BETAS, Hyper("eps", 1e-8, (EPS,)), Hyper("weight_decay", 0.01, (WD,))), (M, V),
              ((P, P * (1 - LR * WD)), *_ADAM_MOMENTS, _ADAM_STEP), defs=_ADAM_DEFS),
]}

NAMES: tuple[str, ...] = tuple(REGISTRY)
# Module-level names the kernel's optimiser and initialisation code (_train_step.py.j2,
# _init_schemes.py.j2) defines: a formula activation may not take one of these names. The locals
# of those functions (p, g, m, v, …) may be shared with an activation's name: the functions below
# call no activation, so nothing is shadowed.
SELF_CONTAINED = frozenset({"init_state", "train_step", "scheme_params", *(f"{n}_update" for n in NAMES)})
KERNEL_NAMES = frozenset({"OPTIMIZERS", "DECAYED", "SLOTS", "UPDATES", "FANS", "INIT_SCHEMES", "scheme",
                          *SELF_CONTAINED})


def optimizer(name: str) -> Optimizer:
    """The registry entry called ``name``, or an OptimizerError listing the names."""
    if name not in REGISTRY:
        raise OptimizerError(f"unknown optimizer {name!r}; choose one of {', '.join(NAMES)}")
    return REGISTRY[name]


def rule_latex(target: sp.Symbol, expr: sp.Expr, arrow: str = r"\leftarrow") -> str:
    """One assignment as LaTeX, ``m \\leftarrow \\beta_1 m + …`` (``arrow`` "=" for a definition)."""
    return f"{LATEX[target]} {arrow} {sp.latex(expr, symbol_names=LATEX)}"


def rule_text(target: sp.Symbol, expr: sp.Expr, arrow: str = "<-") -> str:
    """One assignment as plain text, ``m <- beta1*m + g*(1 - beta1)``."""
    shown = expr.xreplace({s: sp.Symbol(TEXT[s.name]) for s in expr.free_symbols if s.name in TEXT})
    return f"{TEXT.get(target.name, target.name)} {arrow} {sp.sstr(shown)}"
