"""Neuron-level derivation: every ∂E/∂w as a sum over paths of chain-rule products.

This is what seed 000 does by hand: ∂E/∂w5 = ∂E/∂a_o1 · ∂a_o1/∂z_o1 · ∂z_o1/∂w5, and for a
hidden weight the products along every path to the loss are summed (through o1 and o2). The
loss here is one sample's ℓ (no batch factor, no regulariser: those are matrix-level terms).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..core import activations as act
from ..core import losses
from ..core.errors import DerivationError
from ..core.naming import NeuronNames, neuron_names
from ..core.spec import Network

MAX_PATHS = 20_000


@dataclass(frozen=True)
class Factor:
    """One partial derivative ∂num/∂den and its value in the named quantities."""

    num: str
    den: str
    value: sp.Expr


@dataclass(frozen=True)
class NeuronGradient:
    param: str
    layer: int
    paths: tuple[tuple[Factor, ...], ...]
    expr: sp.Expr  # Σ_paths Π factors
    simplified: sp.Expr  # common factors pulled out


@dataclass(frozen=True)
class NeuronDerivation:
    network: Network
    names: NeuronNames
    symbols: dict[str, sp.Symbol]
    definitions: dict[str, sp.Expr]  # z_h1 = w1*i1 + …, a_h1 = σ(z_h1), E_total = …
    gradients: tuple[NeuronGradient, ...]
    deltas: dict[str, sp.Expr]  # δ for each pre-activation name: ∂E/∂z, summed over paths

    def gradient(self, param: str) -> NeuronGradient:
        for g in self.gradients:
            if g.param == param:
                return g
        raise KeyError(param)


def _sym(symbols: dict[str, sp.Symbol], name: str) -> sp.Symbol:
    return symbols.setdefault(name, sp.Symbol(name, real=True))


class _Builder:
    """Holds the names and symbols while paths are enumerated."""

    def __init__(self, net: Network):
        self.net, self.n = net, neuron_names(net)
        self.sym: dict[str, sp.Symbol] = {}
        for name in self.n.all():
            _sym(self.sym, name)
        self.loss = net.loss_entry()
        self.n_paths = 0

    def prev(self, l: int) -> list[str]:
        return self.n.inputs if l == 1 else self.n.activations[l - 2]

    def definitions(self) -> dict[str, sp.Expr]:
        defs: dict[str, sp.Expr] = {}
        for l in range(1, self.net.depth + 1):
            layer, g = self.net.layers[l - 1], self.net.activation_expr(l)
            zs = self.n.pre_activations[l - 1]
            for i, z in enumerate(zs):
                terms = [self.sym[w] * self.sym[p] for w, p in zip(self.n.weights[l - 1][i], self.prev(l))]
                bias = self.n.biases[l - 1]
                if layer.bias != "none":
                    terms.append(self.sym[bias[0] if layer.bias == "shared" else bias[i]])
                defs[z] = sp.Add(*terms)
            for i, a_name in enumerate(self.n.activations[l - 1]):
                if g is None:
                    total = sp.Add(*[sp.exp(self.sym[z]) for z in zs])
                    defs[a_name] = sp.exp(self.sym[zs[i]]) / total
                else:
                    defs[a_name] = g.subs(act.x, self.sym[zs[i]])
        defs[self.n.loss] = self.sample_loss()
        return defs

    def sample_loss(self) -> sp.Expr:
        term = self.loss.term.subs(losses.N_OUT, self.net.layers[-1].size)
        return sp.Add(*[term.subs({losses.a: self.sym[a_], losses.y: self.sym[t]})
                        for a_, t in zip(self.n.activations[-1], self.n.targets)])

    def dE_da(self, k: int) -> Factor:  # noqa: N802
        term = self.loss.term.subs(losses.N_OUT, self.net.layers[-1].size)
        a_k, t_k = self.n.activations[-1][k], self.n.targets[k]
        value = sp.diff(term, losses.a).subs({losses.a: self.sym[a_k], losses.y: self.sym[t_k]})
        return Factor(self.n.loss, a_k, value)

    def da_dz(self, l: int, k: int, i: int) -> Factor:
        """∂a^l_k/∂z^l_i: g'(z_i) when k = i for elementwise g; the softmax Jacobian otherwise."""
        a_names, z_names = self.n.activations[l - 1], self.n.pre_activations[l - 1]
        g = self.net.activation_expr(l)
        if g is None:
            diag, off = act.softmax_jacobian()
            ai, ak = sp.Symbol("a_i", real=True), sp.Symbol("a_k", real=True)
            value = diag.subs(ai, self.sym[a_names[i]]) if k == i else \
                off.subs({ai: self.sym[a_names[i]], ak: self.sym[a_names[k]]})
            return Factor(a_names[k], z_names[i], value)
        d = act.derivative(g)
        var = act.a if d.variable == "a" else act.x
        own = a_names[i] if d.variable == "a" else z_names[i]
        return Factor(a_names[i], z_names[i], d.expr.subs(var, self.sym[own]))

    def paths_from_z(self, l: int, i: int) -> list[list[Factor]]:
        """Every path of factors from z^l_i up to the loss (loss end first)."""
        softmax = self.net.activation_expr(l) is None
        ks = range(self.net.layers[l - 1].size) if softmax else [i]
        out: list[list[Factor]] = []
        for k in ks:
            link = self.da_dz(l, k, i)
            if l == self.net.depth:
                out.append([self.dE_da(k), link])
                continue
            for m in range(self.net.layers[l].size):
                w = self.n.weights[l][m][k]
                step = Factor(self.n.pre_activations[l][m], self.n.activations[l - 1][k], self.sym[w])
                for tail in self.paths_from_z(l + 1, m):
                    out.append(tail + [step, link])
        self.n_paths += len(out)
        if self.n_paths > MAX_PATHS:
            raise DerivationError("the network is too large for a neuron-level derivation; "
                                  "use the matrix level")
        return out


