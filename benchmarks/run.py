"""Benchmark symbp's generated kernels against hand-written NumPy, PyTorch, JAX and autograd.

From the repository root:

    pip install -r benchmarks/requirements.txt
    python benchmarks/run.py

writes benchmarks/RESULTS.md (about 20 minutes on two cores). One training step is forward +
loss + every gradient (``loss_and_grad``). All candidates run in one process on the same arrays,
their gradients are checked equal before anything is timed, and timing rounds are interleaved
(see timing.py). The timing part then runs once more in a child process in which OpenBLAS picks
its kernels for the CPU itself (the environment may pin them with OPENBLAS_CORETYPE).
Options: ``--rounds``, ``--nets mazur,wide``, ``--skip-slow`` (no derivation sweep, no
sympy.diff comparison, no second OpenBLAS configuration), ``--wait-quiet LOAD``, ``--out``.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # float64 arrays stay float64 (float32 stay float32)

import breakdown  # noqa: E402
import derivation  # noqa: E402
import handwritten  # noqa: E402
import memory  # noqa: E402
import nets  # noqa: E402
import numpy as np  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402
import timing  # noqa: E402

from symbp.verify.kernel import rel_err  # noqa: E402

PEERS = report.PEERS
GEN, GEN_NOWORK, FLOOR = report.GEN, report.GEN_NOWORK, report.FLOOR
TOLERANCE = {np.float64: 1e-9, np.float32: 2e-3}


def openblas_core() -> str:
    """The kernel set OpenBLAS chose (Haswell, SkylakeX, …), asked from NumPy's own library."""
    libs = glob.glob(str(Path(np.__file__).parent.parent / "numpy.libs" / "*openblas*"))
    for path in libs:
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
                     "openblas_get_corename64_", "openblas_get_corename"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return fn().decode()
    return "unknown"


def machine() -> dict[str, str]:
    model, family = "unknown", "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown":
                model = value.strip()
            if key.strip() == "cpu family" and family == "?":
                family = value.strip()
    except OSError:
        pass
    import importlib.metadata as md

    import sympy
    import torch

    import symbp

    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    return {
        "cpu": model, "family": family, "cores": str(os.cpu_count()),
        "python": platform.python_version(), "numpy": np.__version__,
        "blas": f"{blas.get('name', '?')} {blas.get('version', '')}".strip(),
        "openblas_core": openblas_core(), "coretype_env": os.environ.get("OPENBLAS_CORETYPE", ""),
        "torch": torch.__version__, "jax": jax.__version__, "jaxlib": md.version("jaxlib"),
        "autograd": md.version("autograd"), "sympy": sympy.__version__, "symbp": symbp.__version__,
        "torch_threads": str(torch.get_num_threads()),
    }


def check(name: str, got: tuple, ref: tuple, tol: float) -> float:
    J, grads = got
    J0, grads0 = ref
    if set(grads) != set(grads0):
        raise AssertionError(f"{name}: gradients for {sorted(grads)}, expected {sorted(grads0)}")
    worst = max([rel_err(J, J0)] + [rel_err(grads[k], grads0[k]) for k in grads0])
    if worst > tol:
        raise AssertionError(f"{name}: relative error {worst:.2e} > {tol:.0e} against the generated kernel")
    return worst


def _copy(result: tuple) -> tuple:
    J, grads = result
    return float(J), {k: np.array(v) for k, v in grads.items()}


