"""Network specs: TOML / JSON / Python dicts → a validated, immutable ``Network``.

Every check raises ``SpecError`` with a one-line message that names the offending field, so the
CLI can print it as is.
"""

from __future__ import annotations

import builtins
import difflib
import hashlib
import json
import keyword
import re
import sys
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import mpmath
import sympy as sp

from . import activations, interval, losses
from .errors import FormulaError, SpecError, SymbpError
from .files import read_text
from .functions import TABLE, mpmath_function
from .optimizers import KERNEL_NAMES
from .printing import numpy_code

BIAS_MODES = ("neuron", "shared", "none")
REDUCTIONS = ("mean", "sum")
LAYOUTS = ("out_in", "in_out")
# λ/(2m)·ΣW² (seed 004), reg/2·ΣW² (seed 002), reg·ΣW²: the factor c in c·ΣW², m the batch size.
REG_CONVENTIONS = {"lambda_over_2m": "λ/(2m)", "half": "1/2", "plain": "1"}
MAX_SIZE = 100_000
MAX_LAYERS = 256
MAX_PARAMS = 100_000_000  # 0.8 GB of float64 weights; a spec beyond this is a typo, not a network
MAX_NAME = 64  # characters of a network, formula or neuron name
MAX_DESCRIPTION = 1000  # characters of the description (one line in every header)
MAX_SPEC_BYTES = 1_000_000  # size of a spec file
# ASCII only: unicode lookalikes (Cyrillic а, fullwidth ｅ) are not identifiers here. \Z, not $,
# so that a trailing newline does not pass.
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
# Names the generated module uses itself; a neuron name may not shadow them.
RESERVED = frozenset({"np", "numpy", "params", "grads", "X", "Y", "lr", "seed", "dtype", "B",
                      "forward", "loss", "loss_and_grad", "sgd_step", "init_params", "checked_rows",
                      "PARAM_SHAPES", "sigmoid", "softmax", "self", "cls", "None", "True",
                      "False"})
# A formula activation becomes a function ``def <name>(z)`` in the generated module and is called
# from forward/loss/loss_and_grad, so its name may not be any module-level name, any local of
# those functions (assigning a name anywhere in a function makes it local throughout) nor a
# builtin. The pattern covers the per-layer arrays (Z1, A1, W1, H1, b1, delta1, dW1, logA1, …: any
# capitalised name with a layer number) and the kernel's derived names (d_w1, up_z_h1, sigmoid_float).
GENERATED_NAMES = RESERVED | frozenset({
    "FROZEN", "MAX_ROWS", "math", "workspace", "forward_arrays", "loss_arrays",
    "loss_and_grad_arrays", "log_softmax", "sigmoid_pair", "J", "r", "s", "e", "z", "a", "x", "y",
    "out", "alpha", "rng", "shifted", "lse", "tail", "key", "ws", "work", "tmp", "buf", "mask", "grad",
    "step", "new", "name", "value", "shape", "rest", "rows", "top", "total", "log_total"}) | KERNEL_NAMES
GENERATED_PATTERN = re.compile(
    r"([A-Z][A-Za-z]*|b|delta|dW|db|dZ|dA|logA|d|g|t|c|s)[0-9]+\Z|(d|lo|up)_.*|.*_(float|arrays)\Z")
# Neuron names become variables of the generated module too (small networks are computed on named
# Python floats), so they may not be builtins or names the module defines for itself.
NEURON_FORBIDDEN = RESERVED | frozenset(n for n in dir(builtins) if not n.startswith("_")) | {
    "MAX_ROWS", "FROZEN", "math", "workspace", "forward_arrays", "loss_arrays",
    "loss_and_grad_arrays", "log_softmax", "work", "ws", "key", "rest", "rows", "top", "log_total"}
NEURON_PATTERN = re.compile(r".*_(float|arrays)\Z")
# A network called ``json`` would be emitted as json.py and shadow the module of that name for
# every script run next to it.
MODULE_NAMES = frozenset(sys.stdlib_module_names) | {
    "numpy", "sympy", "symbp", "jinja2", "autograd", "scipy", "mpmath", "lark", "pytest",
    "hypothesis", "conftest", "setup", "site", "sitecustomize", "usercustomize"}
NAME_KINDS = ("inputs", "weights", "biases", "pre_activations", "activations", "targets",
              "loss")
TOP_KEYS = {"name", "description", "inputs", "layers", "loss", "reduction", "regularization",
            "weight_layout", "names", "activations", "losses", "example"}
