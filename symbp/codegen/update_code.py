"""An optimiser's rules printed as NumPy statements that write into existing arrays only.

Each assignment ``target ← expr`` becomes ufunc calls with ``out=``: the operand that holds
``target`` is computed first, into ``target`` itself (sound because it occurs once, so its old
value is read before it is overwritten), and every other array operand into a scratch buffer
``s0``, ``s1``, … that the optimiser's state keeps. Sub-expressions with no array in them (bias
corrections, 1 − β₁) are hoisted out of the loop over parameters (``shared.Hoisted``) as Python
floats, which NumPy treats as weak scalars (float32 arrays stay float32). So a step allocates nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import sympy as sp

from ..core.errors import DerivationError
from ..core.optimizers import REGISTRY, G, Optimizer, P, T, rule_text
from ..core.printing import FUNCTIONS, numpy_code
from ..core.spec import Network
from . import shared
from .inplace import occurrences

POWERS = {2: ["np.square({d}, out={o})"], sp.Rational(1, 2): ["np.sqrt({d}, out={o})"],
          -1: ["np.divide(1, {d}, out={o})"],
          sp.Rational(-1, 2): ["np.sqrt({d}, out={o})", "np.divide(1, {d}, out={o})"]}


@dataclass
class UpdateCode:
    """Statements for a list of rules: hoisted scalars, then the per-parameter lines."""

    arrays: frozenset[sp.Symbol]
    scalars: shared.Hoisted = field(
        default_factory=lambda: shared.Hoisted("c", lambda name, e: f"{name} = float({numpy_code(e)})"))
    scratch: int = 0  # how many scratch buffers the lines use

    def rules(self, rules) -> list[str]:
        lines: list[str] = []
        for target, expr in rules:
            if expr == target:
                continue
            if occurrences(expr, target) == 1 and _first_path(expr, target):
                lines += self._into(expr, str(target), 0, target)
            else:
                lines += self._into(expr, "s0", 1, None) + [f"np.copyto({target}, s0)"]
                self.scratch = max(self.scratch, 1)
        return lines

    # ------------------------------------------------------------------ pieces

    def _is_array(self, expr: sp.Expr) -> bool:
        return bool(expr.free_symbols & self.arrays)

    def scalar(self, expr: sp.Expr) -> str:
        """A name (or literal) for an array-free sub-expression, hoisted once."""
        if expr.is_Number:
            return repr(float(expr)) if not expr.is_Integer else str(int(expr))
        if expr.is_Symbol:
            return str(expr)
        return self.scalars.name(expr)

    def _operand(self, expr: sp.Expr, free: int) -> tuple[str, list[str]]:
        """An array operand: its name, or a scratch buffer it is first computed into."""
        if expr.is_Symbol:
            return str(expr), []
        name = f"s{free}"
        self.scratch = max(self.scratch, free + 1)
        return name, self._into(expr, name, free + 1, None)

    def _into(self, expr: sp.Expr, dest: str, free: int, target: sp.Symbol | None) -> list[str]:
        """Statements leaving ``expr`` in array ``dest``; scratch s{free}… are available."""
        if expr.is_Symbol:
            return [] if str(expr) == dest else [f"np.copyto({dest}, {expr})"]
        if isinstance(expr, sp.Add):
            return self._add(expr, dest, free, target)
        if isinstance(expr, sp.Mul):
            return self._mul(expr, dest, free, target)
        if isinstance(expr, sp.Pow) and expr.exp in POWERS and self._is_array(expr.base):
            return self._unary(expr.base, [s.format(d="{}", o=dest) for s in POWERS[expr.exp]],
                               dest, free, target)
        if isinstance(expr, sp.Function) and type(expr).__name__ in FUNCTIONS and len(expr.args) == 1:
            fn = FUNCTIONS[type(expr).__name__]
            return self._unary(expr.args[0], [f"{fn}({{}}, out={dest})"], dest, free, target)
        raise DerivationError(f"no in-place NumPy form for the update {expr}")

    def _unary(self, arg: sp.Expr, calls: list[str], dest: str, free: int,
               target: sp.Symbol | None) -> list[str]:
        """Unary ufunc calls (``{}`` the input) on ``arg``: the first reads an array operand
        directly, the rest work on ``dest``."""
        if arg.is_Symbol and str(arg) != dest:
            return [calls[0].format(arg)] + [c.format(dest) for c in calls[1:]]
        return self._into(arg, dest, free, target) + [c.format(dest) for c in calls]

    def _ordered(self, parts: list[sp.Expr], target: sp.Symbol | None) -> list[sp.Expr]:
        """The part holding ``target`` first, then positive parts before negative ones."""
        return sorted(parts, key=lambda e: (target is None or not e.has(target),
                                            e.could_extract_minus_sign()))

    def _add(self, expr: sp.Add, dest: str, free: int, target: sp.Symbol | None) -> list[str]:
        parts = [t for t in expr.args if self._is_array(t)]
        rest = sp.Add(*[t for t in expr.args if not self._is_array(t)])
        first, *others = self._ordered(parts, target)
        if first.could_extract_minus_sign():
            lines = self._into(-first, dest, free, target) + [f"np.negative({dest}, out={dest})"]
        else:
            lines = self._into(first, dest, free, target)
        for term in others:
            negative = term.could_extract_minus_sign()
            name, pre = self._operand(-term if negative else term, free)
            lines += pre + [f"np.{'subtract' if negative else 'add'}({dest}, {name}, out={dest})"]
        if rest != 0:
            lines.append(f"np.add({dest}, {self.scalar(rest)}, out={dest})")
        return lines

    def _mul(self, expr: sp.Mul, dest: str, free: int, target: sp.Symbol | None) -> list[str]:
        coeff = sp.Mul(*[f for f in expr.args if not self._is_array(f)])
        factors = [f for f in expr.args if self._is_array(f)]
        dens = [f.base ** -f.exp for f in factors if isinstance(f, sp.Pow) and f.exp.is_negative]
        nums = self._ordered([f for f in factors if not (isinstance(f, sp.Pow) and f.exp.is_negative)],
                             target)
        scaled = False
        if not nums:  # coeff / (d₁ d₂ …)
            lines = self._into(sp.Mul(*dens), dest, free, target)
            return lines + [f"np.divide({self.scalar(coeff)}, {dest}, out={dest})"]
        first = nums[0]
        if first.is_Symbol and str(first) != dest and coeff != 1:
            lines, scaled = [f"np.multiply({first}, {self.scalar(coeff)}, out={dest})"], True
        else:
            lines = self._into(first, dest, free, target)
        for factor, fn in [(f, "multiply") for f in nums[1:]] + [(d, "divide") for d in dens]:
            name, pre = self._operand(factor, free)
            lines += pre + [f"np.{fn}({dest}, {name}, out={dest})"]
        if coeff == -1 and not scaled:
            lines.append(f"np.negative({dest}, out={dest})")
        elif coeff != 1 and not scaled:
            lines.append(f"np.multiply({dest}, {self.scalar(coeff)}, out={dest})")
        return lines


def _first_path(expr: sp.Expr, target: sp.Symbol) -> bool:
    """Whether ``target`` is reached through numerators, bases and single arguments only (so
    it can be the first thing computed into its own memory)."""
    if expr == target:
        return True
    if isinstance(expr, sp.Pow):
        return not expr.exp.has(target) and _first_path(expr.base, target) and not (
            expr.exp.is_negative)
    if isinstance(expr, sp.Add | sp.Mul | sp.Function):
        holder = [arg for arg in expr.args if arg.has(target)]
        return len(holder) == 1 and _first_path(holder[0], target)
    return False


def step_function(opt: Optimizer) -> dict:
    """The template's view of one optimiser: hyper-parameter unpacking, hoisted scalars,
    the weight-decay lines and the per-parameter lines, each printed from ``opt.rules``."""
    code = UpdateCode(frozenset({P, G, *opt.state}))
    decay = code.rules(opt.decay_rules())
    plain = code.rules(opt.plain_rules())
    unpack = [f'{", ".join(map(str, h.symbols))} = hyper["{h.keyword}"]' for h in opt.hyper]
    if any(T in expr.free_symbols for _, expr in opt.expanded()):
        unpack.append('t = state["t"]')
    doc = [rule_text(t, e, "=" if d else "<-") for t, e, d in opt.shown()]
    return {"name": opt.name, "title": opt.title, "doc": doc,
            "unpack": unpack, "scalars": code.scalars.lines, "decay": decay, "lines": plain,
            "slots": [str(s) for s in opt.state] + [f"s{i}" for i in range(code.scratch)],
            "defaults": repr(opt.defaults())}


@functools.cache
def _functions() -> tuple[dict, ...]:
    return tuple(step_function(o) for o in REGISTRY.values())


def kernel_context(net: Network) -> dict:
    """What ``_train_step.py.j2`` needs: every optimiser's function and the decayed weights."""
    trained = list(net.trained_shapes())
    return {"optimizers": list(_functions()),
            "decayed": repr(tuple(n for n in trained if n.startswith("W"))),
            "fans": [(f"W{l}", net.sizes[l - 1], net.sizes[l]) for l in range(1, net.depth + 1)]}
