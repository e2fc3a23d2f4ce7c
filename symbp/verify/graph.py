"""Check a graph kernel module: its gradients against the engine's own evaluation of the derived
backward pass, its loss against central differences, and sgd_step against p − lr·grads."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from ..codegen import numeric
from ..codegen.graph_emit import Derived

EVALUATOR_LIMIT, FD_LIMIT = 1e-10, 1e-6


@dataclass(frozen=True)
class GraphReport:
    worst_evaluator: float  # kernel vs the derived computes run by ``numeric`` (relative)
    grad_vs_fd: float  # directional derivatives vs central differences (relative)
    sgd_step: float  # |sgd_step − (p − lr·g)|

    def passed(self) -> bool:
        limits = self.worst_evaluator <= EVALUATOR_LIMIT and self.grad_vs_fd <= FD_LIMIT
        return limits and self.sgd_step <= 1e-14


def _relative(mine: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.max(np.abs(mine - theirs), initial=0.0) / max(np.max(np.abs(theirs), initial=0.0), 1.0))


def _sample(d: Derived, batch: int, seed: int):
    """Parameters (from the module's init, nudged), inputs, one-hot-ish targets and masks."""
    rng = np.random.default_rng(seed)
    graph = d.spec.graph(batch)
    X = rng.standard_normal(graph.inputs["X"])
    classes = graph.inputs["Y"][1]
    Y = np.eye(classes)[rng.integers(0, classes, batch)] * 0.8 + 0.1 / classes
    return graph, X, Y


def check_graph_kernel(d: Derived, module: ModuleType, batch: int = 4, seed: int = 0) -> GraphReport:
    """Verify a graph kernel on one random batch (float64; dropout masks from a fixed seed)."""
    from ..backprop.graph import backward
    from ..codegen.seq_emit import SeqDerived
    from .seq import check_sequence_kernel

    if isinstance(d, SeqDerived):
        return check_sequence_kernel(d, module, batch, seed)

    graph, X, Y = _sample(d, batch, seed)
    rng = np.random.default_rng(seed + 1)
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in module.init_params(seed).items()}
    masks = lambda: np.random.default_rng(seed + 2)  # noqa: E731  the same masks at every call
    J, grads = module.loss_and_grad(params, X, Y, rng=masks())
    env = {**params, "X": X, "Y": Y}
    keep = np.random.default_rng(seed + 2)
    for name, shape in graph.inputs.items():  # the masks the kernel drew, in layer order
        if name.startswith("mask"):
            rate = d.spec.layers[int(name[4:]) - 1]["rate"]
            env[name] = (keep.random(shape) < 1 - rate).astype(np.float64)
    b = backward(graph, list(graph.params))
    ref = numeric.run(graph.computes + b.computes, env)
    worst = max([_relative(np.asarray(J), np.asarray(ref[graph.output]))]
                + [_relative(grads[k], ref[b.grads[k]]) for k in grads])
    fd, step = differences(module, params, X, Y, grads, rng, lambda: {"rng": masks()})
    return GraphReport(worst, fd, step)


def differences(module: ModuleType, params: dict, X, Y, grads: dict, rng, extra) -> tuple[float, float]:
    """(directional derivatives vs central differences, |sgd_step − (p − lr·g)|); ``extra()``
    gives the keyword arguments of every call (the same dropout masks each time)."""
    h, fd = 1e-6, 0.0
    for name, grad in grads.items():
        u = rng.standard_normal(grad.shape)
        u /= np.linalg.norm(u)  # a step of length h: large layers would cross relu kinks otherwise
        plus = module.loss({**params, name: params[name] + h * u}, X, Y, **extra())
        minus = module.loss({**params, name: params[name] - h * u}, X, Y, **extra())
        slope = (plus - minus) / (2 * h)
        fd = max(fd, abs(slope - float(np.sum(grad * u))) / max(1.0, abs(slope)))
    stepped = module.sgd_step(params, X, Y, 0.1, **extra())
    step = max(float(np.max(np.abs(stepped[k] - (params[k] - 0.1 * grads[k])), initial=0.0)) for k in grads)
    return fd, step
