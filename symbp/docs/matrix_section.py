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

a, y, x, s = losses.a, losses.y, losses.x, losses.S
AI, AK = sp.Symbol("a_i", real=True), sp.Symbol("a_k", real=True)
YI, YK = sp.Symbol("y_i", real=True), sp.Symbol("y_k", real=True)


def sup(symbol: str, l: int | str) -> str:
    return f"{symbol}^{{{l}}}"


def unit_names(l: int | str, k: str = "k") -> dict[sp.Symbol, str]:
    """Elementwise formulas at one unit: a → a^{l}_{k}, x → z^{l}_{k}, y → y_{k}."""
    return {a: f"a^{{{l}}}_{{{k}}}", x: f"z^{{{l}}}_{{{k}}}", y: f"y_{{{k}}}",
            losses.LOG_A: rf"\log a^{{{l}}}_{{{k}}}", B: "B"}


def vector_names(l: int | str) -> dict[sp.Symbol, str]:
    """The same formulas for whole layers: a → a^{l}, x → z^{l}, y → y (elementwise ⊙)."""
    return {a: sup("a", l), x: sup("z", l), y: "y", losses.LOG_A: rf"\log a^{{{l}}}", s: "s",
            B: "B"}


VECTORS = frozenset({a, x, y, losses.LOG_A, s})
ELL, DELTA = r"\ell", r"\delta"


def vec(expr: sp.Expr, l: int | str) -> str:
    return tex(expr, vector_names(l), vectors=VECTORS)


