"""Checking the numbers of a worked example (seed 000's tables) against 30-digit arithmetic.

The table gives claimed values by name: forward values and the loss (``a_h1``, ``E_total``),
δ's (``delta_z_o1``), gradients (``dE_total/dw5``, any ``dX/dY`` of named quantities), updated
parameters (``w5+``), any quantity after one step (``E_total+``) or after N steps
(``E_total@10000``), or any expression in the spec's names (``1/2*(target_o1 - a_o1)^2``, which
is seed 000's E_o1). Each is computed (``symbp.backprop.numbers.evaluate`` and the claim machinery, at
30+ digits; N steps in float64) and judged:

* **rounded**: the claim equals the true value rounded to the decimals printed;
* **truncated**: it equals the true value cut off after the decimals printed (seed 000 prints
  a_o1 = 0.751365069 for 0.75136506955…). Truncation is accepted as agreeing, and flagged;
  with ``strict=True`` it counts as a disagreement;
* **DISAGREES** otherwise; the report gives how many significant digits do agree.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Decimal,
    InvalidOperation,
    localcontext,
)
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ..backprop.numbers import evaluate
from ..core.errors import SymbpError
from ..core.files import read_text
from ..core.spec import Network, load_spec
from .claims import ClaimError, parse_expression
from .function import reference_kernel
from .system import System, UndefinedValueError, numeric, system_for
from .values import NeuronEvaluator, is_matrix

RATE_KEYS = ("learning_rate", "eta", "lr")
MAX_STEPS = 100_000  # training steps for all the name@N rows of a table together
MAX_DIGITS = 60  # significant digits of one claimed value (the arithmetic carries 30+)
MAX_EXPONENT = 1000  # |decimal exponent| of one claimed value
JUDGE_DIGITS = 2 * MAX_EXPONENT + MAX_DIGITS + 10  # precision of the judging arithmetic
STEPS = re.compile(r"^(?P<key>.+)@(?P<n>[0-9]+)$")


class ExampleError(SymbpError):
    """A values or claims table cannot be read, or a row cannot be computed."""


@dataclass
class Row:
    key: str
    claimed: str
    computed: str
    printed: int  # significant digits printed in the claim
    agreeing: int  # significant digits that agree
    verdict: str  # exact, rounded, truncated or DISAGREES
    note: str = ""

    def agrees(self, strict: bool) -> bool:
        return self.verdict in ("exact", "rounded") or (self.verdict == "truncated" and not strict)


@dataclass
class ExampleReport:
    rows: list[Row]
    strict: bool
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.agrees(self.strict) for r in self.rows)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def render(self) -> str:
        head = ("name", "claimed", "computed", "digits", "verdict")
        body = [(r.key, r.claimed, r.computed, f"{r.agreeing}/{r.printed}",
                 r.verdict + (" (not accepted: --strict-rounding)" if r.verdict == "truncated" and self.strict
                              else "") + (f"  {r.note}" if r.note else ""))
                for r in self.rows]
        widths = [max(len(x[k]) for x in [head, *body]) for k in range(4)]
        lines = ["  ".join(x[k].ljust(widths[k]) for k in range(4)) + "  " + x[4] for x in [head, *body]]
        bad = [r.key for r in self.rows if not r.agrees(self.strict)]
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"verdict: {len(bad)} of {len(self.rows)} disagree: {', '.join(bad)}" if bad
                     else f"verdict: all {len(self.rows)} values agree")
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading tables


def read_table(path: str | Path) -> dict[str, str]:
    """name → value text from TOML, JSON or CSV (two columns); the printed digits are kept.

    Every row is kept or the table refused with the row named: a name given twice, a value
    that is not a number and a table without rows are errors, never skipped.
    """
    path = Path(path)
    text = read_text(path, ExampleError)
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(text, parse_float=Decimal, parse_int=Decimal,
                              object_pairs_hook=lambda pairs: _unique(pairs, path))
        elif suffix == ".csv":
            data = _csv(text, path)
        else:
            data = tomllib.loads(text, parse_float=Decimal)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ExampleError(f"{path}: cannot parse: {exc}") from None
    if not isinstance(data, dict):
        raise ExampleError(f"{path}: expected a table of name = value")
    flat: list[tuple[str, Any]] = []
    for k, v in data.items():  # a spec-style {values = {...}, learning_rate = ...} is flattened
        flat += list(v.items()) if isinstance(v, dict) else [(k, v)]
    out = _unique([(str(k).strip(), v) for k, v in flat], path)
    for k, v in out.items():
        if isinstance(v, bool) or not isinstance(v, (int, Decimal, str)):
            raise ExampleError(f"{path}: {k}: expected a number, got {v!r}")
        out[k] = _number_text(str(v), f"{path}: {k}")
    if not out:
        raise ExampleError(f"{path}: the table has no rows")
    return out


def _unique(pairs: list[tuple[str, Any]], where: str | Path) -> dict[str, Any]:
    """A dict of the pairs; a name given twice is an error (the later value must not win)."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ExampleError(f"{where}: {k}: given twice; keep one row")
        out[k] = v
    return out


