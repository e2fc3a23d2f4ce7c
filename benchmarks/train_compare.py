"""Training comparison on scikit-learn's digits: ``symbp.train`` against scikit-learn's
MLPClassifier and a plain PyTorch loop, same architecture, optimiser, learning rate, batch, epochs
and L2, in one process.

    python benchmarks/train_compare.py [--epochs 30] [--repeats 3] [--out benchmarks/RESULTS.md]

writes (or replaces) the "Training comparison" section at the end of RESULTS.md. Not part of the
test suite. Times are per epoch, medians over ``--repeats`` whole runs; the three trainers run
interleaved, repeat by repeat.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

# Every trainer on one thread (NumPy's OpenBLAS for symbp and scikit-learn, torch.set_num_threads
# for PyTorch): on a shared two-core machine a second BLAS thread makes these small products slower.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

import symbp  # noqa: E402

MARK = "<!-- training comparison (benchmarks/train_compare.py) -->"
LR, BATCH, ALPHA, HIDDEN = 1e-3, 32, 1e-4, 32


def split(seed: int = 0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    return train_test_split(d.data / 16.0, d.target, test_size=0.2, random_state=seed, stratify=d.target)


def run_symbp(net, X, y, Xt, yt, epochs, seed):
    mod = symbp.load_kernel(net)
    start = time.perf_counter()
    h = symbp.train(net, X, y, optimizer="adam", lr=LR, epochs=epochs, batch=BATCH, seed=seed)
    total = time.perf_counter() - start
    acc = float(np.mean(mod.forward(h.params, Xt).argmax(axis=1) == yt))
    steps = sum(e.seconds for e in h.epochs)
    return {"accuracy": acc, "epoch": total / epochs, "steps_epoch": steps / epochs}


def run_sklearn(X, y, Xt, yt, epochs, seed):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier((HIDDEN,), activation="relu", solver="adam", alpha=ALPHA, batch_size=BATCH,
                        learning_rate_init=LR, max_iter=epochs, shuffle=True, random_state=seed,
                        tol=0.0, n_iter_no_change=10**9)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    total = time.perf_counter() - start
    return {"accuracy": float(clf.score(Xt, yt)), "epoch": total / epochs}


def run_torch(X, y, Xt, yt, epochs, seed, dtype_name):
    import torch

    dtype = getattr(torch, dtype_name)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, HIDDEN), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN, 10)).to(dtype)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xs, ys = torch.tensor(X, dtype=dtype), torch.tensor(y)
    weights = [model[0].weight, model[2].weight]
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(Xs), generator=g)
        for i in range(0, len(order), BATCH):
            rows = order[i:i + BATCH]
            opt.zero_grad()
            # scikit-learn's and the spec's L2: alpha/(2·B)·ΣW² over the weights
            loss = loss_fn(model(Xs[rows]), ys[rows]) + ALPHA / (2 * len(rows)) * sum(
                (w * w).sum() for w in weights)
            loss.backward()
            opt.step()
    total = time.perf_counter() - start
    with torch.no_grad():
        acc = float((model(torch.tensor(Xt, dtype=dtype)).argmax(1) == torch.tensor(yt)).double().mean())
    return {"accuracy": acc, "epoch": total / epochs}


def measure(epochs: int, repeats: int) -> dict[str, list[dict]]:
    X, Xt, y, yt = split()
    net = symbp.load_spec("mlp_digits")
    symbp.load_kernel(net)  # derived and emitted once, before timing
    trainers = {"symbp": lambda s: run_symbp(net, X, y, Xt, yt, epochs, s),
                "scikit-learn": lambda s: run_sklearn(X, y, Xt, yt, epochs, s)}
    try:
        import torch

        torch.set_num_threads(1)
        trainers["PyTorch float64"] = lambda s: run_torch(X, y, Xt, yt, epochs, s, "float64")
        trainers["PyTorch float32"] = lambda s: run_torch(X, y, Xt, yt, epochs, s, "float32")
    except ImportError:
        print("PyTorch is not installed: its loop is left out", file=sys.stderr)
    results: dict[str, list[dict]] = {k: [] for k in trainers}
    for seed in range(repeats):
        for name, fn in trainers.items():
            results[name].append(fn(seed))
            print(name, seed, results[name][-1], flush=True)
    return results


def report(results: dict[str, list[dict]], epochs: int) -> str:
    med = {k: {m: statistics.median(r[m] for r in runs) for m in runs[0]} for k, runs in results.items()}
    ours = med["symbp"]
    lines = [MARK, "## Training comparison: digits, 64-32-10 relu, Adam", "",
             f"scikit-learn's 8×8 digits (1437 training rows, 360 test rows, stratified), "
             f"{epochs} epochs of Adam (lr {LR}, β = (0.9, 0.999), ε = 1e-8), batch {BATCH}, "
             f"L2 α = {ALPHA} as scikit-learn applies it (α/(2B)·ΣW²; the `mlp_digits` spec), "
             f"shuffled every epoch. Medians of {len(results['symbp'])} runs (seeds 0…), "
             f"trainers interleaved; {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores shared with other jobs; every trainer on one thread "
             f"(OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, torch.set_num_threads(1)).", "",
             "| trainer | test accuracy | ms per epoch | symbp ÷ this |", "|---|---|---|---|"]
    for name, m in med.items():
        ratio = ours["epoch"] / m["epoch"]
        lines.append(f"| {name} | {100 * m['accuracy']:.1f} % | {1000 * m['epoch']:.1f} | {ratio:.2f} |")
    sk = med["scikit-learn"]["epoch"]
    torch = {k: v["epoch"] for k, v in med.items() if k.startswith("PyTorch")}
    steps = ours["steps_epoch"]
    lines += ["", f"symbp's epoch includes the accuracy evaluation on the whole training set after "
              f"each epoch, which scikit-learn and the PyTorch loop do not do; its training steps "
              f"alone take {1000 * steps:.1f} ms per epoch: {steps / sk:.2f}× scikit-learn's epoch"
              + "".join(f", {steps / v:.2f}× {k}'s" for k, v in torch.items()) + ".",
              "scikit-learn's Adam adds ε to the uncorrected √v (step lr·√(1−β₂ᵗ)/(1−β₁ᵗ)·m/(√v+ε)), "
              "PyTorch and symbp to the corrected √v̂; initialisations differ (Glorot uniform, "
              "PyTorch's nn.Linear, He normal), so accuracies agree to noise, not digit for digit.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args()
    section = report(measure(args.epochs, args.repeats), args.epochs)
    out = Path(args.out)
    text = out.read_text("utf-8") if out.exists() else ""
    text = text.split(MARK)[0].rstrip("\n") + "\n\n" + section if text else section
    out.write_text(text, "utf-8")
    print(section)


if __name__ == "__main__":
    main()
