"""The benchmarked networks, their data, and the generated kernel for each.

Five networks (the issue's table): seed 000's 2-2-2 example at B = 1, seed 004's 400-25-10
sigmoid / logistic-loss network at B = 5000, the 784-256-128-10 MNIST MLP at B = 128, a wide
1024-1024-1024-10 tanh network at B = 512 and a deep one (64 inputs, 32 tanh layers of 64,
softmax output of 10) at B = 64. Every candidate gets the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

import symbp
from symbp.codegen.load import load_module


@dataclass(frozen=True)
class Case:
    name: str
    net: symbp.Network
    batch: int
    dtypes: tuple[type, ...]

    @property
    def label(self) -> str:
        return "-".join(str(s) for s in _short_sizes(self.net.sizes))


def _short_sizes(sizes: list[int]) -> list[str]:
    """64, 64×32, 10 for the deep net; the sizes as they are otherwise."""
    out: list[str] = []
    i = 0
    while i < len(sizes):
        j = i
        while j + 1 < len(sizes) and sizes[j + 1] == sizes[i]:
            j += 1
        count = j - i + 1
        out.append(f"{sizes[i]}x{count}" if count > 3 else "-".join([str(sizes[i])] * count))
        i = j + 1
    return out


def _tanh_softmax(name: str, inputs: int, hidden: list[int], classes: int) -> symbp.Network:
    layers = [{"size": n, "activation": "tanh"} for n in hidden]
    layers.append({"size": classes, "activation": "softmax"})
    return symbp.Network.from_dict({"name": name, "inputs": inputs, "loss": "softmax_ce",
                                    "layers": layers})


def cases() -> list[Case]:
    both = (np.float64, np.float32)
    return [
        Case("mazur", symbp.load_spec("mazur"), 1, both),
        Case("seed004", symbp.load_spec("seed004"), 5000, both),
        Case("mnist_mlp", symbp.load_spec("mnist_mlp"), 128, both),
        Case("wide", _tanh_softmax("wide", 1024, [1024, 1024], 10), 512, both),
        Case("deep", _tanh_softmax("deep", 64, [64] * 32, 10), 64, both),
    ]


def kernel(case: Case, kernel: str = "auto") -> ModuleType:
    """The generated module, exactly as ``symbp emit`` writes it, imported."""
    return load_module(symbp.emit_numpy(case.net, kernel=kernel), f"bench_{case.name}_{kernel}")


MAZUR = {"W1": [[0.15, 0.20], [0.25, 0.30]], "b1": 0.35, "W2": [[0.40, 0.45], [0.50, 0.55]],
         "b2": 0.60}


def data(case: Case, module: ModuleType, dtype: type, seed: int = 0) -> tuple[dict, np.ndarray, np.ndarray]:
    """(params, X, Y) in ``dtype``: seed 000's numbers for mazur, random data otherwise.

    Targets are one-hot rows (softmax cross-entropy, logistic loss); biases are small random
    numbers so that bias gradients are not trivially zero.
    """
    if case.name == "mazur":
        params = {k: np.asarray(v, dtype=dtype) for k, v in MAZUR.items()}
        return params, np.array([[0.05, 0.10]], dtype), np.array([[0.01, 0.99]], dtype)
    rng = np.random.default_rng(seed)
    params = module.init_params(seed, dtype)
    for name, value in params.items():
        if name.startswith("b"):
            params[name] = (rng.standard_normal(value.shape) * 0.1).astype(dtype)
    n_in, n_out = case.net.sizes[0], case.net.sizes[-1]
    X = rng.uniform(0.0, 1.0, (case.batch, n_in)).astype(dtype)
    Y = np.eye(n_out, dtype=dtype)[rng.integers(0, n_out, case.batch)]
    return params, X, Y
