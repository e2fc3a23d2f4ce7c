"""The matrix level as document data: LaTeX rows for any width, from ``MatrixDerivation``/``Plan``.

The notation is seed 000's and seed 004's: a⁰ = x; z^l = W^l a^{l−1} + b^l; a^l = g_l(z^l);
δ^l = ∂J/∂z^l. Each formula that depends on the network (ℓ, g', δ^L, the regulariser's
gradient) is the one sympy derived; the document only arranges it:

    δ^L_k = ∂ℓ/∂a^L_k · g'(z^L_k) = (derived) · (derived) = (simplified)          (output error)
    δ^l_i = Σ_j δ^{l+1}_j w^{l+1}_{ji} g'(z^l_i),  δ^l = (W^{l+1})ᵀ δ^{l+1} ⊙ g'(z^l)  (recurrence)
    ∂J/∂W^l = Σ_n δ^l_n (a^{l−1}_n)ᵀ + 2c W^l,  ∂J/∂b^l = Σ_n δ^l_n               (gradients)

and the numbered algorithm pairs every step with the NumPy statement the kernel runs, in the
kernel's names (δ² ↔ ``delta2``, ∂J/∂W² ↔ ``dW2``).
"""

from __future__ import annotations

import sympy as sp

from ..backprop.matrix import B
from ..backprop.plan import Plan, Step, numpy_lines
from ..core import activations as act
from ..core import losses, naming
from ..core.sym import as_expr
from ..core.texprint import partial, tex
from .neuron_section import Row, equation
from .notation import SYMBP, DocNotation

a, y, x, s = losses.a, losses.y, losses.x, losses.S
AI, AK = sp.Symbol("a_i", real=True), sp.Symbol("a_k", real=True)
YI, YK = sp.Symbol("y_i", real=True), sp.Symbol("y_k", real=True)


def unit_names(l: int | str, k: str = "k", n: DocNotation = SYMBP) -> dict[sp.Symbol, str]:
    """Elementwise formulas at one unit: a → a^{l}_{k}, x → z^{l}_{k}, y → y_{k}."""
    return {a: f"{n.a(l)}_{{{k}}}", x: f"{n.z(l)}_{{{k}}}", y: f"y_{{{k}}}",
            losses.LOG_A: rf"\log {n.a(l)}_{{{k}}}", B: "B"}


def vector_names(l: int | str, n: DocNotation = SYMBP) -> dict[sp.Symbol, str]:
    """The same formulas for whole layers: a → a^{l}, x → z^{l}, y → y (elementwise ⊙)."""
    return {a: n.a(l), x: n.z(l), y: "y", losses.LOG_A: rf"\log {n.a(l)}", s: "s", B: "B"}


VECTORS = frozenset({a, x, y, losses.LOG_A, s})
ELL = r"\ell"


def vec(expr: sp.Expr, l: int | str, n: DocNotation = SYMBP) -> str:
    return tex(expr, vector_names(l, n), vectors=VECTORS)


def unit(expr: sp.Expr, l: int | str, k: str = "k", n: DocNotation = SYMBP) -> str:
    return tex(expr, unit_names(l, k, n))


def _paren(text: str, expr: sp.Expr) -> str:
    return rf"\left({text}\right)" if isinstance(expr, sp.Add) else text


def _factor(text: str, expr: sp.Expr) -> str:
    """A factor in a written-out product: in parentheses if it is a sum or negative."""
    return rf"\left({text}\right)" if isinstance(expr, sp.Add) or expr.could_extract_minus_sign() \
        else text


def tidy(expr: sp.Expr) -> sp.Expr:
    """The shortest of: as derived, each sum factored, over a common denominator.

    (a/2 − y/2)/B → (a − y)/(2B); a(1 − a)(a − y) stays as it is.
    """
    def factored(e: sp.Expr) -> sp.Expr:
        if not isinstance(e, sp.Add):
            return e
        f = sp.factor(e)
        if f.could_extract_minus_sign():  # -(y - a)/2 → (a - y)/2
            inner = [t for t in sp.Mul.make_args(-f) if isinstance(t, sp.Add)]
            if inner:
                f = (-f).xreplace({inner[0]: -inner[0]})
        return f

    expr = as_expr(expr)
    candidates = [expr, sp.Mul(*[factored(f) for f in sp.Mul.make_args(expr)]), sp.together(expr)]
    return min(candidates, key=sp.count_ops)


