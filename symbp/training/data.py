"""Training data for ``symbp train``: read it, check it fits the network, one-hot the labels.

Sources: an ``.npz`` file with arrays ``X`` and ``Y``, a ``.csv`` file with a header row and a
named target column (every other column an input), or ``digits``: scikit-learn's 8×8 digits
(the optional extra ``symbp[data]``), inputs scaled to [0, 1].
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass

import numpy as np

from ..core.errors import SymbpError
from ..core.files import read_text
from ..core.spec import Network

MAX_CSV_BYTES = 512 * 2**20


class DataError(SymbpError):
    """Training data that cannot be read or does not fit the network (exit code 2)."""


@dataclass
class Dataset:
    """Inputs X (rows, inputs) and targets Y (rows, outputs), float64; ``labels``: whether Y was
    made from integer class labels (then accuracy is the share of rows whose argmax is right)."""

    X: np.ndarray
    Y: np.ndarray
    labels: bool

    def split(self, fraction: float, seed: int) -> tuple[Dataset, Dataset | None]:
        """(training, validation): a shuffled ``fraction`` of the rows held out."""
        if not 0 <= fraction < 1:
            raise DataError(f"--val: must be at least 0 and below 1, got {fraction}")
        n_val = int(round(fraction * len(self.X)))
        if n_val == 0:
            return self, None
        if n_val == len(self.X):
            raise DataError(f"--val {fraction} leaves no rows to train on")
        order = np.random.default_rng([seed, 1]).permutation(len(self.X))
        val, train = order[:n_val], order[n_val:]
        return (Dataset(self.X[train], self.Y[train], self.labels),
                Dataset(self.X[val], self.Y[val], self.labels))


def load_data(source: str, net: Network, target: str = "target") -> Dataset:
    """The dataset ``source`` names (see the module docstring), checked against ``net``."""
    if source == "digits":
        X, Y = _digits()
    elif source.endswith(".npz"):
        X, Y = _npz(source)
    elif source.endswith(".csv"):
        X, Y = _csv(source, target)
    else:
        raise DataError(f"--data {source}: expected a .npz or .csv file, or digits")
    return fit(net, X, Y, source)


def fit(net: Network, X: np.ndarray, Y: np.ndarray, where: str = "data") -> Dataset:
    """X and Y as float arrays shaped for ``net``: integer labels become one-hot rows."""
    X, Y = np.asarray(X), np.asarray(Y)
    if X.ndim != 2 or X.shape[1] != net.inputs:
        raise DataError(f"{where}: X must have {net.inputs} columns (the network's inputs), "
                        f"got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.number) or not np.isfinite(X.astype(np.float64)).all():
        raise DataError(f"{where}: X must be finite numbers")
    if len(Y) != len(X) or len(X) == 0:
        raise DataError(f"{where}: X has {len(X)} rows and Y {len(Y)}; both need the same, at least 1")
    n_out = net.layers[-1].size
    if n_out == 1 and Y.ndim == 1:  # one output: the targets themselves (0/1 labels for a classifier)
        Y = Y.reshape(-1, 1)
        binary = bool(np.isin(Y, (0, 1)).all()) if np.issubdtype(Y.dtype, np.number) else False
        return Dataset(X.astype(np.float64), _finite(Y, where), binary)
    if Y.ndim == 1 or (Y.ndim == 2 and Y.shape[1] == 1 and n_out > 1):
        return Dataset(X.astype(np.float64), _one_hot(Y.reshape(-1), n_out, where), True)
    if Y.ndim != 2 or Y.shape[1] != n_out:
        raise DataError(f"{where}: Y must be labels or have {n_out} columns, got shape {Y.shape}")
    return Dataset(X.astype(np.float64), _finite(Y, where), False)


def _finite(Y: np.ndarray, where: str) -> np.ndarray:
    if not np.issubdtype(Y.dtype, np.number) or not np.isfinite(Y.astype(np.float64)).all():
        raise DataError(f"{where}: Y must be finite numbers")
    return Y.astype(np.float64)


def _one_hot(labels: np.ndarray, n_out: int, where: str) -> np.ndarray:
    as_int = labels.astype(np.int64) if np.issubdtype(labels.dtype, np.number) else None
    if as_int is None or not np.array_equal(as_int, labels) or as_int.min() < 0 or as_int.max() >= n_out:
        raise DataError(f"{where}: labels must be integers 0…{n_out - 1} (the network has {n_out} "
                        "outputs)")
    out = np.zeros((len(labels), n_out))
    out[np.arange(len(labels)), as_int] = 1.0
    return out


def _digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("--data digits needs scikit-learn: pip install 'symbp[data]'") from None
    digits = load_digits()
    return digits.data / 16.0, digits.target


def _npz(source: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(source, allow_pickle=False) as data:
            missing = [k for k in ("X", "Y") if k not in data.files]
            if missing:
                raise DataError(f"{source}: has no array {missing[0]} (it holds {', '.join(data.files)})")
            return data["X"], data["Y"]
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{source}: cannot read it as .npz ({type(exc).__name__})") from None


def _csv(source: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    rows = list(csv.reader(io.StringIO(read_text(source, DataError, max_bytes=MAX_CSV_BYTES))))
    if not rows:
        raise DataError(f"{source}: is empty")
    header = [h.strip() for h in rows[0]]
    if target not in header:
        raise DataError(f"{source}: has no column {target!r} (use --target NAME); "
                        f"columns: {', '.join(header[:10])}")
    try:
        table = np.array([[float(v) for v in row] for row in rows[1:] if row], dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"{source}: every value must be a number ({exc})") from None
    if table.ndim != 2 or table.shape[1] != len(header):
        raise DataError(f"{source}: every row must have {len(header)} values")
    col = header.index(target)
    return np.delete(table, col, axis=1), table[:, col]
