"""A kernel for tiny networks, written neuron by neuron on Python floats.

For a 2-2-2 network one NumPy training step is some 25 array operations of about a microsecond
each, whatever the arithmetic inside them; the same step on Python floats is some 60
multiplications and additions of a few tens of nanoseconds. So for tiny networks the kernel is
the plan's steps written out for one sample, in the spec's neuron names (seed 000's
``z_h1 = w1*i1 + w2*i2 + b1``), inside a loop over the rows of X; results go back into arrays of
the input dtype. Above ``MAX_ROWS`` rows the module's array kernel (``loss_and_grad_arrays``,
the same code as a non-unrolled module) is faster and is called instead.

The size rule (``applies``): every activation and the loss come from the registries (their
scalar forms below are stable for any input, like the array forms), and the network has at most
``MAX_WEIGHTS`` weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..backprop.matrix import B, MatrixDerivation
from ..backprop.plan import Plan, Step
from ..core import losses, naming
from ..core.errors import SymbpError
from ..core.functions import BY_CLASS, Elementary
from ..core.naming import NeuronNames
from ..core.printing import NumpyPrinter
from ..core.spec import RESERVED, Network
from ..core.zero import is_zero
from . import kernel, saturation, shared
from .kernel import stable

a, y, x = losses.a, losses.y, losses.x
MAX_WEIGHTS = 64  # Σ_l S_l·S_{l-1}: up to here a Python-float step beats NumPy at small batches
# Cost model for MAX_ROWS (measured on a 2-core x86-64, NumPy 2.4): one array-kernel step costs
# about ARRAY_BASE + ARRAY_PER_LAYER·L µs at small B; one row of the unrolled loop about
# ROW_PER_WEIGHT·(weights) + ROW_PER_NEURON·(neurons) µs.
ARRAY_BASE, ARRAY_PER_LAYER = 4.0, 5.5
ROW_PER_WEIGHT, ROW_PER_NEURON = 0.05, 0.08

SCALAR_HELPERS = {  # registry activation -> (helper name, body lines), each stable for any float
    "sigmoid": ("sigmoid_float", (
        "if z >= 0.0:",
        "    return 1.0 / (1.0 + math.exp(-z))",
        "e = math.exp(z)  # z < 0: e^z < 1, and e^z/(1 + e^z) cannot overflow",
        "return e / (1.0 + e)")),
    "softplus": ("softplus_float", (
        "return max(z, 0.0) + math.log1p(math.exp(-abs(z)))",)),
}
SCALAR_DOCS = {"sigmoid": "sigmoid(z) = 1/(1 + exp(-z)) for one Python float.",
               "softplus": "softplus(z) = log(1 + exp(z)) for one Python float, without overflow."}
INLINE = {  # registry activation -> expression in `z` for one float
    "tanh": "math.tanh({z})", "relu": "{z} if {z} > 0.0 else 0.0",
    "leaky_relu": "{z} if {z} > 0.0 else {alpha}*{z}", "identity": "{z}",
}


def weights(net: Network) -> int:
    return sum(net.sizes[l - 1] * net.sizes[l] for l in range(1, net.depth + 1))


def applies(net: Network) -> bool:
    """The size rule: registry activations and loss only, and at most MAX_WEIGHTS weights."""
    custom = net.formulas.get("activations", {}) or net.formulas.get("losses", {})
    known = all(layer.activation in SCALAR_HELPERS or layer.activation in INLINE
                or layer.activation == "softmax" for layer in net.layers)
    if custom or not known or weights(net) > MAX_WEIGHTS:
        return False
    try:
        _names(net)
    except SymbpError:
        return False
    return True


def max_rows(net: Network) -> int:
    """Rows above which the array kernel is faster (from the cost model above)."""
    row = ROW_PER_WEIGHT * weights(net) + ROW_PER_NEURON * sum(net.sizes)
    return max(1, int((ARRAY_BASE + ARRAY_PER_LAYER * net.depth) / row))


class ScalarPrinter(NumpyPrinter):
    """Prints formulas on Python floats: ``math`` functions, stable softplus, H(u) as a test."""

    EXPM1 = "math.expm1"
    SIGMOID = "sigmoid_float"

    def _print_Function(self, expr: sp.Function) -> str:  # noqa: N802
        entry = BY_CLASS.get(type(expr))
        if entry is None or not entry.math:
            raise SymbpError(f"no scalar form for the function {type(expr).__name__}")
        args = [self._print(arg) for arg in expr.args]
        return entry.math.format(*args) if "{" in entry.math else f"{entry.math}({', '.join(args)})"

    _print_exp = _print_tanh = _print_sinh = _print_cosh = _print_Function
    _print_sin = _print_cos = _print_tan = _print_atan = _print_sign = _print_Function
    _print_erf = _print_erfc = _print_Function

    def form(self, entry: Elementary) -> str:
        """The entry's Python-float spelling (``math.sqrt``, ``max``)."""
        return entry.math

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:  # noqa: N802
        """A formula's where() as conditional expressions; the last condition is True."""
        out = self._print(expr.args[-1].expr)
        for value, cond in reversed(expr.args[:-1]):
            out = f"({self._print(value)} if {self._print(cond)} else {out})"
        return out

    def _print_log(self, expr: sp.log) -> str:
        """log(1 + exp(u)) → softplus_float(u), which cannot overflow."""
        rest = expr.args[0] - 1
        if isinstance(rest, sp.exp):
            return f"softplus_float({self._print(rest.args[0])})"
        return f"math.log({self._print(expr.args[0])})"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:  # noqa: N802
        arg, h0 = expr.args if len(expr.args) == 2 else (expr.args[0], sp.Rational(1, 2))
        u = self._print(arg)
        if h0 == 0:
            return f"(1.0 if {u} > 0 else 0.0)"
        return f"(1.0 if {u} > 0 else {float(h0)!r} if {u} == 0 else 0.0)"


