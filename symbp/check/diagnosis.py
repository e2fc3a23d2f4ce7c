"""Naming the mistake in a false claim: mutate the truth the ways people go wrong.

Each entry of ``MUTATIONS`` turns the true expression of the left side (a derivative's sum
over chain-rule paths, or an intermediate's definition) into a plausibly wrong one: a sign, the
1/m of a batch mean left out (or written where the loss is summed), the 1/n of a mean over the
outputs left out, a factor of 2, a chain factor missing or repeated, σ' written with z instead of
a, a path left out, paths multiplied instead of added, a neighbour's name or a whole neighbouring
neuron where another belongs, a term dropped. ``diagnose``
evaluates each mutant at the points where the claim was evaluated; the first that reproduces the
claimed value at every point is the diagnosis.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

import mpmath
import sympy as sp

from ..backprop.neuron import Factor
from ..core import losses
from .batch import BATCH_SIZE
from .system import DIGITS, System, UndefinedValueError, numeric

AGREE = mpmath.mpf(10) ** -30  # relative agreement that counts as equal at a point
MAX_MUTANTS = 400
MAX_SHARED = 6  # factors common to all paths tried kept once: 2**6 subsets at most

Namer = Callable[[sp.Symbol], str]
Mutation = Callable[[System, sp.Symbol, Namer], Iterable[tuple[str, sp.Expr]]]


def show(expr: sp.Expr) -> str:
    """An expression as the user would type it: target_o1 - a_o1 rather than -a_o1 + target_o1."""
    return sp.sstr(expr, order="none")


def close(t: mpmath.mpf, v: mpmath.mpf) -> bool:
    return abs(t - v) <= AGREE * max(abs(t), abs(v), mpmath.mpf(1) / 10**10)


def value_at(expr: sp.Expr, env: dict) -> mpmath.mpf | None:
    """The value of ``expr`` at one point, or None where it has none (log of a negative, …)."""
    try:
        with mpmath.workdps(DIGITS + 10):
            return numeric(expr, env)
    except UndefinedValueError:
        return None



def _factor_name(s: System, f: Factor, namer: Namer) -> str:
    num, den = s.symbols[f.num], s.symbols[f.den]
    return f"∂{namer(num)}/∂{namer(den)}"


def _factor_text(s: System, f: Factor, namer: Namer) -> str:
    """∂a_o1/∂z_o1 = a_o1*(1 - a_o1) in neuron names; ∂a[1]/∂z[1] = g'(z[1]) at matrix level."""
    name = _factor_name(s, f, namer)
    num, den = s.symbols[f.num], s.symbols[f.den]
    if namer(num) == f.num:
        return f"{name} = {show(f.value)}"
    if s.kind.get(num) == "act" and s.kind.get(den) == "pre":
        return f"{name} = g'({namer(den)})"
    return name


def _keys(s: System, ref: sp.Symbol) -> dict[tuple[str, str], Factor]:
    out = {}
    for path in s.paths.get(ref, ()):
        for f in path:
            out.setdefault((f.num, f.den), f)
    return out


def _rebuild(s: System, ref: sp.Symbol, change) -> sp.Expr:
    """Σ over paths of Π factors, each factor passed through ``change`` (None drops it)."""
    total = []
    for path in s.paths[ref]:
        factors = [change(f) for f in path]
        total.append(sp.Mul(*[v for v in factors if v is not None]))
    return sp.Add(*total)


def sign_flipped(s, ref, namer):
    yield "the sign is flipped", -s.definitions[ref]


def factor_of_two(s, ref, namer):
    yield "off by a factor of 2 (an extra 2)", 2 * s.definitions[ref]
    yield "off by a factor of 2 (a missing 2, or an extra 1/2)", s.definitions[ref] / 2


def missing_factor(s, ref, namer):
    for key, f in _keys(s, ref).items():
        yield (f"the factor {_factor_text(s, f, namer)} is missing",
               _rebuild(s, ref, lambda g, key=key: None if (g.num, g.den) == key else g.value))


def extra_factor(s, ref, namer):
    for f in _keys(s, ref).values():
        if f.value.is_Number:
            continue
        yield f"an extra factor {_factor_text(s, f, namer)}", s.definitions[ref] * f.value


