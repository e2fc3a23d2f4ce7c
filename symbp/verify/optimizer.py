"""Checking a hand-written optimiser step against the registry's rules, and naming the slip.

``symbp verify --optimizer adam --function FILE.py:NAME --convention cs231n|symbp`` runs the
user's step for a few steps on a random array and random gradients (of very different sizes, so
that ε matters), and compares each step with the registry's rules evaluated in NumPy. When they
differ, each known slip (``SLIPS``: the rules with one mistake made on purpose) is run the same
way; a slip that reproduces the user's numbers is named.

Conventions:

``cs231n``  CS231n's ``optim.py``: ``fn(w, dw, config) -> (next_w, config)``, the state and the
            hyper-parameters in ``config`` (``learning_rate``, ``beta1``, ``beta2``, ``epsilon``,
            ``m``, ``v``, ``t``; ``momentum``, ``velocity``; ``decay_rate``, ``cache``).
``symbp``   ``fn(p, g, state, t, lr, **hyper) -> new p``: ``state`` a dict the function keeps
            its arrays in (empty at the first step), ``t`` the step from 1, ``hyper`` the
            registry's symbols (``beta1``, ``beta2``, ``eps``, ``momentum``, ``alpha``,
            ``weight_decay``).

Importing the user's file runs the user's code: that is the point of verifying it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..core.errors import SymbpError
from ..core.optimizers import EPS, LR, M_HAT, V_HAT, WD, G, M, Optimizer, P, T, V, optimizer

STEPS, SHAPE = 4, (3, 5)
CONVENTIONS = ("symbp", "cs231n")
# CS231n's config keys for the registry's symbols, and the name of each optimiser's function there.
CS231N_KEYS = {"lr": "learning_rate", "beta1": "beta1", "beta2": "beta2", "eps": "epsilon",
               "momentum": "momentum", "alpha": "decay_rate", "m": "m", "v": "v", "b": "velocity"}
CS231N_STATE = {"rmsprop": {"v": "cache"}}


@dataclass(frozen=True)
class Slip:
    """One mistake people make: how it changes the rules, and its name."""

    name: str
    applies: Callable[[Optimizer], bool]
    rules: Callable[[Optimizer], tuple]


def _sub(rules, old, new):
    return tuple((t, e.xreplace({old: new})) for t, e in rules)


def _no_correction(o: Optimizer) -> tuple:
    return _sub(_sub(o.rules, M_HAT, M), V_HAT, V)


def _eps_inside(o: Optimizer) -> tuple:
    inside = {sp.sqrt(V_HAT) + EPS: sp.sqrt(V_HAT + EPS), sp.sqrt(V) + EPS: sp.sqrt(V + EPS)}
    return tuple((t, e.subs(inside)) for t, e in o.rules)


def _param_first(o: Optimizer) -> tuple:
    return (o.rules[-1],) + o.rules[:-1]


def _coupled(o: Optimizer) -> tuple:
    return ((G, G + WD * P),) + tuple(r for r in o.rules if WD not in r[1].free_symbols)


SLIPS = (
    Slip("the bias correction is missing (m and v used for m̂ and v̂)", lambda o: bool(o.defs),
         _no_correction),
    Slip("ε is inside the square root (√(v̂ + ε) for √v̂ + ε)", lambda o: EPS in _all(o), _eps_inside),
    Slip("the parameter is updated before the moments (with the previous step's moments)",
         lambda o: bool(o.state), _param_first),
    Slip("weight decay is coupled (added to the gradient) where AdamW decouples it",
         lambda o: o.name == "adamw", _coupled),
)


def _all(o: Optimizer) -> set:
    return set().union(*(e.free_symbols for _, e in o.expanded()))


class Reference:
    """The rules of one step evaluated in NumPy (lambdify of the registry's own formulas)."""

    def __init__(self, opt: Optimizer, rules: tuple, hyper: dict[sp.Symbol, float], decayed: bool):
        self.opt, self.hyper = opt, dict(hyper)
        if not decayed:
            self.hyper[WD] = 0.0
        expanded = tuple((t, e.xreplace(dict(opt.defs))) for t, e in rules)
        names = [P, G, *opt.state, T, LR, *self.hyper]
        self.steps = [(t, sp.lambdify(names, e, "numpy")) for t, e in expanded]
        self.state = {s: 0.0 for s in opt.state}

    def step(self, p: np.ndarray, g: np.ndarray, t: int, lr: float) -> np.ndarray:
        env = {P: p, G: g, **self.state, T: t, LR: lr, **self.hyper}
        with np.errstate(all="ignore"):  # a slip's rules may take √ of a negative: nan, no match
            for target, fn in self.steps:
                env[target] = fn(*env.values())
        self.state = {s: env[s] for s in self.opt.state}
        return np.asarray(env[P], dtype=np.float64)


@dataclass
class StepReport:
    optimizer: str
    ok: bool
    step: int | None = None  # first step that differs
    error: float = 0.0
    slip: str | None = None
    problem: str = ""  # the function could not be called as the convention says

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 2 if self.problem else 1

    def render(self) -> str:
        if self.problem:
            return f"  cannot check it: {self.problem}\nverdict: NOT CHECKED"
        if self.ok:
            return (f"  {STEPS} steps agree with {self.optimizer}'s rules (relative error "
                    f"{self.error:.1e})\nverdict: PASS")
        where = f"  step {self.step} differs from {self.optimizer}'s rules (relative error {self.error:.1e})"
        slip = f"\n  diagnosis: {self.slip}" if self.slip else "\n  diagnosis: none of the known slips"
        return f"{where}{slip}\nverdict: WRONG {self.optimizer} step"


def _data(seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(SHAPE)
    scale = 10.0 ** rng.uniform(-5, 0, SHAPE)  # tiny gradients make ε and the corrections show
    return p, [rng.standard_normal(SHAPE) * scale for _ in range(STEPS)]


def _caller(convention: str, fn: Callable, opt: Optimizer, values: dict, lr: float) -> Callable:
    if convention == "symbp":
        state: dict = {}
        hyper = {s.name: v for s, v in values.items()}
        return lambda p, g, t: fn(p.copy(), g.copy(), state, t, lr, **hyper)
    config = {CS231N_KEYS[s.name]: v for s, v in values.items() if s.name in CS231N_KEYS}
    config["learning_rate"] = lr

    def call(p, g, t):
        out = fn(p.copy(), g.copy(), config)
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
            raise SymbpError("a cs231n step returns (next_w, config)")
        config.update(out[1])
        return out[0]

    return call


def _run(step: Callable, p: np.ndarray, grads: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for t, g in enumerate(grads, start=1):
        p = np.asarray(step(p, g, t), dtype=np.float64)
        if p.shape != SHAPE:
            raise SymbpError(f"step {t} returned shape {p.shape}, not {SHAPE}")
        out.append(p)
    return out


def _error(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[int | None, float]:
    """(first step where a and b differ by more than 1e-9 relative, largest error)."""
    worst, first = 0.0, None
    for t, (x, y) in enumerate(zip(a, b), start=1):
        err = float(np.max(np.abs(x - y) / np.maximum(np.maximum(np.abs(x), np.abs(y)), 1e-12)))
        worst = max(worst, err)
        if err > 1e-9 and first is None:
            first = t
    return first, worst


def check_step(fn: Callable, name: str, convention: str = "symbp", *, lr: float = 1e-2,
               hyper: dict | None = None, decayed: bool = True, seed: int = 0) -> StepReport:
    """Compare ``fn`` (a step of optimiser ``name`` in ``convention``) with the registry."""
    if convention not in CONVENTIONS:
        raise SymbpError(f"--convention: an optimiser step is written as {' or '.join(CONVENTIONS)}")
    opt = optimizer(name)
    values = opt.values(**(hyper or {}))
    if convention == "cs231n" and values.get(WD):
        raise SymbpError("the cs231n convention has no weight decay; use --convention symbp")
    p0, grads = _data(seed)
    try:
        theirs = _run(_caller(convention, fn, opt, values, lr), p0, grads)
    except SymbpError as exc:
        return StepReport(name, False, problem=str(exc))
    except Exception as exc:  # the user's code failed: report it in one line
        return StepReport(name, False, problem=f"the function raised {type(exc).__name__}: {exc}")

    def reference(rules) -> list[np.ndarray]:
        ref = Reference(opt, rules, values, decayed)
        return _run(lambda p, g, t: ref.step(p, g, t, lr), p0, grads)

    step, error = _error(theirs, reference(opt.rules))
    if step is None:
        return StepReport(name, True, error=error)
    slip = next((s.name for s in SLIPS if s.applies(opt) and
                 _error(theirs, reference(s.rules(opt)))[0] is None), None)
    return StepReport(name, False, step, error, slip)