_PRINTER = ScalarPrinter({"standard": "python3"})


def scalar_code(expr: sp.Expr, names: dict[sp.Symbol, str]) -> str:
    expr = expr.xreplace({s: sp.Symbol(n, real=True) for s, n in names.items()})
    return _PRINTER.doprint(expr)


def _sym(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


@dataclass(frozen=True)
class Names:
    """Neuron-level names and the names derived from them (d_w1 = ∂J/∂w1, d_z_h1 = δ)."""

    n: NeuronNames

    def d(self, name: str) -> str:
        return f"d_{name}"

    def log(self, a_name: str) -> str:
        return f"log_{a_name}"

    def low(self, z_name: str) -> str:
        """σ(k·z) of a saturating neuron (its distance to the lower bound, over a scale)."""
        return f"lo_{z_name}"

    def up(self, z_name: str) -> str:
        """σ(−k·z): the distance to the upper bound, over a scale."""
        return f"up_{z_name}"


def _names(net: Network) -> Names:
    """The spec's neuron names, or the defaults if a derived name would clash."""
    from dataclasses import replace

    for candidate in (net, replace(net, names={})):
        try:
            n = naming.neuron_names(candidate)
        except SymbpError:
            continue
        base = [s for s in n.all() if s != n.loss]
        used = base + [f"{p}_{s}" for p in ("d", "log", "lo", "up") for s in base]
        taken = naming.kernel_locals(net.depth, net.sizes[-1]) | RESERVED
        taken |= {h for h, _ in SCALAR_HELPERS.values()}
        loss_ok = n.loss == "J" or n.loss not in taken | set(used)  # J accumulates, then J /= B
        if len(set(used)) == len(used) and not set(used) & taken and loss_ok:
            return Names(n)
    raise SymbpError("no clash-free neuron names for the unrolled kernel")


class _Writer:
    """Straight-line code for one sample, one block per plan step."""

    def __init__(self, plan: Plan):
        self.d: MatrixDerivation = plan.derivation
        self.net = self.d.network
        self.names = _names(self.net)
        self.n = self.names.n
        self.plan = plan

    def prev(self, l: int) -> list[str]:
        return self.n.inputs if l == 1 else self.n.activations[l - 2]

    def weight(self, l: int, i: int, j: int) -> str:
        return self.n.weights[l - 1][i][j]

    def bias(self, l: int, i: int) -> str | None:
        layer = self.net.layers[l - 1]
        if layer.bias == "none":
            return None
        return self.n.biases[l - 1][0 if layer.bias == "shared" else i]

    def local(self, l: int, i: int) -> dict[sp.Symbol, str]:
        """Symbol → name for neuron i of layer l (a, x, log_a; y and s at the output)."""
        names = {a: self.n.activations[l - 1][i], x: self.n.pre_activations[l - 1][i],
                 losses.LOG_A: self.names.log(self.n.activations[l - 1][i]), B: "B",
                 losses.S: "rowsum"}
        if l == self.net.depth:
            names[y] = self.n.targets[i]
        return names

    # ------------------------------------------------------------------ forward
    def affine(self, l: int) -> list[str]:
        out = []
        for i, z in enumerate(self.n.pre_activations[l - 1]):
            terms = [f"{self.weight(l, i, j)}*{p}" for j, p in enumerate(self.prev(l))]
            b = self.bias(l, i)
            out.append(f"{z} = {' + '.join(terms + ([b] if b else []))}")
        return out

    def formulas(self, l: int, context: str) -> list[sp.Expr]:
        """Layer l's formulas (as computed) that the code of ``context`` evaluates."""
        d, L = self.d, self.net.depth
        loss = [stable(d, L, d.loss_term)] if d.loss_term_reads == "a" and l == L else []
        if context == "loss":
            return loss
        if context == "forward":
            return []
        if l == L:
            return loss + [stable(d, L, d.output.expr)]
        return [stable(d, l, d.layers[l - 1].derivative.expr)]

    def pair(self, l: int, context: str) -> saturation.Distance | None:
        """The distance form σ(k·z) whose pair σ(±k·z) layer l computes once per neuron."""
        b = kernel.layer_bounds(self.d, l)
        if b is None or b.below.in_log_a is not None or not b.below.rate.is_positive:
            return None  # pair_lines assigns σ(k·z) by the sign of z: k > 0
        used = any(f.has(saturation.logistic) for f in self.formulas(l, context))
        return b.below if used else None

    def shared(self, expr: sp.Expr, l: int, i: int) -> sp.Expr:
        """``expr`` with σ(±k·z) read from the names the activation step gave them."""
        b = kernel.layer_bounds(self.d, l)
        if b is None or b.below.in_log_a is not None:
            return expr
        z = self.n.pre_activations[l - 1][i]
        k = b.below.rate
        return shared.read_shared(expr, {saturation.logistic(k * x): self.names.low(z),
                                         saturation.logistic(-k * x): self.names.up(z)})

    def pair_lines(self, l: int, i: int, form: saturation.Distance, low: str) -> list[str]:
        """σ(k·z) and σ(−k·z) from one exp(−|k·z|) ≤ 1 (no overflow, no cancellation)."""
        z = self.n.pre_activations[l - 1][i]
        kz = z if form.rate == 1 else f"{_PRINTER.doprint(form.rate)}*{z}"
        up = self.names.up(z)
        return [f"e = math.exp(-abs({kz}))", "s = 1.0 / (1.0 + e)",
                f"if {z} >= 0.0:", f"    {low}, {up} = s, e*s",
                "else:", f"    {low}, {up} = e*s, s"]

    def activate(self, l: int, need_a: bool = True, context: str = "forward") -> list[str]:
        layer = self.net.layers[l - 1]
        form = self.pair(l, context)
        if form is not None:
            return self.activate_with_pair(l, form, need_a)
        zs, As = self.n.pre_activations[l - 1], self.n.activations[l - 1]
        if layer.activation == "softmax":
            log = kernel.softmax_log(self.d, l)
            es = [f"e{k + 1}" for k in range(len(zs))]
            out = [f"top = max({', '.join(zs)})"]
            out += [f"{e} = math.exp({z} - top)" for e, z in zip(es, zs)]
            if log:  # all but one e = 1 (a maximum), so that log1p keeps a tiny loss
                out.append(f"rest = sum(sorted(({', '.join(es)},))[:-1])")
                out.append("total = 1.0 + rest")
            else:
                out.append(f"total = {' + '.join(es)}")
            if need_a:
                out += [f"{A} = {e} / total" for e, A in zip(es, As)]
            if log:
                out.append("log_total = math.log1p(rest)")
                out += [f"{self.names.log(A)} = {z} - top - log_total" for z, A in zip(zs, As)]
            return out
        if not need_a:
            return []
        if layer.activation in SCALAR_HELPERS:
            helper = SCALAR_HELPERS[layer.activation][0]
            return [f"{A} = {helper}({z})" for z, A in zip(zs, As)]
        form = INLINE[layer.activation]
        return [f"{A} = {form.format(z=z, alpha=layer.alpha)}" for z, A in zip(zs, As)]

    def activate_with_pair(self, l: int, form: saturation.Distance, need_a: bool) -> list[str]:
        """Activations with their distances to the bounds; sigmoid's a is σ(z) itself."""
        zs, As = self.n.pre_activations[l - 1], self.n.activations[l - 1]
        is_g = is_zero(form.expr().rewrite(sp.exp) - self.d.layers[l - 1].expr)
        lines = []
        for i, (z, A) in enumerate(zip(zs, As)):
            lines += self.pair_lines(l, i, form, A if is_g else self.names.low(z))
            if need_a and not is_g:
                lines += self.activate_plain(l, i)
        return lines

    def activate_plain(self, l: int, i: int) -> list[str]:
        layer = self.net.layers[l - 1]
        z, A = self.n.pre_activations[l - 1][i], self.n.activations[l - 1][i]
        if layer.activation in SCALAR_HELPERS:
            return [f"{A} = {SCALAR_HELPERS[layer.activation][0]}({z})"]
        return [f"{A} = {INLINE[layer.activation].format(z=z, alpha=layer.alpha)}"]

    def blocks(self, steps: tuple[Step, ...], context: str) -> list[tuple[str, list[str]]]:
        """(comment, lines) per step of ``context`` ("forward", "loss" or "train"); a step with
        no lines there is left out."""
        out = []
        for step in steps:
            lines = UNROLLED_STEPS[step.kind](self, step, context)
            if lines:
                out.append((step.math, lines))
        return out

    def affine_step(self, step: Step, context: str) -> list[str]:
        return self.affine(step.layer)

    def activate_step(self, step: Step, context: str) -> list[str]:
        """The loss alone may skip a^L (it reads z^L)."""
        L = self.net.depth
        need_a = not (context == "loss" and step.layer == L and self.d.loss_term_reads != "a")
        return self.activate(step.layer, need_a, context)

    def loss_step(self, step: Step, context: str) -> list[str]:
        """The sample's loss Σ_k ℓ, added to the running total (named like the spec's loss)."""
        L = self.net.depth
        term = stable(self.d, L, self.d.loss_term) if self.d.loss_term_reads == "a" else self.d.loss_term
        terms = [self.shared(term, L, k).xreplace({s: _sym(n) for s, n in self.local(L, k).items()})
                 for k in range(self.net.sizes[-1])]
        return [f"{self.n.loss} += {_PRINTER.doprint(sp.Add(*terms))}"]

    # ------------------------------------------------------------------ backward
    def zero_sum(self) -> list[str]:
        """δ of the sample's largest output as minus the sum of the others, where δ^L sums to
        zero (``OutputDelta.sums_to_zero``): its own formula cancels where that output is ≈ 1."""
        if not self.d.output.sums_to_zero:
            return []
        zs = self.n.pre_activations[self.net.depth - 1]
        ds = [self.names.d(z) for z in zs]
        lines = [f"top = max({', '.join(zs)})"]
        for k, (z, dz) in enumerate(zip(zs, ds)):
            test = "if" if k == 0 else "elif" if k < len(zs) - 1 else "else"
            lines.append(f"{test} {z} == top:" if test != "else" else "else:")
            lines.append(f"    {dz} = -({' + '.join(d for d in ds if d != dz)})")
        return lines

    def delta_out_step(self, step: Step, context: str) -> list[str]:
        L = self.net.depth
        lines = []
        if step.rowsum is not None:
            rowsum = stable(self.d, L, step.rowsum)
            parts = [rowsum.xreplace({s: _sym(n) for s, n in self.local(L, k).items()})
                     for k in range(self.net.sizes[-1])]
            lines.append(f"rowsum = {_PRINTER.doprint(sp.Add(*parts))}")
        formula = stable(self.d, L, self.d.output.expr) * self.d.batch_factor
        for k, z in enumerate(self.n.pre_activations[L - 1]):
            value = scalar_code(self.shared(formula, L, k), self.local(L, k))
            lines.append(f"{self.names.d(z)} = {value}")
        return lines + self.zero_sum()

    def grad_w_step(self, step: Step, context: str) -> list[str]:
        l = step.layer
        return [f"{self.names.d(self.weight(l, i, j))} += {self.names.d(z)}*{p}"
                for i, z in enumerate(self.n.pre_activations[l - 1])
                for j, p in enumerate(self.prev(l))]

    def grad_b_step(self, step: Step, context: str) -> list[str]:
        l = step.layer
        zs = self.n.pre_activations[l - 1]
        if self.net.layers[l - 1].bias == "shared":
            total = " + ".join(self.names.d(z) for z in zs)
            return [f"{self.names.d(self.n.biases[l - 1][0])} += {total}"]
        return [f"{self.names.d(b)} += {self.names.d(z)}" for b, z in zip(self.n.biases[l - 1], zs)]

    def delta_hidden_step(self, step: Step, context: str) -> list[str]:
        return self.delta_hidden(stable(self.d, step.layer, step.formula), step.layer)

    def delta_hidden(self, gprime: sp.Expr, l: int) -> list[str]:
        lines = []
        above = self.n.pre_activations[l]
        for j, z in enumerate(self.n.pre_activations[l - 1]):
            back = " + ".join(f"{self.weight(l + 1, i, j)}*{self.names.d(zi)}" for i, zi in enumerate(above))
            names = self.local(l, j)
            if gprime == 1:
                value = back
            elif gprime == sp.Heaviside(a, 0):  # relu: pass δ where the neuron is on
                value = f"{back} if {names[a]} > 0 else 0.0"
            else:
                factor = scalar_code(self.shared(gprime, l, j), names)
                factor = f"({factor})" if isinstance(gprime, sp.Add) else factor
                value = f"({back})*{factor}" if len(above) > 1 else f"{back}*{factor}"
            lines.append(f"{self.names.d(z)} = {value}")
        return lines

    # ------------------------------------------------------------------ parameters and results
    def unpack(self) -> list[str]:
        """Parameters as Python floats, named like the spec's weights and biases."""
        lines = []
        for l in range(1, self.net.depth + 1):
            rows = self.n.weights[l - 1]
            if self.net.weight_layout == "in_out":
                rows = [list(col) for col in zip(*rows)]
            pattern = "[" + ", ".join("[" + ", ".join(r) + "]" for r in rows) + "]"
            lines.append(f'{pattern} = params["{naming.W(l)}"].tolist()')
            layer = self.net.layers[l - 1]
            if layer.bias == "shared":
                lines.append(f'{self.n.biases[l - 1][0]} = float(params["{naming.b(l)}"])')
            elif layer.bias == "neuron":
                lines.append(f'[{", ".join(self.n.biases[l - 1])}] = params["{naming.b(l)}"].tolist()')
        return lines

    def row_pattern(self, names: list[str]) -> str:
        return "[" + ", ".join(names) + "]"

    def accumulators(self) -> list[str]:
        """Every gradient accumulator, in parameter order."""
        out = []
        for l in range(1, self.net.depth + 1):
            out += [self.names.d(w) for row in self.n.weights[l - 1] for w in row]
            if self.net.layers[l - 1].trains_bias:
                out += [self.names.d(b) for b in self.n.biases[l - 1]]
        return out

    def gradient_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(array name, shape) of every trained parameter's gradient, in parameter order."""
        return [(f"d{name}", shape) for name, shape in self.net.trained_shapes().items()]

    def results(self) -> list[str]:
        """J, then every gradient written element by element into the arrays of
        ``gradient_arrays`` (a store per element is cheaper than building an array from a list)."""
        L = self.net.depth
        c = self.d.reg_coeff
        J = f"{self.n.loss} / B" if self.d.batch_factor != 1 else self.n.loss
        lines = []
        all_w = [w for l in range(1, L + 1) for row in self.n.weights[l - 1] for w in row]
        if c != 0:
            squares = " + ".join(f"{w}*{w}" for w in all_w)
            lines.append(f"J = {J} + {scalar_code(c, {B: 'B'})}*({squares})")
        else:
            lines.append(f"J = {J}")
        reg = scalar_code(self.d.reg_grad_coeff, {B: "B"}) if c != 0 else None
        for l in range(1, L + 1):
            rows = self.n.weights[l - 1]
            if self.net.weight_layout == "in_out":
                rows = [list(col) for col in zip(*rows)]
            for i, row in enumerate(rows):
                for j, w in enumerate(row):
                    value = f"{self.names.d(w)} + {reg}*{w}" if reg else self.names.d(w)
                    lines.append(f"dW{l}[{i}, {j}] = {value}")
            layer = self.net.layers[l - 1]
            if layer.trains_bias:
                bs = [self.names.d(b) for b in self.n.biases[l - 1]]
                if layer.bias == "shared":
                    lines.append(f"db{l}[()] = {bs[0]}")
                else:
                    lines += [f"db{l}[{i}] = {b}" for i, b in enumerate(bs)]
        return lines


UNROLLED_STEPS = {"affine": _Writer.affine_step, "activate": _Writer.activate_step,
                  "loss": _Writer.loss_step, "delta_out": _Writer.delta_out_step,
                  "delta_hidden": _Writer.delta_hidden_step, "grad_W": _Writer.grad_w_step,
                  "grad_b": _Writer.grad_b_step}


def context(plan: Plan) -> dict:
    """What ``templates/unrolled_module.py.j2`` needs beyond the array module's context."""
    w = _Writer(plan)
    net = w.net
    helpers = []
    used = {layer.activation for layer in net.layers}
    if any(isinstance(node, sp.log) and isinstance(node.args[0] - 1, sp.exp)
           for node in sp.preorder_traversal(w.d.loss_term)):
        used.add("softplus")
    if kernel.uses_logistic(w.d):
        used.add("sigmoid")
    for name in ("sigmoid", "softplus"):
        if name in used:
            helpers.append({"name": SCALAR_HELPERS[name][0], "doc": SCALAR_DOCS[name],
                            "body": list(SCALAR_HELPERS[name][1])})
    inputs = w.row_pattern(w.n.inputs)
    targets = w.row_pattern(w.n.targets)
    return {
        "max_rows": max_rows(net), "max_weights": MAX_WEIGHTS,
        "scalar_helpers": helpers, "unpack": w.unpack(),
        "row_inputs": inputs, "row_targets": targets,
        "forward_rows": w.blocks(plan.forward, "forward"),
        "output_names": ", ".join(w.n.activations[-1]),
        "loss_rows": w.blocks(plan.forward + plan.loss, "loss"),
        "train_rows": w.blocks(plan.forward + plan.loss + plan.backward, "train"),
        "loss_name": w.n.loss, "accumulators": w.accumulators(), "results": w.results(),
        "gradient_shapes": w.gradient_shapes(),
        "first_weight": naming.W(1),
    }
