"""The one table of elementary functions symbp knows.

Each entry says how a function is spelled in formulas, printed for NumPy arrays and for Python
floats, evaluated in mpmath and in autograd, how it maps an interval (for the whole-range checks
of ``interval``) and whether it has a kink. The formula parser, the printers, the spec's probes
and the autograd reference all read this table, so a function is either usable everywhere or
nowhere.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

# How a function maps an interval [lo, hi] (see interval.py): "increasing", "even" (decreasing
# up to 0, increasing after), or a trigonometric shape with its own extrema or poles.
SHAPES = ("increasing", "decreasing", "even", "sin", "cos", "tan", "step")


@dataclass(frozen=True)
class Elementary:
    """One elementary function and its form in every backend."""

    name: str  # the canonical name, used in messages
    sympy: type | None  # the sympy class; None for sqrt, which sympy keeps as a power
    build: Callable[..., sp.Expr]  # sympy constructor from the arguments
    spellings: tuple[str, ...]  # names in formula text; () for functions only sympy produces
    numpy: str  # NumPy form: a ufunc, or a helper the module defines (see NUMPY_HELPERS)
    math: str  # Python-float form: a function name, or a format string of the argument {0}
    mpmath: str  # name of the mpmath function
    autograd: str  # "module.attribute" under the autograd package
    shape: str = "increasing"
    domain: str = "real"  # "real", "positive" (log) or "nonnegative" (sqrt)
    kink: bool = False  # the derivative jumps somewhere
    grows: bool = False  # grows like an exponential: its argument gets the tight number limits
    arity: int = 1
    # The entry that undoes this one on its whole domain (log(exp u) = u): activations invert
    # a = g(x) through it to write g' in the output a.
    inverse: str = ""

    @property
    def ufunc(self) -> bool:
        """Whether the NumPy form is a NumPy ufunc (it then takes ``out=``)."""
        return self.numpy.startswith("np.")


def _heaviside(u: sp.Expr) -> sp.Expr:
    return sp.Heaviside(u, 0)


TABLE: tuple[Elementary, ...] = (
    Elementary("exp", sp.exp, sp.exp, ("exp",), "np.exp", "math.exp", "exp", "numpy.exp", grows=True,
               inverse="log"),
    Elementary("log", sp.log, sp.log, ("log", "ln"), "np.log", "math.log", "log", "numpy.log",
               domain="positive", inverse="exp"),
    Elementary("sqrt", None, sp.sqrt, ("sqrt",), "np.sqrt", "math.sqrt", "sqrt", "numpy.sqrt",
               domain="nonnegative"),
    Elementary("abs", sp.Abs, sp.Abs, ("abs",), "np.abs", "abs", "fabs", "numpy.abs", shape="even",
               kink=True),
    Elementary("tanh", sp.tanh, sp.tanh, ("tanh",), "np.tanh", "math.tanh", "tanh", "numpy.tanh",
               grows=True),
    Elementary("sinh", sp.sinh, sp.sinh, ("sinh",), "np.sinh", "math.sinh", "sinh", "numpy.sinh",
               grows=True),
    Elementary("cosh", sp.cosh, sp.cosh, ("cosh",), "np.cosh", "math.cosh", "cosh", "numpy.cosh",
               shape="even", grows=True),
    Elementary("sin", sp.sin, sp.sin, ("sin",), "np.sin", "math.sin", "sin", "numpy.sin", shape="sin"),
    Elementary("cos", sp.cos, sp.cos, ("cos",), "np.cos", "math.cos", "cos", "numpy.cos", shape="cos"),
    Elementary("tan", sp.tan, sp.tan, ("tan",), "np.tan", "math.tan", "tan", "numpy.tan", shape="tan"),
    Elementary("atan", sp.atan, sp.atan, ("atan", "arctan"), "np.arctan", "math.atan", "atan",
               "numpy.arctan", inverse="tan"),
    Elementary("erf", sp.erf, sp.erf, ("erf",), "erf", "math.erf", "erf", "scipy.special.erf",
               grows=True),
    Elementary("erfc", sp.erfc, sp.erfc, ("erfc",), "erfc", "math.erfc", "erfc", "scipy.special.erfc",
               shape="decreasing", grows=True),
    # Derivatives of the kinked functions: sympy writes them, formulas cannot.
    Elementary("sign", sp.sign, sp.sign, (), "np.sign", "(math.copysign(1.0, {0}) if {0} else 0.0)",
               "sign", "numpy.sign",
               shape="step", kink=True),
    Elementary("heaviside", sp.Heaviside, _heaviside, (), "np.heaviside", "", "", "", shape="step",
               kink=True),
    # Max/Min stay unevaluated: evaluating compares constants numerically, at times for seconds.
    Elementary("max", sp.Max, lambda u, v: sp.Max(u, v, evaluate=False), ("max",), "np.maximum", "max",
               "max", "numpy.maximum", kink=True, arity=2),
    Elementary("min", sp.Min, lambda u, v: sp.Min(u, v, evaluate=False), ("min",), "np.minimum", "min",
               "min", "numpy.minimum", kink=True, arity=2),
)

BY_NAME: dict[str, Elementary] = {f.name: f for f in TABLE}
BY_CLASS: dict[type, Elementary] = {f.sympy: f for f in TABLE if f.sympy is not None}
BY_SPELLING: dict[str, Elementary] = {s: f for f in TABLE for s in f.spellings}
# Classes with a kink, and the piecewise forms that have one too.
KINKED: tuple[type, ...] = tuple(f.sympy for f in TABLE if f.kink) + (sp.Piecewise, sp.DiracDelta)

# NumPy has no erf: the module then defines one (math.erf on each entry, keeping the dtype).
NUMPY_HELPERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "erf": ("erf(z)", "erf(z) elementwise with the standard library's math.erf (NumPy has none).",
            ("from math import erf as scalar_erf", "z = np.asarray(z)",
             "return np.frompyfunc(scalar_erf, 1, 1)(z).astype(z.dtype)")),
    "erfc": ("erfc(z)", "erfc(z) = 1 - erf(z) elementwise with the standard library's math.erfc.",
             ("from math import erfc as scalar_erfc", "z = np.asarray(z)",
              "return np.frompyfunc(scalar_erfc, 1, 1)(z).astype(z.dtype)")),
}


def of(expr: sp.Basic) -> Elementary | None:
    """The table entry of an expression's head (sqrt for a power of 1/2), else None."""
    if isinstance(expr, sp.Pow) and expr.exp == sp.Rational(1, 2):
        return BY_NAME["sqrt"]
    return BY_CLASS.get(type(expr))


