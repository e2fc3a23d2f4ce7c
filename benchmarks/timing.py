"""Interleaved timing rounds, the GEMM floor of a training step, and the machine's GEMM peak.

Rounds are interleaved: every round times every candidate once, in an order rotated by one per
round, so that drift of a shared machine (other processes, frequency) hits all candidates alike;
results are medians over rounds, and ratios are medians of per-round ratios. Before each timed
block the harness pauses (BLAS and OpenMP worker threads of the previous candidate spin for a
while after their last job and would steal a core from the next one), runs one untimed call,
and switches the garbage collector off.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

import numpy as np
from nets import Case

PAUSE = 0.12  # s between candidates (OpenBLAS workers spin ~0.1 s after a job)
BLOCK = 0.10  # s of calls per timed block


def calibrate(f: Callable[[], object]) -> int:
    """Calls per block: enough for about BLOCK seconds, at least one."""
    f()
    start = time.perf_counter()
    f()
    once = time.perf_counter() - start
    return max(1, int(BLOCK / max(once, 1e-7)))


def timed_block(f: Callable[[], object], n: int) -> float:
    """Mean seconds per call over ``n`` calls, after one untimed call."""
    time.sleep(PAUSE)
    f()
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(n):
            f()
        return (time.perf_counter() - start) / n
    finally:
        gc.enable()


def interleaved(candidates: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of every candidate in every round."""
    names = list(candidates)
    calls = {name: calibrate(candidates[name]) for name in names}
    out: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            out[name].append(timed_block(candidates[name], calls[name]))
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def median_ratio(num: list[float], den: list[float]) -> float:
    """Median over rounds of num/den, both measured in the same round."""
    return statistics.median(a / b for a, b in zip(num, den))


# --------------------------------------------------------------------------- GEMM floor


def gemm_shapes(case: Case) -> list[tuple[str, tuple[int, int], tuple[int, int], tuple[int, int]]]:
    """The step's own matrix products (kind, A shape, W shape, out shape), as the kernel does them.

    Forward Z^l = A^{l-1} W^lᵀ; backward ∂J/∂W^l = δ^lᵀ A^{l-1} and δ^{l-1} = δ^l W^l for l ≥ 2
    (δ⁰ is never formed).
    """
    sizes, B = case.net.sizes, case.batch
    out = []
    for l in range(1, len(sizes)):
        n_in, n_out = sizes[l - 1], sizes[l]
        out.append(("A Wᵀ", (B, n_in), (n_out, n_in), (B, n_out)))
        out.append(("δᵀ A", (B, n_out), (B, n_in), (n_out, n_in)))
        if l >= 2:
            out.append(("δ W", (B, n_out), (n_out, n_in), (B, n_in)))
    return out


def gemm_floor(case: Case, dtype: type) -> Callable[[], None]:
    """A function doing only the step's matrix products, into preallocated outputs."""
    rng = np.random.default_rng(0)
    work = []
    for kind, sa, sb, so in gemm_shapes(case):
        a = rng.standard_normal(sa).astype(dtype)
        b = rng.standard_normal(sb).astype(dtype)
        o = np.empty(so, dtype)
        if kind == "A Wᵀ":
            work.append((a, b.T, o))
        elif kind == "δᵀ A":
            work.append((a.T, b, o))
        else:
            work.append((a, b, o))

    def floor() -> None:
        for a, b, o in work:
            np.matmul(a, b, out=o)

    return floor


def flops(case: Case) -> tuple[float, float]:
    """(6·B·Σ n_in·n_out, the same without the δ⁰ product the step never forms)."""
    sizes, B = case.net.sizes, case.batch
    total = 6.0 * B * sum(sizes[l - 1] * sizes[l] for l in range(1, len(sizes)))
    return total, total - 2.0 * B * sizes[0] * sizes[1]


def gemm_peak(dtype: type, n: int = 2048, reps: int = 5) -> float:
    """FLOP/s of the best of ``reps`` n×n×n products (a large square GEMM: BLAS at its best)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    o = np.empty((n, n), dtype)
    np.matmul(a, b, out=o)
    best = float("inf")
    for _ in range(reps):
        time.sleep(PAUSE / 2)
        start = time.perf_counter()
        np.matmul(a, b, out=o)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best
