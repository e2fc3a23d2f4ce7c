"""Random formula losses: the kernel's J equals the formula, not only its gradients.

Each loss is a sum of terms drawn from a table of pieces people write (squares, pseudo-Huber,
Welsch, hinge-like max/min squares, terms without a, constants), each with a random coefficient.
The oracle evaluates the same pieces in NumPy from this table, not from the parsed formula, on
the kernel's own forward output: J = (1/B)·Σ ℓ(forward(X), Y).
"""

from __future__ import annotations

import functools

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symbp
from symbp.codegen.load import load_module
from symbp.core.errors import SpecError

from .tally import count

PIECES = {  # formula text -> the same term in NumPy
    "(a-y)^2": lambda a, y: (a - y) ** 2,
    "abs(a-y)": lambda a, y: np.abs(a - y),
    "sqrt(1+(a-y)^2)": lambda a, y: np.sqrt(1 + (a - y) ** 2),
    "exp(-(a-y)^2)": lambda a, y: np.exp(-(a - y) ** 2),
    "max(a-y,0)^2": lambda a, y: np.maximum(a - y, 0) ** 2,
    "min(a-y,0)^2": lambda a, y: np.minimum(a - y, 0) ** 2,
    "log(cosh(a-y))": lambda a, y: np.log(np.cosh(a - y)),
    "a*y": lambda a, y: a * y,
    "a^2": lambda a, y: a ** 2,
    "y^2": lambda a, y: y ** 2,
    "1": lambda a, y: np.ones_like(a),
}
COEFFICIENTS = ["1", "2", "4", "0.5", "3"]
READS_A = [p for p in PIECES if "a" in p]


@st.composite
def formula_losses(draw) -> tuple[str, list[tuple[float, str]]]:
    """(text, [(coefficient, piece)]): one to four signed terms, at least one reading a."""
    terms = [(draw(st.sampled_from([1.0, -1.0])), draw(st.sampled_from(COEFFICIENTS)),
              draw(st.sampled_from(READS_A)))]
    terms += draw(st.lists(st.tuples(st.sampled_from([1.0, -1.0]), st.sampled_from(COEFFICIENTS),
                                     st.sampled_from(list(PIECES))), max_size=3,
                           unique_by=lambda term: term[2]).filter(
        lambda more: all(piece != terms[0][2] for _, _, piece in more)))
    text = "".join(f"{'+' if s > 0 else '-'}{c}*{p}" for s, c, p in terms).lstrip("+")
    return text, [(s * float(c), p) for s, c, p in terms]


@functools.cache
def _module(text: str, output: str, reduction: str):
    net = symbp.Network.from_dict({
        "inputs": 2, "loss": "mine", "reduction": reduction, "losses": {"mine": {"formula": text}},
        "layers": [{"size": 3, "activation": "tanh"}, {"size": 2, "activation": output}]})
    return load_module(symbp.emit_numpy(net), "formula_loss")


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(loss=formula_losses(), output=st.sampled_from(["identity", "sigmoid"]),
       reduction=st.sampled_from(["mean", "sum"]), batch=st.integers(1, 5), seed=st.integers(0, 99))
def test_every_formula_loss_gives_the_loss_value_of_its_formula(loss, output, reduction, batch, seed):
    count("formula_losses")
    text, terms = loss
    try:
        module = _module(text, output, reduction)
    except SpecError as exc:  # distinct pieces may still cancel: (a-y)^2 - a^2 + 2*a*y = y^2
        assume("does not depend on the output a" not in str(exc))
        raise
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((batch, 2)), rng.standard_normal((batch, 2))
    params = module.init_params(seed)
    A = module.forward(params, X)
    expected = sum(c * np.sum(PIECES[p](A, Y)) for c, p in terms) / (batch if reduction == "mean" else 1)
    scale = sum(abs(c) * np.sum(np.abs(PIECES[p](A, Y))) for c, p in terms)
    for J in (module.loss(params, X, Y), module.loss_and_grad(params, X, Y)[0]):
        assert abs(J - expected) <= 1e-13 * max(scale, 1.0), (text, J, expected)


def test_a_loss_with_two_squared_terms_and_a_constant_is_summed_term_by_term():
    """The report's cases: two squares once shared one temporary, a constant summed as 1."""
    X, Y = np.array([[0.3, -0.2], [1.0, 0.5]]), np.array([[0.1, 0.9], [-0.4, 0.2]])
    for text, fn in [("y^2+(a-y)^2", lambda a, y: y ** 2 + (a - y) ** 2),
                     ("max(a-y,0)^2+4*min(a-y,0)^2",
                      lambda a, y: np.maximum(a - y, 0) ** 2 + 4 * np.minimum(a - y, 0) ** 2),
                     ("sqrt(1+(a-y)^2)-1", lambda a, y: np.sqrt(1 + (a - y) ** 2) - 1),
                     ("1-exp(-(a-y)^2)", lambda a, y: 1 - np.exp(-(a - y) ** 2))]:
        module = _module(text, "identity", "mean")
        params = module.init_params(1)
        expected = np.sum(fn(module.forward(params, X), Y)) / 2
        assert abs(module.loss(params, X, Y) - expected) <= 1e-14, text
        assert abs(module.loss_and_grad(params, X, Y)[0] - expected) <= 1e-14, text
