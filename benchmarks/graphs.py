"""One training step of the graph networks (lenet5, cnn_bn): the generated kernel against
hand-written NumPy (im2col), PyTorch eager and JAX jit(value_and_grad), float64 and float32.

From the repository root, with the peers of benchmarks/requirements.txt installed:

    python benchmarks/graphs.py [--rounds 15] [--out benchmarks/RESULTS.md]

writes (or replaces) the "Graph networks" section of RESULTS.md, before the training comparison.
The protocol of run.py: one process, the same arrays for every candidate, gradients checked equal
before anything is timed, interleaved rounds (timing.py) with a pause before every timed block,
medians over rounds and medians of per-round ratios. Then derive + emit of each network, timed
in a fresh process each.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
# every candidate on one thread (set before NumPy, PyTorch and XLA start their pools): on a machine
# shared with other jobs, worker threads waiting for a busy core dominate these small steps
THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}
os.environ.update(THREADS)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # float64 arrays stay float64 (float32 stay float32)

import handwritten_cnn  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import timing  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402, N812 - the name everyone uses

torch.set_num_threads(1)

from symbp.codegen.graph_emit import emit_graph  # noqa: E402
from symbp.codegen.load import load_module  # noqa: E402
from symbp.core.spec import load_spec  # noqa: E402
from symbp.verify.kernel import rel_err  # noqa: E402

MARK = "<!-- graph networks (benchmarks/graphs.py) -->"
TRAINING_MARK = "<!-- training comparison (benchmarks/train_compare.py) -->"
NETS = {"lenet5": 64, "cnn_bn": 64}
TOLERANCE = {np.float64: 1e-9, np.float32: 2e-3}
PAUSE = 0.25  # s before each timed block: longer than any idle pool's spin (OpenBLAS ~0.1 s)
PEERS = ["hand-written NumPy", "PyTorch eager", "JAX jit"]


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def torch_forward(layers, P, X, masks):
    x = X
    for pos, layer in enumerate(layers, start=1):
        kind = layer["type"]
        if kind == "conv2d":
            x = F.conv2d(x, P[f"W{pos}"], P[f"b{pos}"], stride=_pair(layer["stride"]),
                         padding=_pair(layer["padding"]))
        elif kind == "batchnorm":
            x = F.batch_norm(x, None, None, P[f"gamma{pos}"], P[f"beta{pos}"], training=True, eps=1e-5)
        elif kind == "maxpool2d":
            x = F.max_pool2d(x, _pair(layer["kernel"]), _pair(layer["stride"]))
        elif kind == "flatten":
            x = x.flatten(1)
        elif kind == "dropout":
            x = x * masks[f"mask{pos}"] / (1 - layer["rate"])
        else:
            x = F.linear(x, P[f"W{pos}"], P[f"b{pos}"])
        if layer.get("activation") == "relu":
            x = F.relu(x)
    return x


def make_torch(layers, params, X, Y, masks):
    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    TX, TY = torch.tensor(X), torch.tensor(Y)
    TM = {k: torch.tensor(v) for k, v in masks.items()}

    def step():
        z = torch_forward(layers, P, TX, TM)
        J = -(TY * F.log_softmax(z, dim=1)).sum() / len(X)
        return J, torch.autograd.grad(J, list(P.values()))

    def grads():
        J, g = step()
        return float(J.detach()), {k: t.numpy() for k, t in zip(P, g)}

    return step, grads


def jax_forward(layers, P, X, masks):
    x = X
    for pos, layer in enumerate(layers, start=1):
        kind = layer["type"]
        if kind == "conv2d":
            (ph, pw) = _pair(layer["padding"])
            x = jax.lax.conv_general_dilated(x, P[f"W{pos}"], _pair(layer["stride"]), [(ph, ph), (pw, pw)],
                                             dimension_numbers=("NCHW", "OIHW", "NCHW"))
            x = x + P[f"b{pos}"][None, :, None, None]
        elif kind == "batchnorm":
            mean = x.mean(axis=(0, 2, 3), keepdims=True)
            var = ((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
            x = (P[f"gamma{pos}"][None, :, None, None] * (x - mean) / jnp.sqrt(var + 1e-5)
                 + P[f"beta{pos}"][None, :, None, None])
        elif kind == "maxpool2d":
            (kh, kw), (sh, sw) = _pair(layer["kernel"]), _pair(layer["stride"])
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, kh, kw), (1, 1, sh, sw), "VALID")
        elif kind == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif kind == "dropout":
            x = x * masks[f"mask{pos}"] / (1 - layer["rate"])
        else:
            x = x @ P[f"W{pos}"].T + P[f"b{pos}"]
        if layer.get("activation") == "relu":
            x = jax.nn.relu(x)
    return x


def make_jax(layers, params, X, Y, masks):
    P = {k: jnp.asarray(v) for k, v in params.items()}
    JX, JY = jnp.asarray(X), jnp.asarray(Y)
    JM = {k: jnp.asarray(v) for k, v in masks.items()}

    def loss(p, x, y, m):
        return -(y * jax.nn.log_softmax(jax_forward(layers, p, x, m), axis=1)).sum() / x.shape[0]

    fn = jax.jit(jax.value_and_grad(loss))
    jax.block_until_ready(fn(P, JX, JY, JM))

    def step():
        return jax.block_until_ready(fn(P, JX, JY, JM))

    def grads():
        J, g = step()
        return float(J), {k: np.asarray(v) for k, v in g.items()}

    return step, grads


def make_handwritten(layers, params, X, Y, masks):
    f = handwritten_cnn.make_step(list(layers))
    return (lambda: f(params, X, Y, masks)), (lambda: f(params, X, Y, masks))


def case(name: str, batch: int, dtype: type):
    """The kernel, its spec's layers, and arrays: parameters, X, one-hot Y, dropout masks drawn as
    the kernel draws them from a Generator (``rng=``), so that every candidate uses one mask."""
    spec = load_spec(name, graphs=True)
    module = load_module(emit_graph(spec), name)
    rng = np.random.default_rng(0)
    params = {k: v + dtype(0.1) * rng.standard_normal(v.shape).astype(dtype)
              for k, v in module.init_params(1, dtype).items()}
    graph = spec.graph(batch)
    X = rng.standard_normal(graph.inputs["X"]).astype(dtype)
    classes = graph.inputs["Y"][1]
    Y = np.eye(classes, dtype=dtype)[rng.integers(0, classes, batch)]
    draw = np.random.default_rng(7)
    masks = {}
    for pos, layer in enumerate(spec.layers, start=1):
        if layer["type"] == "dropout":
            shape = graph.inputs[f"mask{pos}"]
            masks[f"mask{pos}"] = (draw.random(shape) < 1 - layer["rate"]).astype(dtype)
    return spec, module, params, X, Y, masks


def _grad_err(mine: np.ndarray, ref: np.ndarray, every: dict) -> float:
    """Relative to the gradient's own scale, or to 1e-3 of the largest gradient's where it is a
    cancellation (a conv bias before batchnorm: 0 in exact arithmetic, round-off here)."""
    overall = max(float(np.max(np.abs(v))) for v in every.values())
    return float(np.max(np.abs(mine - ref))) / max(float(np.max(np.abs(ref))), 1e-3 * overall)


def measure(name: str, batch: int, dtype: type, rounds: int) -> dict:
    spec, module, params, X, Y, masks = case(name, batch, dtype)
    J, ref = module.loss_and_grad(params, X, Y, rng=np.random.default_rng(7))
    makers = {"hand-written NumPy": make_handwritten, "PyTorch eager": make_torch, "JAX jit": make_jax}
    work: dict = {}
    candidates = {
        "generated": lambda: module.loss_and_grad(params, X, Y, rng=np.random.default_rng(7), work=work),
        "generated, no workspace": lambda: module.loss_and_grad(params, X, Y, rng=np.random.default_rng(7))}
    worst = {}
    for peer, make in makers.items():
        step, grads = make(spec.layers, params, X, Y, masks)
        J_peer, g = grads()
        keys = [k for k in ref if k in g]
        err = max([rel_err(np.asarray(J_peer), np.asarray(J))] + [_grad_err(g[k], ref[k], ref) for k in keys])
        if err > TOLERANCE[dtype] or len(keys) != len(ref):
            raise SystemExit(f"{name} {dtype.__name__}: {peer} differs from the generated kernel ({err:.1e})")
        worst[peer] = err
        candidates[peer] = step
    faults = {k: page_faults(candidates[k]) for k in ("generated", "generated, no workspace")}
    times = timing.interleaved(candidates, rounds)
    return {"times": times, "worst": worst, "faults": faults}


def page_faults(step, calls: int = 5) -> float:
    """Minor page faults per call (first touches of freshly mapped memory), after one warm call."""
    step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        step()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


FAULTS = """import resource, sys
import numpy as np
from symbp.codegen.graph_emit import emit_graph
from symbp.core.spec import load_spec
from symbp.codegen.load import load_module
spec = load_spec(sys.argv[1], graphs=True)
m = load_module(emit_graph(spec), sys.argv[1])
graph = spec.graph(int(sys.argv[2]))
X = np.random.default_rng(0).standard_normal(graph.inputs["X"])
Y = np.eye(graph.inputs["Y"][1])[np.arange(len(X)) % graph.inputs["Y"][1]]
P = m.init_params(0)
for kw in ({}, {"work": {}}):
    m.loss_and_grad(P, X, Y, **kw)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        m.loss_and_grad(P, X, Y, **kw)
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


