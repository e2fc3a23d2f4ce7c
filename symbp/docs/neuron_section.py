"""The neuron level as document data: seed 000's chain rules, written out and evaluated.

For each trained parameter p (from ``neuron.derive_neurons``):

    ∂E/∂p = (Σ_paths Π prefix factors) · Π common factors          (the chain rule)
    each factor ∂u/∂v = its formula [= the formula at the example] [= its value]
    ∂E/∂p = the simplified product = Σ δ_z · ∂z/∂p                  (δ = ∂E/∂z)
    p⁺ = p − η ∂E/∂p                                               (with an example)

The common factors are the ones every path shares next to p (∂a_h1/∂z_h1 · ∂z_h1/∂w1); the
sum over the rest is ∂E/∂(the first shared quantity), e.g. ∂E/∂a_h1 = Σ over the outputs, as in
seed 000. The δ of each neuron is written as its recurrence: δ_o = ∂E/∂a_o · ∂a_o/∂z_o at the
output, δ_h = (Σ_o δ_o ∂z_o/∂a_h) · ∂a_h/∂z_h below it.

Everything returned is LaTeX strings in rows of (left, right) cells, ready for align*/aligned.
"""

from __future__ import annotations

import sympy as sp

from ..backprop.neuron import Factor, NeuronDerivation, NeuronGradient
from ..core import losses, naming
from ..core.sym import as_expr
from ..core.texprint import number, partial, tex, tex_name, tex_number
from .example import ExampleNumbers
from .notation import SYMBP, DocNotation

Row = tuple[str, str]
WRAP = 90  # a chain of equalities longer than this (in LaTeX characters) continues on new lines


def equation(lhs: str, rhs: list[str]) -> list[Row]:
    """``lhs = r1 = r2 …`` as aligned rows: one line if short, else one ``= r`` per line."""
    rhs = [r for k, r in enumerate(rhs) if k == 0 or r != rhs[k - 1]]
    if len(lhs) + sum(len(r) + 3 for r in rhs) <= WRAP:
        return [(lhs, "= " + " = ".join(rhs))]
    return [(lhs if k == 0 else "", "= " + r) for k, r in enumerate(rhs)]


def delta_suffixes(zs: list[str]) -> dict[str, str]:
    """What names each neuron's δ: z_o1 → o1 when every name is z + a suffix, else the name."""
    if all(z[:1] == "z" and z[1:2] in "_0123456789" and len(z) > 1 for z in zs):
        return {z: z[1:].lstrip("_") for z in zs}
    return {z: z for z in zs}


def delta_names(zs: list[str]) -> dict[str, str]:
    """δ of each pre-activation in LaTeX: z_o1 → δ_{o1}, else δ_{z_{o1}}."""
    suffix = delta_suffixes(zs)
    if all(suffix[z] != z for z in zs):
        return {z: tex_name("delta_" + suffix[z]) for z in zs}  # the letter δ, whatever tables call it
    return {z: rf"\delta_{{{tex_name(z)}}}" for z in zs}


def _join_product(values: list[str]) -> str:
    return r" \cdot ".join(v if k == 0 or not v.startswith("-") else rf"\left({v}\right)"
                           for k, v in enumerate(values))


def _join_sum(values: list[str]) -> str:
    out = values[0]
    for v in values[1:]:
        out += f" - {v[1:]}" if v.startswith("-") else f" + {v}"
    return out


def split_paths(paths: tuple[tuple[Factor, ...], ...]) -> tuple[list[list[Factor]], list[Factor]]:
    """(the distinct prefixes, the suffix every path shares next to the parameter)."""
    shared = 0
    shortest = min(len(p) for p in paths)
    while shared < shortest and all(
            (p[-1 - shared].num, p[-1 - shared].den) == (paths[0][-1 - shared].num,
                                                        paths[0][-1 - shared].den) for p in paths):
        shared += 1
    if len(paths) == 1:
        shared = len(paths[0])
    suffix = list(paths[0][len(paths[0]) - shared:])
    return [list(p[:len(p) - shared]) for p in paths], suffix


