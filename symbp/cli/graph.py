"""``symbp run`` for graph specs (the CLI dispatches here on a ``GraphSpec``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..codegen.graph_emit import derive_graph, render
from ..core.graph_spec import GraphSpec
from ..docs.graph_document import GraphDerivation
from ..docs.graph_figure import figure_name
from ..verify.graph import EVALUATOR_LIMIT, FD_LIMIT, check_graph_kernel


def run(args: argparse.Namespace, spec: GraphSpec, word: str) -> int:
    """Derive and emit the kernel into a folder, then verify it; exit 1 when a check fails."""
    from symbp.codegen.load import load_module
    from symbp.core.files import write_outputs

    folder = Path(args.output or f"symbp_{spec.name}")
    print(f"symbp run: {spec.name} ({spec.summary()})")
    start = time.perf_counter()
    derived = derive_graph(spec)
    kernel = render(derived, f"symbp run {word} -o {folder}")
    doc = GraphDerivation(derived).text(command=f"symbp run {word} -o {folder}")
    print(f"  derived and emitted in {time.perf_counter() - start:.2f} s")
    outputs = [(folder / f"{spec.name}.py", kernel), (folder / f"{spec.name}_derivation.txt", doc)]
    for path in write_outputs(outputs, force=args.force):
        print(f"  wrote {path}")
    report = check_graph_kernel(derived, load_module(kernel, spec.name), batch=args.batch)
    print(f"  derived backward run by the engine's evaluator: max relative error "
          f"{report.worst_evaluator:.1e} (limit {EVALUATOR_LIMIT:.0e})")
    print(f"  central differences: max relative error {report.grad_vs_fd:.1e} (limit {FD_LIMIT:.0e})")
    print(f"  sgd_step: {'equals params - lr*grads' if report.sgd_step <= 1e-14 else 'WRONG'}")
    print(f"verdict: {'PASS' if report.passed() else 'FAIL'}")
    return 0 if report.passed() else 1


def derive(args: argparse.Namespace, spec: GraphSpec, fmt: str, pdf: bool, word: str) -> int:
    """The index-level derivation as text, LaTeX, Markdown or a PDF (``--level`` does not apply)."""
    from symbp.core.files import write_outputs

    doc = GraphDerivation(derive_graph(spec))
    command = f"symbp derive {word} --format {fmt}"
    if pdf:
        from symbp.docs.pdf import pdf_output

        out = Path(args.output or f"{spec.name}.pdf")
        tex = doc.latex(command=f"{command} --pdf -o {out}")
        plan = [pdf_output(out.with_suffix(".pdf"), tex)]
        if out.suffix.lower() == ".tex":
            plan.insert(0, (out, tex))
        for path in write_outputs(plan, force=args.force):
            print(f"wrote {path}")
        return 0
    command += f" -o {args.output}" if args.output else ""
    text = {"latex": doc.latex, "markdown": doc.markdown, "text": doc.text}[fmt](command=command)
    if not args.output or args.output == "-":
        sys.stdout.write(text)
        return 0
    plan = [(Path(args.output), text)]
    if fmt == "markdown":  # the figure it links, beside it (its header: short options, no "--")
        figure = Path(args.output).with_name(figure_name(spec))
        plan = [(Path(args.output), doc.markdown(command=command, figure=figure.name)),
                (figure, doc.svg(command=f"symbp derive {word} -f markdown -o {args.output}"))]
    for path in write_outputs(plan, force=args.force):
        print(f"wrote {path}")
    return 0


def example(args: argparse.Namespace, spec: GraphSpec, fmt: str, word: str) -> int:
    """The element level of a small graph spec: every entry with names and numbers."""
    from symbp.check.example import read_table
    from symbp.core.errors import SymbpError
    from symbp.core.files import write_outputs

    from ..docs.element_level import element_level
    from ..docs.element_section import render as render_elements

    for flag, value in (("--lr", args.lr), ("--steps", args.steps), ("--optimizer", args.optimizer)):
        if value is not None:
            raise SymbpError(f"{flag} applies to dense specs; a graph spec's example takes no step")
    command = f"symbp example {word} --format {fmt}"
    for flag, value in (("--values", args.values), ("-o", args.output)):
        command += f" {flag} {value}" if value else ""
    given = read_table(args.values) if args.values else None
    suffix = {"latex": "tex", "markdown": "md", "text": "txt"}[fmt]
    text = render_elements(element_level(spec, given=given), suffix, command)
    if not args.output or args.output == "-":
        sys.stdout.write(text)
        return 0
    write_outputs([(args.output, text)], force=args.force)
    print(f"wrote {args.output}")
    return 0