def fresh_faults(name: str) -> tuple[float, float]:
    """Minor page faults per float64 step (without, with a workspace) in a fresh process that
    loads NumPy only, as a training script does: the allocator state of this process (PyTorch
    and XLA loaded) differs."""
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    out = subprocess.run([sys.executable, "-c", FAULTS, name, str(NETS[name])], capture_output=True,
                         text=True, env=env, check=True).stdout.split()
    return float(out[0]), float(out[1])


def derive_seconds(name: str) -> float:
    """derive + emit of one network in a fresh process (the import is not timed)."""
    code = ("import time\nfrom symbp.codegen.graph_emit import emit_graph\n"
            "from symbp.core.spec import load_spec\n"
            f"t = time.perf_counter(); emit_graph(load_spec({name!r}, graphs=True))\n"
            "print(time.perf_counter() - t)")
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                check=True).stdout)


def versions() -> str:
    import importlib.metadata as md

    return (f"Python {platform.python_version()}, NumPy {np.__version__}, PyTorch {torch.__version__} "
            f"({torch.get_num_threads()} thread{'s' if torch.get_num_threads() > 1 else ''}), "
            f"JAX {jax.__version__} / jaxlib {md.version('jaxlib')}, "
            f"symbp {md.version('symbp') if _installed('symbp') else 'from the checkout'}")


