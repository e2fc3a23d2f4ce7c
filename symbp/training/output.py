"""What ``symbp train`` writes: parameters (.npz), the history (JSON) and its plot (PNG + SVG).

The plot needs matplotlib (the optional extra ``symbp[plot]``); without it the other files are
still written and ``plot_files`` says why there is no plot.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..core.errors import SymbpError
from .loop import History


def run_files(folder: Path, name: str) -> dict[str, Path]:
    """The files of a run in ``folder``: params, history, png, svg."""
    return {"params": folder / f"{name}_params.npz", "history": folder / f"{name}_history.json",
            "png": folder / f"{name}_training.png", "svg": folder / f"{name}_training.svg"}


def params_bytes(params: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **params)
    return buffer.getvalue()


def load_params(path: str) -> dict[str, np.ndarray]:
    """Parameters saved by ``symbp train`` (or any .npz of arrays named W1, b1, …)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise SymbpError(f"--init {path}: cannot read it as .npz ({type(exc).__name__})") from None


def plot_files(history: History) -> dict[str, bytes] | str:
    """{"png": …, "svg": …}: loss and accuracy per epoch, training and validation; or the reason
    there is no plot (matplotlib missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return "no plot: matplotlib is not installed (pip install 'symbp[plot]')"
    epochs = [e.epoch for e in history.epochs]
    with_acc = any(e.accuracy is not None for e in history.epochs)
    fig = Figure(figsize=(9 if with_acc else 5, 3.6))
    axes = fig.subplots(1, 2 if with_acc else 1, squeeze=False)[0]
    panels = [("loss", "loss", "val_loss")] + ([("accuracy", "accuracy", "val_accuracy")] if with_acc else [])
    for ax, (title, key, val_key) in zip(axes, panels):
        ax.plot(epochs, [getattr(e, key) for e in history.epochs], marker=".", label="training")
        if any(getattr(e, val_key) is not None for e in history.epochs):
            ax.plot(epochs, [getattr(e, val_key) for e in history.epochs], marker=".", label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{history.network}: {history.optimizer}, lr {history.lr:g}, batch {history.batch}")
    fig.tight_layout()
    out = {}
    for fmt in ("png", "svg"):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=110, metadata={"Date": None} if fmt == "svg" else None)
        out[fmt] = buffer.getvalue()
    return out
