"""Every named quantity of a small network evaluated at given values, to 30 significant digits.

This is the arithmetic behind a worked example (seed 000's tables) and behind checking one:
forward values, the loss, δ = ∂E/∂z for every neuron, ∂E/∂p for every trained parameter and,
with a learning rate, the updated parameters p⁺ = p − η ∂E/∂p.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..core import naming
from ..core.errors import SymbpError
from ..core.spec import Network
from .neuron import NeuronDerivation, derive_neurons

DIGITS = 30


@dataclass(frozen=True)
class Quantity:
    """One row of a worked example: ``kind`` is input, forward, loss, delta, gradient or update."""

    name: str
    kind: str
    value: sp.Float


def _check_values(n: NeuronDerivation, values: dict[str, float]) -> None:
    needed = n.names.inputs + n.names.targets + [g.param for g in n.gradients]
    needed += [b for layer, names in zip(n.network.layers, n.names.biases)
               if not layer.trains_bias for b in names]
    missing = [name for name in needed if name not in values]
    if missing:
        raise SymbpError(f"values: missing {', '.join(missing)}")
    known = set(n.names.all())
    unknown = sorted(set(values) - known)
    if unknown:
        raise SymbpError(f"values: unknown name {unknown[0]!r}; the network's names are "
                         f"{', '.join(sorted(known))}")


def evaluate(net: Network, values: dict[str, float], lr: float | None = None,
             neurons: NeuronDerivation | None = None) -> list[Quantity]:
    """All named quantities at ``values`` (inputs, targets, weights, biases by name), in order;
    ``neurons``: the network's neuron-level derivation when the caller has it already."""
    n = neurons or derive_neurons(net)
    _check_values(n, values)
    env = {n.symbols[k]: sp.Float(repr(float(v)), DIGITS) for k, v in values.items()}
    rows = [Quantity(k, "input", env[n.symbols[k]]) for k in values]
    for name, expr in n.definitions.items():  # definitions are in forward order
        env[n.symbols[name]] = sp.Float(expr.xreplace(env).evalf(DIGITS), DIGITS)
        kind = "loss" if name == n.names.loss else "forward"
        rows.append(Quantity(name, kind, env[n.symbols[name]]))
    for z, expr in n.deltas.items():
        value = sp.Float(expr.xreplace(env).evalf(DIGITS), DIGITS)
        rows.append(Quantity(naming.neuron_delta(z), "delta", value))
    grads = {}
    for g in n.gradients:
        grads[g.param] = sp.Float(g.expr.xreplace(env).evalf(DIGITS), DIGITS)
        rows.append(Quantity(f"d{n.names.loss}/d{g.param}", "gradient", grads[g.param]))
    if lr is not None:
        eta = sp.Float(repr(float(lr)), DIGITS)
        for p, d in grads.items():
            rows.append(Quantity(f"{p}+", "update", sp.Float(env[n.symbols[p]] - eta * d, DIGITS)))
    return rows