def _installed(name: str) -> bool:
    import importlib.metadata as md

    try:
        md.version(name)
    except md.PackageNotFoundError:
        return False
    return True


def machine_lines(mark: str, title: str, load: tuple[float, float]) -> list[str]:
    """A RESULTS.md section's head: its marker, title, the machine with its load, the versions
    and the thread settings (shared with benchmarks/sequences.py)."""
    return [mark, f"## {title}", "",
            f"- {platform.processor() or platform.machine()}, {os.cpu_count()} cores shared with other "
            f"jobs; load average (1 min) {load[0]:.2f} before and {load[1]:.2f} after.",
            f"- {versions()}; every candidate on one thread "
            f"({', '.join(f'{k}={v}' for k, v in THREADS.items())}, `torch.set_num_threads(1)`)."]


def per_peer_lines(results: dict) -> list[str]:
    """The table of generated ÷ each peer, medians of per-round ratios."""
    lines = ["", "Generated ÷ each peer (median of per-round ratios):", "",
             "| net | dtype | " + " | ".join(PEERS) + " |", "|---|---|" + "---|" * len(PEERS)]
    for (name, dtype), r in results.items():
        t = r["times"]
        lines.append(f"| {name} | {dtype} | "
                     + " | ".join(f"{timing.median_ratio(t['generated'], t[p]):.2f}" for p in PEERS) + " |")
    return lines


def target_lines(results: dict) -> list[str]:
    """The ≤ 1.00× target of each network and dtype, ticked where met, else its measured gap."""
    out = []
    for (name, dtype), r in results.items():
        t = r["times"]
        fastest = min(PEERS, key=lambda p: timing.median(t[p]))
        ratio = timing.median_ratio(t["generated"], t[fastest])
        out.append(f"- [{'x' if ratio <= 1 else ' '}] {name} {dtype}: generated ÷ fastest peer ({fastest}) "
                   f"= {ratio:.2f} (target ≤ 1.00)")
    return out


