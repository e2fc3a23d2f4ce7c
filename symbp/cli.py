"""The ``symbp`` command line: run, emit, regenerate, list (derive and example: docs_cli).

Every SymbpError becomes one line on stderr and exit code 2; a failed verification exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from . import __version__
from .errors import SymbpError
from .spec import bundled_names, load_spec

SPEC_HELP = "a spec file (.toml/.json) or a bundled network name (default: mazur)"


def _spec_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", default=None, help=SPEC_HELP)


def _spec_word(args: argparse.Namespace) -> str:
    return args.spec if args.spec is not None else "mazur"


def cmd_emit(args: argparse.Namespace) -> int:
    from .emit import emit_numpy
    from .files import write_output

    net = load_spec(args.spec)
    out = args.output or f"{net.name}.py"
    text = emit_numpy(net, command=f"symbp emit {_spec_word(args)} -o {out}")
    if out == "-":
        sys.stdout.write(text)
        return 0
    write_output(out, text, force=args.force)
    print(f"wrote {out}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .docs_cli import write_documents
    from .document import derivation
    from .emit import emit_numpy
    from .files import write_outputs
    from .verify import check_kernel, load_module

    net = load_spec(args.spec)
    folder = Path(args.output or f"symbp_{net.name}")
    word = _spec_word(args)
    print(f"symbp run: {net.name} ({'-'.join(map(str, net.sizes))}, "
          f"{', '.join(layer.activation for layer in net.layers)}; loss {net.loss})")
    start = time.perf_counter()
    kernel = emit_numpy(net, command=f"symbp run {word} -o {folder}")
    derived = derivation(net, "both", command=f"symbp run {word} -o {folder}")
    doc = derived.text()
    print(f"  derived and emitted in {time.perf_counter() - start:.2f} s")
    paths = write_outputs([(folder / f"{net.name}.py", kernel),
                           (folder / f"{net.name}_derivation.txt", doc)], force=args.force)
    paths += write_documents(net, folder, force=args.force, pdf=args.pdf, doc=derived)
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
    from .bundled import regenerate

    for path in regenerate(args.root, force=args.force):
        print(f"wrote {path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for name in bundled_names():
        net = load_spec(name)
        print(f"{name:12s} {'-'.join(map(str, net.sizes)):18s} {net.description}")
    return 0


# Modules that add their own subcommands: each defines ``add_commands(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = ("symbp.docs_cli", "symbp.check_cli", "symbp.train_cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symbp", description="Backpropagation derived symbolically, emitted as NumPy, verified.")
    parser.add_argument("--version", action="version", version=f"symbp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="derive, emit the kernel and the derivation, verify them")
    _spec_arg(p)
    p.add_argument("-o", "--output", help="output folder (default: symbp_<name>)")
    p.add_argument("--batch", type=int, default=4, help="rows in the verification batch")
    p.add_argument("--pdf", action="store_true", help="also compile the LaTeX derivation (pdflatex)")
    p.add_argument("--force", action="store_true", help="overwrite files symbp did not write")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("emit", help="write the NumPy kernel module")
    _spec_arg(p)
    p.add_argument("-o", "--output", help="output file (default: <name>.py; - for stdout)")
    p.add_argument("--force", action="store_true", help="overwrite a file symbp did not write")
    p.set_defaults(func=cmd_emit)

    p = sub.add_parser("regenerate", help="rewrite generated/ for every bundled network")
    p.add_argument("root", nargs="?", default=".", help="project folder (default: .)")
    p.add_argument("--force", action="store_true", help="overwrite files symbp did not write")
    p.set_defaults(func=cmd_regenerate)

    p = sub.add_parser("list", help="list the bundled networks")
    p.set_defaults(func=cmd_list)
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SymbpError as exc:
        print(f"symbp: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("symbp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
