"""Formula activations: the one function table, whole-range validation and emitted kernels.

Every function the formula grammar accepts has a NumPy and a Python-float form and gives a
kernel that runs and agrees with autograd; a formula is refused, naming its field, unless it and
its derivative are finite float64 numbers as the kernel computes them for every x in
[−1000, 1000]; and the decision never depends on how long sympy's searches take.
"""

from __future__ import annotations

import math
import time
import warnings

import mpmath
import numpy as np
import pytest
import sympy as sp

import symbp
from symbp.codegen.load import load_module
from symbp.codegen.unrolled import scalar_code
from symbp.core import activations, functions, interval, printing
from symbp.core.errors import SpecError
from symbp.core.formula import FUNCTIONS, parse_formula
from symbp.verify.kernel import check_kernel

x = activations.x

# One activation per formula spelling, defined on the whole range, using that function.
SPELLING_CASES = {
    "exp": "exp(-x*x/2)", "log": "log(1 + x*x)", "ln": "ln(2 + sin(x))", "sqrt": "sqrt(1 + x*x) - 1",
    "abs": "abs(x)*tanh(x)", "tanh": "tanh(x)", "sinh": "sinh(x/200)", "cosh": "cosh(x/200)",
    "sin": "sin(x)", "cos": "cos(x) + x", "tan": "tan(x/1000)", "atan": "atan(x)",
    "arctan": "arctan(2*x)", "erf": "x*(1 + erf(x/sqrt(2)))/2", "erfc": "x*erfc(x)",
    "sigmoid": "x*sigmoid(x)", "softplus": "x - softplus(x)", "max": "max(x, x/10)", "min": "min(x, x/10)",
}
WHERE_CASE = "where(x > 0, x, exp(x) - 1)"


def spec(activation: str, **extra) -> dict:
    return {"name": "f", "inputs": 3, "loss": "half_sse", **extra,
            "layers": [{"size": 4, "activation": activation}, {"size": 2, "activation": "sigmoid"}]}


def with_formula(text: str) -> dict:
    return spec("g", activations={"g": {"formula": text}})


def refusal(text: str) -> str:
    with pytest.raises(SpecError) as info:
        symbp.Network.from_dict(with_formula(text))
    message = str(info.value)
    assert message.startswith("activations.g.formula: ") and "\n" not in message, message
    return message


# --- the one table --------------------------------------------------------------------------------


def test_every_formula_function_has_a_case_here():
    assert set(SPELLING_CASES) == set(FUNCTIONS)


def test_the_grammar_accepts_exactly_the_tables_spellings_and_two_compositions():
    assert set(FUNCTIONS) == set(functions.BY_SPELLING) | {"sigmoid", "softplus"}


@pytest.mark.parametrize("entry", functions.TABLE, ids=[f.name for f in functions.TABLE])
def test_every_table_function_prints_for_numpy_and_python_floats_and_agrees_with_mpmath(entry):
    args = (x, sp.Rational(1, 3))[:entry.arity] if entry.name != "heaviside" else (x,)
    expr = entry.build(*args)
    point = 0.7
    want = {"abs": abs, "heaviside": lambda v: 1.0 * (v > 0), "max": max, "min": min}.get(
        entry.name, getattr(mpmath, entry.mpmath, None))
    want = float(want(*[point, 1 / 3][:entry.arity]))
    numpy_source = printing.numpy_code(expr)
    helpers = {name: load_module(f"import numpy as np\ndef {sig}:\n" + "".join(f"    {ln}\n" for ln in body))
               for name, (sig, _, body) in functions.NUMPY_HELPERS.items()}
    namespace = {"np": np, "x": np.array([point]), **{n: getattr(m, n) for n, m in helpers.items()}}
    got = eval(numpy_source, namespace)  # noqa: S307 -- our printer's output, not user text
    assert got.dtype == np.float64 and abs(got[0] - want) <= 1e-15 * max(1, abs(want)), numpy_source
    if entry.name != "heaviside":  # H(u) is printed by ScalarPrinter's own override
        scalar_source = scalar_code(expr, {})
        assert "np." not in scalar_source, scalar_source
        value = eval(scalar_source, {"math": math, "x": point})  # noqa: S307 -- printer output
        assert isinstance(value, float) and abs(value - want) <= 1e-15 * max(1, abs(want)), scalar_source


@pytest.mark.parametrize("name", sorted(SPELLING_CASES) + ["where"])
def test_every_formula_function_emits_a_kernel_that_runs_and_matches_autograd(name):
    text = SPELLING_CASES.get(name, WHERE_CASE)
    net = symbp.Network.from_dict(with_formula(text))
    module = load_module(symbp.emit_numpy(net), f"k_{name}")
    report = check_kernel(net, module)
    assert report.passed(), (text, report)


