"""The training loop: shuffled minibatches through the generated ``train_step``, a history per
epoch, and a clean stop on Ctrl-C after the step under way.

``train(net, X, Y, ...)`` is what ``symbp train`` runs; ``load_kernel(net)`` imports the kernel
symbp emits for ``net`` (the user writes no file).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from types import ModuleType

import numpy as np

from ..core.errors import SymbpError
from ..core.optimizers import optimizer as optimizer_entry
from ..core.spec import Network
from .data import Dataset, fit

_KERNELS: dict[str, ModuleType] = {}
# init_params' schemes (the kernel's INIT_SCHEMES, and its default)
SCHEMES = ("default", "he_normal", "he_uniform", "xavier_normal", "xavier_uniform", "pytorch")


def load_kernel(net: Network) -> ModuleType:
    """The generated NumPy module for ``net``, imported (one per spec, kept for the process)."""
    from ..codegen.emit import emit_numpy
    from ..codegen.load import load_module

    key = net.spec_hash()
    if key not in _KERNELS:
        _KERNELS[key] = load_module(emit_numpy(net), net.name)
    return _KERNELS[key]


@dataclass
class Epoch:
    """One epoch's figures; accuracies are None for targets that are not class labels."""

    epoch: int
    loss: float  # mean of the minibatch losses, weighted by rows
    accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    seconds: float  # training steps only (the evaluation is not counted)


@dataclass
class History:
    """What a training run did: settings, one ``Epoch`` per epoch and the final parameters."""

    network: str
    optimizer: str
    hyper: dict
    lr: float
    batch: int
    seed: int
    epochs: list[Epoch] = field(default_factory=list)
    steps: int = 0
    interrupted: bool = False  # stopped by Ctrl-C (after a whole step; everything kept)
    params: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if k != "params"}
        return json.dumps(data, indent=2) + "\n"


class Progress:
    """Callbacks for a running loop (the CLI draws a bar or prints lines); no-ops here."""

    def step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        pass

    def epoch(self, record: Epoch) -> None:
        pass


def _settings(name: str, lr: float | None, hyper: dict | None, epochs: int, batch: int,
              scheme: str) -> tuple:
    entry = optimizer_entry(name)
    entry.values(**(hyper or {}))  # names and shapes checked here, with symbp's errors
    lr = entry.lr if lr is None else lr
    if not (isinstance(lr, int | float) and np.isfinite(lr) and lr > 0):
        raise SymbpError(f"--lr: must be a positive number, got {lr}")
    if scheme not in SCHEMES:
        raise SymbpError(f"scheme: one of {', '.join(SCHEMES)}, not {scheme!r}")
    if epochs < 1 or batch < 1:
        raise SymbpError(f"--epochs and --batch must be at least 1, got {epochs} and {batch}")
    return {**entry.defaults(), **(hyper or {})}, float(lr)


def check_params(mod: ModuleType, params: dict) -> dict[str, np.ndarray]:
    """``params`` as arrays of the kernel's shapes, or a SymbpError naming the one that is off."""
    out = {}
    for name, shape in mod.PARAM_SHAPES.items():
        if name not in params:
            raise SymbpError(f"--init: has no parameter {name} (needs {', '.join(mod.PARAM_SHAPES)})")
        value = np.array(params[name], dtype=np.float64)
        if value.shape != tuple(shape) or not np.isfinite(value).all():
            raise SymbpError(f"--init: {name} must be finite numbers of shape {tuple(shape)}, "
                             f"got {value.shape}")
        out[name] = value
    return out


def train(net: Network, X, Y, *, optimizer: str = "adam", lr: float | None = None, epochs: int = 10,
          batch: int = 32, seed: int = 0, val: float = 0.0, init: dict | None = None,
          scheme: str = "default", hyper: dict | None = None,
          progress: Progress | None = None) -> History:
    """Train ``net`` on (X, Y) (labels or target rows) and return the History, with the final
    parameters in ``History.params``. ``lr`` defaults to PyTorch's for the optimiser."""
    hyper, lr = _settings(optimizer, lr, hyper, epochs, batch, scheme)
    data = X if isinstance(X, Dataset) else fit(net, X, Y)
    train_set, val_set = data.split(val, seed)
    mod = load_kernel(net)
    params = check_params(mod, init) if init is not None else mod.init_params(seed, scheme=scheme)
    history = History(net.name, optimizer, hyper, lr, batch, seed, params=params)
    state = mod.init_state(params, optimizer, **hyper)
    progress = progress or Progress()
    batches = _Batches(train_set, batch, seed)
    per_row = net.reduction == "sum"
    with _stop_on_interrupt() as stop:
        for epoch in range(1, epochs + 1):
            start, total = time.perf_counter(), 0.0
            for i, (Xb, Yb) in enumerate(batches.epoch()):
                loss = float(mod.train_step(params, state, Xb, Yb, lr))
                total += loss if per_row else loss * len(Xb)
                history.steps += 1
                progress.step(epoch, i + 1, batches.count, loss)
                if stop.is_set():
                    break
            seconds = time.perf_counter() - start
            record = _evaluate(mod, params, epoch, total / len(train_set.X), train_set, val_set,
                               per_row, seconds)
            history.epochs.append(record)
            progress.epoch(record)
            if stop.is_set():
                history.interrupted = True
                break
    return history


def accuracy(A: np.ndarray, Y: np.ndarray) -> float:
    """Share of rows classified right: argmax for several outputs, a > 1/2 for one."""
    if Y.shape[1] == 1:
        return float(np.mean((A > 0.5) == (Y > 0.5)))
    return float(np.mean(A.argmax(axis=1) == Y.argmax(axis=1)))


def _evaluate(mod, params, epoch, loss, train_set, val_set, per_row, seconds) -> Epoch:
    def scored(data: Dataset | None) -> tuple[float | None, float | None]:
        if data is None:
            return None, None
        J = float(mod.loss(params, data.X, data.Y)) / (len(data.X) if per_row else 1)
        return J, accuracy(mod.forward(params, data.X), data.Y) if data.labels else None

    val_loss, val_acc = scored(val_set)
    train_acc = accuracy(mod.forward(params, train_set.X), train_set.Y) if train_set.labels else None
    return Epoch(epoch, loss, train_acc, val_loss, val_acc, seconds)


class _Batches:
    """Shuffled minibatches copied into arrays made once (``np.take(..., out=)``)."""

    def __init__(self, data: Dataset, size: int, seed: int):
        self.data, self.size = data, min(size, len(data.X))
        self.rng = np.random.default_rng(seed)
        n = len(data.X)
        self.count = -(-n // self.size)
        last = n - (self.count - 1) * self.size
        self.buffers = {rows: (np.empty((rows, data.X.shape[1])), np.empty((rows, data.Y.shape[1])))
                        for rows in {self.size, last}}

    def epoch(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = self.rng.permutation(len(self.data.X))
        for start in range(0, len(order), self.size):
            rows = order[start:start + self.size]
            Xb, Yb = self.buffers[len(rows)]
            # mode="clip" (the rows are in range): with "raise", take buffers ``out`` (~10x slower)
            yield (np.take(self.data.X, rows, axis=0, out=Xb, mode="clip"),
                   np.take(self.data.Y, rows, axis=0, out=Yb, mode="clip"))


@contextmanager
def _stop_on_interrupt() -> Iterator[threading.Event]:
    """An Event set by Ctrl-C (SIGINT) instead of KeyboardInterrupt, so the loop ends after a
    whole step; the previous handler comes back afterwards. Outside the main thread, a no-op."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
