"""A worked numeric example, as seed 000 works one by hand: the numbers, then N training steps.

One step is exact arithmetic at 30 digits (``numbers.evaluate``): every forward quantity, the
loss, every δ, every gradient and every updated parameter. Training for N steps runs the
generated NumPy kernel's ``sgd_step``, the code users get, so the example also shows that the
kernel does what the derivation says.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from ..backprop.neuron import NeuronDerivation
from ..backprop.numbers import evaluate
from ..backprop.plan import Plan
from ..codegen.emit import emit_numpy
from ..core import naming
from ..core.errors import SymbpError
from ..core.files import read_text
from ..core.naming import NeuronNames, neuron_names
from ..core.spec import Network

DEFAULT_LR = 0.5  # seed 000's η
DEFAULT_STEPS = 10_000  # seed 000 reports the loss after 10000 steps


@dataclass(frozen=True)
class TrainingRow:
    step: int
    loss: float
    outputs: tuple[float, ...]


@dataclass(frozen=True)
class ExampleNumbers:
    """Every named quantity of one step at 30 digits, and the loss along N training steps."""

    network: Network
    values: dict[str, float]
    learning_rate: float
    steps: int
    quantities: dict[str, sp.Float]  # inputs, targets, parameters, forward values, the loss
    deltas: dict[str, sp.Float]  # pre-activation name → δ = ∂E/∂z
    gradients: dict[str, sp.Float]  # parameter → ∂E/∂p
    updates: dict[str, sp.Float]  # parameter → p − η ∂E/∂p
    training: tuple[TrainingRow, ...]


def read_values(path: str | Path) -> dict[str, Any]:
    """A TOML or JSON file of named values: either the values themselves, or a table with
    ``values`` and optionally ``learning_rate`` and ``steps`` (the shape of a spec's example)."""
    path = Path(path)
    text = read_text(path)
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise SymbpError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SymbpError(f"{path}: invalid TOML: {exc}") from None
    if not isinstance(data, dict):
        raise SymbpError(f"{path}: must be a table of named values")
    return data if "values" in data else {"values": data}


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SymbpError(f"{where}: must be a finite number, got {value!r}")
    return float(value)


def example_settings(net: Network, given: dict[str, Any] | None = None, lr: float | None = None,
                     steps: int | None = None) -> tuple[dict[str, float], float, int]:
    """Values, learning rate and step count: explicit arguments, then ``given`` (a values file),
    then the spec's own example, then seed 000's η = 0.5 and 10000 steps."""
    source = given if given is not None else net.example
    raw = source.get("values")
    if not raw:
        raise SymbpError(f"{net.name} has no example values; give a file of named values with "
                         "--values (inputs, targets, weights and biases by name)")
    if not isinstance(raw, dict):
        raise SymbpError("values: must be a table of name = number")
    values = {str(k): _number(v, f"values.{k}") for k, v in raw.items()}
    lr = _number(lr if lr is not None else source.get("learning_rate", DEFAULT_LR), "learning_rate")
    steps = steps if steps is not None else source.get("steps", DEFAULT_STEPS)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= 10_000_000:
        raise SymbpError(f"steps: must be an integer between 0 and 10000000, got {steps!r}")
    return values, lr, steps


def params_from_values(net: Network, names: NeuronNames, values: dict[str, float]) -> dict:
    """The kernel's parameter dict (W1, b1, …) filled from values named as in the spec."""
    params = {}
    for l, layer in enumerate(net.layers, start=1):
        w = np.array([[values[n] for n in row] for row in names.weights[l - 1]])  # (out, in)
        params[f"W{l}"] = w if net.weight_layout == "out_in" else w.T
        if layer.bias == "neuron":
            params[f"b{l}"] = np.array([values[n] for n in names.biases[l - 1]])
        elif layer.bias == "shared":
            params[f"b{l}"] = np.array(values[names.biases[l - 1][0]])
    return params


def checkpoints(steps: int) -> list[int]:
    """0, 1, 10, 100, … up to ``steps``, and ``steps`` itself."""
    out, k = [0], 1
    while k < steps:
        out.append(k)
        k *= 10
    return out + ([steps] if steps > 0 else [])


def train(net: Network, names: NeuronNames, values: dict[str, float], lr: float,
          steps: int, plan: Plan | None = None) -> tuple[TrainingRow, ...]:
    """Run the generated kernel's ``sgd_step`` on the one example; the loss and the outputs at
    each checkpoint (none for 0 steps: the start is in the exact numbers)."""
    if steps == 0:
        return ()
    from ..codegen.load import load_module

    kernel = load_module(emit_numpy(net, plan=plan), net.name)
    params = params_from_values(net, names, values)
    X = np.array([[values[n] for n in names.inputs]])
    Y = np.array([[values[n] for n in names.targets]])
    rows, done = [], 0
    for stop in checkpoints(steps):
        for _ in range(stop - done):
            params = kernel.sgd_step(params, X, Y, lr)
        done = stop
        outputs = tuple(float(v) for v in kernel.forward(params, X)[0])
        rows.append(TrainingRow(stop, float(kernel.loss(params, X, Y)), outputs))
    return tuple(rows)


def example_numbers(net: Network, values: dict[str, float], lr: float, steps: int, *,
                    plan: Plan | None = None, neurons: NeuronDerivation | None = None) -> ExampleNumbers:
    """One exact step and ``steps`` kernel steps for ``net`` at ``values``; ``plan`` and
    ``neurons``, when the caller has them, are used instead of deriving again."""
    names = neuron_names(net)
    rows = evaluate(net, values, lr, neurons)
    by_kind: dict[str, dict[str, sp.Float]] = {}
    for q in rows:
        by_kind.setdefault(q.kind, {})[q.name] = q.value
    quantities = {**by_kind.get("input", {}), **by_kind.get("forward", {}), **by_kind["loss"]}
    deltas = {naming.neuron_of_delta(name): v for name, v in by_kind.get("delta", {}).items()}
    prefix = f"d{names.loss}/d"
    gradients = {name.removeprefix(prefix): v for name, v in by_kind.get("gradient", {}).items()}
    updates = {name.removesuffix("+"): v for name, v in by_kind.get("update", {}).items()}
    return ExampleNumbers(net, values, lr, steps, quantities, deltas, gradients, updates,
                          train(net, names, values, lr, steps, plan))
