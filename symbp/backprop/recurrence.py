"""The matrix level of a recurrent layer's derivation, recognised from the derived step.

Each compute of the cell's derived backward pass is written the way courses write BPTT: one
sample's vectors with a time subscript (h_t, h_{t−1}, the gates i_t, f_t, …), W_h·v or
W_hᵀ·v for a sum against a weight matrix, ⊙ for elementwise products, blocks of a stacked gate
vector named by their gate. The recurrence of δh_t is the derived ∂J/∂h_{t−1} of the step
with the step's elementwise computes substituted into it, shifted to t + 1; the sums over t
are the backward loop's. Nothing here is typed in: a compute whose form is not recognised is
left to the index level.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter

from ..core import naming
from ..core.ir import Compute, read_index, read_name, reads
from .scan import Scan

GATES = {"lstm": "ifgo", "gru": "rzn"}
PARTS = {"tc": r"\tanh c", "zg": "z"}  # step tensors whose name is not their symbol
_DATA = {"pt": ("P", 0), "hprev": ("h", -1), "cprev": ("c", -1), "gh": (r"\delta h", 0),
         "gc": (r"\delta c^{\to}", 0)}


class _Names:
    """Math names of one scan's tensors at time t + ``shift``."""

    def __init__(self, scan: Scan, shift: int = 0):
        self.scan, self.shift = scan, shift

    def time(self, offset: int) -> str:
        k = offset + self.shift
        return "t" if k == 0 else f"t{'+' if k > 0 else '-'}{abs(k)}"

    def tensor(self, name: str) -> str:
        gradient = naming.gradient_of(name)
        if gradient:
            base, part = gradient
            via = rf"^{{\langle {self.via(part)} \rangle}}" if part else ""
            return r"\delta " + self.tensor(base) + via
        stem = name.rstrip("0123456789")
        if stem in _DATA:
            symbol, offset = _DATA[stem]
            return f"{symbol}_{{{self.time(offset)}}}"
        if stem in ("Wh", "bh", "Wx", "bx", "b"):
            return f"{stem[0]}_{{{stem[1:] or 'x'}}}" if stem != "b" else "b"
        computed = naming.compute_of(name)
        part = computed[2] if computed else name
        return f"{PARTS.get(part, part)}_{{{self.time(0)}}}"

    def via(self, part: str) -> str:
        """Which read a part of a gradient comes from: the reader (the next step for the
        pseudo-loss), and the reader's term when it is not the first."""
        reader, term, _ = naming.part_reader(part)
        if reader.startswith("cell"):  # the pseudo-loss: what step t + 1 sends back
            return self.time(1)
        return self.tensor(reader) + (f",{term + 1}" if term else "")

    def block(self, offset) -> str:
        """The gate a constant offset into a stacked vector selects."""
        gates = GATES.get(self.scan.kind, "")
        k = int(offset) // self.scan.size
        return f"^{{({gates[k]})}}" if 0 <= k < len(gates) and offset else ""


class _Vectors(LatexPrinter):
    """Elementwise expressions of one sample's vectors: products of vectors as ⊙."""

    def _print_Mul(self, expr) -> str:  # noqa: N802
        factors = [f for f in expr.args if f != -1]
        if len(factors) < 2:
            return super()._print_Mul(expr)
        body = r" \odot ".join(self.parenthesize(f, 1000) if f.is_Add else self._print(f) for f in factors)
        return f"-{body}" if -1 in expr.args else body

    def _print_Symbol(self, expr, style="plain") -> str:  # noqa: N802
        return expr.name


_PRINT = _Vectors()


def _vector_symbols(expr: sp.Expr, names: _Names, over: sp.Symbol | None = None) -> sp.Expr:
    """Reads of (n, ·) tensors as vector symbols; gate blocks marked; ``over``: the summed index."""
    swap = {}
    for r in reads(expr):
        index = read_index(r)
        if len(index) != 2:
            return None
        const = sp.expand(index[1]).as_coeff_add()[0]
        swap[r] = sp.Symbol(names.tensor(read_name(r)) + names.block(const), commutative=True)
    return expr.xreplace(swap)