LAYER_KEYS = {"size", "activation", "alpha", "bias", "train_bias"}


@dataclass(frozen=True)
class Layer:
    """A dense layer: z = W a_prev + b, a = g(z)."""

    size: int
    activation: str = "sigmoid"
    alpha: float | None = None  # leaky_relu's slope
    bias: str = "neuron"
    train_bias: bool = True

    @property
    def trains_bias(self) -> bool:
        return self.bias != "none" and self.train_bias


@dataclass(frozen=True)
class Regularization:
    convention: str = "half"
    strength: float = 0.0


@dataclass(frozen=True)
class Network:
    """A validated architecture; build it with ``Network.from_dict`` or ``load_spec``."""

    name: str
    inputs: int
    layers: tuple[Layer, ...]
    loss: str = "half_sse"
    reduction: str = "mean"
    regularization: Regularization = Regularization()
    weight_layout: str = "out_in"
    names: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    formulas: dict[str, dict[str, str]] = field(default_factory=dict, hash=False, compare=False)
    example: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    description: str = ""
    source: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)

    @staticmethod
    def from_dict(data: dict[str, Any], *, default_name: str = "network") -> Network:
        """Validate a spec given as plain data (what TOML or JSON parse to)."""
        return _build(data, default_name)

    @property
    def sizes(self) -> list[int]:
        return [self.inputs] + [layer.size for layer in self.layers]

    @property
    def depth(self) -> int:
        return len(self.layers)

    def activation(self, index: int) -> activations.Activation:
        """The registry (or formula) entry for layer ``index`` (1-based)."""
        name = self.layers[index - 1].activation
        if name in self.formulas.get("activations", {}):
            return activations.formula_activation(name, self.formulas["activations"][name])
        return activations.REGISTRY[name]

    def activation_expr(self, index: int) -> sp.Expr | None:
        """g_l(x) with parameters filled in; None for softmax."""
        entry = self.activation(index)
        if entry.vector:
            return None
        alpha = self.layers[index - 1].alpha
        return entry.instantiate(**({"alpha": alpha} if alpha is not None else {}))

    def loss_entry(self) -> losses.Loss:
        if self.loss in self.formulas.get("losses", {}):
            return losses.formula_loss(self.loss, self.formulas["losses"][self.loss])
        return losses.REGISTRY[self.loss]

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the parameters the kernel takes, in order W1, b1, W2, …"""
        shapes: dict[str, tuple[int, ...]] = {}
        for l, layer in enumerate(self.layers, start=1):
            n_in, n_out = self.sizes[l - 1], layer.size
            shapes[f"W{l}"] = (n_out, n_in) if self.weight_layout == "out_in" else (n_in, n_out)
            if layer.bias != "none":
                shapes[f"b{l}"] = (n_out,) if layer.bias == "neuron" else ()
        return shapes

    def trained_shapes(self) -> dict[str, tuple[int, ...]]:
        """``param_shapes`` of the parameters that get a gradient: every W, and the biases of
        layers that train theirs."""
        return {name: shape for name, shape in self.param_shapes().items()
                if name.startswith("W") or self.layers[int(name[1:]) - 1].trains_bias}

    def spec_hash(self) -> str:
        """A short hash of the normalised spec, printed in generated headers."""
        blob = json.dumps(self.source, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def n_params(self) -> int:
        return sum(int(max(1, _prod(s))) for s in self.param_shapes().values())


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for n in shape:
        out *= n
    return out


def one_line(text: str) -> str:
    """``text`` on one line: whitespace runs (newlines included) collapsed to one space, and
    other control or format characters (NUL, bidi overrides, zero-width joiners) escaped."""
    text = " ".join(text.split())
    return "".join(c if unicodedata.category(c)[0] != "C" else f"\\u{ord(c):04x}" for c in text)


def has_control(text: str) -> bool:
    """True when text holds a line break, NUL, bidi override or other control/format character."""
    return any(unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp")
               for c in text)


def _fail(where: str, message: str) -> SpecError:
    return SpecError(one_line(f"{where}: {message}"))


def _show(value: Any, limit: int = 60) -> str:
    """repr of a user value, shortened: messages stay one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _key(key: Any) -> str:
    """A user's key as it appears in a field path: plain when it is a name, else quoted."""
    plain = isinstance(key, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", key)
    return key if plain else _show(key, 40)


def _identifier(value: Any, where: str, example: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise _fail(where, f"must be an identifier (ASCII letters, digits, _) such as {example}, "
                           f"got {_show(value)}")
    if len(value) > MAX_NAME:
        raise _fail(where, f"is longer than {MAX_NAME} characters")
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        raise _fail(where, f"'{value}' is a Python keyword")
    return value


def _network_name(value: Any) -> str:
    name = _identifier(value, "name", "my_net")
    if name in MODULE_NAMES:
        raise _fail("name", f"'{name}' would shadow the Python module {name} when the kernel "
                            f"{name}.py is imported; choose another name")
    return name


def _formula_name(value: Any, where: str) -> str:
    name = _identifier(value, where, "swish")
    if name in GENERATED_NAMES or GENERATED_PATTERN.match(name) or hasattr(builtins, name):
        raise _fail(where, f"'{name}' is a name the generated module uses; choose another name")
    return name


def _description(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail("description", f"must be a string, got {_show(value)}")
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co")
                and not c.isspace()), None)
    if bad is not None:
        raise _fail("description", f"contains the control character U+{ord(bad):04X}")
    text = " ".join(value.split())  # one line in every header: newlines become spaces
    if len(text) > MAX_DESCRIPTION:
        raise _fail("description", f"is longer than {MAX_DESCRIPTION} characters")
    return text


def _int(value: Any, where: str, low: int = 1, high: int = MAX_SIZE) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"must be an integer, got {_show(value)}")
    if not low <= value <= high:
        raise _fail(where, f"must be between {low} and {high}, got {_show(value)}")
    return value