def run_case(case: nets.Case, dtype: type, rounds: int) -> dict:
    """Check every candidate against the generated kernel, then time them all (plain data out)."""
    module = nets.kernel(case)
    params, X, Y = nets.data(case, module, dtype)
    work: dict = {}
    ref = _copy(module.loss_and_grad(params, X, Y))
    hand = handwritten.numpy_step(case)
    torch_step, torch_grads = peers.make_torch(case, params, X, Y)
    jax_step, jax_grads = peers.make_jax(case, params, X, Y)
    ag_step, ag_grads = peers.make_autograd(case, params, X, Y)
    tol = TOLERANCE[dtype]
    check(GEN, _copy(module.loss_and_grad(params, X, Y, work)), ref, 0.0)
    check("hand-written NumPy", _copy(hand(params, X, Y)), ref, tol)
    check("PyTorch", torch_grads(), ref, tol)
    check("JAX", jax_grads(), ref, tol)
    check("autograd", ag_grads(), ref, tol)
    candidates = {
        GEN: lambda: module.loss_and_grad(params, X, Y, work),
        GEN_NOWORK: lambda: module.loss_and_grad(params, X, Y),
        "hand-written NumPy": lambda: hand(params, X, Y),
        "PyTorch eager": torch_step, "JAX jit": jax_step, "autograd": ag_step,
        FLOOR: timing.gemm_floor(case, dtype),
    }
    if hasattr(module, "loss_and_grad_arrays"):  # the unrolled kernel: also time its array path
        check("array kernel", _copy(module.loss_and_grad_arrays(params, X, Y)), ref, tol)
        candidates[report.ARRAYS] = lambda: module.loss_and_grad_arrays(params, X, Y, work)
        check("JAX, NumPy in and out", jax_step.numpy_io(), ref, tol)
        candidates[report.JAX_IO] = jax_step.numpy_io
    if case.name == "mazur":
        floats = [float(v) for k in ("W1", "W2") for v in params[k].ravel()]
        floats += [float(params["b1"]), float(params["b2"])] + [float(v) for v in X[0]]
        floats += [float(v) for v in Y[0]]
        candidates[report.FLOATS] = lambda: handwritten.mazur_floats(*floats)
    load = os.getloadavg()[0]
    times = timing.interleaved(candidates, rounds)
    fastest = [min(times[p][r] for p in PEERS) for r in range(rounds)]
    return {
        "net": case.name, "label": case.label, "batch": case.batch, "dtype": np.dtype(dtype).name,
        "flops": timing.flops(case), "load": (load, os.getloadavg()[0]),
        "median": {k: timing.median(v) for k, v in times.items()},
        "vs_fastest": timing.median_ratio(times[GEN], fastest),
        "vs": {p: timing.median_ratio(times[GEN], times[p]) for p in PEERS},
        "floor_fraction": timing.median_ratio(times[FLOOR], times[GEN]),
        "fastest_peer": min(PEERS, key=lambda p: timing.median(times[p])),
    }


