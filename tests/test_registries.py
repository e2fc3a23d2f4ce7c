"""Registries: every derivative comes from sympy and simplifies to the forms people expect."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp.codegen.load import load_module
from symbp.core import activations as act
from symbp.core import losses
from symbp.core.printing import numpy_code

a, x, y, S = act.a, act.x, losses.y, losses.S
ELEMENTWISE = [name for name, e in act.REGISTRY.items() if not e.vector]


@pytest.mark.parametrize("name, expected", [
    ("sigmoid", a * (1 - a)), ("tanh", 1 - a**2), ("identity", sp.Integer(1)),
    ("softplus", 1 - sp.exp(-a)), ("relu", sp.Heaviside(a, 0)),
])
def test_activation_derivatives_are_written_in_the_output(name, expected):
    form = act.derivative(act.REGISTRY[name].instantiate())
    assert form.variable == "a"
    assert sp.expand(form.expr - expected) == 0


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_output_form_derivative_equals_sympy_diff_of_the_definition(name):
    g = act.REGISTRY[name].instantiate()
    form = act.derivative(g)
    zs = np.linspace(-4, 4, 41) + 0.013  # avoid the kink of piecewise activations at 0
    for z in zs:
        true = sp.diff(g, x).subs(x, z)
        value = form.expr.subs(a, g.subs(x, z)) if form.variable == "a" else form.expr.subs(x, z)
        assert abs(float(true) - float(value)) < 1e-12


@pytest.mark.parametrize("name", [n for n, e in act.REGISTRY.items() if e.derivative_in_a is not None])
def test_registry_derivative_forms_equal_sympys_derivative_exactly(name):
    """A registry's g' in a is a rewrite of sympy's derivative, not a typed-in one: proven."""
    g = act.REGISTRY[name].instantiate()
    difference = act.REGISTRY[name].derivative_in_a.subs(a, g) - sp.diff(g, x)
    assert sp.simplify(difference.rewrite(sp.exp)) == 0


def test_registry_activations_get_their_derivative_form_without_a_search(monkeypatch):
    """The form does not depend on how fast sympy's search runs (it did under load)."""
    act.derivative.cache_clear()
    monkeypatch.setattr(act, "_output_form_smooth", lambda g, dg: None)
    try:
        for entry in act.REGISTRY.values():
            if entry.derivative_in_a is not None:
                assert act.derivative(entry.instantiate()) == act.DerivativeForm(entry.derivative_in_a, "a")
    finally:
        act.derivative.cache_clear()


@pytest.mark.parametrize("expr, code", [
    (1 - sp.exp(-a), "-np.expm1(-a)"), (sp.exp(x) - 1, "np.expm1(x)"),
    (3 - 3 * sp.exp(2 * x), "-3*np.expm1(2*x)"), (2 - sp.exp(x), "2 - np.exp(x)"),
])
def test_one_minus_exp_is_printed_as_expm1(expr, code):
    assert numpy_code(expr) == code


def test_formula_activation_without_closed_output_form_keeps_the_input_variable():
    form = act.derivative(x / (1 + sp.exp(-x)))
    assert form.variable == "x"
    assert sp.simplify(form.expr - sp.diff(x / (1 + sp.exp(-x)), x)) == 0


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_generated_activation_helpers_equal_the_sympy_definitions(name):
    """The kernel's helper (registry NumPy form or printed formula) against 40-digit sympy."""
    net = symbp.Network.from_dict({"inputs": 1, "loss": "half_sse",
                                   "layers": [{"size": 1, "activation": name}]})
    module = load_module(symbp.emit_numpy(net))
    g = net.activation_expr(1)
    z = np.linspace(-30, 30, 601)
    reference = np.array([float(g.evalf(40, subs={x: sp.Float(v, 40)})) for v in z])
    helper = getattr(module, name)
    value = helper(z, net.layers[0].alpha) if net.layers[0].alpha is not None else helper(z)
    np.testing.assert_allclose(value, reference, rtol=1e-13, atol=1e-300)


def test_softmax_jacobian_is_derived_as_a_k_times_kronecker_minus_a_i():
    diag, off = act.softmax_jacobian()
    ai, ak = sp.Symbol("a_i", real=True), sp.Symbol("a_k", real=True)
    assert sp.expand(diag - ai * (1 - ai)) == 0 and sp.expand(off + ai * ak) == 0


@pytest.mark.parametrize("loss, activation, expected", [
    ("bce", "sigmoid", a - y),
    ("softmax_ce", "softmax", a - y),
    ("half_sse", "identity", a - y),
    ("half_sse", "sigmoid", (a - y) * a * (1 - a)),
    ("half_sse", "tanh", (a - y) * (1 - a**2)),
    ("ce", "sigmoid", y * (a - 1)),
])
def test_output_delta_simplifies_to_the_textbook_form(loss, activation, expected):
    entry = act.REGISTRY[activation]
    g = None if entry.vector else entry.instantiate()
    out = losses.output_delta(losses.REGISTRY[loss], g, 3)
    assert out.rowsum is None
    assert sp.expand(out.expr - expected) == 0


def test_softmax_with_squared_error_uses_the_full_jacobian():
    out = losses.output_delta(losses.REGISTRY["half_sse"], None, 3)
    # δ_i = a_i (u_i − Σ_k u_k a_k) with u = a − y
    assert sp.expand(out.expr - a * (a - y - S)) == 0
    assert sp.expand(out.rowsum - (a - y) * a) == 0


