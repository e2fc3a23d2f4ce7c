"""A batch of samples as one system of definitions, for claims about a batch's loss.

Courses write the gradients of a batch: Ng's ``dW[l] = 1/m dZ[l] A[l-1]^T`` (one column per
sample), CS231n's ``dW = X^T dout`` (one row per sample). The spec's loss is one sample's; the
batch loss J is their mean (or their sum, when the spec says ``reduction = "sum"``), as the
kernels compute. ``batch_system`` copies every per-sample quantity of a small network's system
(inputs, targets, z, a, the loss) once per sample, shares the weights and biases, and defines J
over the copies, so that ∂J/∂W is the chain rule through every sample.
"""

from __future__ import annotations

import re
from functools import cache

import sympy as sp

from ..core.spec import Network
from .system import System, system_for

BATCH_SIZE = 5  # samples of a test batch: no layer of an instantiation (2, 3 or 4 wide) has 5
BATCH_WORDS = ("m", "N", "B")  # the batch size, as Ng, CS231n and others write it
PER_SAMPLE = {"input", "target", "pre", "act", "loss"}
# How a factor 1/m is written (@ the batch word), for removing one written in excess.
FACTOR_PATTERNS = (r"\\[dt]?frac\s*\{\s*1\s*\}\s*\{\s*@\s*\}", r"^1\s*/\s*@\s*(\*|\\cdot)?",
                   r"\s*/\s*@(?![A-Za-z0-9_])")


def sample_name(name: str, k: int) -> str:
    """The name of sample k's copy of a per-sample quantity: a_h1(2)."""
    return f"{name}({k})"


@cache
def _batch_cached(key: str, net: Network, m: int) -> System:  # noqa: ARG001 - key makes names count
    return _build(system_for(net), m)


def batch_system(net: Network, m: int = BATCH_SIZE) -> System:
    """The system of ``m`` samples of ``net`` with its batch loss J (cached, a fresh copy each call)."""
    return _batch_cached(net.spec_hash() + net.name, net, m).copy()


def _build(one: System, m: int) -> System:
    per_sample = [s for s in one.kind if one.kind[s] in PER_SAMPLE]
    copies = [{s: sp.Symbol(sample_name(s.name, k), real=True) for s in per_sample}
              for k in range(1, m + 1)]
    symbols = {name: s for name, s in one.symbols.items() if s not in per_sample}
    kind, layer, position, sample = {}, {}, {}, {}
    for s in one.kind:
        if s not in per_sample:
            kind[s], layer[s], position[s] = one.kind[s], one.layer[s], one.position[s]
    definitions, constraints, act_of = {}, {}, {}
    for k, copy in enumerate(copies, start=1):
        for s, c in copy.items():
            symbols[c.name] = c
            kind[c], layer[c], sample[c] = one.kind[s], one.layer[s], k
            position[c] = one.position[s] + (k,)  # (i, k): entry i of column k
        definitions.update({copy[s]: e.xreplace(copy) for s, e in one.definitions.items()})
        constraints.update({copy[s]: e.xreplace(copy) for s, e in one.constraints.items()})
        act_of.update({copy[z]: copy[a] for z, a in one.act_of.items()})
    J = sp.Symbol(one.loss.name, real=True)
    losses = [copy[one.loss] for copy in copies]
    mean = one.network.reduction == "mean"
    definitions[J] = sp.Add(*losses) / m if mean else sp.Add(*losses)
    symbols[one.loss.name], kind[J], layer[J], position[J] = J, "loss", one.network.depth, ()
    free = [copy.get(s, s) for copy in copies for s in one.free if s in copy]
    free += [s for s in one.free if s not in per_sample]
    free.sort(key=lambda s: (kind[s] == "target", kind[s] != "input"))
    return System(one.network, one.names, symbols, kind, layer, position, free, definitions,
                  constraints, act_of=act_of, sample=sample, batch=m)


def batch_repairs(right: str, word: str, missing: bool, latex: bool) -> list[str]:
    """The right side of a claim with the batch mean's 1/word written (``missing``) or removed,
    in the claim's own notation: candidates for the correct line, each checked before it is offered."""
    if missing:
        return [rf"\frac{{1}}{{{word}}} \left({right}\right)" if latex else f"1/{word} * ({right})"]
    out = []
    for pattern in FACTOR_PATTERNS:
        found = re.compile(pattern.replace("@", re.escape(word))).search(right)
        if found:
            out.append((right[:found.start()] + right[found.end():]).strip())
    return out