def _product(term, names: _Names, out: Compute) -> str | None:
    """Σ_k W[a, b]·f[n, k] as W f or Wᵀ f; Σ_n a[n, j]·b[n, m] as the outer product a bᵀ."""
    (k,) = term.reduce
    factors = sp.Mul.make_args(term.body)
    weights = [f for f in factors if isinstance(f, sp.Indexed) and str(f.base).rstrip("0123456789") == "Wh"]
    if len(weights) == 1 and k in read_index(weights[0]):
        W = weights[0]
        rest = _vector_symbols(sp.Mul(*(f for f in factors if f is not W)), names)
        if rest is None:
            return None
        transpose = r"^{\top}" if read_index(W)[0] == k else ""
        inner = _PRINT.doprint(rest)
        inner = f" {inner}" if rest.is_Symbol else rf"\left({inner}\right)"
        return f"{names.tensor(read_name(W))}{transpose}{inner}"
    vectors = [f for f in factors if isinstance(f, sp.Indexed)]
    if str(k) == "n" and len(vectors) in (1, 2) and len(out.shape) in (1, 2):
        a, *b = sorted(vectors, key=lambda r: read_index(r)[1] != out.index[0])
        left = names.tensor(read_name(a))
        return left + (rf"\, {names.tensor(read_name(b[0]))}^{{\top}}" if b else "")
    return None


def matrix_equation(c: Compute, scan: Scan, names: _Names | None = None) -> str | None:
    """One derived compute of the step at the matrix level, or None if its form is not one of
    the recognised ones (elementwise, a product with W_h, an outer product over the batch)."""
    names = names or _Names(scan)
    if len(c.terms) != 1:
        return None
    term = c.terms[0]
    gradient = naming.gradient_of(c.name)
    is_param = gradient is not None and gradient[0] in scan.graph.params
    if term.reduce:
        rhs = _product(term, names, c)
        if rhs is None:
            return None
        if is_param:
            return rf"\frac{{\partial J}}{{\partial {names.tensor(gradient[0])}}} = \sum_t {rhs}"
    else:
        body = _vector_symbols(term.body, names)
        if body is None:
            return None
        rhs = _PRINT.doprint(body)
    return f"{names.tensor(c.name)}{_lhs_block(c, names)} = {rhs}"


def _lhs_block(c: Compute, names: _Names) -> str:
    """The gate block a guarded part of a stacked gradient fills (its reads sit at u − offset)."""
    term = c.terms[0]
    found = [r for r in reads(term.body) if len(read_index(r)) == 2]
    if not term.guards or not found or len(c.index) != 2:
        return ""
    return names.block(sp.expand(c.index[1] - read_index(found[0])[1]))


def _inlined(scan: Scan, target: str) -> Compute:
    """``target`` with every elementwise, unguarded compute of the step substituted into it."""
    defs = {c.name: c for c in scan.backward.computes
            if len(c.terms) == 1 and not c.terms[0].reduce and not c.terms[0].guards and c.shape
            and not any("__" in read_name(r) for r in reads(c.terms[0].body))}
    defs.update({c.name: c for c in scan.backward.computes if c.shape == ()})  # ∂J/∂J = 1
    c = next(c for c in scan.backward.computes if c.name == target)
    body = c.terms[0].body
    for _ in range(len(defs)):
        swap = {}
        for r in reads(body):
            d = defs.get(read_name(r))
            if d is not None:
                swap[r] = d.terms[0].body.xreplace(dict(zip(d.index, read_index(r))))
        if not swap:
            break
        body = body.xreplace(swap)
    return Compute(c.name, c.shape, c.index, (c.terms[0].__class__(body, c.terms[0].reduce),), c.ranges)


def recurrence(scan: Scan) -> list[str]:
    """δh_t (and δc_t for an LSTM) as courses write BPTT: the loss term at t plus what step
    t + 1 sends back, written with the derived, substituted ∂J/∂(previous state) of that step."""
    out = []
    by_name = {c.name: c for c in scan.backward.computes}
    for state, prev in scan.prev.items():
        target = by_name[scan.backward.grads[prev]]
        parts = [read_name(r) for r in reads(target.terms[0].body) if "__" in read_name(r)]
        later = _Names(scan, shift=1)  # what step t + 1 sends back to step t
        sent = [matrix_equation(_inlined(scan, p), scan, later) for p in parts or [target.name]]
        if None in sent:
            continue
        above = r"\frac{\partial J}{\partial h_t}\Big|_{\text{layers above}} + " if state == "h" else ""
        lhs = _Names(scan).tensor(scan.upstream[state])
        out.append(f"{lhs} = {above}" + " + ".join(e.split(" = ", 1)[1] for e in sent))
    return out


def equations(scan: Scan) -> list[str]:
    """The recurrence, then every derived compute of the step that has a matrix form."""
    found = [matrix_equation(c, scan) for c in scan.backward.computes if c.shape]
    return recurrence(scan) + [e for e in found if e]