def derivative_of_z(s, ref, namer):
    """σ'(z) written as z(1 − z): the output-form derivative with z in place of a."""
    for key, f in _keys(s, ref).items():
        n, m = s.symbols[f.num], s.symbols[f.den]
        if s.kind.get(n) == "act" and n in f.value.free_symbols:
            yield (f"{_factor_name(s, f, namer)} is written with {namer(m)} in place of {namer(n)}",
                   _rebuild(s, ref, lambda g, key=key, n=n, m=m: g.value.xreplace({n: m})
                            if (g.num, g.den) == key else g.value))


def path_missing(s, ref, namer):
    paths = s.paths.get(ref, ())
    if len(paths) < 2:
        return
    for k, path in enumerate(paths):
        via = " → ".join(namer(s.symbols[f.den]) for f in path[:-1][::-1]) or "the direct link"
        rest = sp.Add(*[sp.Mul(*[g.value for g in p]) for j, p in enumerate(paths) if j != k])
        yield f"the path through {via} is missing (every path must be summed)", rest


def paths_multiplied(s, ref, namer):
    """The paths' products multiplied instead of added, written the ways people write it: every
    factor once per path, or the factors all paths share (∂z/∂w, g'(z) of the hidden neuron)
    kept once, all of them or some (the rest distributed into each path's product)."""
    paths = s.paths.get(ref, ())
    if len(paths) < 2:
        return
    keys = [{(f.num, f.den) for f in p} for p in paths]
    shared = [f for f in paths[0] if all((f.num, f.den) in k for k in keys[1:])][:MAX_SHARED]
    for size in range(len(shared) + 1):
        for once in itertools.combinations(shared, size):
            kept = {(f.num, f.den) for f in once}
            rest = [g.value for p in paths for g in p if (g.num, g.den) not in kept]
            names = ", ".join(_factor_name(s, f, namer) for f in once)
            yield ("the paths are multiplied where they must be summed"
                   + (f" (with the shared {names} written once)" if once else ""),
                   sp.Mul(*[f.value for f in once], *rest))


def _apart(s: System, namer: Namer, x: sp.Symbol, y: sp.Symbol) -> tuple[str, str]:
    """The names of x and y, told apart: where the namer prints both alike (the matrix level's
    a[2] for two entries of one layer), each with its entry (a[2]_1, W[2]_12)."""
    shown = namer(x), namer(y)
    if shown[0] != shown[1]:
        return shown
    return tuple(f"{name}_{''.join(map(str, s.position.get(v, ())))}" for name, v in zip(shown, (x, y)))


def wrong_name(s, ref, namer):
    expr = s.definitions[ref]
    present = [x for x in expr.free_symbols if s.kind.get(x) not in (None, "derivative", "loss")]
    for x in sorted(present, key=lambda x: x.name):
        for y in s.siblings(x):
            if y in present and namer(x) != namer(y):
                yield f"{namer(x)} and {namer(y)} are swapped", expr.xreplace({x: y, y: x})
            swapped = s.kind[x] == "weight" and s.position[x] == s.position[y][::-1]
            written, belongs = _apart(s, namer, y, x)
            yield (f"{written} is written where {belongs} belongs"
                   + (" (its indices are swapped)" if swapped else ""), expr.xreplace({x: y}))


def one_occurrence(s, ref, namer):
    """One occurrence of a name replaced by a neighbour's: a_o1*(1 - a_o2) for a_o1*(1 - a_o1)."""
    expr = s.simplified(ref) if s.kind[ref] == "derivative" else s.definitions[ref]
    for path, leaf in _leaves(expr):
        if s.kind.get(leaf) in (None, "derivative", "loss"):
            continue
        for other in s.siblings(leaf):
            written, belongs = _apart(s, namer, other, leaf)
            yield (f"{written} is written where {belongs} belongs (once)",
                   _replace_at(expr, path, other))


def _leaves(expr: sp.Expr, path: tuple[int, ...] = ()) -> Iterable[tuple[tuple[int, ...], sp.Symbol]]:
    if isinstance(expr, sp.Symbol):
        yield path, expr
        return
    for k, arg in enumerate(expr.args):
        yield from _leaves(arg, path + (k,))