def summed(term: sp.Expr, names: dict[sp.Symbol, str], index: str = "k") -> str:
    """Σ_k term, with a leading minus taken out of the sum (−Σ_k y_k log a_k)."""
    if term.could_extract_minus_sign():
        return rf"- \sum_{{{index}}} {_paren(tex(-term, names), -term)}"
    return rf"\sum_{{{index}}} {_paren(tex(term, names), term)}"


class MatrixTex:
    """LaTeX for the matrix-level sections of one derivation, in one notation (symbp.docs.notation)."""

    def __init__(self, plan: Plan, notation: DocNotation = SYMBP):
        self.plan, self.d = plan, plan.derivation
        self.net = self.d.network
        self.L = self.net.depth
        self.n = notation

    def affine(self, l: int | str) -> str:
        """W^l a^{l-1}, or a^{l-1} W^l when a sample is a row."""
        n, below = self.n, (l - 1 if isinstance(l, int) else f"{l}-1")
        return f"{n.a(below)} {n.W(l)}" if n.rows else f"{n.W(l)} {n.a(below)}"

    def act_tex(self, l: int) -> str:
        return self.net.activation(l).latex

    # -- forward and loss --------------------------------------------------------------------
    def bias_term(self, l: int) -> str:
        bias = self.net.layers[l - 1].bias
        b = self.n.b(l)
        return {"neuron": f" + {b}", "shared": rf" + {b} \mathbf{{1}}", "none": ""}[bias]

    def forward(self) -> list[Row]:
        n = self.n
        rows: list[Row] = [(n.a(0), "= x")]
        for l in range(1, self.L + 1):
            rows.append((n.z(l), f"= {self.affine(l)}{self.bias_term(l)}"))
            rows.append((n.a(l), rf"= {self.act_tex(l)}\left({n.z(l)}\right)"))
        return rows

    def loss_term(self) -> sp.Expr:
        return self.d.loss.term.subs(losses.N_OUT, self.net.layers[-1].size)

    def sample_loss(self) -> Row:
        """ℓ = Σ_k ℓ(a^L_k, y_k) for one sample."""
        return ELL, "= " + summed(self.loss_term(), unit_names("L", n=self.n))

    def total_loss(self, sample: str = r"\ell_n") -> list[Row]:
        """J = r Σ_n ℓ_n + c Σ_l ΣW²; ``sample`` is what stands for ℓ_n."""
        r, c, n = self.d.batch_factor, self.d.reg_coeff, self.n
        rhs = (rf"{tex(r) + ' ' if r != 1 else ''}\sum_{{n=1}}^{{B}} {sample}")
        if c != 0:
            first, last = n.layer(1, weight=True), n.layer(self.L, weight=True)
            rhs += (rf" + {tex(c)} \sum_{{l={first}}}^{{{last}}} \sum_{{i,j}} "
                    rf"\left({n.w('l', 'i', 'j')}\right)^{{2}}")
        return [(n.loss, "= " + rhs)]

    # -- derivatives of the activations --------------------------------------------------------
    def activation_rows(self) -> list[dict]:
        """g, g' as sympy differentiates it, and g' in the output a where that is exact."""
        out, seen = [], set()
        for m in self.d.layers:
            if m.activation in seen:
                continue
            seen.add(m.activation)
            entry = self.net.activation(m.index)
            if m.expr is None:
                diag, off = act.softmax_jacobian()
                names = {AI: "a_{i}", AK: "a_{k}"}
                rows = [("a_{k}", r"= \frac{e^{z_{k}}}{\sum_{j} e^{z_{j}}}"),
                        (partial("a_{k}", "z_{i}"),
                         rf"= \begin{{cases}} {tex(diag, names)} & k = i \\ {tex(off, names)} "
                         r"& k \neq i \end{cases}")]
                out.append({"name": m.activation, "rows": rows})
                continue
            g = m.expr
            # tanh(x) needs no definition line; swish(x) = x/(1 + e^{-x}) does.
            rows = [] if isinstance(g, sp.Function) else [(rf"{entry.latex}(x)", f"= {tex(g)}")]
            raw = sp.diff(g, act.x)
            chain = [tex(raw)]
            if m.derivative.variable == "a" and m.derivative.expr != raw:
                chain.append(tex(m.derivative.expr) + rf" \quad \text{{with }} a = {entry.latex}(x)")
            rows += equation(rf"{entry.latex}'(x)", chain)
            out.append({"name": m.activation, "rows": rows})
        return out

    # -- the output error ----------------------------------------------------------------------
    def delta_out(self) -> list[Row]:
        """δ^L, step by step: the chain rule at one output unit, the factors, the product."""
        out, L, n = self.d.output, "L", self.n
        if out.activation_derivative is None:
            return softmax_delta_rows(self.d.loss, self.net.layers[-1].size, n)
        a_k, z_k = n.a(L) + "_{k}", n.z(L) + "_{k}"
        lhs = rf"{n.delta(L)}_{{k}} = {partial(ELL, z_k)}"
        u, gp = out.dJ_da, out.activation_derivative
        product = unit(u, L, n=n) if gp == 1 else \
            _factor(unit(u, L, n=n), u) + " " + _paren(unit(gp, L, n=n), gp)
        return equation(lhs, [partial(ELL, a_k) + " " + partial(a_k, z_k), product,
                              unit(tidy(out.expr), L, n=n)])

    def delta_out_vector(self) -> list[Row]:
        """δ^L for a whole layer (one sample): ∂ℓ/∂a^L ⊙ g'(z^L) for an elementwise g."""
        out, n = self.d.output, self.n
        rhs = [vec(tidy(out.expr), "L", n) + self.rowsum("L")]
        if out.activation_derivative is not None:
            rhs.insert(0, partial(r"\ell", n.a("L")) + rf" \odot g_L'\left({n.z('L')}\right)")
        return equation(n.delta("L"), rhs)

    def delta_out_final(self) -> list[Row]:
        """δ^L = its simplified form on one row, left side included (for Jupyter's summary)."""
        return [(self.n.delta("L"), "= " + vec(tidy(self.d.output.expr), "L", self.n) + self.rowsum("L"))]

    def rowsum(self, l: int | str) -> str:
        out = self.d.output
        if out.rowsum is None:
            return ""
        return rf", \quad s = \sum_{{k}} {unit(out.rowsum, l, n=self.n)}"

    # -- recurrence and gradients -------------------------------------------------------------
    def recurrence_general(self) -> list[Row]:
        n, J = self.n, self.n.loss
        z_i, a_i, z_up = n.z("l") + "_{i}", n.a("l") + "_{i}", n.z("l+1") + "_{j}"
        return equation(f"{n.delta('l')}_{{i}} = " + partial(J, z_i), [
            r"\sum_{j=1}^{S_{l+1}} " + partial(J, z_up) + " " + partial(z_up, a_i) + " " + partial(a_i, z_i),
            rf"\sum_{{j=1}}^{{S_{{l+1}}}} {n.delta('l+1')}_{{j}} {n.w('l+1', 'j', 'i')} \, "
            rf"g_l'\left({z_i}\right)"]) + [
            (n.delta("l"), rf"= {self.back_product('l+1')} \odot g_l'\left({n.z('l')}\right)")]

    def back_product(self, up: int | str) -> str:
        """(W^{l+1})ᵀ δ^{l+1}, or δ^{l+1} (W^{l+1})ᵀ when a sample is a row."""
        n = self.n
        w_t = n.transpose(n.W(up))
        return f"{n.delta(up)} {w_t}" if n.rows else f"{w_t} {n.delta(up)}"

    def gprime(self, l: int) -> sp.Expr:
        return self.d.layers[l - 1].derivative.expr

    def back(self, l: int, g: sp.Expr) -> str:
        """(W^{l+1})ᵀ δ^{l+1} ⊙ g_l'(z^l), the ⊙ dropped when g' = 1."""
        back = self.back_product(l + 1)
        return back if g == 1 else rf"{back} \odot {_paren(vec(g, l, self.n), g)}"

    def recurrence(self) -> list[Row]:
        """δ^l for each hidden layer of this network, with g_l' as derived."""
        rows = []
        for l in range(self.L - 1, 0, -1):
            rows.append((self.n.delta(l), "= " + self.back(l, self.gprime(l))))
        return rows

    def gradients_general(self) -> list[Row]:
        n, J = self.n, self.n.loss
        w, z_i, d_i = n.w("l", "i", "j"), n.z("l") + "_{i}", n.delta("l") + "_{i}"
        return [
            (partial(J, w), "= " + partial(J, z_i) + " " + partial(z_i, w) + f" = {d_i} {n.a('l-1')}_{{j}}"),
            (partial(J, n.b("l") + "_{i}"), "= " + partial(J, z_i) + f" = {d_i}"),
        ]

    def reg_term(self, l: int) -> str:
        c2 = self.d.reg_grad_coeff
        if self.d.reg_coeff == 0:
            return ""
        return f" + {tex(c2)} {self.n.W(l)}" if c2 != 1 else f" + {self.n.W(l)}"

    def outer(self, l: int, sample: str) -> str:
        """δ^l (a^{l-1})ᵀ of one sample, or (a^{l-1})ᵀ δ^l when a sample is a row."""
        n = self.n
        d, a_t = f"{n.delta(l)}_{{{sample}}}", n.transpose(f"{n.a(l - 1)}_{{{sample}}}")
        return f"{a_t} {d}" if n.rows else f"{d} {a_t}"

    def gradients(self) -> list[Row]:
        rows, n = [], self.n
        for l in range(self.L, 0, -1):
            rows.append((n.grad(n.W(l)), rf"= \sum_{{n=1}}^{{B}} {self.outer(l, 'n')}" + self.reg_term(l)))
            layer = self.net.layers[l - 1]
            if layer.trains_bias:
                total = (rf"\sum_{{n=1}}^{{B}} \sum_{{i}} {n.delta(l)}_{{n,i}}"
                         if layer.bias == "shared" else rf"\sum_{{n=1}}^{{B}} {n.delta(l)}_{{n}}")
                rows.append((n.grad(n.b(l)), "= " + total))
        return rows

    def batch_rows(self) -> list[Row]:
        """r and c, and the regulariser's gradient 2c·W as sympy derived it."""
        rows = [("r", "= " + tex(self.d.batch_factor))]
        if self.d.reg_coeff != 0:
            w = sp.Symbol("w", real=True)
            c = sp.Symbol("c", positive=True)
            rows += [("c", "= " + tex(self.d.reg_coeff)),
                     (partial(r"\left(c w^{2}\right)", "w"), "= " + tex(sp.diff(c * w**2, w))
                      + " = " + tex(self.d.reg_grad_coeff * w))]
        return rows

    # -- the algorithm -------------------------------------------------------------------------
    def step_math(self, step: Step) -> str:
        """The step as a formula in the document's notation (``STEP_MATH``)."""
        return STEP_MATH[step.kind](self, step)

    def affine_math(self, step: Step) -> str:
        l = step.layer
        return f"{self.n.z(l)} = {self.affine(l)}{self.bias_term(l)}"

    def activate_math(self, step: Step) -> str:
        l = step.layer
        return rf"{self.n.a(l)} = {self.act_tex(l)}\left({self.n.z(l)}\right)"

    def loss_math(self, step: Step) -> str:
        sample = summed(self.loss_term(), unit_names(self.L, n=self.n))
        if self.d.batch_factor != 1 or sample.startswith("-"):
            sample = rf"\left({sample}\right)"
        return f"{self.n.loss} " + self.total_loss(sample)[0][1]

    def delta_out_math(self, step: Step) -> str:
        L, n = self.L, self.n
        return rf"{n.delta(L)} = {vec(tidy(step.formula), L, n)}{self.rowsum(L)}"

    def grad_w_math(self, step: Step) -> str:
        l, n = step.layer, self.n
        return rf"{n.grad(n.W(l))} = \sum_{{n}} {self.outer(l, 'n')}{self.reg_term(l)}"

    def grad_b_math(self, step: Step) -> str:
        l, n = step.layer, self.n
        inner = r"\sum_{i} " if self.net.layers[l - 1].bias == "shared" else ""
        return rf"{n.grad(n.b(l))} = \sum_{{n}} {inner}{n.delta(l)}_{{n}}"

    def delta_hidden_math(self, step: Step) -> str:
        return f"{self.n.delta(step.layer)} = {self.back(step.layer, step.formula)}"

    def algorithm(self) -> list[dict]:
        steps = list(self.plan.forward) + list(self.plan.loss) + list(self.plan.backward)
        code = numpy_lines(tuple(steps), self.d)
        return [{"math": self.step_math(step), "code": lines}
                for step, (_, lines) in zip(steps, code)]

    def symbols(self) -> list[tuple[str, str, str]]:
        """(math, code names, shape) for every array of the algorithm."""
        layers, n = range(1, self.L + 1), self.n

        def names(make) -> str:
            return ", ".join(make(l) for l in layers)

        w_shape = r"(S_{l}, S_{l-1})" if self.net.weight_layout == "out_in" else r"(S_{l-1}, S_{l})"
        return [
            (f"{n.a(0)} = x", naming.A(0), r"(B, S_{0})"),
            (n.W("l"), names(naming.W), w_shape),
            (n.b("l"), names(naming.b), r"(S_{l}) \text{ or a scalar if shared}"),
            (n.z("l"), names(naming.Z), r"(B, S_{l})"),
            (n.a("l"), names(naming.A), r"(B, S_{l})"),
            (rf"{n.delta('l')} = \partial {n.loss} / \partial {n.z('l')}", names(naming.delta),
             r"(B, S_{l})"),
            (n.grad_inline(n.W("l")), names(naming.dW), w_shape),
            (n.grad_inline(n.b("l")), names(naming.db), r"(S_{l}) \text{ or a scalar if shared}"),
            ("y", "Y", r"(B, S_{L})"),
            (n.loss, "J", r"\text{a scalar}"),
        ]


