"""Shared helpers: build networks from plain data and import their generated kernels."""

from __future__ import annotations

import functools
import os

import pytest
from hypothesis import settings

import symbp
from symbp.cli import app as cli
from symbp.codegen.load import load_module

from .robustness import report as robustness_report

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


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The robustness table and summary line, summed over the workers of a parallel run."""
    if not hasattr(config, "workerinput"):
        robustness_report.write(terminalreporter)


def pytest_sessionfinish(session, exitstatus):
    """A pytest-xdist worker hands its robustness counts to the controller."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["robustness"] = robustness_report.dump()


class _Controller:
    """Collects each worker's robustness counts as the worker ends (pytest-xdist's hook)."""

    def pytest_testnodedown(self, node, error):
        counts = getattr(node, "workeroutput", {}).get("robustness")
        if counts:
            robustness_report.merge(counts)


def pytest_configure(config):
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Controller(), "robustness-counts")