def _replace_at(expr: sp.Expr, path: tuple[int, ...], new: sp.Expr) -> sp.Expr:
    if not path:
        return new
    args = list(expr.args)
    args[path[0]] = _replace_at(args[path[0]], path[1:], new)
    return expr.func(*args)


def wrong_neuron(s, ref, namer):
    """Every quantity of one neuron (z, a, its target) replaced by another's: a wrong index."""
    expr = s.definitions[ref] if s.kind[ref] != "derivative" else s.simplified(ref)
    groups: dict[tuple[int, int], list[sp.Symbol]] = {}
    for sym, kind in s.kind.items():
        if kind in ("pre", "act", "target"):
            layer = s.network.depth if kind == "target" else s.layer[sym]
            groups.setdefault((layer, s.position[sym][0]), []).append(sym)
    order = {"act": 0, "pre": 1, "target": 2}
    for members in groups.values():
        members.sort(key=lambda x: order[s.kind[x]])
    for (layer, i), own in groups.items():
        if not any(x in expr.free_symbols for x in own):
            continue
        for (other_layer, j), theirs in groups.items():
            if other_layer != layer or j == i:
                continue
            swap = {x: y for x in own for y in theirs if s.kind[x] == s.kind[y]}
            shown = ", ".join(namer(swap[x]) for x in own if x in expr.free_symbols)
            yield (f"{shown} written where neuron {i} of layer {layer} belongs (a wrong index)",
                   expr.xreplace(swap))


def term_missing(s, ref, namer):
    expr = s.definitions[ref]
    if s.kind[ref] != "derivative" and isinstance(expr, sp.Add):
        for term in expr.args:
            yield f"the term {show(term)} is missing", expr - term


def mean_factor_missing(s, ref, namer):
    """The 1/n of a loss that averages over its n outputs (the mean squared error) left out: every
    term of the loss, and so of each of its derivatives, carries it."""
    if losses.N_OUT not in s.network.loss_entry().term.free_symbols:
        return
    n = s.network.layers[-1].size
    yield (f"the mean's factor 1/{n} is missing (the loss averages over the {n} outputs)",
           n * s.definitions[ref])


def batch_mean_factor(s, ref, namer):
    """The batch mean's 1/m (symbp.check.batch): left out of a derivative of the batch loss J,
    written twice, or written where the loss is summed (reduction "sum", or one sample's loss)."""
    if s.kind.get(ref) != "derivative" or s.kind.get(s.pair[ref][0]) != "loss":
        return
    m, word, expr = s.batch or BATCH_SIZE, s.batch_word, s.definitions[ref]
    if not s.batch or s.pair[ref][0] != s.loss:
        yield (f"an extra factor 1/{word}: this is the derivative of one sample's loss, which has "
               "no batch mean", expr / m)
    elif s.network.reduction == "mean":
        yield (f"the batch mean's factor 1/{word} is missing: J averages over the {word} samples",
               m * expr)
        yield (f"an extra factor 1/{word}: the batch mean's 1/{word} is counted twice", expr / m)
    else:
        yield (f"an extra factor 1/{word}: J sums over the {word} samples (the spec's reduction "
               "is \"sum\")", expr / m)


MUTATIONS: list[Mutation] = [sign_flipped, batch_mean_factor, mean_factor_missing, factor_of_two,
                             missing_factor, extra_factor, derivative_of_z, path_missing,
                             paths_multiplied, wrong_name, one_occurrence, wrong_neuron, term_missing]


def diagnose(s: System, ref: sp.Expr, claimed: sp.Expr, envs: list[dict], namer: Namer) -> str | None:
    """The first mutation of ``ref``'s true expression that gives the claimed value everywhere."""
    if not (isinstance(ref, sp.Symbol) and ref in s.definitions) or not envs:
        return None
    wanted = [value_at(claimed, env) for env in envs]
    if any(v is None for v in wanted):
        return None
    tried = 0
    for mutation in MUTATIONS:
        for text, mutant in mutation(s, ref, namer):
            tried += 1
            if tried > MAX_MUTANTS:
                return None
            values = [value_at(mutant, env) for env in envs]
            if all(m is not None and close(m, v) for m, v in zip(values, wanted)):
                return text
    return None
