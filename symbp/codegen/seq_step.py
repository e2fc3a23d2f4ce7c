"""One step of a recurrent cell printed for the loop over time: each derived compute written in
place into the step's own array (``out=``), in as few whole-array passes as its formula allows.

The cell's computes are small (B, H) arrays evaluated T times, so a fixed cost per NumPy call
weighs as much as the arithmetic. The printer therefore
- folds a compute that is a number (the pseudo-loss's seed 1) into the formulas reading it, and
  prints a compute that only renames another (∂J/∂P_t = ∂J/∂s) as the same array;
- reads a block of a stacked tensor (a gate's quarter of s) as a basic slice, not a strided view;
- prints each formula as a chain of ufuncs writing into its output array, the logistic σ(u) =
  (1 + tanh(u/2))/2 as four in-place passes that cannot overflow;
- prints a sum over one index of a product of two matrices as one ``np.dot`` whose operands
  are transposed views (BLAS reads them as they are);
- writes a sum of gradient parts, each nonzero on its own block of the index (a gate's block of
  ∂J/∂s), block by block into one array instead of adding zero-padded parts.
Anything else is printed by the general statement printer (``graph_code.statement``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import prod

import sympy as sp

from ..core.ir import Compute, Shape, affine, index_vars, read_index, read_name, reads
from ..core.printing import FUNCTIONS, expm1_form, stable_form
from .graph_code import _PRINTER, _batch_numbers, formula, shape_code, statement
from .saturation import logistic

Window = Mapping[sp.Symbol, tuple[int, int]]  # index variable -> [low, high) it runs over


class NoStepFormError(Exception):
    """The compute has no form of this module; the general statement printer prints it."""


def logistic_form(expr: sp.Expr) -> sp.Expr:
    """expr with each 1/(1 + e^{−u}) written σ(u) (printed as the module's ``_sigmoid``)."""
    def match(e: sp.Expr) -> bool:
        if not (isinstance(e, sp.Pow) and e.exp == -1 and isinstance(e.base, sp.Add)):
            return False
        const, rest = e.base.as_coeff_Add()
        return const == 1 and isinstance(rest, sp.exp) and rest.args[0].could_extract_minus_sign()

    return expr.replace(match, lambda e: logistic(-e.base.as_coeff_Add()[1].args[0]))


def _special(node: sp.Basic) -> bool:
    """A node NumpyPrinter prints in a form of its own: log(1 + e^u) (logaddexp), k·(e^u − 1)
    (expm1)."""
    return (isinstance(node, sp.log) and node.has(sp.exp)) or \
        (isinstance(node, sp.Add) and expm1_form(node) is not None)


def _slice(read: sp.Expr, grid: Sequence[sp.Symbol], window: Window, shapes: Mapping[str, Shape]) -> str:
    """A read over the window as basic slicing of its array, with a new axis for each grid
    variable it lacks; NoStepFormError unless each index is a variable plus a constant, in range."""
    name = read_name(read)
    fixed, placed = [], {}
    for e, n in zip(read_index(read), shapes.get(name, ())):
        coeffs, const = affine(e, index_vars(e))
        if not const.is_Integer or len(coeffs) > 1 or any(c != 1 for c in coeffs.values()):
            raise NoStepFormError(f"{read} is not a block of {name}")
        if not coeffs:
            if placed or not 0 <= const < n:
                raise NoStepFormError(f"{read}: a fixed index after a block, or outside")
            fixed.append(str(const))
            continue
        (var,) = coeffs
        if var not in window or var in placed:
            raise NoStepFormError(f"{read} is not read on the grid")
        low, high = window[var][0] + const, window[var][1] + const
        if low < 0 or high > n:
            raise NoStepFormError(f"{read} leaves {name}")
        placed[var] = ":" if (low, high) == (0, n) else f"{low}:{high}"
    if list(placed) != [v for v in grid if v in placed]:
        raise NoStepFormError(f"{read} reads its axes in another order")
    index = fixed + ([placed.get(v, "None") for v in grid] if read_index(read) else [])
    if all(p == ":" for p in index):
        return f"v[{name!r}]"
    return f"v[{name!r}][{', '.join(index)}]"


@dataclass(frozen=True)
class Chain:
    """A formula as ufunc calls along one path of its tree (the heaviest argument first), each
    writing into ``out``; the arguments off the path are printed as they are."""

    leaves: Mapping[sp.Expr, str]
    out: str

    def code(self, e: sp.Expr) -> str:
        if e in self.leaves or e.is_Number:
            raise NoStepFormError("a read alone is a copy")
        if stable_form(e) != e or any(_special(n) for n in sp.preorder_traversal(e)):
            raise NoStepFormError("the general printer writes it in its overflow-free form")
        return self._chain(e)

    def _plain(self, e: sp.Expr) -> str:
        if e in self.leaves:
            return self.leaves[e]
        names = {r: sp.Symbol(f"({code})") for r, code in self.leaves.items()}
        return _PRINTER.doprint(_batch_numbers(e.xreplace(names)))

    def _start(self, e: sp.Expr) -> str:
        """e's value: a leaf or number as it is, anything else computed into out."""
        return self._plain(e) if e in self.leaves or e.is_Number else self._chain(e)

    def _call(self, fn: str, *args: str) -> str:
        return f"{fn}({', '.join(args)}, out={self.out})"

    def _chain(self, e: sp.Expr) -> str:
        if isinstance(e, sp.Add):
            return self._add(e)
        if isinstance(e, sp.Mul):
            return self._mul(e)
        if isinstance(e, sp.Pow) and e.exp in (2, -1):
            base = self._start(e.base)
            return self._call("np.square", base) if e.exp == 2 else self._call("np.divide", "1", base)
        if isinstance(e, logistic):
            return f"_sigmoid({self._start(e.args[0])}, {self.out})"
        if isinstance(e, sp.Function) and len(e.args) == 1 and type(e).__name__ in FUNCTIONS:
            return self._call(FUNCTIONS[type(e).__name__], self._start(e.args[0]))
        raise NoStepFormError(f"no ufunc chain for {type(e).__name__}")

    @staticmethod
    def _heaviest(args) -> sp.Expr:
        return max(args, key=lambda a: (sp.count_ops(a), -list(args).index(a)))

    def _add(self, e: sp.Add) -> str:
        first = self._heaviest(e.args)
        rest = [a for a in e.args if a is not first]
        if first.could_extract_minus_sign():  # rest − u
            return self._call("np.subtract", self._plain(sp.Add(*rest)), self._start(-first))
        code = self._start(first)
        for a in rest:
            fn, a = ("np.subtract", -a) if a.could_extract_minus_sign() else ("np.add", a)
            code = self._call(fn, code, self._plain(a))
        return code

    def _mul(self, e: sp.Mul) -> str:
        coeff, rest = e.as_coeff_Mul()
        factors = list(sp.Mul.make_args(rest))
        over = [f.base for f in factors if isinstance(f, sp.Pow) and f.exp == -1]
        times = [f for f in factors if not (isinstance(f, sp.Pow) and f.exp == -1)]
        if times:
            first = self._heaviest(times)
            times.remove(first)
            code, fresh = self._start(first), first not in self.leaves
        else:
            first = self._heaviest(over)
            over.remove(first)
            code, fresh = self._call("np.divide", "1", self._start(first)), True
        for f in times:
            code, fresh = self._call("np.multiply", code, self._plain(f)), True
        for f in over:
            code, fresh = self._call("np.divide", code, self._plain(f)), True
        if coeff == -1:
            return self._call("np.negative", code)
        if coeff != 1:
            return self._call("np.multiply", code, _number(coeff))
        if not fresh:
            raise NoStepFormError("a read alone is a copy")
        return code


@dataclass
class StepPrinter:
    """Prints computes (in order), a cell's for the loop body or a segment's; ``slot`` is where a
    compute's array is (a format string of its ``name`` and ``shape``), ``keep`` the names read
    elsewhere (a sum does not take those parts in)."""

    computes: Sequence[Compute]
    shapes: Mapping[str, Shape]
    slot: str
    keep: frozenset[str]

    def __post_init__(self):
        self.numbers: dict[sp.Symbol, sp.Expr] = {}
        self.readers: dict[str, int] = {}
        for c in self.computes:
            for term in c.terms:
                for r in reads(term.body):
                    self.readers[read_name(r)] = self.readers.get(read_name(r), 0) + 1
        self.fused: set[str] = set()
        self.buffers: dict[str, Shape] = {}  # computes written in place: their step arrays

    def lines(self) -> list[dict]:
        """{"comment", "code": [lines], "name"} per compute, in order."""
        sums = {}  # first the sums that take their parts in (the parts come before them)
        for k, c in enumerate(self.computes):
            self._number(c)
            if self._plain_sum(c):
                sums[c.name] = self._parts(c, sp.Add(*(t.body for t in c.terms)).xreplace(self.numbers),
                                           self.computes[:k])
        out = []
        for c in self.computes:
            code = sums.get(c.name) or self._code(c)
            out.append({"comment": formula(c), "code": code, "name": c.name})
        return out

    def _number(self, c: Compute) -> None:
        """A compute that is a number (a pseudo-loss's seed) is folded into its readers."""
        if not c.index and len(c.terms) == 1 and not c.terms[0].reduce and \
                c.terms[0].body.xreplace(self.numbers).is_Number:
            self.numbers[sp.Symbol(c.name, real=True)] = c.terms[0].body.xreplace(self.numbers)

    @staticmethod
    def _plain_sum(c: Compute) -> bool:
        return tuple(c.index) == c.free and all(not (t.reduce or t.guards) for t in c.terms)

    def _code(self, c: Compute) -> list[str]:
        if c.name in self.fused:
            return []  # written into the sum that reads it
        value = self.numbers.get(sp.Symbol(c.name, real=True))
        if value is not None:  # kept for a statement printed by the general printer
            return [f"v[{c.name!r}] = np.asarray({_number(value)}, dtype)"]
        try:
            return self._printed(c)
        except NoStepFormError:
            return [statement(c, self.shapes)]

    def _printed(self, c: Compute) -> list[str]:
        if tuple(c.index) != c.free or any(t.guards or t.kind != "sum" for t in c.terms):
            raise NoStepFormError(c.name)
        terms = [sp.Mul(logistic_form(t.body).xreplace(self.numbers)) for t in c.terms]
        grid = list(c.free)
        full = {v: (0, c.ranges[v]) for v in grid}
        reduced = [t for t in c.terms if t.reduce]
        if not reduced:
            body = sp.Add(*terms)
            if isinstance(body, sp.Indexed) and read_index(body) == c.index and \
                    self.shapes[read_name(body)] == c.shape:
                return [f"v[{c.name!r}] = v[{read_name(body)!r}]"]  # the same array, renamed
        if reduced:
            if len(reduced) != 1:
                raise NoStepFormError(c.name)
            code = self._dot(c, reduced[0])
            rest = [b for b, t in zip(terms, c.terms) if not t.reduce]
            leaves = self._leaves(sp.Add(*rest), grid, full)
            for b in rest:
                code = f"np.add({code}, {Chain(leaves, 'out')._plain(b)}, out=out)"
        else:
            body = sp.Add(*terms)
            code = Chain(self._leaves(body, grid, full), "out").code(body)
        return [f"out = {self._out(c)}", f"v[{c.name!r}] = {code}"]

    def _out(self, c: Compute) -> str:
        self.buffers[c.name] = c.shape
        return self.slot.format(name=repr(c.name), shape=shape_code(c.shape))

    def _leaves(self, body: sp.Expr, grid, window: Window) -> dict[sp.Expr, str]:
        if index_vars(body) - {v for r in reads(body) for e in read_index(r) for v in index_vars(e)}:
            raise NoStepFormError("an index variable outside a read")
        return {r: _slice(r, grid, window, self.shapes) for r in reads(body)}

    def _dot(self, c: Compute, term) -> str:
        """Σ_k (number)·A·B over one index as np.dot(A', B') with A' (p, k), B' (k, q) views."""
        coeff, rest = sp.Mul(logistic_form(term.body)).xreplace(self.numbers).as_coeff_Mul()
        found = [f for f in sp.Mul.make_args(rest)]
        if len(term.reduce) != 1 or len(c.free) != 2 or len(found) != 2 or \
                not all(isinstance(f, sp.Indexed) and len(f.indices) == 2 for f in found):
            raise NoStepFormError(c.name)
        (k,), (p, q) = term.reduce, c.free
        left = next((f for f in found if p in f.indices), found[0])
        right = found[1] if left is found[0] else found[0]

        def operand(r: sp.Indexed, order: tuple) -> str:
            """The whole array read as ``order``: itself, or its transpose (a view)."""
            idx = tuple(r.indices)
            if set(idx) != set(order) or self.shapes[read_name(r)] != tuple(c.ranges[v] for v in idx):
                raise NoStepFormError(c.name)
            return f"v[{read_name(r)!r}]" + ("" if idx == order else ".T")

        code = f"np.dot({operand(left, (p, k))}, {operand(right, (k, q))}, out=out)"
        return code if coeff == 1 else f"np.multiply({code}, {_number(coeff)}, out=out)"

    def _parts(self, c: Compute, body: sp.Expr, before: Sequence[Compute]) -> list[str] | None:
        """A sum of parts, each nonzero on a block of the index only: each part's formula
        written into its block of one array (zeros where no part reaches). None if not that."""
        by_name = {p.name: p for p in before}
        summands = sp.Add.make_args(body)
        parts = []
        for s in summands:
            part = by_name.get(read_name(s)) if isinstance(s, sp.Indexed) else None
            if part is None or tuple(s.indices) != c.index or part.shape != c.shape or \
                    tuple(part.index) != part.free or self.readers.get(part.name) != 1 or \
                    part.name in self.keep or len(part.terms) != 1 or part.terms[0].reduce or \
                    part.terms[0].guards:
                return None
            parts.append(part)
        if len(parts) < 2:
            return None
        printed, blocks = [], []
        try:
            for part in parts:
                block = self._block(part)
                box = None if block is None else tuple(block[v] for v in part.free)
                if box is None or any(_overlap(box, other) for other in blocks):
                    return None
                blocks.append(box)
                pbody = logistic_form(part.terms[0].body).xreplace(self.numbers)
                leaves = self._leaves(pbody, list(part.free), block)
                target = "out[" + ", ".join(
                    ":" if block[v] == (0, part.ranges[v]) else f"{block[v][0]}:{block[v][1]}"
                    for v in part.free) + "]"
                if isinstance(pbody, sp.Indexed):
                    printed.append(f"{target} = {leaves[pbody]}")
                else:
                    printed.append(Chain(leaves, target).code(pbody))
        except NoStepFormError:
            return None
        whole = _size(tuple((0, n) for n in c.shape))
        zero = [] if sum(map(_size, blocks)) == whole else ["out.fill(0)"]
        self.fused.update(p.name for p in parts)
        return [f"out = {self._out(c)}", *zero, *printed, f"v[{c.name!r}] = out"]

    def _block(self, part: Compute) -> dict | None:
        """Where the part can be nonzero: the box where every read that is a factor (or a
        factor's base) of its formula lies inside its array (outside, it is 0, and so is the product)."""
        box = {v: (0, part.ranges[v]) for v in part.free}
        for f in sp.Mul.make_args(part.terms[0].body):
            if isinstance(f, sp.Pow) and f.exp.is_Integer and f.exp > 0:
                f = f.base  # r^k is 0 where r is
            if not isinstance(f, sp.Indexed):
                continue
            for e, n in zip(f.indices, self.shapes[read_name(f)]):
                coeffs, const = affine(e, index_vars(e))
                if len(coeffs) != 1 or list(coeffs.values()) != [1] or not const.is_Integer:
                    continue
                (var,) = coeffs
                low, high = box[var]
                box[var] = (max(low, -int(const)), min(high, n - int(const)))
        if any(low >= high for low, high in box.values()):
            return None
        return box


def _number(value: sp.Expr) -> str:
    return _PRINTER.doprint(_batch_numbers(value))


Box = tuple[tuple[int, int], ...]  # [low, high) per axis


def _overlap(a: Box, b: Box) -> bool:
    return all(lo < hi2 and lo2 < hi for (lo, hi), (lo2, hi2) in zip(a, b))


def _size(box: Box) -> int:
    return prod(hi - lo for lo, hi in box)
