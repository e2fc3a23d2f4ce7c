"""Check a sequence kernel module: its gradients against the engine's evaluation of the derived
backward pass of the fully unrolled graph (backpropagation through time as reverse accumulation
over the steps), its loss against central differences, and sgd_step against p − lr·grads."""

from __future__ import annotations

from types import ModuleType

import numpy as np

from ..backprop.graph import backward
from ..codegen import numeric
from ..codegen.seq_emit import SeqDerived


def sample(d: SeqDerived, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (token ids or normal vectors) and targets (one-hot-ish rows) for ``batch`` samples."""
    rng = np.random.default_rng(seed)
    graph = d.spec.graph(batch)
    first = d.spec.layers[0]
    if first["type"] == "embedding":
        X = rng.integers(0, first["vocab"], graph.inputs["X"])
    else:
        X = rng.standard_normal(graph.inputs["X"])
    shape = graph.inputs["Y"]
    Y = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])] * 0.8 + 0.2 / shape[-1]
    return X, Y


def check_sequence_kernel(d: SeqDerived, module: ModuleType, batch: int = 4, seed: int = 0):
    """Verify a sequence kernel on one random batch (float64)."""
    from .graph import GraphReport, _relative, differences

    X, Y = sample(d, batch, seed)
    rng = np.random.default_rng(seed + 1)
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in module.init_params(seed).items()}
    J, grads = module.loss_and_grad(params, X, Y)
    graph = d.spec.graph(batch)
    b = backward(graph, list(graph.params))
    ref = numeric.run(graph.computes + b.computes, {**params, "X": X.astype(np.float64), "Y": Y})
    worst = max([_relative(np.asarray(J), np.asarray(ref[graph.output]))]
                + [_relative(grads[k], ref[b.grads[k]]) for k in grads])
    fd, step = differences(module, params, X, Y, grads, rng, dict)
    return GraphReport(worst, fd, step)