def test_float32_stays_float32_through_the_erf_helper():
    net = symbp.Network.from_dict(with_formula(SPELLING_CASES["erf"]))
    module = load_module(symbp.emit_numpy(net), "k_erf32")
    params = module.init_params(dtype=np.float32)
    assert module.forward(params, np.ones((2, 3), np.float32)).dtype == np.float32


def test_gelu_written_with_erf_equals_x_times_the_normal_cdf():
    net = symbp.Network.from_dict(spec("x*(1 + erf(x/sqrt(2)))/2"))
    module = load_module(symbp.emit_numpy(net), "k_gelu")
    helper = module.layer1_activation
    z = np.array([-30.0, -8.0, -3.0, -0.5, 0.0, 0.25, 2.0])
    want = [float(v * mpmath.ncdf(v)) for v in z]
    # 1 + erf(u) would be off by 2 % at x = −8 and 100 % at −30; erfc is conditioned ~2u² there
    assert np.allclose(helper(z), want, rtol=1e-13, atol=1e-300)


def test_sqrt_in_a_denominator_is_printed_with_numpy_not_math():
    source = printing.numpy_code(sp.diff(x / sp.sqrt(1 + x**2), x))
    assert "math." not in source and "np.sqrt" in source


@pytest.mark.parametrize("text", ["x/sqrt(1+x^2)", "x - softplus(x)", "atan(atan(x))"])
def test_formulas_whose_kernels_failed_at_run_time_now_run(text):
    net = symbp.Network.from_dict(with_formula(text))
    module = load_module(symbp.emit_numpy(net), "k_runs")
    assert check_kernel(net, module).passed()


def test_a_derivative_found_through_an_inverse_uses_only_printable_functions():
    """atan(atan(x)) inverts through tan; whatever form is found, the kernel can print it."""
    form = activations.derivative(parse_formula("atan(atan(x))", {"x": x}))
    assert not functions.unknown_functions(form.expr)
    printing.numpy_code(form.expr)


@pytest.mark.parametrize("text", ["atan(atan(x))", "atan(atan(atan(atan(x))))"])
def test_emitting_does_not_depend_on_how_fast_the_clock_runs(text, monkeypatch):
    """A normal clock and one that jumps a thousand seconds between reads (a loaded machine)
    give the same kernel with equal gradients: time decides nothing about g'."""
    results, sources = [], []
    for jump in (0.0, 1000.0):
        ticks = iter(range(10**9))
        if jump:
            for name in ("monotonic", "perf_counter", "time"):
                monkeypatch.setattr(time, name, lambda step=jump, ticks=ticks: step * next(ticks))
        activations.derivative.cache_clear()
        net = symbp.Network.from_dict(with_formula(text))
        sources.append(symbp.emit_numpy(net))
        monkeypatch.undo()
        module = load_module(sources[-1], f"k_clock_{int(jump)}")
        params = module.init_params(seed=1)
        X = np.linspace(-2, 2, 12).reshape(4, 3)
        Y = np.full((4, 2), 0.25)
        results.append(module.loss_and_grad(params, X, Y)[1])
    activations.derivative.cache_clear()
    assert sources[0] == sources[1]
    for key in results[0]:
        assert np.allclose(results[0][key], results[1][key], rtol=1e-12, atol=0)


def test_a_piecewise_derivative_that_varies_within_a_piece_is_not_taken_for_a_step():
    """ELU's g' is exp(x) for x < 0, not the constant exp(−1) seen at x = −1."""
    g = parse_formula(WHERE_CASE, {"x": x}, where=True)
    form = activations.derivative(g)
    value = form.expr.subs({x: -2, activations.a: g.subs(x, -2)})
    assert abs(float(value) - math.exp(-2)) < 1e-15


# --- validation over the whole range ----------------------------------------------------------------


@pytest.mark.parametrize("text, fragment", [
    ("log(x+31)", "not a finite real number near x = -31"),
    ("sqrt(x+30.5)", "not a finite real number near x = -30.5"),
    ("1/(x-0.3)", "not a finite real number near x = 0.3"),
    ("sin(x)/cos(x)", "not a finite real number near x = -1.5708"),
    ("tan(x)", "not a finite real number near x = -1.5708"),
    ("exp(x)", "leaves the float64 range"),
    ("cosh(x)", "leaves the float64 range"),
    ("x^120", "leaves the float64 range"),
    ("max(x, 0) + min(exp(x) - 1, 0)", "write the branches with where("),
    ("sin(x)^2 + cos(x)^2", "is a constant"),
    ("cosh(x)^2 - sinh(x)^2", "is a constant"),
])
def test_a_formula_not_finite_on_the_whole_range_is_refused_with_the_reason(text, fragment):
    assert fragment in refusal(text)


