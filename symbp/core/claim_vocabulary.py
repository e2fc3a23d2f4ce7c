"""The words a claim reads as functions, constants and marks rather than as names.

The claim evaluator (``symbp.check.values``) gives them their meaning; spec validation
(``symbp.core.naming``) refuses a neuron name equal to one, which a claim would misread.
"""

from __future__ import annotations

import sympy as sp

# Plain functions: name → sympy constructor of one argument (a second for max/min).
FUNCTIONS: dict[str, tuple[int, object]] = {
    "exp": (1, sp.exp), "log": (1, sp.log), "ln": (1, sp.log), "sqrt": (1, sp.sqrt),
    "abs": (1, sp.Abs), "sinh": (1, sp.sinh), "cosh": (1, sp.cosh),
    "heaviside": (1, lambda v: sp.Heaviside(v, 0)), "step": (1, lambda v: sp.Heaviside(v, 0)),
    "max": (2, sp.Max), "min": (2, sp.Min),
}
# Spellings of the registry's activations; each is g(x) from symbp.core.activations.
ACTIVATION_NAMES = {"sigma": "sigmoid", "sigmoid": "sigmoid", "logistic": "sigmoid",
                    "tanh": "tanh", "relu": "relu", "ReLU": "relu", "softplus": "softplus",
                    "leaky_relu": "leaky_relu", "identity": "identity"}
# Octave's name for σ' (seed 004): sigmoidGradient(z) = σ(z)(1 − σ(z)).
DERIVATIVE_NAMES = {"sigmoidGradient": "sigmoid", "sigmoid_gradient": "sigmoid",
                    "sigmoid_prime": "sigmoid", "dsigmoid": "sigmoid"}
LAYER_FUNCTIONS = {"g", "f"}  # the activation of the argument's own layer
CONSTANTS = {"e": sp.E, "pi": sp.pi}
TRANSPOSE_MARKS = {"T", "top", "intercal", "mathsf{T}"}
IGNORED_ARGUMENTS = {"theta", "Theta"}  # J(θ) is J
LOSS_ALIASES = {"J", "E", "C"}  # the loss, whatever the spec calls it


def claim_words() -> dict[str, str]:
    """The words a claim reads as functions or constants, and what each is (a spec name equal
    to one would be read as the name, and a true claim such as a = sigma(z) would fail)."""
    words = {name: "function" for name in (*FUNCTIONS, *DERIVATIVE_NAMES, *LAYER_FUNCTIONS, "sum", "softmax")}
    words.update({name: "activation function" for name in ACTIVATION_NAMES})
    words.update({name: "constant" for name in CONSTANTS})
    words.update({name: "argument J(θ) ignores" for name in IGNORED_ARGUMENTS})
    words["d"] = "differential d (dX/dY)"
    return words