def unit(expr: sp.Expr, l: int | str, k: str = "k") -> str:
    return tex(expr, unit_names(l, k))


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
    """LaTeX for the matrix-level sections of one derivation."""

    def __init__(self, plan: Plan):
        self.plan, self.d = plan, plan.derivation
        self.net = self.d.network
        self.L = self.net.depth

    def act_tex(self, l: int) -> str:
        return self.net.activation(l).latex

    # -- forward and loss --------------------------------------------------------------------
    def bias_term(self, l: int) -> str:
        bias = self.net.layers[l - 1].bias
        return {"neuron": f" + {sup('b', l)}", "shared": rf" + {sup('b', l)} \mathbf{{1}}",
                "none": ""}[bias]

    def forward(self) -> list[Row]:
        rows: list[Row] = [(sup("a", 0), "= x")]
        for l in range(1, self.L + 1):
            rows.append((sup("z", l), f"= {sup('W', l)} {sup('a', l - 1)}{self.bias_term(l)}"))
            rows.append((sup("a", l), rf"= {self.act_tex(l)}\left({sup('z', l)}\right)"))
        return rows

    def loss_term(self) -> sp.Expr:
        return self.d.loss.term.subs(losses.N_OUT, self.net.layers[-1].size)

    def sample_loss(self) -> Row:
        """ℓ = Σ_k ℓ(a^L_k, y_k) for one sample."""
        return ELL, "= " + summed(self.loss_term(), unit_names("L"))

    def total_loss(self, sample: str = r"\ell_n") -> list[Row]:
        """J = r Σ_n ℓ_n + c Σ_l ΣW²; ``sample`` is what stands for ℓ_n."""
        r, c = self.d.batch_factor, self.d.reg_coeff
        rhs = (rf"{tex(r) + ' ' if r != 1 else ''}\sum_{{n=1}}^{{B}} {sample}")
        if c != 0:
            rhs += rf" + {tex(c)} \sum_{{l=1}}^{{{self.L}}} \sum_{{i,j}} \left(w^{{l}}_{{ij}}\right)^{{2}}"
        return [("J", "= " + rhs)]

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
        out, L = self.d.output, "L"
        if out.activation_derivative is None:
            return softmax_delta_rows(self.d.loss, self.net.layers[-1].size)
        lhs = rf"\delta^{{L}}_{{k}} = {partial(ELL, 'z^{L}_{k}')}"
        u, gp = out.dJ_da, out.activation_derivative
        product = unit(u, L) if gp == 1 else _factor(unit(u, L), u) + " " + _paren(unit(gp, L), gp)
        return equation(lhs, [
            partial(ELL, "a^{L}_{k}") + " " + partial("a^{L}_{k}", "z^{L}_{k}"),
            product, unit(tidy(out.expr), L)])

    def delta_out_vector(self) -> list[Row]:
        """δ^L for a whole layer (one sample): ∂ℓ/∂a^L ⊙ g'(z^L) for an elementwise g."""
        out = self.d.output
        rhs = [vec(tidy(out.expr), "L") + self.rowsum("L")]
        if out.activation_derivative is not None:
            rhs.insert(0, partial(r"\ell", "a^{L}") + r" \odot g_L'\left(z^{L}\right)")
        return equation(r"\delta^{L}", rhs)

    def delta_out_final(self) -> list[Row]:
        """δ^L = its simplified form on one row, left side included (for Jupyter's summary)."""
        return [(r"\delta^{L}", "= " + vec(tidy(self.d.output.expr), "L") + self.rowsum("L"))]

    def rowsum(self, l: int | str) -> str:
        out = self.d.output
        if out.rowsum is None:
            return ""
        return rf", \quad s = \sum_{{k}} {unit(out.rowsum, l)}"

    # -- recurrence and gradients -------------------------------------------------------------
    def recurrence_general(self) -> list[Row]:
        return equation(r"\delta^{l}_{i} = " + partial("J", "z^{l}_{i}"), [
            r"\sum_{j=1}^{S_{l+1}} " + partial("J", "z^{l+1}_{j}") + " "
            + partial("z^{l+1}_{j}", "a^{l}_{i}") + " " + partial("a^{l}_{i}", "z^{l}_{i}"),
            r"\sum_{j=1}^{S_{l+1}} \delta^{l+1}_{j} w^{l+1}_{ji} \, g_l'\left(z^{l}_{i}\right)"]) + [
            (r"\delta^{l}", r"= \left(W^{l+1}\right)^{T} \delta^{l+1} \odot g_l'\left(z^{l}\right)")]

    def gprime(self, l: int) -> sp.Expr:
        return self.d.layers[l - 1].derivative.expr

    def back(self, l: int, g: sp.Expr) -> str:
        """(W^{l+1})ᵀ δ^{l+1} ⊙ g_l'(z^l), the ⊙ dropped when g' = 1."""
        back = rf"\left({sup('W', l + 1)}\right)^{{T}} {sup(DELTA, l + 1)}"
        return back if g == 1 else rf"{back} \odot {_paren(vec(g, l), g)}"

    def recurrence(self) -> list[Row]:
        """δ^l for each hidden layer of this network, with g_l' as derived."""
        rows = []
        for l in range(self.L - 1, 0, -1):
            rows.append((sup(DELTA, l), "= " + self.back(l, self.gprime(l))))
        return rows

    def gradients_general(self) -> list[Row]:
        return [
            (partial("J", "w^{l}_{ij}"), "= " + partial("J", "z^{l}_{i}") + " "
             + partial("z^{l}_{i}", "w^{l}_{ij}") + r" = \delta^{l}_{i} a^{l-1}_{j}"),
            (partial("J", "b^{l}_{i}"), "= " + partial("J", "z^{l}_{i}") + r" = \delta^{l}_{i}"),
        ]

    def reg_term(self, l: int) -> str:
        c2 = self.d.reg_grad_coeff
        if self.d.reg_coeff == 0:
            return ""
        return f" + {tex(c2)} {sup('W', l)}" if c2 != 1 else f" + {sup('W', l)}"

    def gradients(self) -> list[Row]:
        rows = []
        for l in range(self.L, 0, -1):
            rows.append((partial("J", sup("W", l)),
                         rf"= \sum_{{n=1}}^{{B}} \delta^{{{l}}}_{{n}} \left(a^{{{l - 1}}}_{{n}}\right)^{{T}}"
                         + self.reg_term(l)))
            layer = self.net.layers[l - 1]
            if layer.trains_bias:
                total = (r"\sum_{n=1}^{B} \sum_{i} " + rf"\delta^{{{l}}}_{{n,i}}"
                         if layer.bias == "shared" else rf"\sum_{{n=1}}^{{B}} \delta^{{{l}}}_{{n}}")
                rows.append((partial("J", sup("b", l)), "= " + total))
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
        l, L = step.layer, self.L
        if step.kind == "affine":
            return f"{sup('z', l)} = {sup('W', l)} {sup('a', l - 1)}{self.bias_term(l)}"
        if step.kind == "activate":
            return rf"{sup('a', l)} = {self.act_tex(l)}\left({sup('z', l)}\right)"
        if step.kind == "loss":
            sample = summed(self.loss_term(), unit_names(L))
            if self.d.batch_factor != 1 or sample.startswith("-"):
                sample = rf"\left({sample}\right)"
            return "J " + self.total_loss(sample)[0][1]
        if step.kind == "delta_out":
            return rf"\delta^{{{L}}} = {vec(tidy(step.formula), L)}{self.rowsum(L)}"
        if step.kind == "grad_W":
            return (rf"{partial('J', sup('W', l))} = \sum_{{n}} \delta^{{{l}}}_{{n}} "
                    rf"\left(a^{{{l - 1}}}_{{n}}\right)^{{T}}{self.reg_term(l)}")
        if step.kind == "grad_b":
            inner = r"\sum_{i} " if self.net.layers[l - 1].bias == "shared" else ""
            return rf"{partial('J', sup('b', l))} = \sum_{{n}} {inner}\delta^{{{l}}}_{{n}}"
        if step.kind == "delta_hidden":
            return f"{sup(DELTA, l)} = {self.back(l, step.formula)}"
        raise ValueError(step.kind)

    def algorithm(self) -> list[dict]:
        steps = list(self.plan.forward) + list(self.plan.loss) + list(self.plan.backward)
        code = numpy_lines(tuple(steps), self.d)
        return [{"math": self.step_math(step), "code": lines}
                for step, (_, lines) in zip(steps, code)]

    def symbols(self) -> list[tuple[str, str, str]]:
        """(math, code names, shape) for every array of the algorithm."""
        layers = range(1, self.L + 1)

        def names(make) -> str:
            return ", ".join(make(l) for l in layers)

        w_shape = r"(S_{l}, S_{l-1})" if self.net.weight_layout == "out_in" else r"(S_{l-1}, S_{l})"
        return [
            (r"a^{0} = x", naming.A(0), r"(B, S_{0})"),
            (sup("W", "l"), names(naming.W), w_shape),
            (sup("b", "l"), names(naming.b), r"(S_{l}) \text{ or a scalar if shared}"),
            (sup("z", "l"), names(naming.Z), r"(B, S_{l})"),
            (sup("a", "l"), names(naming.A), r"(B, S_{l})"),
            (r"\delta^{l} = \partial J / \partial z^{l}", names(naming.delta), r"(B, S_{l})"),
            (r"\partial J / \partial W^{l}", names(naming.dW), w_shape),
            (r"\partial J / \partial b^{l}", names(naming.db), r"(S_{l}) \text{ or a scalar if shared}"),
            ("y", "Y", r"(B, S_{L})"),
            ("J", "J", r"\text{a scalar}"),
        ]