def unknown_functions(expr: sp.Basic) -> set[str]:
    """Names of the functions in expr that the table does not know (tan of an inverse, gamma…)."""
    return {type(node).__name__ for node in sp.preorder_traversal(expr)
            if isinstance(node, sp.Function) and type(node) not in BY_CLASS}


def helpers_used(exprs) -> list[str]:
    """Names of the NumPy helpers (NUMPY_HELPERS) that printing these expressions calls."""
    used = {BY_CLASS[type(node)].numpy for e in exprs if e is not None
            for node in sp.preorder_traversal(e) if type(node) in BY_CLASS}
    return sorted(used & NUMPY_HELPERS.keys())


def mpmath_function(entry: Elementary, ctx) -> Callable:
    """The entry's function in an mpmath context (``ctx.fabs`` for abs)."""
    return getattr(ctx, entry.mpmath)


def autograd_namespace() -> dict[str, Callable]:
    """Printed name → autograd function for every entry, and ``where`` for piecewise forms."""
    out = {}
    for entry in TABLE:
        if not entry.autograd:
            continue
        module, attribute = entry.autograd.rsplit(".", 1)
        function = getattr(importlib.import_module(f"autograd.{module}"), attribute)
        out[entry.sympy.__name__ if entry.sympy is not None else entry.name] = function
    out["where"] = importlib.import_module("autograd.numpy").where
    return out


_WHERE = sp.Function("where")


def autograd_function(expr: sp.Expr, var, extra: dict | None = None) -> Callable:
    """expr as a function of var (a symbol or a tuple of them) that autograd can differentiate,
    a reference for the kernels; Max/Min are elementwise. ``extra`` adds or overrides names."""
    flat = expr.replace(lambda e: isinstance(e, sp.Piecewise), _where)
    namespace = {**autograd_namespace(), **(extra or {})}
    return sp.lambdify(var, flat, modules=[namespace, importlib.import_module("autograd.numpy")])


def _where(piecewise: sp.Piecewise) -> sp.Expr:
    out = piecewise.args[-1].expr
    for value, cond in reversed(piecewise.args[:-1]):
        out = _WHERE(cond, value, out)
    return out
