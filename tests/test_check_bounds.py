"""The checkers' work is bounded by counts decided up front or as they go, never by time:
Σ terms of a claim in all, chain-rule paths of a neuron-level derivation, training steps."""

from __future__ import annotations

import random

import pytest

import symbp
import symbp.backprop.neuron as neuron
from symbp.check.claim import check_claim
from symbp.check.values import MAX_SUM_TERMS
from symbp.core.errors import DerivationError

SMALL = {"name": "bounds", "inputs": 2, "loss": "half_sse",
         "layers": [{"size": 3, "activation": "tanh"}, {"size": 2, "activation": "sigmoid"}]}
DEEP = {"name": "deep9", "inputs": 3, "loss": "half_sse",
        "layers": [{"size": 3, "activation": "sigmoid"}] * 9}


def test_nested_sums_are_refused_by_their_total_count_of_terms(monkeypatch):
    net = symbp.Network.from_dict(SMALL)
    bodies = []
    real = symbp.check.values.Evaluator.on_BigSum

    def counting(self, node):
        bodies.append(1)
        return real(self, node)

    monkeypatch.setattr(symbp.check.values.Evaluator, "on_BigSum", counting)
    text = r"J = \sum_{i=1}^{100} \sum_{j=1}^{100} \sum_{k=1}^{100} x_1*i*j*k"
    report = check_claim(net, text)
    assert report.verdict == "bad input" and f"more than {MAX_SUM_TERMS} terms in all" in report.error.reason
    assert len(bodies) <= MAX_SUM_TERMS // 100 + 3  # refused after a few sums, not 10^6 terms


def test_sums_within_the_budget_are_checked():
    net = symbp.Network.from_dict(SMALL)
    assert check_claim(net, r"J = J + \sum_{i=1}^{10} \sum_{j=1}^{10} (i - j)").verdict == "holds"
    recurrence = r"\delta_i^l = g'(z_i^l) \sum_j \delta_j^{l+1} w_{ji}^{l+1}"
    assert check_claim(net, recurrence).verdict == "holds"


def _builder_count(net) -> int:
    """The number of paths the builder itself enumerates (no limit)."""
    builders = []
    real_init = neuron._Builder.__init__

    def init(self, n):
        real_init(self, n)
        builders.append(self)

    neuron._Builder.__init__ = init
    limit, neuron.MAX_PATHS = neuron.MAX_PATHS, 10**12
    try:
        neuron.derive_neurons(net)
    finally:
        neuron._Builder.__init__, neuron.MAX_PATHS = real_init, limit
    return builders[0].n_paths


def test_path_count_from_the_sizes_equals_the_paths_the_builder_enumerates():
    rng = random.Random(3)
    checked = 0
    while checked < 8:
        depth = rng.randint(1, 3)
        layers = [{"size": rng.randint(1, 3), "activation": rng.choice(["sigmoid", "tanh", "relu"]),
                   "bias": rng.choice(["neuron", "shared", "none"]), "train_bias": rng.random() < 0.7}
                  for _ in range(depth)]
        loss = "half_sse"
        if rng.random() < 0.3:
            layers[-1].update(activation="softmax", size=rng.randint(2, 3))
            loss = "softmax_ce"
        net = symbp.Network.from_dict({"name": "t", "inputs": rng.randint(1, 3), "loss": loss,
                                       "layers": layers})
        assert neuron.path_count(net) == _builder_count(net), layers
        checked += 1


def test_a_deep_network_is_refused_from_its_counts_before_any_path_is_built(monkeypatch, run, tmp_path):
    net = symbp.Network.from_dict(DEEP)

    def no_paths(*args):
        raise AssertionError("paths enumerated before refusing")

    monkeypatch.setattr(neuron._Builder, "paths_from_z", no_paths)
    count = neuron.path_count(net)
    assert count > neuron.MAX_PATHS
    words = f"{count} chain-rule paths to enumerate; limit {neuron.MAX_PATHS}"
    with pytest.raises(DerivationError, match=words):
        neuron.derive_neurons(net)
    report = check_claim(net, "J = J")
    assert report.verdict == "bad input" and str(count) in report.error.reason
    spec = tmp_path / "deep9.json"
    spec.write_text(__import__("json").dumps(DEEP))
    code, _, err = run("derive", str(spec), "--level", "neuron", "-o", str(tmp_path / "d.md"))
    assert code == 2 and str(count) in err and err.count("\n") == 1
