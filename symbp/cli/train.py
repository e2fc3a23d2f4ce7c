"""The ``train`` subcommand: train a spec on a dataset and write parameters, history and plot.

``symbp.cli.app`` registers it through ``COMMAND_MODULES``. A progress bar on a terminal, one plain
line per epoch otherwise; Ctrl-C stops after the step under way and everything so far is saved
(exit code 130).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..core.files import check_target, write_output
from ..core.optimizers import NAMES
from ..core.options import BATCH, LEARNING_RATE, SEED, integer, number
from ..core.spec import load_spec
from ..training.loop import SCHEMES, Epoch, Progress, train

HYPER_OPTIONS = ("momentum", "alpha", "betas", "eps", "weight_decay")  # PyTorch's keywords

EPOCHS = integer(1, 1_000_000)
SHARE = number(0, 1, low_open=False, high_open=True)  # a fraction in [0, 1): --val, momentum, betas
EPS = number(0, 1)
DECAY = number(0, 1e6, low_open=False)


def _pct(value: float | None) -> str:
    return "" if value is None else f" acc {100 * value:5.1f}%"


def epoch_line(e: Epoch, epochs: int) -> str:
    val = "" if e.val_loss is None else f"  val loss {e.val_loss:.4f}{_pct(e.val_accuracy)}"
    return f"epoch {e.epoch}/{epochs}  loss {e.loss:.4f}{_pct(e.accuracy)}{val}  ({e.seconds:.2f} s)"


class Lines(Progress):
    """One line per epoch (output is not a terminal)."""

    def __init__(self, epochs: int, out=None):
        self.epochs, self.out = epochs, out or sys.stdout

    def epoch(self, record: Epoch) -> None:
        print(epoch_line(record, self.epochs), file=self.out, flush=True)


class Bar(Lines):
    """A bar redrawn in place: epoch, step, loss, accuracy of the last epoch, time left."""

    WIDTH = 24

    def __init__(self, epochs: int, out=None):
        super().__init__(epochs, out)
        self.start, self.last_acc, self.drawn = time.perf_counter(), None, 0.0

    def step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        now = time.perf_counter()
        if now - self.drawn < 0.1 and step != steps:
            return
        self.drawn = now
        done = ((epoch - 1) * steps + step) / (self.epochs * steps)
        left = (now - self.start) * (1 - done) / done
        filled = int(self.WIDTH * step / steps)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.out.write(f"\repoch {epoch}/{self.epochs} [{bar}] loss {loss:.4f}"
                       f"{_pct(self.last_acc)}  {left:4.0f} s left ")
        self.out.flush()

    def epoch(self, record: Epoch) -> None:
        self.last_acc = record.accuracy
        self.out.write("\r\033[K")
        super().epoch(record)


def cmd_train(args: argparse.Namespace) -> int:
    from ..training.data import load_data
    from ..training.output import load_params, params_bytes, plot_files, run_files

    net = load_spec(args.spec)
    folder = Path(args.output or f"symbp_train_{net.name}")
    files = run_files(folder, net.name)
    for path in files.values():  # refuse before training, not after
        check_target(path, force=args.force)
    data = load_data(args.data, net, args.target)
    hyper = {k: (tuple(v) if k == "betas" else v) for k in HYPER_OPTIONS
             if (v := getattr(args, k)) is not None}
    init = load_params(args.init) if args.init else None
    progress = (Bar if sys.stdout.isatty() else Lines)(args.epochs)
    print(f"symbp train: {net.name} ({'-'.join(map(str, net.sizes))}) on {args.data}: "
          f"{len(data.X)} rows, {args.optimizer}, {args.epochs} epochs of batch {args.batch}")
    history = train(net, data, None, optimizer=args.optimizer, lr=args.lr, epochs=args.epochs,
                    batch=args.batch, seed=args.seed, val=args.val, init=init, scheme=args.scheme,
                    hyper=hyper, progress=progress)
    if history.interrupted:
        print(f"interrupted after step {history.steps}; saving what there is")
    written = [write_output(files["params"], params_bytes(history.params), force=args.force),
               write_output(files["history"], history.to_json(), force=args.force)]
    plots = plot_files(history)
    if isinstance(plots, str):
        print(f"  {plots}")
    else:
        written += [write_output(files[fmt], content, force=args.force) for fmt, content in plots.items()]
    for path in written:
        print(f"  wrote {path}")
    return 130 if history.interrupted else 0


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="train a network on a dataset; write parameters, history, plot",
                       epilog="data: a .npz with arrays X and Y, a .csv with a header row and a "
                              "target column, or digits (scikit-learn's, pip install 'symbp[data]'); "
                              "integer labels become one-hot targets. Ctrl-C stops after the current "
                              "step and saves everything (exit code 130).")
    p.add_argument("spec", help="a spec file (.toml/.json) or a bundled network name")
    p.add_argument("--data", required=True, help="FILE.npz, FILE.csv or digits")
    p.add_argument("--target", default="target", help="the target column of a .csv (default: target)")
    p.add_argument("--optimizer", default="adam", choices=NAMES, help="default: adam")
    p.add_argument("--lr", type=LEARNING_RATE, help="learning rate (default: PyTorch's for the optimizer)")
    p.add_argument("--epochs", type=EPOCHS, default=10)
    p.add_argument("--batch", type=BATCH, default=32, help="rows per minibatch (default: 32)")
    p.add_argument("--seed", type=SEED, default=0, help="initial weights, shuffling and split")
    p.add_argument("--val", type=SHARE, default=0.0, help="share of rows held out for validation")
    p.add_argument("--init", help="start from parameters saved by an earlier run (.npz)")
    p.add_argument("--scheme", default="default", choices=SCHEMES, help="initialisation")
    p.add_argument("--momentum", type=SHARE)
    p.add_argument("--alpha", type=SHARE, help="RMSProp's smoothing constant")
    p.add_argument("--betas", type=SHARE, nargs=2, metavar=("BETA1", "BETA2"))
    p.add_argument("--eps", type=EPS)
    p.add_argument("--weight-decay", dest="weight_decay", type=DECAY, help="applied to weights only")
    p.add_argument("-o", "--output", help="output folder (default: symbp_train_<name>)")
    p.add_argument("--force", action="store_true", help="overwrite files symbp did not write")
    p.set_defaults(func=cmd_train)
