"""The ``symbp`` command line: run, emit, regenerate, list (derive and example: docs_cli).

Every SymbpError becomes one line on stderr and exit code 2; a failed verification exits 1.
SIGTERM and SIGHUP unwind like Ctrl-C (temporary files and folders are removed; exit 128 + the
signal's number); a closed pipe on stdout ends quietly with 141, as for other Unix tools; any
other failure to write stdout (a full disk) is one line and exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from .._version import __version__
from ..codegen.memory import require
from ..core.errors import SymbpError
from ..core.options import BATCH, Parser
from ..core.spec import Network, bundled_names, graph_names, load_spec
from . import graph as commands

SPEC_HELP = "a spec file (.toml/.json) or a bundled network name (default: mazur)"


def _spec_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", default=None, help=SPEC_HELP)


def _spec_word(args: argparse.Namespace) -> str:
    return args.spec if args.spec is not None else "mazur"


def cmd_emit(args: argparse.Namespace) -> int:
    from ..codegen.emit import emit_numpy
    from ..codegen.graph_emit import emit_graph
    from ..core.files import write_outputs
    from .docs import output_format

    output_format(args.output, ("python",), "emit")
    net = load_spec(args.spec, graphs=True)
    emitter = emit_numpy if isinstance(net, Network) else emit_graph
    out = args.output or f"{net.name}.py"
    text = emitter(net, command=f"symbp emit {_spec_word(args)} -o {out}")
    if out == "-":
        sys.stdout.write(text)
        return 0
    write_outputs([(out, text)], force=args.force)
    print(f"wrote {out}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from ..codegen.emit import emit_numpy
    from ..codegen.load import load_module
    from ..core.files import write_outputs
    from ..docs.document import derivation
    from ..verify.kernel import check_kernel
    from .docs import document_outputs

    net = load_spec(args.spec, graphs=True)
    if not isinstance(net, Network):
        return commands.run(args, net, _spec_word(args))
    folder = Path(args.output or f"symbp_{net.name}")
    word = _spec_word(args)
    need = require(net, args.batch)  # before anything is derived or written
    print(f"symbp run: {net.name} ({'-'.join(map(str, net.sizes))}, "
          f"{', '.join(layer.activation for layer in net.layers)}; loss {net.loss})")
    print(f"  {need}")
    start = time.perf_counter()
    kernel = emit_numpy(net, command=f"symbp run {word} -o {folder}")
    derived = derivation(net, "both", command=f"symbp run {word} -o {folder}")
    doc = derived.text()
    print(f"  derived and emitted in {time.perf_counter() - start:.2f} s")
    paths = write_outputs([(folder / f"{net.name}.py", kernel),
                           (folder / f"{net.name}_derivation.txt", doc),
                           *document_outputs(net, folder, pdf=args.pdf, doc=derived)],
                          force=args.force)
    for p in paths:
        print(f"  wrote {p}")
    report = check_kernel(net, load_module(kernel, net.name), batch=args.batch)
    ok = report.passed()
    print(f"  autograd: max relative error {report.worst_autograd:.1e} (limit 1e-10)")
    print(f"  central differences: max relative error {report.grad_vs_fd:.1e} (limit 1e-06)")
    print(f"  sgd_step: {'equals params - lr*grads' if report.sgd_step <= 1e-14 else 'WRONG'}; "
          f"frozen parameters {'unchanged' if report.frozen_ok else 'CHANGED'}")
    print(f"verdict: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def cmd_regenerate(args: argparse.Namespace) -> int:
    from .bundled import project_root, regenerate

    root = Path(args.root if args.root is not None else ".")
    if root.exists():  # only the project itself or a new folder gets a generated/
        project_root(root)
    for path in regenerate(root, force=args.force):
        print(f"wrote {path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for name in bundled_names():
        net = load_spec(name)
        print(f"{name:12s} {'-'.join(map(str, net.sizes)):18s} {net.description}")
    for name in graph_names():
        print(f"{name:12s} {'graph':18s} {load_spec(name, graphs=True).description}")
    return 0


# Modules that add their own subcommands: each defines ``add_commands(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = ("symbp.cli.docs", "symbp.cli.check", "symbp.cli.train", "symbp.cli.post")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="symbp", description="Backpropagation derived symbolically, emitted as NumPy, verified.")
    parser.add_argument("--version", action="version", version=f"symbp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="derive, emit the kernel and the derivation, verify them")
    _spec_arg(p)
    p.add_argument("-o", "--output", help="output folder (default: symbp_<name>)")
    p.add_argument("--batch", type=BATCH, default=4, help="rows in the verification batch")
    p.add_argument("--pdf", action="store_true", help="also compile the LaTeX derivation (pdflatex)")
    p.add_argument("--force", action="store_true", help="overwrite files symbp did not write")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("emit", help="write the NumPy kernel module")
    _spec_arg(p)
    p.add_argument("-o", "--output", help="output file (default: <name>.py; - for stdout)")
    p.add_argument("--force", action="store_true", help="overwrite a file symbp did not write")
    p.set_defaults(func=cmd_emit)

    p = sub.add_parser("regenerate", help="rewrite generated/ for every bundled network")
    p.add_argument("root", nargs="?", default=None,
                   help="the symbp project folder or a new folder (default: .)")
    p.add_argument("--force", action="store_true", help="overwrite files symbp did not write")
    p.set_defaults(func=cmd_regenerate)

    p = sub.add_parser("list", help="list the bundled networks")
    p.set_defaults(func=cmd_list)
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_commands(sub)
    return parser


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds the stack like Ctrl-C, so that cleanup runs."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(signum)


# Signals that end a run the way Ctrl-C does (where the platform has them).
UNWINDING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def _unwinding_signals() -> Iterator[None]:
    """While running a command, SIGTERM/SIGHUP raise Terminated; the old handlers come back."""
    try:
        previous = {sig: signal.signal(sig, _terminate) for sig in UNWINDING}
    except ValueError:  # not the main thread: leave signals alone
        previous = {}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class StdoutError(Exception):
    """Standard output cannot be written (its reader has gone, or the disk is full)."""

    def __init__(self, error: OSError):
        super().__init__(error)
        self.error = error


class _CheckedStdout:
    """sys.stdout while a command runs: a failed write becomes a StdoutError, so it is told apart
    from every other OSError."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise StdoutError(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise StdoutError(exc) from None

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def _silence_stdout() -> None:
    """Point the process's stdout at /dev/null, so that the interpreter's last flush of what
    could not be written neither fails nor prints a traceback (only for the real stdout)."""
    if sys.stdout is None or sys.stdout is not sys.__stdout__:
        return
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _say(message: str) -> None:
    """One line on stderr; stderr itself may be gone, which is not worth a traceback."""
    with contextlib.suppress(OSError, ValueError):
        print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        with _unwinding_signals(), contextlib.redirect_stdout(_CheckedStdout(sys.stdout)):
            code = args.func(args)
            sys.stdout.flush()  # here, not at exit: a write error is reported like any other
        return code
    except SymbpError as exc:
        _say(f"symbp: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        _say("symbp: interrupted")
        return 130
    except Terminated as exc:
        _say(f"symbp: stopped by {signal.Signals(exc.signum).name}")
        return 128 + exc.signum
    except StdoutError as exc:
        _silence_stdout()
        if exc.error.errno == errno.EPIPE:  # the reader left (symbp list | head -1): stop quietly
            return 128 + getattr(signal, "SIGPIPE", 13)
        _say(f"symbp: error: cannot write to standard output ({exc.error.strerror})")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
