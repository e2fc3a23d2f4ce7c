"""One training step of self-attention: the generated kernel against careful hand-written NumPy.

    python benchmarks/attention.py [--rounds 15] [--batch 32] [--steps 25] [--features 32]

The network is attention (causal or not) → flatten → ½Σ(y − a)²/B. The hand-written step is the
matrix form courses give (dV = Pᵀ·dO, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = dS·K/√D, …) with
batched matmuls; gradients are checked equal before timing, rounds are interleaved (each the
fastest of 5 calls) and the ratio is the median of per-round ratios. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from symbp.codegen.graph_emit import emit_graph  # noqa: E402
from symbp.codegen.load import load_module  # noqa: E402
from symbp.core.graph_spec import from_dict  # noqa: E402


def spec(steps: int, features: int, causal: bool):
    return from_dict({"name": "attention_bench", "inputs": [steps, features], "loss": "half_sse",
                      "layers": [{"type": "attention", "causal": causal}, {"type": "flatten"}]})


def numpy_step(params: dict, X: np.ndarray, Y: np.ndarray, causal: bool):
    """(J, grads) of attention → flatten → ½Σ(y − a)²/B, written by hand with batched matmuls."""
    Wq, Wk, Wv, Wo = (params[k] for k in ("Wq1", "Wk1", "Wv1", "Wo1"))
    B, T, D = X.shape
    scale = 1.0 / np.sqrt(D)
    Q, K, V = X @ Wq.T, X @ Wk.T, X @ Wv.T
    S = (Q @ K.transpose(0, 2, 1)) * scale
    if causal:
        S[:, ~np.tril(np.ones((T, T), bool))] = -np.inf
    S -= S.max(axis=2, keepdims=True)
    P = np.exp(S, out=S)
    P /= P.sum(axis=2, keepdims=True)
    O = P @ V
    A = O @ Wo.T
    R = A - Y.reshape(B, T, D)
    J = 0.5 * np.sum(R * R) / B
    dA = R / B
    dWo = dA.reshape(-1, D).T @ O.reshape(-1, D)
    dO = dA @ Wo
    dV = P.transpose(0, 2, 1) @ dO
    dP = dO @ V.transpose(0, 2, 1)
    dS = P * (dP - np.sum(dP * P, axis=2, keepdims=True))
    dS *= scale
    dQ, dK = dS @ K, dS.transpose(0, 2, 1) @ Q
    flat = X.reshape(-1, D)
    grads = {"Wq1": dQ.reshape(-1, D).T @ flat, "Wk1": dK.reshape(-1, D).T @ flat,
             "Wv1": dV.reshape(-1, D).T @ flat, "Wo1": dWo}
    return J, grads


def _best_time(f, repeats: int) -> float:
    """The fastest of ``repeats`` calls: the least disturbed by other jobs on the machine."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(batch: int, steps: int, features: int, causal: bool, rounds: int, dtype=np.float64) -> dict:
    """Median times (s) of both steps and the median per-round ratio generated ÷ hand-written."""
    module = load_module(emit_graph(spec(steps, features, causal)), "attention_bench")
    rng = np.random.default_rng(0)
    params = {k: v.astype(dtype) for k, v in module.init_params(0).items()}
    X = rng.standard_normal((batch, steps, features)).astype(dtype)
    Y = rng.standard_normal((batch, steps * features)).astype(dtype)
    J, grads = module.loss_and_grad(params, X, Y)
    J_hand, hand = numpy_step(params, X, Y, causal)
    limit = 1e-9 if dtype == np.float64 else 2e-3
    for name, g in grads.items():
        err = np.max(np.abs(g - hand[name])) / max(np.max(np.abs(hand[name])), 1e-300)
        assert err <= limit, (name, err)
    assert abs(J - J_hand) <= limit * abs(J_hand)
    gen, hw = [], []
    for _ in range(rounds):
        gen.append(_best_time(lambda: module.loss_and_grad(params, X, Y), 5))
        hw.append(_best_time(lambda: numpy_step(params, X, Y, causal), 5))
    return {"generated": statistics.median(gen), "handwritten": statistics.median(hw),
            "ratio": statistics.median(g / h for g, h in zip(gen, hw))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--features", type=int, default=32)
    args = parser.parse_args()
    for dtype in (np.float64, np.float32):
        for causal in (False, True):
            r = measure(args.batch, args.steps, args.features, causal, args.rounds, dtype)
            print(f"attention B={args.batch} T={args.steps} D={args.features} causal={causal} "
                  f"{np.dtype(dtype).name}: generated {r['generated'] * 1e6:.0f} µs, hand-written NumPy "
                  f"{r['handwritten'] * 1e6:.0f} µs, generated ÷ hand-written {r['ratio']:.2f}")


if __name__ == "__main__":
    main()