@pytest.mark.parametrize("loss, activation", [
    (name, act_name) for name, entry in losses.REGISTRY.items() for act_name in entry.logit_terms])
def test_logit_forms_of_losses_equal_the_definition(loss, activation):
    entry = losses.REGISTRY[loss]
    g = act.REGISTRY[activation].instantiate()
    difference = entry.logit_terms[activation] - entry.term.subs(a, g)
    assert sp.simplify(sp.expand_log(difference.rewrite(sp.exp), force=True)) == 0


@pytest.mark.parametrize("expr, code", [
    (a * (1 - a), "a*(1 - a)"),
    (1 - a**2, "1 - a*a"),
    (sp.Heaviside(a, 0), "np.heaviside(a, 0)"),
    (sp.log(1 + sp.exp(x)), "np.logaddexp(0, x)"),
    (sp.Rational(1, 2) * (y - a) ** 2, "(1/2)*(-a + y)**2"),
    (sp.exp(-x), "np.exp(-x)"),
])
def test_numpy_printer_output(expr, code):
    assert numpy_code(expr) == code


BOUNDED = [name for name, e in act.REGISTRY.items() if e.bounds is not None and not e.vector]


@pytest.mark.parametrize("name", BOUNDED)
def test_distances_to_the_bounds_equal_the_definition(name):
    """a − L and U − a as c·σ(k·x), derived from g and proven equal to it."""
    from symbp.codegen import saturation

    g = act.REGISTRY[name].instantiate()
    b = saturation.bounds(name, g)
    low, up = act.REGISTRY[name].bounds
    for distance, exact in ((b.below, g - low), (b.above, up - g)):
        assert sp.simplify((distance.expr() - exact).rewrite(sp.exp)) == 0


def _kernel_formulas(loss: str, activation: str) -> list[tuple[sp.Expr, sp.Expr, sp.Expr | None]]:
    """(formula, the kernel's form of it, g of its layer) for g', δ^L and the loss term."""
    from symbp.backprop.matrix import derive
    from symbp.codegen import kernel

    n = 2 if activation == "softmax" else 1
    net = symbp.Network.from_dict({"inputs": n, "loss": loss, "layers": [
        {"size": 2, "activation": activation if activation != "softmax" else "sigmoid"},
        {"size": n, "activation": activation}]})
    d = derive(net)
    g = d.layers[1].expr
    pairs = [(d.output.expr, kernel.stable(d, 2, d.output.expr), g)]
    if d.loss_term_reads == "a":
        pairs.append((d.loss_term, kernel.stable(d, 2, d.loss_term), g))
    pairs += [(m.derivative.expr, kernel.stable(d, m.index, m.derivative.expr), m.expr)
              for m in d.layers if m.derivative is not None]
    return pairs


KERNEL_PAIRS = [(loss, g) for loss, entry in losses.REGISTRY.items()
                for g in sorted(entry.requires or set(act.REGISTRY) - {"softmax"})]


@pytest.mark.parametrize("loss, activation", KERNEL_PAIRS, ids=[f"{l}-{g}" for l, g in KERNEL_PAIRS])
def test_kernel_forms_of_derivatives_deltas_and_losses_equal_the_derived_formulas(loss, activation):
    """The saturation-safe forms the kernels compute are rewrites of sympy's formulas: proven."""
    from symbp.codegen import saturation

    for formula, form, g in _kernel_formulas(loss, activation):
        back = form.rewrite(sp.exp)
        back = back.subs(a, g) if g is not None else back.subs(losses.LOG_A, sp.log(a))
        original = formula.subs(a, g) if g is not None else formula
        assert sp.simplify((back - original).rewrite(sp.exp)) == 0, (formula, form)
        if g in {act.REGISTRY[n].instantiate() for n in BOUNDED} and formula.has(a):
            assert form.has(saturation.logistic), (formula, form)  # U − a is never formed


def test_the_kernel_form_of_a_minus_y_has_no_cancellation_at_the_bounds():
    """a − y = a(1 − y) − (1 − a)·y for a sigmoid output: 0 − σ(−z) at y = 1, not σ(z) − 1."""
    from symbp.codegen import saturation

    g = act.REGISTRY["sigmoid"].instantiate()
    form = saturation.kernel_form(a - y, saturation.bounds("sigmoid", g))
    assert sp.expand(form - (a * (1 - y) - y * saturation.logistic(-x))) == 0


def test_softmax_output_errors_are_proven_to_sum_to_zero_over_a_row_before_kernels_rely_on_it():
    """Kernels replace δ of a row's largest softmax output by minus the others' sum only where
    ``sums_to_zero`` holds; the check is a real one (a δ missing its s term is refused)."""
    from symbp.core import losses

    for name in ("half_sse", "sse", "mse"):
        out = losses.output_delta(losses.REGISTRY[name], None, 3)
        assert out.rowsum is not None and out.sums_to_zero, name
        wrong = out.expr.xreplace({losses.S: 0})
        assert not losses._sums_to_zero(wrong, out.rowsum), name
    assert not losses.output_delta(losses.REGISTRY["softmax_ce"], None, 3).sums_to_zero
