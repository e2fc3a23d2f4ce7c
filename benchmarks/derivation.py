"""How fast symbp derives: matrix level against depth and width, neuron level, plain sympy.diff.

Every measurement runs in a fresh Python process (``python derivation.py <job> <spec JSON>``),
so sympy's caches start empty as they do for a user; the import of symbp is not timed, the
derivation and the emission of the kernel (or the neuron-level derivation) are.

The comparison: for small networks (sigmoid everywhere, ½Σ(y − a)², one sample) "plain" builds
the fully expanded loss E(w, x, y) from the definitions and calls ``sympy.diff(E, w)`` for every
weight, then ``sympy.simplify`` on each result (what one needs for a formula a person can read);
symbp's neuron level writes every ∂E/∂w as its chain-rule product (seed 000's form) and pulls
common factors out. A process that runs past its timeout is killed and reported as such.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def spec(sizes: list[int], hidden: str = "tanh", output: str = "softmax", loss: str = "softmax_ce",
         name: str = "sweep") -> dict:
    layers = [{"size": n, "activation": hidden} for n in sizes[1:-1]]
    layers.append({"size": sizes[-1], "activation": output})
    return {"name": name, "inputs": sizes[0], "loss": loss, "layers": layers}


def sigmoid_spec(sizes: list[int]) -> dict:
    return spec(sizes, "sigmoid", "sigmoid", "half_sse", "small")


# --------------------------------------------------------------------------- jobs (child side)


def _job_emit(data: dict) -> dict:
    import symbp

    net = symbp.load_spec(data) if isinstance(data, str) else symbp.Network.from_dict(data)
    start = time.perf_counter()
    symbp.emit_numpy(net)
    first = time.perf_counter() - start
    start = time.perf_counter()
    symbp.emit_numpy(net)
    return {"first": first, "again": time.perf_counter() - start}


def _job_neuron(data: dict) -> dict:
    import symbp
    from symbp.backprop.neuron import derive_neurons

    net = symbp.load_spec(data) if isinstance(data, str) else symbp.Network.from_dict(data)
    start = time.perf_counter()
    d = derive_neurons(net)
    return {"first": time.perf_counter() - start, "gradients": len(d.gradients)}


def _plain_gradients(data: dict) -> list:
    """E built from the definitions (nested sums, 1/(1 + e^-z)), and sympy.diff(E, p) for all p."""
    import sympy as sp

    sizes = [data["inputs"]] + [layer["size"] for layer in data["layers"]]
    a = [sp.Symbol(f"x{j}", real=True) for j in range(sizes[0])]
    params = []
    for l in range(1, len(sizes)):
        W = [[sp.Symbol(f"w{l}_{i}_{j}", real=True) for j in range(sizes[l - 1])] for i in range(sizes[l])]
        b = [sp.Symbol(f"b{l}_{i}", real=True) for i in range(sizes[l])]
        params += [w for row in W for w in row] + b
        a = [1 / (1 + sp.exp(-(sum(W[i][j] * a[j] for j in range(len(a))) + b[i])))
             for i in range(sizes[l])]
    ys = [sp.Symbol(f"y{k}", real=True) for k in range(sizes[-1])]
    E = sum(sp.Rational(1, 2) * (y - o) ** 2 for y, o in zip(ys, a))
    return [sp.diff(E, p) for p in params]


def _job_plain(data: dict) -> dict:
    start = time.perf_counter()
    grads = _plain_gradients(data)
    return {"first": time.perf_counter() - start, "gradients": len(grads)}


def _job_plain_simplify(data: dict) -> dict:
    """As _job_plain, then sympy.simplify on every derivative (a formula a person can read)."""
    import sympy as sp

    start = time.perf_counter()
    for g in _plain_gradients(data):
        sp.simplify(g)
    return {"first": time.perf_counter() - start}


def _job_matrix_only(data: dict) -> dict:
    import symbp
    from symbp.backprop.matrix import derive
    from symbp.backprop.plan import build_plan

    net = symbp.Network.from_dict(data)
    start = time.perf_counter()
    build_plan(derive(net))
    return {"first": time.perf_counter() - start}


JOBS = {"emit": _job_emit, "neuron": _job_neuron, "plain": _job_plain,
        "plain_simplify": _job_plain_simplify, "matrix": _job_matrix_only}


# --------------------------------------------------------------------------- parent side


def run_job(job: str, data: dict | str, timeout: float = 120.0) -> dict | None:
    """The job's result from a fresh process; None if it ran past ``timeout`` seconds, and
    {"error": message} if symbp refused (a neuron-level derivation with too many paths)."""
    try:
        out = subprocess.run([sys.executable, str(Path(__file__).resolve()), job, json.dumps(data)],
                             capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=True)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as exc:
        return {"error": (exc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def sweeps() -> dict:
    """Derive + emit times: mnist_mlp, depth 1…64 at width 64, width 2…1024 at depth 3."""
    out: dict = {"mnist_mlp": run_job("emit", "mnist_mlp")}
    out["depth"] = [(n, run_job("emit", spec([64] + [64] * n + [10]))) for n in (1, 2, 4, 8, 16, 32, 64)]
    out["width"] = [(w, run_job("emit", spec([w, w, w, 10]))) for w in (2, 8, 32, 128, 512, 1024)]
    return out


COMPARED = ([1, 1, 1], [2, 1, 1], [2, 2, 1], [2, 2, 2], [2, 3, 2], [3, 3, 3], [4, 4, 4], [8, 8, 8],
            [12, 12, 12], [16, 16, 16])


def neuron_and_plain(timeout: float = 60.0) -> dict:
    """Neuron level for seed 000 and 2-3-2; symbp against plain sympy.diff on growing nets.

    Once a method runs past ``timeout`` on a net it is not tried on larger ones.
    """
    out: dict = {"mazur": run_job("neuron", "mazur"), "2-3-2": run_job("neuron", sigmoid_spec([2, 3, 2]))}
    alive = {"neuron": True, "plain": True, "plain_simplify": True}
    rows = []
    for sizes in COMPARED:
        data = sigmoid_spec(sizes)
        row: dict = {"sizes": "-".join(map(str, sizes)), "matrix": run_job("matrix", data, timeout)}
        for job in alive:
            if not alive[job]:
                row[job] = "skipped"
                continue
            row[job] = run_job(job, data, timeout)
            alive[job] = row[job] is not None
        rows.append(row)
    out["compare"] = rows
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    job, payload = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(JOBS[job](payload)))