def _csv(text: str, path: Path) -> dict[str, Any]:
    """Rows name,value; blank rows and rows starting with # are skipped, and the first row is
    a header only when its value cell holds no digit (``name,value``, not ``a_o1,0.9O``)."""
    rows: list[tuple[str, str]] = []
    first = True
    for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if len(cells) < 2 or any(cells[2:]) or not cells[0]:
            raise ExampleError(f"{path}: line {line}: expected name,value, got {row!r}")
        header, first = first and not any(ch.isdigit() for ch in cells[1]), False
        if not header:
            rows.append((cells[0], cells[1]))
    return _unique(rows, path)


def _finite_float(text: str, where: str) -> float:
    """A value the kernel can compute with: a number that is finite in float64."""
    value = float(_number_text(text, where))
    if not math.isfinite(value):
        raise ExampleError(f"{where}: {text} is beyond the float64 range (about ±1.8e308)")
    return value


def _number_text(text: str, where: str) -> str:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ExampleError(f"{where}: {text!r} is not a number") from None
    if not value.is_finite():
        raise ExampleError(f"{where}: {text!r} is not a finite number")
    digits = len(value.as_tuple().digits)
    if digits > MAX_DIGITS or abs(value.adjusted()) > MAX_EXPONENT:
        raise ExampleError(f"{where}: {text!r} has more than {MAX_DIGITS} digits or an exponent "
                           f"beyond ±{MAX_EXPONENT}")
    return text


# --------------------------------------------------------------------------- judging


def judge(claimed: str, true: Decimal) -> tuple[str, int, int]:
    """(verdict, significant digits printed, significant digits agreeing).

    Decimal arithmetic runs in a context wide enough for any claimed value (at most MAX_DIGITS
    digits, exponent within ±MAX_EXPONENT), so 30-decimal claims and huge true values are judged,
    not refused by the default 28-digit context.
    """
    d = Decimal(claimed)
    quantum = Decimal((0, (1,), d.as_tuple().exponent))
    digits = "".join(map(str, d.as_tuple().digits)).lstrip("0")
    printed = max(len(digits), 1)
    with localcontext() as ctx:
        ctx.prec, ctx.Emax, ctx.Emin = JUDGE_DIGITS, MAX_EMAX, MIN_EMIN
        if d == true:
            return "exact", printed, printed
        # a true value with more digits before the claim's last place than any claim can
        # have cannot round to the claim (and is not quantized: that would need those digits)
        if true.adjusted() - quantum.adjusted() < JUDGE_DIGITS - 2:
            if d in {true.quantize(quantum, ROUND_HALF_EVEN), true.quantize(quantum, ROUND_HALF_UP)}:
                return "rounded", printed, printed
            if d == true.quantize(quantum, ROUND_DOWN):
                return "truncated", printed, printed
        if true == 0:
            return "DISAGREES", printed, 0
        rel = abs(d - true) / abs(true)
        agreeing = int((-rel.log10()).to_integral_value(ROUND_FLOOR)) if rel > 0 else printed
    return "DISAGREES", printed, max(0, min(agreeing, printed))


