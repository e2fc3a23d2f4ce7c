"""The ``derive`` and ``example`` subcommands, and ``write_documents`` for ``symbp run``.

    symbp derive [SPEC] [-f latex|markdown|text] [-l neuron|matrix|both] [-o FILE] [--pdf]
                 [--fragment] [--values FILE] [--lr η] [--steps N]
    symbp example [SPEC] [--values FILE] [--lr η] [--steps N] [-f text|markdown|latex] [-o FILE]

Without --format, the suffix of -o picks it (.txt, .tex, .md, .pdf); any other suffix, or one
that does not match --format, is refused. Markdown written to a file gets its figure,
``<stem>_network.svg``, next to it; --pdf compiles the LaTeX with pdflatex in a temporary folder
and writes only the PDF (``<name>.pdf`` without -o; and the .tex when -o names one). Every command
plans its outputs and checks them all before it writes any (``files.write_outputs``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ..core.errors import SymbpError
from ..core.files import Output, write_outputs
from ..core.optimizers import NAMES
from ..core.options import LEARNING_RATE, STEPS
from ..core.spec import Network, load_spec
from ..docs.document import FORMATS, LEVELS, Derivation, derivation
from ..docs.example import example_settings, read_values
from ..docs.notation import NOTATIONS

SPEC_HELP = "a spec file (.toml/.json) or a bundled network name (default: mazur)"
# Output file suffix -> the format written into it ("pdf": LaTeX compiled by pdflatex).
SUFFIXES = {".txt": "text", ".text": "text", ".tex": "latex", ".md": "markdown",
            ".markdown": "markdown", ".pdf": "pdf", ".py": "python"}


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``derive`` and ``example`` on the ``symbp`` parser."""
    p = sub.add_parser("derive", help="write the derivation (LaTeX, Markdown or text; --pdf)")
    p.add_argument("spec", nargs="?", default=None, help=SPEC_HELP)
    p.add_argument("-f", "--format", choices=FORMATS, default=None,
                   help="output format (default: from the -o suffix, else text)")
    p.add_argument("-l", "--level", choices=LEVELS, default="both",
                   help="neuron: every weight's chain rule; matrix: any width (default: both)")
    p.add_argument("-o", "--output", help="output file (default: stdout; with --pdf <name>.pdf)")
    p.add_argument("--pdf", action="store_true", help="compile the LaTeX with pdflatex")
    p.add_argument("--fragment", action="store_true",
                   help="LaTeX body only, to \\input; Markdown without its title")
    p.add_argument("--notation", choices=list(NOTATIONS), default="symbp",
                   help="the matrix level's letters and layer numbers (LaTeX and Markdown): "
                        + "; ".join(n.description for n in NOTATIONS.values()))
    _example_args(p)
    p.add_argument("--force", action="store_true", help="overwrite files symbp did not write")
    p.set_defaults(func=cmd_derive)

    p = sub.add_parser("example", help="the worked numeric example: every number, N steps")
    p.add_argument("spec", nargs="?", default=None, help=SPEC_HELP)
    _example_args(p)
    p.add_argument("-f", "--format", choices=("text", "markdown", "latex"), default=None,
                   help="output format (default: from the -o suffix, else text)")
    p.add_argument("-o", "--output", help="output file (default: stdout)")
    p.add_argument("--force", action="store_true", help="overwrite a file symbp did not write")
    p.set_defaults(func=cmd_example)


def _example_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--values", help="TOML/JSON file of named values: inputs, targets, weights, "
                                    "biases (default: the spec's example)")
    p.add_argument("--lr", type=LEARNING_RATE, default=None, help="learning rate η (default: 0.5)")
    p.add_argument("--steps", type=STEPS, default=None,
                   help="gradient-descent steps of the generated kernel (default: 10000)")
    p.add_argument("--optimizer", choices=NAMES, default=None,
                   help="derive: add this optimiser's update rule; example: take --steps with it")


def _word(args: argparse.Namespace) -> str:
    return args.spec if args.spec is not None else "mazur"


def output_format(output: str | None, formats: tuple[str, ...], command: str) -> str | None:
    """The format the suffix of ``output`` (a file, not "-") asks for, one of ``formats``;
    a SymbpError naming the suffixes ``command`` writes when the suffix is not one of them."""
    if not output or output == "-":
        return None
    suffix = Path(output).suffix.lower()
    fmt = SUFFIXES.get(suffix)
    if fmt not in formats:
        known = ", ".join(f"{s} ({f})" for s, f in SUFFIXES.items() if f in formats)
        raise SymbpError(f"-o {output}: symbp {command} does not write "
                         f"{'a ' + suffix if suffix else 'a file without a'} suffix; use {known}")
    return fmt


def _format(args: argparse.Namespace, formats: tuple[str, ...]) -> tuple[str, bool]:
    """(format, pdf) from --format, --pdf and the suffix of -o, which must agree."""
    pdf = getattr(args, "pdf", False)
    fmt = output_format(args.output, formats, args.command)
    if fmt == "pdf":
        fmt, pdf = "latex", True
    if args.format and fmt and args.format != fmt:
        raise SymbpError(f"--format {args.format} does not match -o {args.output}, "
                         f"a {fmt} file name")
    return args.format or fmt or ("latex" if pdf else "text"), pdf


def _given(args: argparse.Namespace) -> dict | None:
    return read_values(args.values) if args.values else None