def softmax_delta_rows(loss: losses.Loss, n_out: int) -> list[Row]:
    """δ^L for a softmax output, through its Jacobian, as seed 000 derives it by hand:

    δ_i = Σ_k ∂ℓ/∂a_k ∂a_k/∂z_i = a_i (u_i − Σ_k u_k a_k) with u = ∂ℓ/∂a,
    which for cross-entropy (u_k a_k = −y_k) and Σ_k y_k = 1 is a_i − y_i.
    """
    out = losses.output_delta(loss, None, n_out)
    diag, off = act.softmax_jacobian()
    u = out.dJ_da
    names = {AI: "a^{L}_{i}", AK: "a^{L}_{k}", YI: "y_{i}", YK: "y_{k}"}
    ui, uk = u.subs({a: AI, y: YI}), u.subs({a: AK, y: YK})
    h = sp.cancel(u * a)
    hk = h.subs({a: AK, y: YK})
    sum_h = (rf"+ a^{{L}}_{{i}} \sum_{{k}} {_paren(tex(-hk, names), -hk)}"
             if hk.could_extract_minus_sign()
             else rf"- a^{{L}}_{{i}} \sum_{{k}} {_paren(tex(hk, names), hk)}")
    rhs = [
        r"\sum_{k} " + partial(r"\ell", "a^{L}_{k}") + " " + partial("a^{L}_{k}", "z^{L}_{i}"),
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
    return equation(r"\delta^{L}_{i} = " + partial(r"\ell", "z^{L}_{i}"), rhs)


def softmax_ce_rows(n_out: int = 3) -> dict:
    """The softmax + cross-entropy case on its own, for documents of other networks."""
    loss = losses.REGISTRY["softmax_ce"]
    return {"loss": r"\ell = -\sum_{k} y_{k} \log a^{L}_{k}", "rows": softmax_delta_rows(loss, n_out)}