class NeuronTex:
    """Prints the neuron-level quantities of one derivation, with an example's numbers if any."""

    def __init__(self, n: NeuronDerivation, ex: ExampleNumbers | None = None):
        self.n, self.ex = n, ex
        zs = [z for layer in n.names.pre_activations for z in layer]
        self.delta_tex = delta_names(zs)
        self.delta_sym = {z: sp.Symbol(naming.neuron_delta(z), real=True) for z in zs}
        self.names = {self.delta_sym[z]: self.delta_tex[z] for z in zs}
        self.loss = tex_name(n.names.loss)
        self.env: dict[sp.Symbol, sp.Float] = {}
        self.numbers: dict[sp.Symbol, str] = {}
        if ex is not None:
            self.env = {n.symbols[k]: v for k, v in ex.quantities.items()}
            self.env.update({self.delta_sym[z]: v for z, v in ex.deltas.items()})
            self.numbers = {s: number(v) for s, v in self.env.items()}
        self.factors = {(f.num, f.den): f for g in n.gradients for p in g.paths for f in p}

    # -- printing helpers ------------------------------------------------------------------
    def sym(self, expr: sp.Expr) -> str:
        return tex(expr, self.names)

    def value(self, expr: sp.Expr) -> sp.Float:
        return sp.Float(as_expr(expr).xreplace(self.env).evalf(30), 30)

    def val(self, expr: sp.Expr) -> str:
        """The value of ``expr`` at the example, as printed in the tables."""
        return number(self.value(expr))

    def evaluated(self, expr: sp.Expr) -> list[str]:
        """[formula with numbers, value]; just [value] when the formula is one quantity."""
        if not self.ex:
            return []
        value = tex_number(self.val(expr))
        if as_expr(expr).is_Atom:
            return [value]
        return [tex(expr, self.names, self.numbers), value]

    def number_of(self, name: str) -> str:
        """A named quantity's value as printed (inputs as given, computed ones rounded)."""
        return tex_number(self.numbers[self.n.symbols[name]])

    def partial(self, f: Factor) -> str:
        return partial(tex_name(f.num), tex_name(f.den))

    def dloss(self, name: str) -> str:
        return partial(self.loss, tex_name(name))

    # -- sections ----------------------------------------------------------------------------
    def forward(self) -> list[list[Row]]:
        """One block per layer: z = Σ w a + b and a = g(z), written out and evaluated."""
        n, blocks = self.n, []
        for l in range(1, n.network.depth + 1):
            rows: list[Row] = []
            entry = n.network.activation(l)
            for i, z in enumerate(n.names.pre_activations[l - 1]):
                rows += equation(tex_name(z), self.weighted_sum(l, i))
            for k, a in enumerate(n.names.activations[l - 1]):
                d = n.definitions[a]
                z = tex_name(n.names.pre_activations[l - 1][k])
                named = [] if entry.vector else [rf"{entry.latex}\left({z}\right)"]
                rows += equation(tex_name(a), named + [self.sym(d)] + self.evaluated(d))
            blocks.append(rows)
        return blocks

    def weighted_sum(self, l: int, i: int) -> list[str]:
        """z = w a + w a + … + b in the order of the spec (weights, then the bias), evaluated."""
        n = self.n
        sources = n.names.inputs if l == 1 else n.names.activations[l - 2]
        pairs = list(zip(n.names.weights[l - 1][i], sources))
        layer = n.network.layers[l - 1]
        bias = [] if layer.bias == "none" else [n.names.biases[l - 1][0 if layer.bias == "shared" else i]]
        rhs = [" + ".join([f"{tex_name(w)} {tex_name(a)}" for w, a in pairs]
                          + [tex_name(b) for b in bias])]
        if self.ex:
            num = self.number_of
            rhs.append(_join_sum([_join_product([num(w), num(a)]) for w, a in pairs]
                                 + [num(b) for b in bias]))
            rhs.append(tex_number(self.val(n.definitions[n.names.pre_activations[l - 1][i]])))
        return rhs

    def loss_rows(self) -> list[Row]:
        """E = Σ_k ℓ(a_k, y_k), written out, each term evaluated, then summed."""
        n = self.n
        term = n.network.loss_entry().term.subs(losses.N_OUT, n.network.layers[-1].size)
        terms = [term.subs({losses.a: n.symbols[a], losses.y: n.symbols[t]})
                 for a, t in zip(n.names.activations[-1], n.names.targets)]
        total = n.definitions[n.names.loss]
        rhs = [self.sym(total)]
        if self.ex:
            rhs += [_join_sum([tex(t, self.names, self.numbers) for t in terms]),
                    _join_sum([tex_number(self.val(t)) for t in terms]),
                    tex_number(self.val(total))]
        return equation(self.loss, rhs)

    def delta_parts(self, l: int, i: int) -> tuple[str, sp.Expr]:
        """(the chain rule for δ of neuron i of layer l, its formula in the names and δ above)."""
        n = self.n
        zs, acts = n.names.pre_activations[l - 1], n.names.activations[l - 1]
        z = zs[i]
        if l == n.network.depth:  # δ_z = Σ_k ∂E/∂a_k ∂a_k/∂z (one term unless softmax)
            pairs = [(self.factors[(n.names.loss, a)], self.factors[(a, z)])
                     for a in acts if (a, z) in self.factors]
            chain = " + ".join(self.partial(u) + " " + self.partial(v) for u, v in pairs)
            return chain, sp.Add(*[u.value * v.value for u, v in pairs])
        # δ_z = (Σ_m δ_m ∂z_m/∂a) ∂a/∂z over the neurons m of the layer above
        above = n.names.pre_activations[l]
        inner = [(m, self.factors[(m, acts[i])]) for m in above]
        link = self.factors[(acts[i], z)]
        summed = " + ".join(f"{self.delta_tex[m]} {self.partial(f)}" for m, f in inner)
        chain = rf"\left({summed}\right) {self.partial(link)}"
        return chain, sp.Add(*[self.delta_sym[m] * f.value for m, f in inner]) * link.value

    def deltas(self) -> list[Row]:
        """δ for every neuron, output layer first, as its recurrence and its value."""
        rows: list[Row] = []
        for l in range(self.n.network.depth, 0, -1):
            for i, z in enumerate(self.n.names.pre_activations[l - 1]):
                chain, expr = self.delta_parts(l, i)
                rhs = [chain, self.sym(expr)] + self.evaluated(expr)
                rows += equation(rf"{self.delta_tex[z]} = {self.dloss(z)}", rhs)
        return rows

    def delta_form(self, g: NeuronGradient) -> str:
        """Σ_z δ_z · ∂z/∂p over the pre-activations p feeds (one, or all for a shared bias)."""
        firsts = {p[-1].num: p[-1].value for p in g.paths}
        return " + ".join(self.delta_tex[z] + ("" if v == 1 else " " + self.sym(v))
                          for z, v in firsts.items())

    def names_table(self, notation: DocNotation = SYMBP) -> list[tuple[str, str, str]]:
        """(name, the matrix entry it is in ``notation``, the array element in the generated
        code) for every named quantity: the neuron level and the matrix level are the same numbers."""
        n, net, m = self.n, self.n.network, notation
        sep = "," if max(net.sizes) >= 10 else ""  # W^{2}_{12}, or W^{2}_{1,12} when ambiguous
        rows = [(tex_name(x), f"x_{{{j + 1}}} = {m.a(0)}_{{{j + 1}}}", f"X[:, {j}]")
                for j, x in enumerate(n.names.inputs)]
        for l in range(1, net.depth + 1):
            for i, row in enumerate(n.names.weights[l - 1]):
                for j, w in enumerate(row):
                    code = f"W{l}[{i}, {j}]" if net.weight_layout == "out_in" else f"W{l}[{j}, {i}]"
                    entry = f"{j + 1}{sep}{i + 1}" if m.rows else f"{i + 1}{sep}{j + 1}"
                    rows.append((tex_name(w), f"{m.W(l)}_{{{entry}}}", code))
            layer = net.layers[l - 1]
            for i, b in enumerate(n.names.biases[l - 1]):
                if layer.bias == "shared":
                    rows.append((tex_name(b), m.b(l), f"b{l}"))
                else:
                    rows.append((tex_name(b), f"{m.b(l)}_{{{i + 1}}}", f"b{l}[{i}]"))
            for kind, symbol, code in (("pre_activations", m.z, "Z"), ("activations", m.a, "A")):
                for i, name in enumerate(getattr(n.names, kind)[l - 1]):
                    rows.append((tex_name(name), f"{symbol(l)}_{{{i + 1}}}", f"{code}{l}[:, {i}]"))
            for i, z in enumerate(n.names.pre_activations[l - 1]):
                rows.append((self.delta_tex[z], f"{m.delta(l)}_{{{i + 1}}}", f"delta{l}[:, {i}]"))
        rows += [(tex_name(t), f"y_{{{k + 1}}}", f"Y[:, {k}]") for k, t in enumerate(n.names.targets)]
        rows.append((self.loss, r"\ell", "J"))
        return rows

    def frozen_names(self) -> list[str]:
        """Biases that are not trained: no gradient, not updated."""
        return [b for layer, names in zip(self.n.network.layers, self.n.names.biases)
                if layer.bias != "none" and not layer.train_bias for b in names]

    def chain(self, prefixes: list[list[Factor]], suffix: list[Factor]) -> str:
        """The chain rule as written: (Σ over paths of their own factors) · shared factors."""
        own = " + ".join(" ".join(self.partial(f) for f in p) for p in prefixes if p)
        shared = " ".join(self.partial(f) for f in suffix)
        if suffix and len(prefixes) > 1:
            return rf"\left({own}\right) {shared}"
        return shared if suffix else own

    def factor_rows(self, prefixes: list[list[Factor]], suffix: list[Factor]) -> list[Row]:
        """Each distinct factor once: its formula, evaluated (each path's own, then shared)."""
        seen: list[Factor] = []
        for f in [f for p in prefixes for f in p] + suffix:
            if all((f.num, f.den) != (s.num, s.den) for s in seen):
                seen.append(f)
        return [r for f in seen
                for r in equation(self.partial(f), [self.sym(f.value)] + self.evaluated(f.value))]

    def path_rows(self, lhs: str, prefixes: list[list[Factor]], suffix: list[Factor]) -> list[Row]:
        """With several paths: each path's product evaluated, then their sum, which is ∂E/∂ of
        the first shared quantity (∂E/∂a_h1 = ∂E_o1/∂a_h1 + ∂E_o2/∂a_h1 in seed 000)."""
        if not self.ex or len(prefixes) < 2:
            return []
        rows, products = [], []
        for p in prefixes:
            products.append(tex_number(self.val(sp.Mul(*[f.value for f in p]))))
            rows += equation(" ".join(self.partial(f) for f in p),
                             [_join_product([tex_number(self.val(f.value)) for f in p]),
                              products[-1]])
        if not suffix:  # the sum is the gradient itself
            return rows + equation(lhs, [_join_sum(products)])
        total = tex_number(self.val(_paths_sum(prefixes)))
        return rows + equation(self.dloss(suffix[0].num), [_join_sum(products), total])

    def product_rows(self, g: NeuronGradient, prefixes: list[list[Factor]],
                     suffix: list[Factor]) -> list[Row]:
        """The chain rule with numbers: (the paths' sum) · shared factors = the gradient."""
        if not self.ex or not suffix:
            return []
        head = [tex_number(self.val(_paths_sum(prefixes)))] if len(prefixes) > 1 else []
        values = head + [tex_number(self.val(f.value)) for f in suffix]
        return equation(self.dloss(g.param), [_join_product(values), tex_number(self.val(g.expr))])

    def update_rows(self, g: NeuronGradient, lr: float | None) -> list[Row]:
        """p⁺ = p − η ∂E/∂p, evaluated."""
        if not self.ex or lr is None:
            return []
        p = tex_name(g.param)
        step = _join_product([number(sp.Float(repr(lr), 30)), tex_number(self.val(g.expr))])
        before = tex_number(self.numbers[self.n.symbols[g.param]])
        return equation(f"{p}^{{+}}", [rf"{p} - \eta {self.dloss(g.param)}", f"{before} - {step}",
                                       tex_number(number(self.ex.updates[g.param]))])

    def gradient(self, g: NeuronGradient, lr: float | None) -> dict:
        """The block for one parameter: chain rule, factors, paths, product, simplified, step."""
        prefixes, suffix = split_paths(g.paths)
        lhs = self.dloss(g.param)
        return {"param": g.param, "param_tex": tex_name(g.param),
                "chain": equation(lhs, [self.chain(prefixes, suffix)]),
                "factors": self.factor_rows(prefixes, suffix),
                "paths": self.path_rows(lhs, prefixes, suffix),
                "product": self.product_rows(g, prefixes, suffix),
                "simplified": equation(lhs, [self.sym(g.simplified), self.delta_form(g)]),
                "descent": self.update_rows(g, lr)}


def _paths_sum(prefixes: list[list[Factor]]) -> sp.Expr:
    return sp.Add(*[sp.Mul(*[f.value for f in p]) for p in prefixes])