# --------------------------------------------------------------------------- computing


@dataclass
class _Context:
    net: Network
    values: dict[str, str]
    lr: str | None
    rows: dict[str, sp.Float]
    system: System
    point: dict[sp.Symbol, sp.Rational]
    _after: dict | None = None
    _trained: dict[int, dict] = field(default_factory=dict)  # step count → free inputs after it
    _state: tuple[int, dict] | None = None  # the furthest training run: (steps, params)

    def after_step(self) -> dict[sp.Symbol, sp.Rational]:
        """The free inputs after one gradient step p⁺ = p − η ∂E/∂p (frozen biases stay)."""
        if self._after is None:
            if self.lr is None:
                raise ExampleError("values after a step (name+) need a learning rate: --lr or learning_rate")
            after = dict(self.point)
            for s in self.system.free:
                name = f"{s.name}+"
                if name in self.rows:
                    after[s] = sp.Rational(self.rows[name])
            self._after = after
        return self._after

    def trained(self, n: int) -> dict[sp.Symbol, sp.Rational]:
        """The free inputs after n kernel steps. One training run serves every row: it goes on
        from the furthest step count reached, so a table costs max(n) steps, not their sum."""
        if n not in self._trained:
            kernel = reference_kernel(self.net)
            if self._state is None:
                self._state = (0, _initial_params(self))
            done, params = self._state if self._state[0] <= n else (0, _initial_params(self))
            names = self.system.names
            v = {k: float(x) for k, x in self.values.items()}
            X = np.array([[v[x] for x in names.inputs]])
            Y = np.array([[v[t] for t in names.targets]])
            for _ in range(n - done):
                params = kernel.sgd_step(params, X, Y, float(self.lr))
            self._state = (n, params)
            self._trained[n] = _named_point(self, params)
        return self._trained[n]


def _computed_text(value: sp.Float | mpmath.mpf) -> str:
    """30 significant digits of a computed value (mpf(value) would round it to mpmath's
    default 15 digits, so it is read at the precision it was computed with)."""
    if isinstance(value, sp.Float):
        return sp.sstr(value)
    with mpmath.workdps(40):
        return mpmath.nstr(mpmath.mpf(value), 30, strip_zeros=False)


def _compute(ctx: _Context, key: str) -> tuple[Any, str]:
    """The true value of one table key, and a note on how it was computed."""
    steps = STEPS.match(key)
    if steps:
        return _after_steps(ctx, steps["key"].strip(), int(steps["n"]))
    if key in ctx.rows:
        return ctx.rows[key], ""
    if key.endswith("+"):
        return _expression(ctx, key[:-1].strip(), ctx.after_step()), "after one step"
    return _expression(ctx, key, ctx.point), ""


def _expression(ctx: _Context, key: str, point: dict) -> mpmath.mpf:
    try:
        node = parse_expression(key)
        value = NeuronEvaluator(ctx.system, key).value(node)
    except ClaimError as exc:
        raise ExampleError(f"row {key!r}: {exc}") from None
    if is_matrix(value):
        raise ExampleError(f"row {key!r}: is not a number")
    try:
        env = ctx.system.values(point)
        with mpmath.workdps(40):
            return numeric(value, env)
    except UndefinedValueError as exc:
        raise ExampleError(f"row {key!r}: has no value here ({exc})") from None


def _after_steps(ctx: _Context, key: str, n: int) -> tuple[Any, str]:
    """A quantity after n gradient steps on the example, the steps run in float64 by the kernel."""
    if ctx.lr is None:
        raise ExampleError(f"{key}@{n} needs a learning rate: --lr or learning_rate")
    if not 1 <= n <= MAX_STEPS:
        raise ExampleError(f"{key}@{n}: the number of steps must be between 1 and {MAX_STEPS}")
    return _expression(ctx, key, ctx.trained(n)), f"after {n} steps (float64)"