def _did_you_mean(word: Any, options: Iterable[str]) -> str:
    """"; did you mean X?" for the option closest to a misspelt or miscased word, else ""."""
    if not isinstance(word, str):
        return ""
    by_lower = {option.lower(): option for option in options}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f"; did you mean {by_lower[close[0]]}?" if close else ""


def _choice(value: Any, where: str, options: tuple[str, ...] | list[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise _fail(where, f"must be one of {', '.join(options)}; got {_show(value)}"
                           f"{_did_you_mean(value, options)}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise _fail(where, f"must be a number, got {_show(value)}")
    if abs(value) > 1e12:
        raise _fail(where, f"is out of range: {_show(value)}")
    return float(value)


def _unknown_keys(data: dict, allowed: set[str], where: str, hint: str = "") -> None:
    """Refuse the first key (sorted) not in ``allowed``, suggesting the closest allowed one,
    else ``hint``."""
    extra = sorted(set(data) - allowed, key=_key)
    if extra:
        advice = _did_you_mean(extra[0], sorted(allowed)) or hint
        raise _fail(f"{where}{_key(extra[0])}",
                    f"unknown field; expected one of {', '.join(sorted(allowed))}{advice}")


FORMULA_KEYS = {"formula"}
# Probe points, nearest 0 first: a formula activation must be a finite real number at each, and
# so must its derivative (0 is where kinks and poles usually sit). A formula loss is probed at
# the values its output activation takes at these points and at targets 0, 1/2 and 1.
PROBES = tuple(sp.Rational(v) for v in (
    "0", "1/2", "-1/2", "1", "-1", "1/10", "-1/10", "2", "-2", "3", "-3", "10", "-10", "30", "-30"))
TARGET_PROBES = (sp.Integer(0), sp.Rational(1, 2), sp.Integer(1))
MAX_PROBE_NODES = 20_000  # nodes of a formula's derivative; beyond this it is refused as too big

def _formulas(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {"activations": {}, "losses": {}}
    for kind in ("activations", "losses"):
        table = data.get(kind, {})
        if not isinstance(table, dict):
            raise _fail(kind, "must be a table of name = {formula = \"...\"}")
        for name, entry in table.items():
            where = f"{kind}.{_key(name)}"
            _formula_name(name, where)
            registry = activations.REGISTRY if kind == "activations" else losses.REGISTRY
            if name in registry:
                raise _fail(where, f"'{name}' is built in; choose another name")
            if isinstance(entry, dict):
                _unknown_keys(entry, FORMULA_KEYS, f"{where}.")
                if "formula" not in entry:
                    raise _fail(f"{where}.formula", "is missing")
            text = entry.get("formula") if isinstance(entry, dict) else entry
            if not isinstance(text, str):
                raise _fail(f"{where}.formula", "must be a string such as \"x/(1+exp(-x))\"")
            out[kind][name] = _checked_formula(kind, name, text, f"{where}.formula")
    return out


def _checked_formula(kind: str, name: str, text: str, where: str) -> str:
    """The formula's text on one line, once it passed the checks of its kind (errors name
    ``where``)."""
    # One line: the parser reads any whitespace as a separator, so nothing is lost, and
    # the text can be quoted in messages and documents without breaking a line.
    text = " ".join(text.split())
    try:
        if kind == "activations":
            _check_activation_formula(name, text)
        else:
            term = losses.formula_loss(name, text).term
            if _derivative_size(term, losses.a) > MAX_PROBE_NODES:
                raise SpecError(f"the derivative of '{text}' would be too large "
                                f"(over {MAX_PROBE_NODES:,} terms)")
    except FormulaError as exc:
        raise _fail(where, str(exc)) from None
    except SymbpError as exc:
        raise _fail(where, str(exc).split(": ", 1)[-1]) from None
    return text


def _inline_activation(text: str, index: int, formulas: dict[str, dict[str, str]]) -> str:
    """A layer's activation written as a formula in x (``activation = "x*sigmoid(x)"``): checked
    like [activations.NAME] and registered under the name layerN_activation (the same text
    in two layers shares one name)."""
    where = f"layers[{index}].activation"
    text = _checked_formula("activations", f"layer{index + 1}_activation", text, where)
    table = formulas["activations"]
    same = [name for name, formula in table.items() if formula == text and name.endswith("_activation")]
    if same:
        return same[0]
    name, n = f"layer{index + 1}_activation", 1
    while name in table:
        n += 1
        name = f"layer{index + 1}_activation_{n}"
    table[name] = text
    return name


class _HugeError(Exception):
    """An intermediate value beyond ~1e300: the probe point says nothing (skip it)."""


class _UndefinedError(Exception):
    """A pole, a log of a non-positive number, a complex power: the formula is undefined here."""


_MP = mpmath.MPContext()
_MP.prec = 80
_HUGE = _MP.mpf(10) ** 300
# The table's functions in mpmath: those that grow like exp are guarded against huge arguments;
# log, sqrt, max, min and Heaviside are evaluated by _value itself.
_OWN = {sp.log, sp.Max, sp.Min, sp.Heaviside}
_UNARY = {f.sympy: mpmath_function(f, _MP) for f in TABLE
          if f.sympy is not None and f.sympy not in _OWN and not f.grows}
_GROWING = {f.sympy: mpmath_function(f, _MP) for f in TABLE if f.sympy is not None and f.grows}


def _value(expr: sp.Expr, x: sp.Symbol, point: Any, memo: dict) -> Any:
    """expr at x = point in 80-bit mpmath arithmetic, never computing anything astronomically
    large (exp(exp(exp(30))) stops at once with _HugeError); _UndefinedError where expr is undefined."""
    if expr in memo:
        return memo[expr]
    args = [_value(arg, x, point, memo) for arg in expr.args] \
        if not isinstance(expr, (sp.Piecewise, sp.Heaviside)) else None
    if expr == x:
        v = point
    elif expr.is_Number:
        if expr.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
            raise _UndefinedError
        v = _MP.mpf(expr.p) / expr.q if expr.is_Rational else _MP.mpf(str(expr))
    elif expr is sp.pi:
        v = _MP.pi
    elif expr is sp.E:
        v = _MP.e
    elif isinstance(expr, sp.Add):
        v = _MP.fsum(args)
    elif isinstance(expr, sp.Mul):
        v = _MP.fprod(args)
    elif isinstance(expr, sp.Pow):
        base, exponent = args
        if base == 0 and exponent < 0:
            raise _UndefinedError
        if base < 0 and not expr.exp.is_integer:
            raise _UndefinedError
        if base != 0 and abs(exponent * _MP.log(abs(base))) > 690:
            raise _HugeError
        v = _MP.power(base, exponent)
    elif isinstance(expr, sp.log):
        if args[0] <= 0:
            raise _UndefinedError
        v = _MP.log(args[0])
    elif type(expr) in _GROWING:
        if abs(args[0]) > 690:
            raise _HugeError
        v = _GROWING[type(expr)](args[0])
    elif type(expr) in _UNARY:
        v = _UNARY[type(expr)](args[0])
    elif isinstance(expr, sp.Max):
        v = max(args)
    elif isinstance(expr, sp.Min):
        v = min(args)
    elif isinstance(expr, sp.Heaviside):
        u = _value(expr.args[0], x, point, memo)
        v = _MP.mpf(1) if u > 0 else _MP.mpf(0) if u < 0 else _MP.mpf(0.5)
    elif isinstance(expr, sp.Piecewise):  # relu and leaky relu in the registry
        v = next(_value(piece, x, point, memo) for piece, cond in expr.args
                 if _holds(cond, x, point, memo))
    else:
        raise _HugeError  # a node this evaluator does not know: the point proves nothing
    if abs(v) > _HUGE:
        raise _HugeError
    if not _MP.isfinite(v):
        raise _UndefinedError
    memo[expr] = v
    return v


def _holds(cond: sp.Basic, x: sp.Symbol, point: Any, memo: dict) -> bool:
    if cond is sp.true:
        return True
    if isinstance(cond, sp.core.relational.Relational):
        lhs, rhs = _value(cond.lhs, x, point, memo), _value(cond.rhs, x, point, memo)
        ops = {"<=": lhs <= rhs, "<": lhs < rhs, ">=": lhs >= rhs, ">": lhs > rhs}
        if cond.rel_op in ops:
            return bool(ops[cond.rel_op])
    raise _HugeError  # a condition this evaluator does not read: the point proves nothing


def _undefined_at(expr: sp.Expr, x: sp.Symbol, points) -> Any:
    """The first point where expr is not a finite real number, or None."""
    for point in points:
        try:
            at = _MP.mpf(point.p) / point.q if isinstance(point, sp.Rational) else point
            _value(expr, x, at, {})
        except _HugeError:
            continue
        except _UndefinedError:
            return point
        except (ArithmeticError, TypeError, ValueError):
            return point
    return None


def _derivative_size(expr: sp.Expr, x: sp.Symbol) -> int:
    """An estimate (from above, roughly) of the number of nodes of d expr/dx, computed without
    differentiating: the product rule squares the size of a long product, so sympy's diff of
    (x+1)(x+2)…(x+250) takes seconds and yields 185,000 nodes; refuse that before it starts."""
    memo: dict[sp.Basic, tuple[int, int, bool]] = {}

    def walk(e: sp.Basic) -> tuple[int, int, bool]:
        if e in memo:
            return memo[e]
        if e == x:
            out = (1, 1, True)
        elif not e.args:
            out = (1, 1, False)
        else:
            parts = [walk(arg) for arg in e.args]
            n = 1 + sum(p[0] for p in parts)
            has = any(p[2] for p in parts)
            if not has:
                out = (n, 1, False)
            elif isinstance(e, sp.Add):
                out = (n, 1 + sum(p[1] for p in parts if p[2]), True)
            elif isinstance(e, sp.Mul):
                out = (n, 1 + sum(p[1] + n - p[0] for p in parts if p[2]), True)
            else:  # f(u), u**v, max(u, v): f'(u)·u' is about the size of f(u) plus u'
                out = (n, 3 + 2 * n + sum(p[1] for p in parts if p[2]), True)
        memo[e] = out
        return out

    return walk(expr)[1]


def _nodes(expr: sp.Expr, limit: int) -> int:
    count = 0
    for _ in sp.preorder_traversal(expr):
        count += 1
        if count > limit:
            break
    return count


def _check_activation_formula(name: str, text: str) -> None:
    """g must be a real function of x with a derivative sympy can write down (kinks like abs or
    max are fine: sign and Heaviside are bounded; sqrt(abs(x)) is not, at 0) that is not zero
    everywhere, and both, as the kernel computes them, must be finite float64 numbers for every
    x in [−1000, 1000] (interval arithmetic over the whole range, not a few probes)."""
    x = activations.x
    g = activations.formula_activation(name, text).expr
    if _derivative_size(g, x) > MAX_PROBE_NODES:
        raise SpecError(f"the derivative of '{text}' would be too large (over {MAX_PROBE_NODES:,} terms)")
    dg = sp.diff(g, x)
    if _nodes(dg, MAX_PROBE_NODES) > MAX_PROBE_NODES:
        raise SpecError(f"the derivative of '{text}' is too large (over {MAX_PROBE_NODES:,} terms)")
    if dg.has(sp.Derivative, sp.Subs):
        raise SpecError(f"'{text}' has no derivative sympy can write down")
    if dg.has(sp.DiracDelta):
        raise SpecError(f"'{text}' is not differentiable: its derivative has a Dirac delta")
    for what, expr in (("is", g), ("has a derivative that is", dg)):
        bad = _undefined_at(expr, x, PROBES)
        if bad is not None:
            raise SpecError(f"'{text}' {what} not a finite real number at x = {bad}")
    if _zero_at_probes(dg, x):
        raise SpecError(f"'{text}' is a constant (its derivative is 0 everywhere), so it cannot learn")
    for what, expr in (("", g), (" has a derivative that", dg)):
        problem = interval.first_problem(expr, x)
        if problem is not None:
            hint = _WHERE_HINT if problem.kind == "overflow" and g.has(sp.Max, sp.Min) else ""
            raise SpecError(f"'{text}'{what} {problem.describe()}{hint}")
    for expr in (g, dg):
        numpy_code(expr)  # DerivationError (one line) when a function has no NumPy form


_WHERE_HINT = "; write the branches with where(x > 0, …, …) so that each is computed only where it applies"


def _zero_at_probes(dg: sp.Expr, x: sp.Symbol) -> bool:
    """Whether g' is exactly 0, or below 1e-50 at every probe point (sin(x)^2 + cos(x)^2)."""
    if dg == 0:
        return True
    values = []
    for p in PROBES:
        try:
            values.append(_value(dg, x, _MP.mpf(p.p) / p.q, {}))
        except (_HugeError, _UndefinedError):
            return False
    return all(abs(v) < _MP.mpf(10) ** -50 for v in values)


def _output_values(expr: sp.Expr | None) -> list:
    """Values the output activation takes at the probe points (softmax: a spread in (0, 1))."""
    if expr is None:
        return [sp.Rational(1, 1000), sp.Rational(1, 4), sp.Rational(1, 2), sp.Rational(999, 1000)]
    values = []
    for p in PROBES:
        try:
            values.append(_value(expr, activations.x, _MP.mpf(p.p) / p.q, {}))
        except (_HugeError, _UndefinedError):
            continue
    return values


def _check_formula_loss(net: Network) -> None:
    """A formula loss must be finite and real, with a finite real ∂ℓ/∂a, wherever the output
    activation can take it: -log(a) under relu (a = 0) or log(1 - a) under identity is not."""
    name = net.loss
    entry = net.loss_entry()
    out = net.layers[-1]
    g = net.activation_expr(net.depth)
    dl = sp.diff(entry.term, losses.a)
    for y_value in TARGET_PROBES:
        for what, expr in (("is", entry.term), ("has a derivative ∂ℓ/∂a that is", dl)):
            bad = _undefined_at(expr.subs(losses.y, y_value), losses.a, _output_values(g))
            if bad is not None:
                raise _fail("loss", f"'{name}' {what} undefined at a = {_MP.nstr(bad, 6)}, "
                                    f"y = {y_value}, an output the {out.activation} layer gives")
    try:
        for expr in (entry.term, dl):
            numpy_code(expr)
    except SymbpError as exc:
        raise _fail(f"losses.{name}.formula", str(exc)) from None


def _layer(data: Any, index: int, formulas: dict[str, dict[str, str]], last: bool) -> Layer:
    where = f"layers[{index}]"
    if not isinstance(data, dict):
        raise _fail(where, "must be a table with size and activation")
    _unknown_keys(data, LAYER_KEYS, f"{where}.")
    if "size" not in data:
        raise _fail(f"{where}.size", "is missing")
    size = _int(data["size"], f"{where}.size")
    act_name = data.get("activation", "sigmoid")
    known = list(activations.REGISTRY) + list(formulas["activations"])
    if isinstance(act_name, str) and not NAME_RE.match(act_name):  # a formula, not a name
        try:
            act_name = _inline_activation(act_name, index, formulas)
        except SpecError as exc:  # "leaky-relu" is a misspelt name more likely than a formula
            hint = _did_you_mean(act_name, known)
            if hint:
                raise _fail(f"{where}.activation", f"unknown activation {act_name!r}{hint}") from None
            raise exc from None
        known.append(act_name)
    _choice(act_name, f"{where}.activation", known)
    if act_name == "softmax" and not last:
        raise _fail(f"{where}.activation", "softmax is only supported on the output layer")
    if act_name == "softmax" and size < 2:
        raise _fail(f"{where}.size", "softmax over one output is the constant 1 and cannot learn; "
                                     "use at least 2 outputs or sigmoid")
    alpha = data.get("alpha")
    if alpha is not None:
        if act_name != "leaky_relu":
            raise _fail(f"{where}.alpha", "only leaky_relu takes alpha")
        alpha = _number(alpha, f"{where}.alpha")
        if not 0 < alpha < 1:
            raise _fail(f"{where}.alpha", f"must lie in (0, 1), got {alpha}")
    elif act_name in activations.REGISTRY and "alpha" in activations.REGISTRY[act_name].params:
        alpha = activations.REGISTRY[act_name].params["alpha"]
    bias = _choice(data.get("bias", "neuron"), f"{where}.bias", BIAS_MODES)
    train = data.get("train_bias", True)
    if not isinstance(train, bool):
        raise _fail(f"{where}.train_bias", f"must be true or false, got {train!r}")
    return Layer(size, act_name, alpha, bias, train)


def _check_pairing(layers: tuple[Layer, ...], loss_name: str, entry: losses.Loss) -> None:
    out = layers[-1].activation
    if entry.requires is not None and out not in entry.requires:
        need = " or ".join(sorted(entry.requires))
        raise _fail("loss", f"'{loss_name}' needs a {need} output layer, not {out}")


def _regularization(data: Any) -> Regularization:
    if data is None:
        return Regularization()
    if not isinstance(data, dict):
        raise _fail("regularization", "must be a table with convention and strength")
    _unknown_keys(data, {"convention", "strength"}, "regularization.")
    conv = _choice(data.get("convention", "half"), "regularization.convention",
                   tuple(REG_CONVENTIONS))
    strength = _number(data.get("strength", 0.0), "regularization.strength")
    if strength < 0:
        raise _fail("regularization.strength", f"must be ≥ 0, got {strength}")
    return Regularization(conv, strength)


EXAMPLE_KEYS = {"values", "learning_rate", "steps"}


def _example(data: Any) -> dict[str, Any]:
    """The spec's worked example: ``values`` (a table of name = number) and optionally
    ``learning_rate`` and ``steps``. Named values written straight into ``[example]`` are
    refused, not ignored: they belong in ``[example.values]``."""
    from .options import MAX_LEARNING_RATE, MAX_STEPS

    if not isinstance(data, dict):
        raise _fail("example", "must be a table with values (and learning_rate, steps)")
    _unknown_keys(data, EXAMPLE_KEYS, "example.",
                  hint="; named values go in [example.values] (or example.values = {...})")
    values = data.get("values", {})
    if not isinstance(values, dict):
        raise _fail("example.values", "must be a table of name = number")
    for name, value in values.items():
        _number(value, f"example.values.{_key(name)}")
    if "learning_rate" in data:
        rate = _number(data["learning_rate"], "example.learning_rate")
        if not 0 < rate <= MAX_LEARNING_RATE:
            raise _fail("example.learning_rate", f"must lie in (0, {MAX_LEARNING_RATE:g}], got {rate}")
    if "steps" in data:
        _int(data["steps"], "example.steps", 0, MAX_STEPS)
    return data


def _build(data: Any, default_name: str) -> Network:
    if not isinstance(data, dict):
        raise SpecError("spec: must be a table (TOML) or an object (JSON)")
    _unknown_keys(data, TOP_KEYS, "")
    name = _network_name(data.get("name", default_name))
    if "inputs" not in data:
        raise _fail("inputs", "is missing (the number of input features)")
    inputs = _int(data["inputs"], "inputs")
    layers_data = data.get("layers")
    if not isinstance(layers_data, list) or not layers_data:
        raise _fail("layers", "must be a non-empty list of layers")
    if len(layers_data) > MAX_LAYERS:
        raise _fail("layers", f"at most {MAX_LAYERS} layers are supported")
    description = _description(data.get("description", ""))
    formulas = _formulas(data)
    layers = tuple(_layer(d, i, formulas, i == len(layers_data) - 1)
                   for i, d in enumerate(layers_data))
    loss_name = _choice(data.get("loss", "half_sse"), "loss",
                        list(losses.REGISTRY) + list(formulas["losses"]))
    net = Network(
        name=name, inputs=inputs, layers=layers, loss=loss_name,
        reduction=_choice(data.get("reduction", "mean"), "reduction", REDUCTIONS),
        regularization=_regularization(data.get("regularization")),
        weight_layout=_choice(data.get("weight_layout", "out_in"), "weight_layout", LAYOUTS),
        names={}, formulas=formulas, example={}, description=description, source=data,
    )
    if net.n_params() > MAX_PARAMS:
        raise _fail("layers", f"the network has {net.n_params():,} parameters; at most "
                              f"{MAX_PARAMS:,} are supported")
    _check_pairing(layers, loss_name, net.loss_entry())
    if loss_name in formulas["losses"]:
        _check_formula_loss(net)
    names = data.get("names", {})
    if not isinstance(names, dict):
        raise _fail("names", "must be a table")
    _unknown_keys(names, set(NAME_KINDS), "names.")
    object.__setattr__(net, "names", names)
    object.__setattr__(net, "example", _example(data.get("example", {})))
    if names:
        from .naming import check_name_spec, neuron_names

        check_name_spec(names)  # types and characters, whatever the network's size
        if _small(net):
            neuron_names(net)  # validates every name; raises SpecError naming the field
    return net


def _small(net: Network) -> bool:
    return net.n_params() <= 10_000


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON objects keep the last of repeated keys; a spec must not repeat one (TOML agrees)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def _read_text(path: Path) -> dict[str, Any]:
    where = one_line(str(path))
    text = read_text(path, SpecError, where=where, max_bytes=MAX_SPEC_BYTES)
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text, object_pairs_hook=_no_duplicates)
        return tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{where}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(one_line(f"{where}: invalid TOML: {exc}")) from None
    except _DuplicateKeyError as exc:
        raise SpecError(f"{_key(exc.args[0])}: is given twice in {where}") from None
    except RecursionError:
        raise SpecError(f"{where}: nested too deeply to be a spec") from None
    except ValueError as exc:  # an integer of more than 4300 digits
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        why = "a number has too many digits" if "digits" in str(exc) else str(exc)
        raise SpecError(one_line(f"{where}: invalid {kind}: {why}")) from None


def bundled_names() -> list[str]:
    """Names of the networks shipped with symbp (``symbp/networks/*.toml``)."""
    folder = resources.files("symbp") / "networks"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def graph_names() -> list[str]:
    """Names of the bundled graph networks (``symbp/networks/graphs/*.toml``)."""
    folder = resources.files("symbp") / "networks" / "graphs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def _from_data(data: Any, default_name: str, graphs: bool) -> Any:
    """A ``Network``, or for a graph spec a ``GraphSpec`` where the caller handles graphs."""
    from .graph_spec import from_dict, is_graph_spec

    if not is_graph_spec(data):
        return Network.from_dict(data, default_name=default_name)
    if not graphs:
        raise SpecError(f"{one_line(default_name)}: is a graph spec (layer types, ids, image inputs); "
                        "this command takes dense chains only so far: use symbp run or symbp emit")
    return from_dict(data, default_name)


def load_spec(spec: str | Path | dict | Network | None = None, *, graphs: bool = False) -> Network:
    """A spec file, a bundled network's name, plain data, or None for the default (mazur).

    With ``graphs``, a graph spec (``symbp.core.graph_spec``) gives a ``GraphSpec``; without, an error.
    """
    if isinstance(spec, Network):
        return spec
    if isinstance(spec, dict):
        return _from_data(spec, "network", graphs)
    if spec is None:
        spec = "mazur"
    if has_control(str(spec)):
        # Paths reach the "Regenerate with:" line of every header: a newline there would end
        # the comment and let the rest of the path run as code.
        raise SpecError(f"{one_line(str(spec))}: a spec path may not contain newlines or other "
                        "control characters")
    path = Path(spec)
    try:
        is_path = path.suffix.lower() in (".toml", ".json") or path.exists()
        is_file = path.is_file()
    except (OSError, ValueError) as exc:
        raise SpecError(f"{one_line(str(spec))}: cannot be read as a spec file ({exc})") from None
    if is_path:
        if not is_file:
            raise SpecError(f"{spec}: no such spec file")
        return _from_data(_read_text(path), _stem_name(path), graphs)
    if str(spec) in bundled_names():
        text = (resources.files("symbp") / "networks" / f"{spec}.toml").read_text("utf-8")
        return Network.from_dict(tomllib.loads(text), default_name=str(spec))
    if str(spec) in graph_names():
        text = (resources.files("symbp") / "networks" / "graphs" / f"{spec}.toml").read_text("utf-8")
        return _from_data(tomllib.loads(text), str(spec), graphs)
    raise SpecError(f"{spec}: neither a spec file nor a bundled network "
                    f"(bundled: {', '.join(bundled_names() + graph_names())})")


def _stem_name(path: Path) -> str:
    """A default network name from the file name: json.toml gives json_net, 2x.toml net_2x."""
    stem = re.sub(r"[^A-Za-z0-9_]", "_", path.stem)[:MAX_NAME - 4]
    if not NAME_RE.match(stem):
        stem = f"net_{stem}"
    if keyword.iskeyword(stem) or keyword.issoftkeyword(stem) or stem in MODULE_NAMES:
        stem = f"{stem}_net"
    return stem
