"""The derivation of a graph spec at the index level, as derived: every forward compute and every
backward compute (∂J/∂tensor, one part per read, the sums at a fan-out) as an equation, written
as LaTeX, Markdown (KaTeX) or text."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp
from sympy.printing.latex import LatexPrinter

from ..backprop import norm_paths, tensor_softmax, tensor_table
from ..backprop.tensor_level import Names, Statement
from ..codegen.graph_code import BATCH, _batch_numbers, formula
from ..codegen.graph_emit import Derived, derive_graph
from ..codegen.seq_emit import SeqDerived
from ..core import naming
from ..core.graph_spec import GraphSpec
from ..core.ir import Compute, Term
from . import attention_section as attention_doc
from .graph_figure import figure_name, svg


def tensor_tex(name: str) -> str:
    """A tensor's name in LaTeX: z^{(1)}_{conv2d} for conv2d1_z, W^{(3)}, \\bar{·} for ∂J/∂·."""
    gradient, shared = naming.gradient_of(name), naming.shared_of(name)
    if gradient:
        base, part = gradient
        tex = rf"\bar{{{tensor_tex(base)}}}"
        return tex if not part else rf"{{{tex}}}^{{\langle {_part(part)} \rangle}}"
    if shared:
        return rf"\bar{{s}}\left({tensor_tex(shared)}\right)"
    computed, parameter = naming.compute_of(name), naming.param_of(name)
    if computed:
        kind, layer, part = computed
        return rf"\mathrm{{{part}}}^{{({layer})}}_{{\mathrm{{{kind}}}}}"
    if parameter:
        stem, layer = parameter
        stem = {"gamma": r"\gamma", "beta": r"\beta"}.get(stem, rf"\mathrm{{{stem}}}")
        return rf"{stem}^{{({layer})}}"
    return rf"\mathrm{{{_tex_text(name)}}}"


def _part(part: str) -> str:
    """Which read a part of a gradient comes from: the compute that reads it."""
    reader = naming.part_reader(part)[0]
    return rf"\text{{via }} {tensor_tex(reader)}"


class _Printer(LatexPrinter):
    """sympy's LaTeX with tensor reads named as ``tensor_tex`` names them."""

    def _print_Indexed(self, expr: sp.Indexed) -> str:  # noqa: N802
        index = ",".join(self._print(i) for i in expr.indices)
        return f"{{{tensor_tex(str(expr.base))}}}_{{{index}}}"

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:  # noqa: N802
        if expr.is_real and not expr.is_integer:  # a scalar tensor (the loss)
            return tensor_tex(expr.name)
        return super()._print_Symbol(expr, style)


_LATEX = _Printer()


def _tex_term(term: Term) -> str:
    """One term: reduction, body with tensors named, and its range condition (Iverson)."""
    body = _LATEX.doprint(_batch_numbers(term.body))
    if term.reduce:
        over = ",".join(map(str, term.reduce))
        reduce = rf"\max_{{{over}}} " if term.kind == "max" else rf"\sum_{{{over}}} "
        body = reduce + rf"\left({body}\right)"
    for e, bound in term.guards:
        body += rf"\,[0 \le {_LATEX.doprint(e)} < {bound}]"
    return body


def equation(c: Compute) -> str:
    """``name[index] = Σ terms`` in LaTeX."""
    index = ",".join(_LATEX.doprint(i) for i in c.index)
    left = f"{{{tensor_tex(c.name)}}}_{{{index}}}" if index else tensor_tex(c.name)
    return f"{left} = " + " + ".join(_tex_term(t) for t in c.terms)