def _initial_params(ctx: _Context) -> dict[str, np.ndarray]:
    """The kernel's parameters (W1, b1, …) at the table's values."""
    net, names = ctx.net, ctx.system.names
    v = {k: float(x) for k, x in ctx.values.items()}
    params = {}
    for l, layer in enumerate(net.layers, start=1):
        params[f"W{l}"] = np.array([[v[w] for w in row] for row in names.weights[l - 1]])
        if net.weight_layout == "in_out":
            params[f"W{l}"] = params[f"W{l}"].T
        if layer.bias == "shared":
            params[f"b{l}"] = np.array(v[names.biases[l - 1][0]])
        elif layer.bias == "neuron":
            params[f"b{l}"] = np.array([v[b] for b in names.biases[l - 1]])
    return params


def _named_point(ctx: _Context, params: dict[str, np.ndarray]) -> dict[sp.Symbol, sp.Rational]:
    """The free inputs with the parameters replaced by the kernel's ``params``."""
    net, names = ctx.net, ctx.system.names
    v = {k: float(x) for k, x in ctx.values.items()}
    for l, layer in enumerate(net.layers, start=1):
        W = params[f"W{l}"].T if net.weight_layout == "in_out" else params[f"W{l}"]
        for i, row in enumerate(names.weights[l - 1]):
            for j, w in enumerate(row):
                v[w] = float(W[i, j])
        if layer.bias != "none":
            b = np.atleast_1d(params[f"b{l}"])
            for i, name in enumerate(names.biases[l - 1]):
                v[name] = float(b[i])
    bad = sorted(k for k, x in v.items() if not math.isfinite(x))
    if bad:
        raise ExampleError(f"training diverges: {bad[0]} is no longer a finite float64 number")
    return {s: sp.Rational(repr(v[s.name])) for s in ctx.system.free}


def check_example(net: Network | str | None, claimed: dict[str, str], values: dict[str, str] | None = None,
                  *, lr: str | float | None = None, strict: bool = False) -> ExampleReport:
    """Judge every claimed number of a worked example; ``values`` default to the spec's example."""
    net = load_spec(net) if not isinstance(net, Network) else net
    if values is None:
        example = net.example.get("values")
        if not example:
            raise ExampleError("no values given and the spec has no example values (--values)")
        values = {k: repr(float(x)) for k, x in example.items()}
        if lr is None and "learning_rate" in net.example:
            lr = repr(float(net.example["learning_rate"]))
    if not claimed:
        raise ExampleError("the table of claimed values has no rows")
    claimed = _unique([(str(k).strip(), v) for k, v in claimed.items()], "claimed values")
    for key, text in claimed.items():
        _number_text(str(text), key)
    values = dict(values)
    for key, text in values.items():
        _finite_float(str(text), f"values: {key}")
    for key in RATE_KEYS:
        if key in values:
            rate = values.pop(key)
            lr = rate if lr is None else lr
    lr_text = None if lr is None else str(lr)
    if lr_text is not None:
        _finite_float(lr_text, "learning rate")
    rows = {q.name: q.value for q in evaluate(net, {k: float(x) for k, x in values.items()},
                                               float(lr_text) if lr_text is not None else None)}
    system = system_for(net)
    point = {s: sp.Rational(values[s.name]) for s in system.free}
    ctx = _Context(net, values, lr_text, rows, system, point)
    for n in sorted({int(m["n"]) for m in map(STEPS.match, map(str.strip, claimed)) if m}):
        if ctx.lr is not None and 1 <= n <= MAX_STEPS:
            ctx.trained(n)  # in increasing order: the whole table trains max(n) steps
    out = []
    for key, text in claimed.items():
        value, note = _compute(ctx, key.strip())
        true = Decimal(_computed_text(value))
        if not true.is_finite():
            raise ExampleError(f"row {key!r}: has no finite value here")
        verdict, printed, agreeing = judge(str(text), true)
        out.append(Row(key, text, _short(true), printed, agreeing, verdict, note))
    notes = ["a value agrees when it equals the computed value rounded to the decimals printed; "
             "truncated values are accepted and marked" + (" (not with --strict-rounding)" if strict else "")]
    return ExampleReport(out, strict, notes)


def _short(value: Decimal) -> str:
    return f"{value:.15g}" if value != 0 else "0"