STEP_MATH = {"affine": MatrixTex.affine_math, "activate": MatrixTex.activate_math,
             "loss": MatrixTex.loss_math, "delta_out": MatrixTex.delta_out_math,
             "delta_hidden": MatrixTex.delta_hidden_math, "grad_W": MatrixTex.grad_w_math,
             "grad_b": MatrixTex.grad_b_math}


def softmax_delta_rows(loss: losses.Loss, n_out: int, n: DocNotation = SYMBP) -> list[Row]:
    """δ^L for a softmax output, through its Jacobian, as seed 000 derives it by hand:

    δ_i = Σ_k ∂ℓ/∂a_k ∂a_k/∂z_i = a_i (u_i − Σ_k u_k a_k) with u = ∂ℓ/∂a,
    which for cross-entropy (u_k a_k = −y_k) and Σ_k y_k = 1 is a_i − y_i.
    """
    out = losses.output_delta(loss, None, n_out)
    diag, off = act.softmax_jacobian()
    u = out.dJ_da
    a_i, a_k, z_i = n.a("L") + "_{i}", n.a("L") + "_{k}", n.z("L") + "_{i}"
    names = {AI: a_i, AK: a_k, YI: "y_{i}", YK: "y_{k}"}
    ui, uk = u.subs({a: AI, y: YI}), u.subs({a: AK, y: YK})
    h = sp.cancel(u * a)
    hk = h.subs({a: AK, y: YK})
    sum_h = (rf"+ {a_i} \sum_{{k}} {_paren(tex(-hk, names), -hk)}"
             if hk.could_extract_minus_sign()
             else rf"- {a_i} \sum_{{k}} {_paren(tex(hk, names), hk)}")
    rhs = [
        r"\sum_{k} " + partial(r"\ell", a_k) + " " + partial(a_k, z_i),
        rf"{_factor(tex(ui, names), ui)} {_paren(tex(diag, names), diag)} + \sum_{{k \neq i}} "
        rf"{_factor(tex(uk, names), uk)} \left({tex(off, names)}\right)",
        rf"{tex(sp.expand(ui * diag), names)} + \sum_{{k \neq i}} {tex(sp.expand(uk * off), names)}",
        rf"{tex(sp.expand(ui * AI), names)} {sum_h}",
    ]
    final = tex(out.expr.subs({a: AI, y: YI}), names)
    if out.rowsum is None:
        rhs.append(final + r" \quad \text{since } \sum_{k} y_{k} = 1")
    else:
        rowsum = tex(out.rowsum.subs({a: AK, y: YK}), names)
        rhs.append(rf"{final}, \quad s = \sum_{{k}} {rowsum}")
    return equation(f"{n.delta('L')}_{{i}} = " + partial(r"\ell", z_i), rhs)


def softmax_ce_rows(n_out: int = 3, n: DocNotation = SYMBP) -> dict:
    """The softmax + cross-entropy case on its own, for documents of other networks."""
    loss = losses.REGISTRY["softmax_ce"]
    return {"loss": rf"\ell = -\sum_{{k}} y_{{k}} \log {n.a('L')}_{{k}}",
            "rows": softmax_delta_rows(loss, n_out, n)}