def test_the_whole_range_check_finds_a_pole_far_from_the_old_probes():
    assert "near x = 700.5" in refusal("1/(x-700.5)")


def test_the_whole_range_check_is_deterministic_work_not_time():
    expr = sp.diff(parse_formula("x/(1+exp(-x)) + log(cosh(x/3))", {"x": x}), x)
    first = [interval.first_problem(expr + sp.Rational(k, 7), x) for k in range(3)]
    assert first == [interval.first_problem(expr + sp.Rational(k, 7), x) for k in range(3)] == [None] * 3


@pytest.mark.parametrize("text", ["log(cosh(x))", "x*sigmoid(x)", "log(sigmoid(x))", WHERE_CASE,
                                  "x*(1 + erf(x/sqrt(2)))/2", "x - softplus(x)"])
def test_an_accepted_formula_computes_finite_values_without_overflow_up_to_1e3(text):
    """The kernel's activation and g' at ±1000 (and between) equal 40-digit values, and NumPy
    raises no floating-point flag except underflow."""
    net = symbp.Network.from_dict(spec(text))
    module = load_module(symbp.emit_numpy(net), "k_range")
    g = parse_formula(text, {"x": x}, where=True)
    dg = sp.diff(g, x)
    z = np.array([-1000.0, -745.0, -709.9, -30.0, -1.0, 0.5, 30.0, 709.9, 745.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        values = module.layer1_activation(z.copy())
        params = module.init_params(seed=0)
        params["W1"][:] = 0.0
        params["W1"][:, 0] = 1.0
        X = np.zeros((len(z), 3))
        X[:, 0] = z
        _, grads = module.loss_and_grad(params, X, np.full((len(z), 2), 0.5))
    assert all(np.isfinite(v).all() for v in grads.values())
    exact, exact_slope = (sp.lambdify(x, e, "mpmath") for e in (g, dg))
    with mpmath.workdps(40):
        for zi, got in zip(z, values):
            want = float(exact(mpmath.mpf(zi)))
            assert abs(got - want) <= 1e-14 * max(1.0, abs(want)), (text, zi, got, want)
            assert mpmath.isfinite(exact_slope(mpmath.mpf(zi)))


@pytest.mark.parametrize("rule, sides", [
    (printing._log_cosh, [sp.Symbol("u", positive=True), sp.Symbol("u", negative=True)]),
    (printing._log_reciprocal, [sp.Symbol("u", positive=True)]),
    (printing._tanh_quotient, [sp.Symbol("u", real=True)]),
    (printing._erf_complement, [sp.Symbol("u", real=True)]),
])
def test_each_printing_rewrite_is_an_identity(rule, sides):
    """sympy proves each rewrite equal to what it replaces (on each sign where it has an abs)."""
    originals = {printing._log_cosh: lambda u: sp.log(sp.cosh(u)),
                 printing._log_reciprocal: lambda u: sp.log(1 / (1 + sp.exp(-u))),
                 printing._tanh_quotient: lambda u: 3 * sp.sinh(u) / sp.cosh(u),
                 printing._erf_complement: lambda u: sp.Rational(1, 2) + sp.erf(u / 3) / 2 + u}
    for u in sides:
        original = originals[rule](u)
        rewritten = rule(original)
        assert rewritten is not None and rewritten != original
        # equal, or with equal exponentials (exp is one-to-one on the reals)
        proofs = (original - rewritten, sp.exp(original) - sp.exp(rewritten))
        assert any(sp.simplify(d.rewrite(sp.exp).rewrite(sp.erf)) == 0 for d in proofs)
        for v in (sp.Rational(3, 10), sp.Rational(5, 2), 40):
            point = {u: v if u.is_positive or not u.is_negative else -v}
            assert abs(sp.N((original - rewritten).subs(point), 50)) < 1e-40


def test_the_branch_clamp_keeps_each_branch_where_it_is_selected():
    g = parse_formula(WHERE_CASE, {"x": x}, where=True)
    clamped = printing._clamped_branches(g)
    assert clamped is not None and clamped != g
    for v in (-700, -3, -sp.Rational(1, 2), 0, sp.Rational(1, 3), 2, 800):
        assert sp.simplify(clamped.subs(x, v) - g.subs(x, v)) == 0
    # exp(x) - 1 prints as expm1 (no cancellation near 0); either way its argument is clamped
    assert "np.expm1(np.minimum(0, x))" in printing.numpy_code(g)


# --- where() and inline formulas ---------------------------------------------------------------------


def test_elu_is_definable_with_where():
    net = symbp.Network.from_dict(spec(WHERE_CASE))
    module = load_module(symbp.emit_numpy(net), "k_elu")
    z = np.array([-2.0, 0.0, 3.0])
    assert np.allclose(module.layer1_activation(z), [math.expm1(-2.0), 0.0, 3.0], rtol=1e-15)


@pytest.mark.parametrize("text, fragment", [
    ("where(x > 0, x + 1, x)", "jumps at x = 0"),
    ("where(x*x > 1, x, 0)", "must compare a variable with a number"),
    ("where(x, 1, 0)", "needs a condition such as x > 0"),
    ("where(x > 0, x)", "takes a condition and two values"),
    ("x > 0", "only allowed as the condition of where()"),
])
def test_a_malformed_where_is_refused_with_the_reason(text, fragment):
    assert fragment in refusal(text)


def test_where_is_not_available_in_loss_formulas():
    data = spec("sigmoid", loss="l", losses={"l": {"formula": "where(a > 0.5, a - y, y - a)^2"}})
    with pytest.raises(SpecError, match=r"^losses\.l\.formula: unknown function 'where'"):
        symbp.Network.from_dict(data)


def test_an_inline_formula_is_accepted_as_a_layers_activation():
    net = symbp.Network.from_dict(spec("x*sigmoid(x)"))
    assert net.activation_expr(1) == x / (1 + sp.exp(-x))
    module = load_module(symbp.emit_numpy(net), "k_inline")
    assert check_kernel(net, module).passed()


def test_the_same_inline_formula_in_two_layers_is_one_helper():
    data = spec("x*sigmoid(x)")
    data["layers"][1]["activation"] = "x*sigmoid(x)"
    net = symbp.Network.from_dict(data)
    assert net.layers[0].activation == net.layers[1].activation
    assert symbp.emit_numpy(net).count("def layer1_activation(") == 1


@pytest.mark.parametrize("text, fragment", [("log(x+31)", "near x = -31"), ("x*", "missing operand")])
def test_a_bad_inline_formula_names_the_layers_activation_field(text, fragment):
    with pytest.raises(SpecError) as info:
        symbp.Network.from_dict(spec(text))
    assert str(info.value).startswith("layers[0].activation: ") and fragment in str(info.value)


def test_a_misspelled_activation_name_is_still_a_choice_error_not_a_formula():
    with pytest.raises(SpecError, match=r"^layers\[0\]\.activation: must be one of"):
        symbp.Network.from_dict(spec("Sigmoid"))


def test_no_runtime_warning_when_printing_piecewise():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        printing.numpy_code(parse_formula(WHERE_CASE, {"x": x}, where=True))


def test_every_inverse_in_the_function_table_undoes_its_function_on_the_whole_domain():
    """Activations invert a = g(x) through these entries (log(exp u) = u): each must be a left
    inverse wherever its function is defined, checked symbolically and at 600 digits."""
    pairs = [(f, functions.BY_NAME[f.inverse]) for f in functions.TABLE if f.inverse]
    assert {f.name for f, _ in pairs} >= {"exp", "log", "atan"}
    for f, inv in pairs:
        u = sp.Symbol("u", positive=True) if f.domain == "positive" else sp.Symbol("u", real=True)
        assert inv.build(f.build(u)) == u, f.name
        forward, back = functions.mpmath_function(f, mpmath.mp), functions.mpmath_function(inv, mpmath.mp)
        with mpmath.workdps(600):
            for v in map(mpmath.mpf, ("1e-300", "0.3", "7.5", "-40" if f.domain == "real" else "1e300")):
                assert abs(back(forward(v)) - v) <= mpmath.mpf(10) ** -550 * (1 + abs(v)), (f.name, v)


def test_an_invertible_formula_gets_its_derivative_in_the_output_without_solving():
    """g = −log(1 + e^{−x}) inverts through exp and log: g' = 1 − e^{a}; atan(2x) through tan."""
    a = activations.a
    cases = {"log(sigmoid(x))": 1 - sp.exp(a), "1/(1+exp(-2*x))": 2 * a * (1 - a)}
    for text, expected in cases.items():
        form = activations.derivative(parse_formula(text, {"x": x}))
        assert form.variable == "a" and sp.expand(form.expr - expected) == 0, (text, form)
    form = activations.derivative(parse_formula("arctan(2*x)", {"x": x}))
    assert form.variable == "a" and not functions.unknown_functions(form.expr)
    g = parse_formula("arctan(2*x)", {"x": x})
    for v in (-3, 0.5, 40):
        exact = float(sp.diff(g, x).subs(x, v))
        assert abs(float(form.expr.subs(a, g.subs(x, v))) - exact) < 1e-14, v