@dataclass(frozen=True)
class GraphDerivation:
    """A graph spec's computes and derived backward pass, ready to write."""

    derived: Derived

    @property
    def name(self) -> str:
        return self.derived.spec.name

    def sections(self) -> list[tuple[str, list[Compute]]]:
        return self.derived.sections()

    @cached_property
    def tensor_level(self) -> list[Statement]:
        """The computes the recognisers know, restated as textbooks write them (see
        ``tensor_level``); each normalisation's paths and their simplified sum replace the
        sums of parts inside it."""
        return tensor_statements(self.derived)

    def _intro(self) -> list[str]:
        spec = self.derived.spec
        return [f"{spec.description or spec.name}.", f"Network: {spec.summary()}.",
                "B is the batch size; a read outside a tensor's range is 0; "
                f"{naming.grad('t')} (a bar over t in LaTeX) is dJ/dt; "
                "a gradient read by several computes is the sum of its parts (fan-out)."]

    def _sections(self, fmt: str, show) -> list[dict]:
        """Index level (each compute, or LaTeX a recogniser wrote), then the tensor level."""
        out = [{"title": title, "note": "", "notes": [],
                "equations": [{"what": "", "eq": show(c) if isinstance(c, Compute) else c} for c in computes]}
               for title, computes in self.sections()]
        if self.tensor_level:
            out.append({"title": "Tensor level (recognised from the derived formulas)", "note": TENSOR_NOTE,
                        "notes": [],
                        "equations": [{"what": s.what, "eq": s.show(fmt)} for s in self.tensor_level]})
        return out

    def _render(self, fmt: str, command: str, escape, show, figure: str = "") -> str:
        from symbp._version import __version__
        from symbp.codegen.emit import environment
        from symbp.core.spec import one_line

        spec = self.derived.spec
        template = f"graph_derivation.{fmt}.j2"
        info = {"version": __version__, "template": template, "network": one_line(spec.name),
                "spec_hash": spec.spec_hash(), "description": one_line(spec.description or spec.name),
                "command": one_line(command)}
        sections = self._sections("text" if fmt == "txt" else "tex", show)
        sections += [{"title": s["title"], "note": "", "notes": s["notes"],  # recognised matrix forms
                      "equations": [{"what": "", "eq": e} for e in s["equations"]]}
                     for s in attention_doc.sections(spec, tex=fmt != "txt")]
        for section in sections:
            section["note"] = escape(section["note"])
            section["notes"] = [escape(n) for n in section["notes"]]
            for item in section["equations"]:
                item["what"] = escape(item["what"])
        return environment().get_template(template).render(
            info=info, title=escape(f"{self.name}: the derivation at the index and tensor levels"),
            intro=[escape(p) for p in self._intro()], sections=sections, figure=figure)

    def latex(self, command: str = "") -> str:
        return self._render("tex", command, _tex_prose, equation)

    def markdown(self, command: str = "", figure: str | None = None) -> str:
        """Markdown (KaTeX), linking the SVG ``figure`` (default ``<name>_network.svg``)."""
        figure = figure or figure_name(self.derived.spec)
        return self._render("md", command, lambda t: t, equation, figure=figure)

    def svg(self, command: str = "") -> str:
        """The figure of the graph: layers as boxes with shapes, skip connections curved."""
        return svg(self.derived.spec, command or f"symbp derive {self.name} -f markdown")

    def text(self, command: str = "") -> str:
        return self._render("txt", command, lambda t: t, formula)


def _tex_text(text: str) -> str:
    """Plain text for LaTeX: its special characters escaped."""
    table = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
             "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    return "".join(table.get(ch, ch) for ch in text)


_SYMBOLS = {"δ": r"$\delta$", "∂": r"$\partial$", "°": r"$^\circ$", "⋆": r"$\star$", "⊙": r"$\odot$",
            "·": r"$\cdot$", "×": r"$\times$", "σ": r"$\sigma$", "ε": r"$\varepsilon$", "√": r"$\surd$",
            "Σ": r"$\Sigma$", "−": "$-$"}


def _tex_prose(text: str) -> str:
    """Prose for LaTeX: special characters escaped, the few Greek letters and operators the
    documents use as inline math."""
    return "".join(_SYMBOLS.get(ch, ch) for ch in _tex_text(text))


TENSOR_NOTE = ("K ⋆ R is the correlation (K ⋆ R)[i, j] = Σ K[p, q]·R[i + p, j + q] over the kernel's p, q; "
               "⋆ with a subscript s slides with stride s; pad_p adds p zeros on each side, "
               "dil_s puts s − 1 zeros between entries, "
               "rot180 turns a kernel by 180°. In the im2col view R_col has one column per output "
               "position holding the window it sees, K_row one row per output channel, and col2im adds "
               "the columns back into the windows they came from. mean(·) averages over the entries "
               "that share a normalisation's statistics; ⊙ multiplies entry by entry. upsample_s repeats "
               "each entry in an s × s block (entries no window covers get 0), 1_{k×k} is a kernel of ones, "
               "Σ_k(·) sums over a softmax's axis, T[:, i:j] is a slice and reshape keeps a sample's "
               "row-major order.")


def tensor_statements(derived: Derived) -> list[Statement]:
    """The tensor level of a derived graph: the recognised computes in order, each
    normalisation's paths and simplified sum, and each softmax's inlined gradient, in place of
    the statements about the computes inside them. A sequence
    network's matrix level is its recurrence section instead (``backprop.recurrence``)."""
    if isinstance(derived, SeqDerived):
        return []
    names = Names(tensor_tex)
    generic = tensor_table.statements(derived.graph.computes + derived.computes, names, BATCH,
                                      derived.graph.shapes())
    for norm in norm_paths.recognise(derived.graph):
        found = norm_paths.paths(norm, derived.graph, derived.computes)
        if found is not None:
            inside = {part for part, _ in found.paths} | {found.gradient}
            inside |= norm_paths.inside(norm, derived.computes)
            generic = _in_place(generic, inside, norm_paths.statements(found, names))
    for soft in tensor_softmax.recognise(derived.graph):
        grad = tensor_softmax.gradient(soft, derived.graph, derived.computes)
        if grad is not None:
            shown = tensor_softmax.statements(grad, names, _batch_numbers)
            generic = _in_place(generic, grad.inside | {grad.gradient}, shown)
    return generic


def _in_place(generic: list[Statement], inside: set[str], found: list[Statement]) -> list[Statement]:
    """``found`` where the first statement about a compute in ``inside`` was, those dropped."""
    at = next((k for k, s in enumerate(generic) if s.name in inside), len(generic))
    return [s for s in generic[:at] if s.name not in inside] + found + \
        [s for s in generic[at:] if s.name not in inside]


def derive_document(spec: GraphSpec) -> GraphDerivation:
    return GraphDerivation(derive_graph(spec))
