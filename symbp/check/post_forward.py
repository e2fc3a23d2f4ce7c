"""A network read from a post's forward equations, in the post's own names (seed 001's style):

    H_1 = V_{11} X_1 + V_{21} X_2 + b_1,   P_1 = \\frac{1}{1+e^{-H_1}},   …,
    E = \\frac{1}{2}(Y_1 - O_1)^2 + \\frac{1}{2}(Y_2 - O_2)^2

A weighted sum (a name = a sum of products of two names, plus at most one lone name, the bias)
defines a pre-activation; in each product the weight is the factor with two indices (V_{11})
or the one that is not an activation of the layer below. An activation is a name defined from
exactly one pre-activation. Layers follow from what feeds what; the loss is the equation over
the outputs, its other names the targets. The equations are parsed by the claim grammar, never
executed. What the equations leave open is returned as assumptions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..core.errors import SymbpError
from .claims import ClaimError, Group, Name, Node, Product, Script, SumNode, TupleNode, parse_expression
from .post import Post
from .post_claims import clean, split_claims, split_equals
from .values import flatten

MAX_EQUATIONS = 400  # equations read from one post to find its network
INDEXED = re.compile(r"([A-Za-z]+)_([0-9_]+)")
PRODUCT_OPS = ("juxt", "mul")  # a weight times its input: V_{11} X_1, V_{11} \cdot X_1, V_{11} * X_1


class ForwardError(SymbpError):
    """The post's equations do not define a network."""


@dataclass
class Forward:
    """The equations of a post: weighted sums, activations and the other definitions."""

    sums: dict[str, tuple[list[tuple[str, str]], str | None]] = field(default_factory=dict)
    activations: dict[str, tuple[str, str]] = field(default_factory=dict)  # a -> (z, its formula)
    others: list[tuple[str, str, list[str]]] = field(default_factory=list)  # (lhs, rhs, names)


@dataclass
class Layered:
    """The network the equations define: names per layer, and how they were read."""

    inputs: list[str]
    pre: list[list[str]]
    act: list[list[str]]
    weights: list[list[list[str]]]  # [layer][neuron][source]
    biases: list[list[str | None]]
    formulas: list[str]  # one activation formula per layer
    loss: str
    loss_formula: str
    targets: list[str]


def name_of(node: Node) -> str | None:
    """A name as the spec writes it: V_{11} -> V11, X_1 -> X1, z_{h1} -> z_h1."""
    text = flatten(node)
    if text is None:
        return None
    m = INDEXED.fullmatch(text)
    return m[1] + m[2].replace("_", "") if m else text


def _index_count(node: Node) -> int:
    """How many indices a name carries: V_{11} two, X_1 one, V_{1,2} two, b none."""
    if isinstance(node, Script) and node.sub is not None:
        sub = node.sub.body if isinstance(node.sub, Group) else node.sub
        return len(sub.items) if isinstance(sub, TupleNode) else len(flatten(sub) or "")
    text = flatten(node) or ""
    return len(text.partition("_")[2].replace("_", ""))


def names_in(node: Node) -> list[str]:
    """Every name in an expression, in order (a subscripted name counts once, as a whole)."""
    own = name_of(node) if isinstance(node, (Name, Script)) else None
    if own is not None:
        return [own]
    out: list[str] = []
    for value in vars(node).values():
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            item = item[1] if isinstance(item, tuple) else item
            if isinstance(item, Node):
                out += names_in(item)
    return out


def read_equations(post: Post) -> Forward:
    """Every ``name = expression`` row of the post, sorted into sums, activations and the rest."""
    sides = [split_equals(claim) for span in post.spans for row in span.rows
             for claim in split_claims(row.text)]
    rows = [(s[0], s[1]) for s in sides if len(s) > 1 and s[0] and s[1]]
    forward = Forward()
    for lhs_text, rhs_text in rows[:MAX_EQUATIONS]:
        try:
            lhs, rhs = parse_expression(clean(lhs_text)), parse_expression(rhs_text)
        except ClaimError:
            continue
        name = name_of(lhs) if isinstance(lhs, (Name, Script)) else None
        if name is None or name in forward.sums or name in forward.activations:
            continue
        weighted = _weighted_sum(rhs)
        if weighted is not None:
            forward.sums[name] = weighted
        else:
            forward.others.append((name, rhs_text, names_in(rhs)))
    for name, rhs_text, names in forward.others:
        fed = set(names) & set(forward.sums)
        if len(fed) == 1 and name not in forward.activations:
            forward.activations[name] = (fed.pop(), rhs_text)
    return forward


