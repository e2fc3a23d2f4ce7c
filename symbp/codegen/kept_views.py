"""Window views read by more than one GEMM of a kernel, copied once and kept.

A convolution's forward pass and its weight gradient both contract the same im2col view of the
layer's input (x[n, k, s·i + p − pad, …]); printed on their own, each GEMM would copy that view
again. A first printing pass counts the views of every GEMM; in the second, the first GEMM that
reads a view copies it into the working dict (``_keep``) and every later one reads the copy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from math import prod

import sympy as sp

from ..core import naming
from ..core.ir import index_vars, read_index, read_name


def view_key(read: sp.Expr, used: Sequence[sp.Symbol], ranges: Mapping[sp.Symbol, int]):
    """(what the view holds, its axes): the tensor, its index and extents with the variables
    renamed in order of first appearance, so that two computes' equal views get one key; and
    the renamed variables of ``used`` (the view's axes, in order)."""
    order = list(dict.fromkeys(v for e in read_index(read) for v in sorted(index_vars(e), key=str)))
    canon = {v: sp.Symbol(f"_axis{k}", integer=True) for k, v in enumerate(order)}
    index = tuple(sp.expand(e.xreplace(canon)) for e in read_index(read))
    return (read_name(read), index, tuple(ranges[v] for v in order)), [canon[v] for v in used]


@dataclass
class KeptViews:
    """The views of a kernel's GEMMs: counted while ``counting``, then printed as one copy each."""

    counting: bool = True
    counts: Counter = field(default_factory=Counter)
    made: dict = field(default_factory=dict)  # key -> (name in v, its axes)

    def operand(self, read: sp.Expr, used: Sequence[sp.Symbol], ranges: Mapping[sp.Symbol, int],
                code: str, summed: Sequence[sp.Symbol]) -> str:
        """A GEMM operand's code: the view itself, or the kept copy of a view read again."""
        key, axes = view_key(read, used, ranges)
        if self.counting:
            self.counts[key] += 1
            return code
        if self.counts[key] < 2:
            return code
        if key not in self.made:
            name = naming.kept_view(read_name(read), len(self.made))
            self.made[key] = (name, axes)
            return f"_keep(v, {name!r}, {code}, {_layout(used, ranges, summed)!r}, ws)"
        name, stored = self.made[key]
        perm = tuple(stored.index(a) for a in axes)
        return f"v[{name!r}]" + ("" if perm == tuple(range(len(perm))) else f".transpose({perm})")


def _layout(used: Sequence[sp.Symbol], ranges: Mapping[sp.Symbol, int], summed: Sequence[sp.Symbol]):
    """The copy's axis order: the summed axes and the others each as one block (a GEMM reads
    either block order), the larger block innermost, so that the copy writes long rows."""
    inner = [k for k, v in enumerate(used) if v in summed]
    outer = [k for k, v in enumerate(used) if v not in summed]
    size = lambda axes: prod(ranges[used[k]] for k in axes)  # noqa: E731
    return tuple(inner + outer if size(outer) >= size(inner) else outer + inner)
