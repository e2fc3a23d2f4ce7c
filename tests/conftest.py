"""Shared helpers: build networks from plain data and import their generated kernels."""

from __future__ import annotations

import functools
import os

import pytest
from hypothesis import settings

import symbp
from symbp.cli import app as cli
from symbp.codegen.load import load_module

# Property tests must not fail because the machine is busy (no per-example deadline), and a CI
# run must be reproducible: there the examples come from a fixed derivation, not a random seed.
settings.register_profile("symbp", deadline=None, derandomize=os.environ.get("CI") == "true", print_blob=True)
settings.load_profile("symbp")

ELEMENTWISE = ["sigmoid", "tanh", "relu", "leaky_relu", "identity", "softplus", "swish"]
SWISH = {"swish": {"formula": "x/(1+exp(-x))"}}


def allowed_pairs() -> list[tuple[str, str]]:
    """(output activation, loss) pairs the validator accepts."""
    pairs = [(act, loss) for loss in ("half_sse", "sse", "mse") for act in ELEMENTWISE + ["softmax"]]
    return pairs + [("sigmoid", "bce"), ("sigmoid", "ce"), ("softmax", "ce"), ("softmax", "softmax_ce")]


def network(sizes, activations, loss, **extra) -> symbp.Network:
    """A network from layer sizes [inputs, s1, s2, …] and one activation per layer."""
    layers = []
    for size, act in zip(sizes[1:], activations):
        layers.append({"size": size, "activation": act})
    data = {"name": "t", "inputs": sizes[0], "layers": layers, "loss": loss, **extra}
    if "swish" in activations:
        data["activations"] = SWISH
    return symbp.Network.from_dict(data)


@functools.cache
def kernel_for(name: str):
    net = symbp.load_spec(name)
    return net, load_module(symbp.emit_numpy(net), name)


@pytest.fixture
def bundled_kernel():
    return kernel_for


@pytest.fixture
def run(capsys):
    """``symbp …`` in-process; returns (exit code, stdout, stderr)."""
    def go(*argv):
        code = cli.main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err
    return go