def path_count(net: Network) -> int:
    """How many chain-rule paths ``derive_neurons`` enumerates, counted from the sizes alone
    (the same count its builder keeps as it goes), so a network too large is refused at once."""
    depth, sizes = net.depth, [layer.size for layer in net.layers]
    fan = [sizes[l - 1] if net.activation_expr(l) is None else 1 for l in range(1, depth + 1)]
    paths, enumerated = [0] * (depth + 2), [0] * (depth + 2)  # per call of paths_from_z(l, ·)
    for l in range(depth, 0, -1):
        onward = 1 if l == depth else sizes[l]
        paths[l] = fan[l - 1] * onward * (1 if l == depth else paths[l + 1])
        enumerated[l] = paths[l] + (0 if l == depth else fan[l - 1] * onward * enumerated[l + 1])
    total = 0
    for l, layer in enumerate(net.layers, start=1):
        calls = layer.size * (net.sizes[l - 1] + 1) + (layer.size if layer.trains_bias else 0)
        total += calls * enumerated[l]  # one call per weight, per trained bias and per δ
    return total


def derive_neurons(net: Network) -> NeuronDerivation:
    """Chain-rule products for every trained weight and bias of a small network."""
    count = path_count(net)
    if count > MAX_PATHS:
        raise DerivationError(f"the network is too large for a neuron-level derivation ({count} "
                              f"chain-rule paths to enumerate; limit {MAX_PATHS}); use the matrix level")
    bld = _Builder(net)
    grads = []
    for l in range(1, net.depth + 1):
        layer, zs = net.layers[l - 1], bld.n.pre_activations[l - 1]
        for i, row in enumerate(bld.n.weights[l - 1]):
            for w, src in zip(row, bld.prev(l)):
                grads.append(_gradient(bld, w, l, [(i, Factor(zs[i], w, bld.sym[src]))]))
        if layer.trains_bias:
            biases = bld.n.biases[l - 1]
            if layer.bias == "shared":
                grads.append(_gradient(bld, biases[0], l,
                                       [(i, Factor(z, biases[0], sp.Integer(1))) for i, z in enumerate(zs)]))
            else:
                for i, bname in enumerate(biases):
                    grads.append(_gradient(bld, bname, l, [(i, Factor(zs[i], bname, sp.Integer(1)))]))
    deltas = {z: sp.factor_terms(sp.Add(*[sp.Mul(*[f.value for f in p])
                                          for p in bld.paths_from_z(l, i)]))
              for l in range(1, net.depth + 1)
              for i, z in enumerate(bld.n.pre_activations[l - 1])}
    return NeuronDerivation(net, bld.n, bld.sym, bld.definitions(), tuple(grads), deltas)


def _gradient(bld: _Builder, param: str, l: int, entries: list[tuple[int, Factor]]) -> NeuronGradient:
    paths = []
    for i, first in entries:
        for path in bld.paths_from_z(l, i):
            paths.append(tuple(path + [first]))
    expr = sp.Add(*[sp.Mul(*[f.value for f in p]) for p in paths])
    return NeuronGradient(param, l, tuple(paths), expr, sp.factor_terms(expr))