def _weighted_sum(rhs: Node) -> tuple[list[tuple[str, str]], str | None] | None:
    """[(factor, factor)] and the bias of ``V_11 X_1 + V_21 X_2 + b_1``, or None."""
    terms = rhs.terms if isinstance(rhs, SumNode) else (("+", rhs),)
    pairs, bias = [], None
    for sign, term in terms:
        if sign != "+":
            return None
        if isinstance(term, Product) and len(term.factors) == 2:
            (_, f), (op, g) = term.factors
            if op not in PRODUCT_OPS or name_of(f) is None or name_of(g) is None:
                return None
            pairs.append((f, g))
        elif isinstance(term, (Name, Script)) and name_of(term) is not None and bias is None:
            bias = name_of(term)
        else:
            return None
    if not pairs:
        return None
    return [_weight_first(f, g) for f, g in pairs], bias


def _weight_first(f: Node, g: Node) -> tuple[str, str]:
    """(weight, source): the weight carries more indices (V_{11} X_1); X_1 V_{11} reads alike."""
    return (name_of(g), name_of(f)) if _index_count(g) > _index_count(f) else (name_of(f), name_of(g))


def layered(forward: Forward) -> Layered:
    """The layers of the network the equations define, input side first."""
    by_source = {a: z for a, (z, _) in forward.activations.items()}
    sums = {z: ([_oriented(w, s, by_source) for w, s in pairs], bias)
            for z, (pairs, bias) in forward.sums.items()}
    first = [z for z, (pairs, _) in sums.items() if not any(s in by_source for _, s in pairs)]
    if not first:
        raise ForwardError("no weighted sum of inputs (such as H_1 = V_{11} X_1 + V_{21} X_2 + b_1)")
    inputs = list(dict.fromkeys(s for z in first for _, s in sums[z][0]))
    pre, act, weights, biases, formulas = [], [], [], [], []
    sources, layer = inputs, first
    while layer and len(pre) < len(sums):  # each sum in one layer at most: no cycle runs forever
        acts = [_activation_of(z, forward) for z in layer]
        pre.append(layer)
        act.append(acts)
        weights.append([_row(z, sums[z][0], sources) for z in layer])
        biases.append([sums[z][1] for z in layer])
        formulas.append(forward.activations[acts[0]][1])
        sources = acts
        layer = [z for z, (pairs, _) in sums.items() if pairs and all(s in acts for _, s in pairs)]
    loss, formula, targets = _loss(forward, act[-1])
    return Layered(inputs, pre, act, weights, biases, formulas, loss, formula, targets)


def _oriented(w: str, s: str, by_source: dict[str, str]) -> tuple[str, str]:
    """(weight, source), the source being an activation of the layer below where one is."""
    return (s, w) if w in by_source and s not in by_source else (w, s)


def _activation_of(z: str, forward: Forward) -> str:
    for a, (fed, _) in forward.activations.items():
        if fed == z:
            return a
    raise ForwardError(f"no activation of {z} (such as P_1 = \\frac{{1}}{{1+e^{{-H_1}}}})")


def _row(z: str, pairs: list[tuple[str, str]], sources: list[str]) -> list[str]:
    """The weights of neuron z, one per source in the sources' order (every source feeds it)."""
    by_source = {s: w for w, s in pairs}
    if set(by_source) != set(sources) or len(pairs) != len(sources):
        raise ForwardError(f"{z} is not fed by every one of {', '.join(sources)} once")
    return [by_source[s] for s in sources]


def _loss(forward: Forward, outputs: list[str]) -> tuple[str, str, list[str]]:
    """The loss equation (the one over every output) and its targets, in the order it writes them."""
    for name, rhs, names in forward.others:
        if name not in forward.activations and set(outputs) <= set(names):
            targets = list(dict.fromkeys(n for n in names if n not in outputs and n != name))
            if len(targets) == len(outputs):
                return name, rhs, targets
    raise ForwardError(f"no loss over the outputs {', '.join(outputs)} with one target each")
