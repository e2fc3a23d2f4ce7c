"""Checking the numbers of a worked example (seed 000's tables) against 30-digit arithmetic.

The table gives claimed values by name: forward values and the loss (``a_h1``, ``E_total``),
δ's (``delta_z_o1``), gradients (``dE_total/dw5``, any ``dX/dY`` of named quantities), updated
parameters (``w5+``), any quantity after one step (``E_total+``) or after N steps
(``E_total@10000``), or any expression in the spec's names (``1/2*(target_o1 - a_o1)^2``, which
is seed 000's E_o1). Each is computed (``symbp.numbers.evaluate`` and the claim machinery, at
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
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from .check_system import System, UndefinedValueError, numeric, system_for
from .check_values import NeuronEvaluator, is_matrix
from .claims import ClaimError, parse_expression
from .errors import SymbpError
from .files import read_text
from .handwritten import reference_kernel
from .numbers import evaluate
from .spec import Network, load_spec

RATE_KEYS = ("learning_rate", "eta", "lr")
MAX_STEPS = 100_000
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
    """name → value text from TOML, JSON or CSV (two columns); the printed digits are kept."""
    path = Path(path)
    text = read_text(path, ExampleError, encoding="utf-8-sig")  # a BOM (Excel's CSV) is not a name
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(text, parse_float=Decimal, parse_int=Decimal)
        elif suffix == ".csv":
            data = _csv(text, path)
        else:
            data = tomllib.loads(text, parse_float=Decimal)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ExampleError(f"{path}: cannot parse: {exc}") from None
    if not isinstance(data, dict):
        raise ExampleError(f"{path}: expected a table of name = value")
    flat: dict[str, Any] = {}
    for k, v in data.items():  # a spec-style {values = {...}, learning_rate = ...} is flattened
        if isinstance(v, dict):
            flat.update(v)
        else:
            flat[k] = v
    out = {}
    for k, v in flat.items():
        if isinstance(v, bool) or not isinstance(v, (int, Decimal, str)):
            raise ExampleError(f"{path}: {k}: expected a number, got {v!r}")
        out[str(k).strip()] = _number_text(str(v), f"{path}: {k}")
    return out


def _csv(text: str, path: Path) -> dict[str, str]:
    out = {}
    for row in csv.reader(io.StringIO(text)):
        cells = [c.strip() for c in row]
        if not cells or not cells[0] or cells[0].startswith("#"):
            continue
        if len(cells) < 2:
            raise ExampleError(f"{path}: row {row!r}: expected name,value")
        try:
            Decimal(cells[1])
        except InvalidOperation:
            if not out:
                continue  # a header row
            raise ExampleError(f"{path}: {cells[0]}: {cells[1]!r} is not a number") from None
        out[cells[0]] = cells[1]
    return out


def _number_text(text: str, where: str) -> str:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ExampleError(f"{where}: {text!r} is not a number") from None
    if not value.is_finite():
        raise ExampleError(f"{where}: {text!r} is not a finite number")
    return text


# --------------------------------------------------------------------------- judging


def judge(claimed: str, true: Decimal) -> tuple[str, int, int]:
    """(verdict, significant digits printed, significant digits agreeing)."""
    d = Decimal(claimed)
    quantum = Decimal((0, (1,), d.as_tuple().exponent))
    digits = "".join(map(str, d.as_tuple().digits)).lstrip("0")
    printed = max(len(digits), 1)
    if d == true:
        return "exact", printed, printed
    rounded = {true.quantize(quantum, ROUND_HALF_EVEN), true.quantize(quantum, ROUND_HALF_UP)}
    if d in rounded:
        return "rounded", printed, printed
    if d == true.quantize(quantum, ROUND_DOWN):
        return "truncated", printed, printed
    if true == 0:
        return "DISAGREES", printed, 0
    rel = abs(d - true) / abs(true)
    agreeing = int(math.floor(-math.log10(float(rel)))) if rel > 0 else printed
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


def _computed_text(value: sp.Float | mpmath.mpf) -> str:
    return mpmath.nstr(mpmath.mpf(value), 30, strip_zeros=False) if not isinstance(value, sp.Float) \
        else sp.sstr(value)


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
    net, names = ctx.net, ctx.system.names
    kernel = reference_kernel(net)
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
    X = np.array([[v[x] for x in names.inputs]])
    Y = np.array([[v[t] for t in names.targets]])
    for _ in range(n):
        params = kernel.sgd_step(params, X, Y, float(ctx.lr))
    for l, layer in enumerate(net.layers, start=1):
        W = params[f"W{l}"].T if net.weight_layout == "in_out" else params[f"W{l}"]
        for i, row in enumerate(names.weights[l - 1]):
            for j, w in enumerate(row):
                v[w] = float(W[i, j])
        if layer.bias != "none":
            b = np.atleast_1d(params[f"b{l}"])
            for i, name in enumerate(names.biases[l - 1]):
                v[name] = float(b[i])
    point = {s: sp.Rational(repr(v[s.name])) for s in ctx.system.free}
    return _expression(ctx, key, point), f"after {n} steps (float64)"


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
    values = dict(values)
    for key in RATE_KEYS:
        if key in values:
            rate = values.pop(key)
            lr = rate if lr is None else lr
    lr_text = None if lr is None else str(lr)
    rows = {q.name: q.value for q in evaluate(net, {k: float(x) for k, x in values.items()},
                                               float(lr_text) if lr_text is not None else None)}
    system = system_for(net)
    point = {s: sp.Rational(values[s.name]) for s in system.free}
    ctx = _Context(net, values, lr_text, rows, system, point)
    out = []
    for key, text in claimed.items():
        value, note = _compute(ctx, key.strip())
        true = Decimal(_computed_text(value))
        verdict, printed, agreeing = judge(text, true)
        out.append(Row(key, text, _short(true), printed, agreeing, verdict, note))
    notes = ["a value agrees when it equals the computed value rounded to the decimals printed; "
             "truncated values are accepted and marked" + (" (not with --strict-rounding)" if strict else "")]
    return ExampleReport(out, strict, notes)


def _short(value: Decimal) -> str:
    return f"{value:.15g}" if value != 0 else "0"