def jax_peak(dtype: type, n: int = 2048, reps: int = 5) -> float:
    """FLOP/s of JAX's best n×n×n product: what the CPU reaches with another GEMM library."""
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.standard_normal((n, n)).astype(dtype))
    b = jnp.asarray(rng.standard_normal((n, n)).astype(dtype))
    f = jax.jit(lambda x, y: x @ y)
    f(a, b).block_until_ready()
    best = float("inf")
    for _ in range(reps):
        time.sleep(timing.PAUSE / 2)
        start = time.perf_counter()
        f(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best


def timing_section(chosen: list[nets.Case], rounds: int) -> dict:
    results = []
    for case in chosen:
        for dtype in case.dtypes:
            print(f"{case.name} {np.dtype(dtype).name} …", flush=True)
            r = run_case(case, dtype, rounds)
            print(f"  generated {report.us(r['median'][GEN])} µs, ÷ fastest peer {r['vs_fastest']:.2f}, "
                  f"floor ÷ generated {r['floor_fraction']:.3f}", flush=True)
            results.append(r)
    peaks = {np.dtype(dt).name: {"numpy": timing.gemm_peak(dt), "jax": jax_peak(dt)}
             for dt in (np.float64, np.float32)}
    return {"results": results, "peaks": peaks, "openblas_core": openblas_core(), "rounds": rounds}


def breakdown_section(chosen: list[nets.Case]) -> list[dict]:
    """Time per kind of statement in the generated step, for the nets with a GEMM-floor target."""
    out = []
    for case in chosen:
        if case.name not in ("mnist_mlp", "wide", "deep"):
            continue
        module = nets.kernel(case)
        for dtype in case.dtypes:
            params, X, Y = nets.data(case, module, dtype)
            rounds = 5 if case.name == "wide" else 100
            out.append({"net": case.name, "dtype": np.dtype(dtype).name,
                        "kinds": breakdown.by_kind(module, params, X, Y, rounds)})
    return out


def memory_section(case: nets.Case, batch: int = 1024) -> dict:
    big = nets.Case(case.name, case.net, batch, case.dtypes)
    module = nets.kernel(big)
    params, X, Y = nets.data(big, module, np.float64)
    hand = handwritten.numpy_step(big)
    module.loss_and_grad(params, X, Y)  # warm: first-call allocations of NumPy itself
    work: dict = {}
    first = memory.peak_extra(lambda: module.loss_and_grad(params, X, Y, work))
    return {
        "batch": batch, "yardstick": memory.yardstick(big, batch, np.float64),
        "generated": memory.peak_extra(lambda: module.loss_and_grad(params, X, Y)),
        "work_first": first,
        "work_again": memory.peak_extra(lambda: module.loss_and_grad(params, X, Y, work)),
        "hand": memory.peak_extra(lambda: hand(params, X, Y)),
    }


def own_openblas_choice(args: argparse.Namespace) -> dict | None:
    """The timing section again, in a child process without OPENBLAS_CORETYPE (if it is set)."""
    if not os.environ.get("OPENBLAS_CORETYPE"):
        return None
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "timing.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--timing-json", str(out),
               "--rounds", str(args.rounds)] + (["--nets", args.nets] if args.nets else [])
        subprocess.run(cmd, env=env, check=True)
        return json.loads(out.read_text())


def wait_quiet(limit: float, patience: float = 3600.0) -> None:
    """Sleep until the 1-minute load average drops below ``limit`` (other jobs on the machine)."""
    deadline = time.monotonic() + patience
    while os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        print(f"load {os.getloadavg()[0]:.2f} ≥ {limit}: waiting …", flush=True)
        time.sleep(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--nets", default="", help="comma-separated subset, e.g. mazur,wide")
    parser.add_argument("--skip-slow", action="store_true",
                        help="no derivation sweep, no sympy.diff, no second OpenBLAS configuration")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="LOAD",
                        help="first wait (up to an hour) until the 1-minute load average is below LOAD")
    parser.add_argument("--timing-json", help=argparse.SUPPRESS)  # child process: timing only
    args = parser.parse_args(argv)
    chosen = [c for c in nets.cases() if not args.nets or c.name in args.nets.split(",")]
    if args.timing_json:
        Path(args.timing_json).write_text(json.dumps(timing_section(chosen, args.rounds)))
        return 0
    if args.wait_quiet:
        wait_quiet(args.wait_quiet)
    start, load0 = time.perf_counter(), os.getloadavg()[0]
    info = machine()
    main_run = timing_section(chosen, args.rounds)
    print("where the step's time goes …", flush=True)
    main_run["breakdown"] = breakdown_section(chosen)
    mem = memory_section([c for c in nets.cases() if c.name == "mnist_mlp"][0])
    second = deriv = None
    if not args.skip_slow:
        print("the same with OpenBLAS's own choice of kernels …", flush=True)
        second = own_openblas_choice(args)
        print("derivation …", flush=True)
        deriv = {"sweeps": derivation.sweeps(), "neuron": derivation.neuron_and_plain(60.0),
                 "timeout": 60.0}
    report.write(Path(args.out), info, main_run, second, mem, deriv,
                 (load0, os.getloadavg()[0]), time.perf_counter() - start)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
