"""The element level of a small graph spec: every entry of every tensor with names and numbers,
as seed 000's worked example writes ``z_h1 = w1·i1 + w2·i2 + b1 = 0.3775``.

Each entry is the compute's index formula instantiated at that entry (``exact`` on tensors of
named entries: one step, in the entries it reads) and its value (``exact`` on numbers, in
30-digit arithmetic, printed as the dense example prints them). The given values are small
decimals drawn from a fixed seed, distinct within the input so that a max has one arg-max.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from math import prod

import numpy as np
import sympy as sp

from symbp.core.errors import SpecError
from symbp.core.textprint import text as plain

from ..backprop.graph import backward
from ..codegen import exact
from ..core.graph_spec import GraphSpec
from ..core.ir import Compute, Graph

MAX_ENTRIES = 600  # entries over all tensors: beyond this the page is no longer readable
DIGITS = 30


@dataclass(frozen=True)
class Entry:
    """One entry: the tensor read at an index, its formula in named entries, and its value."""

    read: sp.Expr
    formula: sp.Expr | None  # None for a given value
    value: sp.Expr


@dataclass(frozen=True)
class ElementLevel:
    """The entries of a small graph for one batch: given, forward and backward."""

    spec: GraphSpec
    batch: int
    given: list[Entry]
    forward: list[Entry]
    backward: list[Entry]


def example_batch(spec: GraphSpec) -> int:
    """Three samples where a batch norm needs a batch to normalise over, else one."""
    return 3 if any(layer["type"] == "batchnorm" for layer in spec.layers) else 1


def named(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """An object array of the tensor's entries as reads ``name[i, j]`` (a scalar: a symbol)."""
    if not shape:
        return np.array(sp.Symbol(name, real=True), dtype=object)
    base, out = sp.IndexedBase(name, real=True), np.empty(shape, dtype=object)
    for pos in np.ndindex(*shape):
        out[pos] = base[pos]
    return out


def given_values(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Small decimals: distinct inputs, weights in ±0.5 (never 0), γ near 1, one-hot targets,
    0/1 masks."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in {**graph.inputs, **graph.params}.items():
        size = prod(shape)
        if name == "X":
            tenths = rng.permutation(size) - size // 2
            tenths[tenths >= 0] += 1  # distinct and never 0
        elif name == "Y":
            tenths = 10 * np.eye(shape[1], dtype=int)[np.arange(shape[0]) % shape[1]].ravel()
        elif name.startswith("mask"):
            tenths = 10 * (np.arange(size) % 3 != 1)
        elif name.startswith("gamma"):
            tenths = 10 + rng.integers(-2, 3, size)
        else:
            tenths = rng.choice([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5], size)
        values = [sp.Rational(int(t), 10) for t in np.ravel(tenths)]
        out[name] = np.array(values, dtype=object).reshape(shape)
    return out


def _entries(c: Compute, names: dict, values: dict) -> list[Entry]:
    formulas = exact.evaluate_compute(c, names)
    numbers = exact.evaluate_compute(c, values)
    reads = named(c.name, c.shape)
    return [Entry(reads[pos], formulas[pos], numbers[pos]) for pos in np.ndindex(*c.shape)]


def _run(computes: list[Compute], names: dict, values: dict) -> list[Entry]:
    out = []
    for c in computes:
        out += _entries(c, names, values)
        names[c.name] = named(c.name, c.shape)
        values[c.name] = np.vectorize(lambda v: sp.Float(v, DIGITS), otypes=[object])(
            exact.evaluate_compute(c, values))
    return out


def entry_key(text: str) -> str:
    """An entry's name without spaces: ``grad_W1[0, 0, 1, 1]`` and ``grad_W1[0,0,1,1]`` match."""
    return "".join(text.split())


def _override(values: dict[str, np.ndarray], given: Mapping[str, str]) -> None:
    """Replace given entries (by name, ``W1[0, 0, 1, 1]``) with exact decimals."""
    where = {entry_key(plain(r)): (n, pos) for n, v in values.items() for pos in np.ndindex(*v.shape)
             for r in [named(n, v.shape)[pos]]}
    for key, text in given.items():
        if entry_key(key) not in where:
            raise SpecError(f"values: {key!r} is no given entry here; names look like "
                            f"{next(iter(where))}")
        name, pos = where[entry_key(key)]
        values[name][pos] = decimal(str(text), f"values: {key}")


def decimal(text: str, where: str) -> sp.Rational:
    """A finite decimal number written as text, exactly (read by ``Decimal``, never evaluated)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = Decimal("nan")
    if not value.is_finite() or abs(value.adjusted()) > 1000:
        raise SpecError(f"{where}: {text[:40]!r} is not a finite decimal number")
    return sp.Rational(*Fraction(value).as_integer_ratio())


def element_level(spec: GraphSpec, batch: int | None = None,
                  given: Mapping[str, str] | None = None) -> ElementLevel:
    """Every entry of the graph for ``batch`` samples (default: ``example_batch``); ``given``
    replaces some of the given values by name."""
    batch = batch or example_batch(spec)
    graph = spec.graph(batch)
    back = backward(graph, [*graph.params, "X"])  # the input too: a pool routes δ to it
    count = sum(prod(c.shape) for c in graph.computes + back.computes)
    if count > MAX_ENTRIES:
        raise SpecError(f"{spec.name}: the element level of a graph spec writes every entry, "
                        f"{count} here; it is for small graphs (at most {MAX_ENTRIES}): use symbp "
                        "derive for this one")
    values = given_values(graph)
    _override(values, given or {})
    names = {n: named(n, s) for n, s in {**graph.inputs, **graph.params}.items()}
    given = [Entry(names[n][pos], None, v[pos]) for n, v in values.items() for pos in np.ndindex(*v.shape)]
    forward = _run(graph.computes, names, values)
    return ElementLevel(spec, batch, given, forward, _run(back.computes, names, values))