def cmd_derive(args: argparse.Namespace) -> int:
    fmt, pdf = _format(args, ("text", "latex", "markdown", "pdf"))
    if pdf and fmt != "latex":
        raise SymbpError("--pdf needs --format latex")
    if args.fragment and fmt == "text":
        raise SymbpError("--fragment applies to --format latex or markdown")
    if pdf and args.fragment:
        raise SymbpError("--pdf needs a complete document; leave out --fragment")
    if args.notation != "symbp" and fmt == "text":
        raise SymbpError("--notation applies to --format latex or markdown")
    net = load_spec(args.spec, graphs=True)
    if not isinstance(net, Network):
        from . import graph as commands

        if args.notation != "symbp":
            raise SymbpError("--notation applies to dense networks; a graph's document has its own")

        return commands.derive(args, net, fmt, pdf, _word(args))
    given = _given(args)
    doc = derivation(net, args.level, values=given["values"] if given else None,
                     lr=args.lr if args.lr is not None else (given or {}).get("learning_rate"),
                     steps=args.steps if args.steps is not None else (given or {}).get("steps"))
    if given is not None and doc.example is None:
        raise SymbpError("--values: the worked example is part of the neuron level, which this "
                         "derivation does not include")
    command = f"symbp derive {_word(args)} --format {fmt} --level {args.level}"
    if args.optimizer:
        doc = dataclasses.replace(doc, optimizer=args.optimizer)
        command += f" --optimizer {args.optimizer}"
    if args.notation != "symbp":
        doc = dataclasses.replace(doc, notation=args.notation)
        command += f" --notation {args.notation}"
    if args.fragment:
        command += " --fragment"
    if pdf:
        return _write_pdf(doc, args, command)
    if args.output:
        command += f" -o {args.output}"
    if fmt == "latex":
        text = doc.latex(fragment=args.fragment, command=command)
    elif fmt == "markdown":
        return _write_markdown(doc, args, command)
    else:
        text = doc.text(command=command)
    return _emit(text, args.output, args.force)


def _emit(text: str, output: str | None, force: bool) -> int:
    if not output or output == "-":
        sys.stdout.write(text)
        return 0
    write_outputs([(output, text)], force=force)
    print(f"wrote {output}")
    return 0


def _write_markdown(doc: Derivation, args: argparse.Namespace, command: str) -> int:
    if not args.output or args.output == "-":
        sys.stdout.write(doc.markdown(fragment=args.fragment, command=command))
        print(f"symbp: note: the figure {doc.network.name}_network.svg is written only with -o",
              file=sys.stderr)
        return 0
    out = Path(args.output)
    figure = out.with_name(f"{out.stem}_network.svg")
    svg_command = f"symbp derive {_word(args)} -f markdown -l {args.level} -o {args.output}"
    markdown = doc.markdown(figure=figure.name, fragment=args.fragment, command=command)
    write_outputs([(out, markdown), (figure, doc.svg(command=svg_command))], force=args.force)
    print(f"wrote {out}\nwrote {figure}")
    return 0


def _write_pdf(doc: Derivation, args: argparse.Namespace, command: str) -> int:
    from ..docs.pdf import pdf_output

    out = Path(args.output or f"{doc.network.name}.pdf")
    plan: list[Output] = []
    if out.suffix.lower() == ".tex":  # keep the LaTeX there, and the PDF beside it
        command += f" --pdf -o {out}"
        tex = doc.latex(command=command)
        plan.append(Output(out, tex))
        out = out.with_suffix(".pdf")
    else:
        tex = doc.latex(command=command + f" --pdf -o {out}")
    plan.append(pdf_output(out, tex))
    for path in write_outputs(plan, force=args.force):
        print(f"wrote {path}")
    return 0


def cmd_example(args: argparse.Namespace) -> int:
    from ..docs.worked import worked_example

    fmt, _ = _format(args, ("text", "latex", "markdown"))
    net = load_spec(args.spec, graphs=True)
    if not isinstance(net, Network):
        from . import graph as commands

        return commands.example(args, net, fmt, _word(args))
    values, lr, steps = example_settings(net, _given(args), args.lr, args.steps)
    command = f"symbp example {_word(args)} --format {fmt}"
    for flag, value in (("--values", args.values), ("--lr", args.lr), ("--steps", args.steps),
                        ("-o", args.output)):
        if value is not None:
            command += f" {flag} {value}"
    example = worked_example(net, values, lr, steps)
    if args.optimizer:
        from ..docs.optimizer_example import optimizer_steps

        command += f" --optimizer {args.optimizer}"
        example = dataclasses.replace(example, optimizer=optimizer_steps(net, values, lr, steps,
                                                                         args.optimizer))
    text = example.render(fmt, command=command)
    return _emit(text, args.output, args.force)


def document_outputs(net: Network, folder: str | Path, *, pdf: bool = False,
                     doc: Derivation | None = None) -> list[Output]:
    """The derivation of ``net`` as LaTeX, Markdown (with its SVG figure) and, with ``pdf``,
    a PDF, in ``folder``, planned for ``files.write_outputs``. For ``symbp run``, which may pass
    the ``derivation(net, "both")`` it already made as ``doc``."""
    folder = Path(folder)
    doc = doc or derivation(net, "both")
    command = f"symbp run {net.name} -o {folder}"
    tex = doc.latex(command=command)
    plan = [Output(folder / f"{net.name}.tex", tex),
            Output(folder / f"{net.name}.md",
                   doc.markdown(figure=f"{net.name}_network.svg", command=command)),
            Output(folder / f"{net.name}_network.svg", doc.svg(command=command))]
    if pdf:
        from ..docs.pdf import pdf_output

        plan.append(pdf_output(folder / f"{net.name}.pdf", tex))
    return plan


def write_documents(net: Network, folder: str | Path, *, force: bool = False,
                    pdf: bool = False, doc: Derivation | None = None) -> list[Path]:
    """Write ``document_outputs`` (each target checked before any is written); the paths."""
    return write_outputs(document_outputs(net, folder, pdf=pdf, doc=doc), force=force)
