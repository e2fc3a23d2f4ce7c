"""The generated module's statements: the plan's steps printed as in-place NumPy.

These are the steps of ``plan.build_plan`` (the ones the proof interprets and the documents show
through ``plan.numpy_lines``), printed for speed rather than brevity. Rules every statement
follows:

1. Every array a training step writes lives in a *workspace*, a dict of arrays made by the
   module's ``workspace(B, dtype)``. ``loss_and_grad(..., work={})`` keeps it between calls, so a
   training loop allocates nothing after its first step: a fresh large array costs a page fault
   per 4 KiB on first touch, which is more than the arithmetic done on it.
2. Memory is reused as soon as its content is dead. z^l becomes a^l in place (g' reads a^l);
   δ^L is written over a^L; δ^l over a^l when g' depends on a^l only through a^l > 0 (relu: the
   mask is taken first); any other δ^l over a dead buffer of a higher layer of the same width.
   Arrays are read by their variable (``A1``) and only written through ``out=``, into memory that
   the plan has proven dead.
3. Elementwise formulas are written into existing arrays (``inplace.inplace_code``); the batch
   factor r = 1/B is applied once, in δ^L; bias gradients are column sums; ½Σ(y − a)² is a dot
   product of the residual with itself.
4. Inputs (X, Y, the parameters) are never written.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..backprop.matrix import B, MatrixDerivation
from ..backprop.plan import Plan, Step
from ..core import activations as act
from ..core import losses, naming
from ..core.printing import NumpyPrinter, stable_form
from . import saturation, shared
from .inplace import inplace_code, inplace_statements, occurrences

a, y, x = losses.a, losses.y, losses.x
LOG_A = losses.LOG_A


def _softplus_arg(expr: sp.Expr) -> sp.Expr | None:
    """u when ``expr`` is log(1 + exp(u)), else None."""
    if isinstance(expr, sp.log):
        rest = expr.args[0] - 1
        if isinstance(rest, sp.exp):
            return rest.args[0]
    return None


class KernelPrinter(NumpyPrinter):
    """``NumpyPrinter`` with softplus as the module's helper: log(1 + exp(u)) → softplus(u).

    np.logaddexp(0, u) is exact but about 7x slower than the helper's max(u, 0) + log1p(e^-|u|).
    """

    def _print_log(self, expr: sp.log) -> str:
        u = _softplus_arg(expr)
        if u is not None:
            return f"softplus({self._print(u)})"
        return super()._print_log(expr)


_PRINTER = KernelPrinter({"standard": "python3"})


def numpy_code(expr: sp.Expr, names: dict[sp.Symbol, str] | None = None) -> str:
    """Like ``printing.numpy_code``, through ``KernelPrinter``."""
    if names:
        expr = expr.xreplace({s: sp.Symbol(n, real=True) for s, n in names.items()})
    return _PRINTER.doprint(expr)


def layer_bounds(d: MatrixDerivation, l: int) -> saturation.Bounds | None:
    """Layer l's bounds where its kernel formulas need saturation-safe forms (softmax: where
    the kernel has log a, from which 1 − a = −expm1(log a) is exact)."""
    entry = d.network.activation(l)
    if entry.formula is not None or (entry.vector and not softmax_log(d, l)):
        return None
    return saturation.bounds(entry.name, d.layers[l - 1].expr)


def stable(d: MatrixDerivation, l: int, expr: sp.Expr | None) -> sp.Expr | None:
    """A formula of layer l as the kernels compute it (``saturation.kernel_form``)."""
    return None if expr is None else saturation.kernel_form(expr, layer_bounds(d, l))


def kernel_formulas(d: MatrixDerivation) -> list[sp.Expr]:
    """Every elementwise formula a kernel evaluates, in the form it evaluates it."""
    L = d.network.depth
    loss = stable(d, L, d.loss_term) if d.loss_term_reads == "a" else d.loss_term
    formulas = [loss, stable(d, L, d.output.expr), stable(d, L, d.output.rowsum)]
    formulas += [stable(d, m.index, m.derivative.expr) for m in d.layers if m.derivative is not None]
    # the definition of each activation without a registry NumPy form (x - softplus(x), say)
    entries = [d.network.activation(m.index) for m in d.layers]
    formulas += [e.expr for e in entries if e.numpy is None and e.expr is not None]
    return [stable_form(f) for f in formulas if f is not None]


def uses_logistic(d: MatrixDerivation) -> bool:
    """Whether a kernel line calls the sigmoid helper for a distance to a bound (tanh's, say)."""
    return any(f.has(saturation.logistic) for f in kernel_formulas(d))


def forward_pair(d: MatrixDerivation, l: int) -> bool:
    """Whether the training forward pass leaves σ(−z^l) in z^l's buffer (``SIGMOID_PAIR``): a
    hidden layer whose a is σ(z) itself and whose g′ reads z only through σ(−z), which the
    backward pass would otherwise compute with a second exp."""
    b, form = layer_bounds(d, l), d.layers[l - 1].derivative
    if l == d.network.depth or b is None or form is None or b.below.in_log_a is not None:
        return False
    if (b.lower, b.below.scale, b.below.rate) != (0, 1, 1):
        return False
    gprime = stable(d, l, form.expr)
    return occurrences(gprime, x) == 1 and gprime.has(saturation.logistic(-x))


def uses_softplus(d: MatrixDerivation) -> bool:
    """Whether a kernel line calls the softplus helper (a logit-form loss, say)."""
    return any(_softplus_arg(node) is not None
               for f in kernel_formulas(d) for node in sp.preorder_traversal(f))


def mask(l: int) -> str:
    """The name of the mask a^l > 0, i.e. H(a^l) with H(0) = 0."""
    return f"H{l}"


def log_a(l: int) -> str:
    return f"logA{l}"


# --------------------------------------------------------------------------- activation helpers


@dataclass(frozen=True)
class Helper:
    """A module-level function g(z[, alpha][, out]) for one activation."""

    name: str
    params: tuple[str, ...]
    body: tuple[str, ...]
    takes_out: bool  # g(z, out=buf) writes into buf (buf may be z itself)


def activation_helper(entry: act.Activation) -> Helper:
    """The registry's NumPy form, else the sympy definition printed into ``out`` where possible."""
    params = tuple(entry.params)
    if entry.numpy is not None:
        lines = entry.numpy.splitlines()
        body = tuple(lines) if len(lines) > 1 else (f"return {lines[0]}",)
        return Helper(entry.name, params, body, True)
    z = sp.Symbol("z", real=True)
    expr = stable_form(entry.expr.xreplace({act.x: z}))  # the chain computes what is printed
    chain = inplace_code(expr, z, "out")
    if chain is not None:
        return Helper(entry.name, params, (f"return {chain}",), chain != "z")
    return Helper(entry.name, params, (f"return {numpy_code(expr)}",), False)


def _helper_for(d: MatrixDerivation, l: int) -> Helper:
    return activation_helper(d.network.activation(l))


# --------------------------------------------------------------------------- memory plan


def _reads_x_after_activation(d: MatrixDerivation, l: int) -> bool:
    """Whether z^l is read after a^l exists: by g' (x form), by the loss or by δ^L."""
    if l < d.network.depth:
        form = d.layers[l - 1].derivative
        return form is not None and x in stable(d, l, form.expr).free_symbols
    out = d.output
    loss_reads_x = d.loss_term_reads == "a" and x in stable(d, l, d.loss_term).free_symbols
    return (d.loss_term_reads == "x" or loss_reads_x or x in stable(d, l, out.expr).free_symbols
            or (out.rowsum is not None and x in out.rowsum.free_symbols))


def _is_identity(d: MatrixDerivation, l: int) -> bool:
    return d.layers[l - 1].expr == x


def softmax_log(d: MatrixDerivation, l: int) -> bool:
    """Whether the kernels compute log a^l (softmax): the loss reads it, or δ^L needs the exact
    distance 1 − a = −expm1(log a) of an output that rounds to 1."""
    return d.layers[l - 1].expr is None and (d.loss_term_reads == "log_a" or d.output.sums_to_zero)


def hidden_kind(d: MatrixDerivation, l: int) -> str:
    """How δ^l = (δ^{l+1} W^{l+1}) ⊙ g'(z^l) is formed: "one", "mask" or "smooth"."""
    form = d.layers[l - 1].derivative
    if form.expr == 1:
        return "one"
    h = sp.Heaviside(a, 0)
    if form.variable == "a" and form.expr.has(h):
        rest = form.expr.xreplace({h: sp.Symbol("_h")})
        if a not in rest.free_symbols:
            return "mask"
    return "smooth"


@dataclass(frozen=True)
class Memory:
    """The workspace of one training step: buffers and which array lives in which."""

    buffers: dict[str, tuple[str, str]]  # name -> (shape code in B, "dtype", "bool" or "ones")
    home: dict[str, str]  # array name (Z1, A1, logA3, delta1, H1, dW1, db1) -> buffer
    keep_z: frozenset[int]  # layers whose z^l has its own buffer (read after a^l exists)


def _delta_out_target(d: MatrixDerivation) -> sp.Symbol | None:
    """The variable whose memory δ^L may be written into: a (or z), if it occurs once."""
    L = d.network.depth
    expr = sp.factor_terms(stable(d, L, d.output.expr) * d.batch_factor)
    for sym in (a, x):
        if sym == x and L not in memory_keep_z(d):
            continue
        if occurrences(expr, sym) == 1 and inplace_code(expr, sym, "out") is not None:
            return sym
    return None


def memory_keep_z(d: MatrixDerivation) -> frozenset[int]:
    return frozenset(l for l in range(1, d.network.depth + 1)
                     if (_reads_x_after_activation(d, l) and not _is_identity(d, l))
                     or softmax_log(d, l))


def memory_plan(plan: Plan) -> Memory:
    """Assign every array of ``loss_and_grad`` to a buffer (see rule 2 of the module docstring)."""
    d = plan.derivation
    net, L = d.network, d.network.depth
    keep = memory_keep_z(d)
    buffers: dict[str, tuple[str, str]] = {}
    width: dict[str, int] = {}
    layers_of: dict[str, set[int]] = {}
    home: dict[str, str] = {}

    def new(name: str, n: int, layer: int, kind: str = "dtype") -> str:
        buffers[name] = (f"(B, {n})", kind)
        width[name], layers_of[name] = n, {layer}
        return name

    for l in range(1, L + 1):
        n = net.sizes[l]
        home[naming.A(l)] = new(naming.A(l), n, l)
        home[naming.Z(l)] = new(naming.Z(l), n, l) if l in keep else naming.A(l)
        if softmax_log(d, l):
            home[log_a(l)] = home[naming.Z(l)]
    if _delta_out_target(d) is not None:
        home[naming.delta(L)] = home[naming.A(L) if _delta_out_target(d) == a else naming.Z(L)]
    for l in range(L - 1, 0, -1):
        kind = hidden_kind(d, l)
        if kind == "mask":
            home[mask(l)] = new(mask(l), net.sizes[l], l, "bool")
        if kind in ("one", "mask"):
            home[naming.delta(l)] = home[naming.A(l)]
            continue
        busy = home.get(naming.delta(l + 1))
        reads_a = d.layers[l - 1].derivative.variable == "a"
        free = [name for name, kind_ in buffers.items()
                if kind_[1] == "dtype" and width[name] == net.sizes[l] and name != busy
                and (min(layers_of[name]) > l or (name == naming.A(l) and not reads_a
                                                  and home[naming.Z(l)] != name))]
        target = free[0] if free else new(naming.delta(l), net.sizes[l], l)
        layers_of[target].add(l)
        home[naming.delta(l)] = target
    for name, shape in net.trained_shapes().items():
        grad = f"d{name}"
        buffers[grad] = (repr(shape), "dtype")
        home[grad] = grad
    if any(layer.trains_bias and layer.bias == "neuron" for layer in net.layers):
        buffers["ones"] = ("B", "ones")  # Σ over rows of δ = ones · δ
    return Memory(buffers, home, keep)


# --------------------------------------------------------------------------- statements


class _Printer:
    """Prints steps for one function: "forward", "loss" or "train" (loss_and_grad)."""

    def __init__(self, plan: Plan, context: str, memory: Memory | None = None):
        self.d = plan.derivation
        self.net = self.d.network
        self.context = context
        self.mem = memory or memory_plan(plan)

    def out(self, array: str) -> str:
        return f'ws["{self.mem.home[array]}"]'

    def names(self, l: int) -> dict[sp.Symbol, str]:
        return {a: naming.A(l), x: naming.Z(l), y: "Y", losses.S: "s", LOG_A: log_a(l), B: "B"}

    def sym(self, l: int, s: sp.Symbol) -> sp.Symbol:
        return sp.Symbol(self.names(l)[s], real=True)

    def lines(self, step: Step) -> list[str]:
        return STEP_PRINTERS[step.kind](self, step)

    # ----------------------------------------------------------------- forward

    def _affine(self, step: Step) -> list[str]:
        l = step.layer
        w = naming.W(l) + (".T" if self.net.weight_layout == "out_in" else "")
        z, prev = naming.Z(l), naming.A(l - 1)
        if self.context == "train":
            lines = [f"{z} = np.matmul({prev}, {w}, out={self.out(z)})"]
        else:
            lines = [f"{z} = {prev} @ {w}"]
        if self.d.layers[l - 1].bias != "none":
            lines.append(f"{z} += {naming.b(l)}")
        return lines

    def _activate(self, step: Step) -> list[str]:
        l, L = step.layer, self.net.depth
        z, A = naming.Z(l), naming.A(l)
        keep = l in self.mem.keep_z
        train = self.context == "train"
        if l == L and self.context == "loss" and self.d.loss_term_reads == "x":
            return []  # the loss reads z^L only
        if self.d.layers[l - 1].expr is None:
            if softmax_log(self.d, l):
                lines = [f"{log_a(l)} = log_softmax({z}, out={z})"]
                if not (l == L and self.context == "loss" and self.d.loss_term_reads == "log_a"):
                    into = f", out={self.out(A)}" if train else ""
                    lines.append(f"{A} = np.exp({log_a(l)}{into})")
                return lines
            return [f"{A} = softmax({z}, out={z})"]
        if _is_identity(self.d, l):
            return [f"{A} = {z}"]
        if train and forward_pair(self.d, l):  # z's buffer then holds σ(−z), what g′ reads
            return [f"{A} = sigmoid_pair({z}, out={self.out(A)})  # {z} now holds sigmoid(-{z})"]
        helper = _helper_for(self.d, l)
        m = self.d.layers[l - 1]
        args = z + (f", {m.alpha!r}" if m.alpha is not None else "")
        if helper.takes_out and not keep:
            return [f"{A} = {helper.name}({args}, out={z})"]
        if helper.takes_out and train:
            return [f"{A} = {helper.name}({args}, out={self.out(A)})"]
        return [f"{A} = {helper.name}({args})"]

    # ----------------------------------------------------------------- loss

    def _loss(self, step: Step) -> list[str]:
        """J = r·Σ ℓ: a sum of terms, each a dot product where it is one (Σuv = u·v).

        Terms share one statement until a term needs the temporary ``r`` while an earlier term
        of the statement holds it; then the statement is closed into J and a new one starts.
        """
        L = self.net.depth
        lines: list[str] = []
        statements: list[list[tuple[str, str, list[str]]]] = [[]]
        holds_r = False
        formula = stable(self.d, L, step.formula) if self.d.loss_term_reads == "a" else step.formula
        for term in sp.Add.make_args(formula):
            coeff, code, setup = self._sum_of(term)
            if setup and holds_r:
                statements.append([])
                holds_r = False
            holds_r |= bool(setup)
            negative = coeff.could_extract_minus_sign()
            coeff = -coeff if negative else coeff
            part = code if coeff == 1 else f"{numpy_code(coeff)} * {code}"
            statements[-1].append(("-" if negative else "+", part, setup))
        for k, parts in enumerate(statements):
            lines += [line for _, _, setup in parts for line in setup]
            total = ("-" if parts[0][0] == "-" else "") + parts[0][1]
            total += "".join(f" {sign} {code}" for sign, code, _ in parts[1:])
            if k > 0:
                total = f"J + {total}" if parts[0][0] == "+" else f"J {total}"
            if k == len(statements) - 1 and self.d.batch_factor != 1:
                total = (f"({total})" if len(parts) > 1 or k > 0 else total) + " / B"
            lines.append(f"J = {total}")
        if self.d.reg_coeff != 0:
            squares = " + ".join(f"np.vdot({naming.W(l)}, {naming.W(l)})" for l in range(1, L + 1))
            lines.append(f"J = J + {numpy_code(self.d.reg_coeff, {B: 'B'})} * ({squares})")
        return lines

    def _sum_of(self, term: sp.Expr) -> tuple[sp.Expr, str, list[str]]:
        """(c, code, setup) with Σ term = c · code over every row and output: u·u for c·u²
        (``setup`` computes u into ``r``), u·v for c·u·v, the element count for c, else np.sum."""
        names = self.names(self.net.depth)
        coeff, rest = term.as_independent(a, x, y, LOG_A, as_Add=False)
        factors = sp.Mul.make_args(rest)
        if rest == 1:
            return coeff, "Y.size", []
        if isinstance(rest, sp.Pow) and rest.exp == 2:
            u = -rest.base if rest.base.could_extract_minus_sign() else rest.base
            return coeff, "np.vdot(r, r)", [f"r = {numpy_code(u, names)}"]
        if len(factors) == 2:
            return coeff, f"np.vdot({numpy_code(factors[0], names)}, {numpy_code(factors[1], names)})", []
        return coeff, f"np.sum({numpy_code(rest, names)})", []

    # ----------------------------------------------------------------- backward

    def _delta_out(self, step: Step) -> list[str]:
        l = step.layer
        names = self.names(l)
        lines = []
        if step.rowsum is not None:
            rowsum = numpy_code(stable(self.d, l, step.rowsum), names)
            lines.append(f"s = np.sum({rowsum}, axis=1, keepdims=True)")
        if self.d.output.sums_to_zero:  # before δ overwrites a: the entry it replaces per row
            lines.append(f"rows, top = np.arange(B), {log_a(l)}.argmax(axis=1)")
        target = _delta_out_target(self.d)
        formula = stable(self.d, l, self.d.output.expr) * self.d.batch_factor
        if target is not None:  # (a/2 - y/2)/B is written (a - y)/(2*B): one pass fewer
            expr = sp.factor_terms(formula).xreplace({s: self.sym(l, s) for s in names})
            lines += inplace_statements(expr, self.sym(l, target), step.target)
        else:
            lines.append(f"{step.target} = {numpy_code(formula, names)}")
        return lines + self._zero_sum(step.target)

    def _zero_sum(self, delta: str) -> list[str]:
        """δ of each row's largest output as minus the sum of the others (``sums_to_zero``)."""
        if not self.d.output.sums_to_zero:
            return []
        return [f"{delta}[rows, top] = 0.0",
                f"{delta}[rows, top] = -({delta} @ np.ones({delta}.shape[1], {delta}.dtype))"]

    def _grad_W(self, step: Step) -> list[str]:
        l = step.layer
        delta, prev = naming.delta(l), naming.A(l - 1)
        if self.net.weight_layout == "out_in":
            product = f"{delta}.T, {prev}"
        else:
            product = f"{prev}.T, {delta}"
        lines = [f"{step.target} = np.matmul({product}, out={self.out(step.target)})"]
        if self.d.reg_coeff != 0:
            reg = numpy_code(self.d.reg_grad_coeff * sp.Symbol(naming.W(l)), {B: "B"})
            lines.append(f"{step.target} += {reg}")
        return lines

    def _grad_b(self, step: Step) -> list[str]:
        """Column sums of δ as a product with a row of ones (BLAS reads δ once, ~2x np.sum)."""
        l = step.layer
        if self.d.layers[l - 1].bias == "shared":
            return [f"{step.target} = np.sum({naming.delta(l)}, out={self.out(step.target)})"]
        return [f'{step.target} = np.matmul(ws["ones"], {naming.delta(l)}, out={self.out(step.target)})']

    def _delta_hidden(self, step: Step) -> list[str]:
        l = step.layer
        w = naming.W(l + 1) + ("" if self.net.weight_layout == "out_in" else ".T")
        delta = step.target
        product = f"{delta} = np.matmul({naming.delta(l + 1)}, {w}, out={self.out(delta)})"
        kind = hidden_kind(self.d, l)
        if kind == "one":
            return [product]
        if kind == "mask":
            h = mask(l)
            gprime = shared.read_shared(step.formula, {sp.Heaviside(a, 0): h})
            return [f"{h} = np.greater({naming.A(l)}, 0, out={self.out(h)})", product,
                    f"{delta} *= {numpy_code(gprime)}"]
        return [product] + self._times_gprime(step, l)

    def _times_gprime(self, step: Step, l: int) -> list[str]:
        """δ *= g' factor by factor; the last factor is computed in the dead a^l (or z^l)."""
        form = self.d.layers[l - 1].derivative
        var = self.sym(l, a if form.variable == "a" else x)
        z = self.sym(l, x)
        names = self.names(l)
        # the printed (overflow-free) form is kept whole: e^{-z}·(1 + e^{-z})^{-2} is finite as one
        # fraction, not factor by factor; sinh(z)/cosh(z) only as tanh(z)
        plain = stable(self.d, l, step.formula).xreplace({s: self.sym(l, s) for s in names})
        if forward_pair(self.d, l):  # σ(−z) is what the forward pass left in z's buffer
            plain = shared.read_shared(plain, {saturation.logistic(-z): z})
        expr = stable_form(plain)
        coeff, rest = expr.as_independent(var, z, as_Add=False)
        factors = [rest] if expr != plain else \
            sorted(sp.Mul.make_args(rest), key=lambda f: (f != var, occurrences(f, var) == 1))
        lines = []
        if coeff != 1:
            lines.append(f"{step.target} *= {numpy_code(coeff)}")
        for i, factor in enumerate(factors):
            last = i == len(factors) - 1
            chain = inplace_code(factor, var, str(var)) if last else None
            if isinstance(factor, saturation.logistic) and occurrences(expr, z) == 1:
                chain = _logistic_into(factor, z)  # z is dead once δ is formed
            lines.append(f"{step.target} *= {chain or numpy_code(factor)}")
        return lines


STEP_PRINTERS = {"affine": _Printer._affine, "activate": _Printer._activate, "loss": _Printer._loss,
                 "delta_out": _Printer._delta_out, "delta_hidden": _Printer._delta_hidden,
                 "grad_W": _Printer._grad_W, "grad_b": _Printer._grad_b}


def _logistic_into(factor: sp.Expr, z: sp.Symbol) -> str | None:
    """σ(k·z) computed in z's own memory, or None if its argument is not k·z."""
    k = factor.args[0].coeff(z)
    if factor.args[0] != k * z:
        return None
    scaled = f"np.negative({z}, out={z})" if k == -1 else f"np.multiply({z}, {numpy_code(k)}, out={z})"
    return f"sigmoid({z if k == 1 else scaled}, out={z})"


def kernel_lines(plan: Plan, steps: tuple[Step, ...], context: str,
                 memory: Memory | None = None) -> list[tuple[str, list[str]]]:
    """(comment, statements) for each step; steps with no statement in this context are left out."""
    printer = _Printer(plan, context, memory)
    out = []
    for step in steps:
        lines = printer.lines(step)
        if lines:
            out.append((step.math, lines))
    return out


def workspace_entries(plan: Plan, memory: Memory | None = None) -> list[tuple[str, str]]:
    """(buffer name, NumPy constructor) for the module's ``workspace`` function."""
    mem = memory or memory_plan(plan)
    make = {"dtype": "np.empty({}, dtype)", "bool": "np.empty({}, bool)", "ones": "np.ones({}, dtype)"}
    return [(name, make[kind].format(shape)) for name, (shape, kind) in mem.buffers.items()]