def report(results: dict, derive: dict, faults: dict, rounds: int, load: tuple[float, float]) -> str:
    ms = lambda s: f"{1000 * s:.2f}"  # noqa: E731
    lines = [*machine_lines(MARK, "Graph networks: one training step", load),
             f"- {rounds} interleaved rounds, medians; ratios are medians of per-round ratios. Every timed "
             f"block starts after a pause of {PAUSE} s (with one untimed call and the garbage collector "
             "off), so that no library's idle worker threads (OpenBLAS's spin about 0.1 s after a job, "
             "PyTorch's OpenMP pool, XLA's) still hold a core when the next candidate starts.",
             "- *generated* is `loss_and_grad(params, X, Y, rng=…, work=W)` of `generated/<net>.py` "
             "with a workspace kept between steps (the intended training loop), *no workspace* the same "
             "without `work`; it draws its dropout mask, the peers get that mask. Gradients of every peer "
             "were checked against it first (relative error ≤ 1e-9 in float64, ≤ 2e-3 in float32, each "
             "gradient against its own scale, or 1e-3 of the largest gradient's for a conv bias before "
             "batchnorm, 0 up to round-off). Hand-written NumPy is "
             "`benchmarks/handwritten_cnn.py` (im2col + GEMM, col2im, reshape max pooling, compact "
             "batchnorm backward); PyTorch uses `F.conv2d`, `F.max_pool2d`, `F.batch_norm` and "
             "`torch.autograd.grad`; JAX `jit(value_and_grad)` with `lax.conv_general_dilated`.", "",
             "| net | B | dtype | generated ms | generated, no workspace | hand-written NumPy | "
             "PyTorch eager | JAX jit | generated ÷ fastest peer |", "|---|---|---|---|---|---|---|---|---|"]
    for (name, dtype), r in results.items():
        t = r["times"]
        med = {k: timing.median(v) for k, v in t.items()}
        fastest = min(PEERS, key=lambda p: med[p])
        ratio = timing.median_ratio(t["generated"], t[fastest])
        lines.append(f"| {name} | {NETS[name]} | {dtype} | {ms(med['generated'])} | "
                     f"{ms(med['generated, no workspace'])} | "
                     + " | ".join(ms(med[p]) for p in PEERS) + f" | **{ratio:.2f}** ({fastest}) |")
    lines += per_peer_lines(results)
    lines += ["", "derive + emit (spec to kernel text, in a fresh process, import not timed): "
              + ", ".join(f"{n} {s:.2f} s" for n, s in derive.items()) + " (target ≤ 2 s for lenet5).", "",
              "Minor page faults per generated step (first touches of freshly mapped memory), without "
              "and with a workspace: in this process (PyTorch and XLA loaded) "
              + "; ".join(f"{n} {d} {r['faults']['generated, no workspace']:.0f} and "
                          f"{r['faults']['generated']:.0f}" for (n, d), r in results.items())
              + "; in a fresh process with NumPy only, float64, "
              + "; ".join(f"{n} {a:.0f} and {b:.0f}" for n, (a, b) in faults.items()) + ".", ""]
    return "\n".join(lines + targets(results, derive))


def targets(results: dict, derive: dict) -> list[str]:
    """The issue's targets, ticked where met; for the others the measured gap."""
    out = ["### Targets", "", *target_lines(results)]
    out.append(f"- [{'x' if derive['lenet5'] <= 2 else ' '}] derive + emit lenet5: {derive['lenet5']:.2f} s "
               "(target ≤ 2 s)")
    return out + ["", LIMITS, ""]


LIMITS = """Where the generated step is slower than a peer, what limits it (statement by statement,
one thread): the step is a sequence of whole-array NumPy operations, one pass over memory
each. Each convolution copies its im2col view once, in the forward pass, and its weight
gradient reads that copy, as hand-written code does; the gradient into a conv's input is one
GEMM and a col2im of one strided addition per kernel offset (25 for 5×5), the largest single
statement of lenet5's step. The max-pool gradient goes one window offset at a time and stores
each offset's slice (the windows do not overlap), but it still makes two passes over the
windows where PyTorch routes δ through a saved arg-max index in one: the derived gradient
divides δ among tied entries (the subgradient autograd uses), so the ties are counted first.
Batchnorm's backward is its three derived paths, with (σ² + ε)^(−3/2) taken out of the sum
for ∂J/∂σ², about nine passes over the activation where the compact hand-written form makes
five. A conv's output keeps the GEMM's channel-major layout while col2im and pooling gradients
are batch-major, so a few elementwise passes meet two layouts (NumPy is several times slower
there than on one layout; laying either side out as the other cost more than it saved when
tried). PyTorch's convolutions (oneDNN) and pooling run as direct kernels without an im2col
copy, and XLA fuses the elementwise passes into their neighbours; NumPy can do neither.
Whether a step's large temporaries cost page faults depends on the process's allocator
(counts above): where they do, a fault per 4 KiB on first touch costs more on this machine
than the arithmetic on it, and the workspace removes them."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    args = parser.parse_args()
    timing.PAUSE = PAUSE
    load0 = os.getloadavg()[0]
    results = {}
    for name, batch in NETS.items():
        for dtype in (np.float64, np.float32):
            results[name, dtype.__name__] = measure(name, batch, dtype, args.rounds)
            print(name, dtype.__name__, {k: f"{1000 * timing.median(v):.2f} ms"
                                         for k, v in results[name, dtype.__name__]["times"].items()})
    derive = {name: derive_seconds(name) for name in NETS}
    faults = {name: fresh_faults(name) for name in NETS}
    section = report(results, derive, faults, args.rounds, (load0, os.getloadavg()[0]))
    print(section)
    if not args.no_write:
        out = Path(args.out)
        text = out.read_text("utf-8")
        before, _, rest = text.partition(MARK)
        training = rest[rest.index(TRAINING_MARK):] if TRAINING_MARK in rest else ""
        if not rest and TRAINING_MARK in before:
            before, training = before.split(TRAINING_MARK)[0], TRAINING_MARK + before.split(TRAINING_MARK)[1]
        text = before.rstrip("\n") + "\n\n" + section + ("\n" + training if training else "")
        out.write_text(text, "utf-8")


if __name__ == "__main__":
    main()
