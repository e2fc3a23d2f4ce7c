"""Printing sympy expressions as NumPy code: one printer, small documented overrides.

Symbols are printed by name, so callers substitute array-named symbols (``A1``, ``Y``) first.
Constants stay Python numbers, which NumPy treats as "weak" scalars: float32 arrays stay float32.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from .errors import DerivationError

FUNCTIONS = {  # sympy function class name -> NumPy function
    "exp": "np.exp", "log": "np.log", "tanh": "np.tanh", "sinh": "np.sinh", "cosh": "np.cosh",
    "sin": "np.sin", "cos": "np.cos", "atan": "np.arctan", "Abs": "np.abs", "sqrt": "np.sqrt",
    "sign": "np.sign",
}


class NumpyPrinter(PythonCodePrinter):
    """Prints elementwise expressions over arrays with the ``np`` alias."""

    def _print_Function(self, expr: sp.Function) -> str:  # noqa: N802
        name = type(expr).__name__
        if name not in FUNCTIONS:
            raise DerivationError(f"no NumPy form for the function {name}")
        return f"{FUNCTIONS[name]}({', '.join(self._print(arg) for arg in expr.args)})"

    _print_exp = _print_tanh = _print_sinh = _print_cosh = _print_Function
    _print_sin = _print_cos = _print_atan = _print_sign = _print_Function

    def _print_log(self, expr: sp.log) -> str:
        """log(1 + exp(u)) → np.logaddexp(0, u): softplus without overflow."""
        (arg,) = expr.args
        rest = arg - 1
        if isinstance(rest, sp.exp):
            return f"np.logaddexp(0, {self._print(rest.args[0])})"
        return f"np.log({self._print(arg)})"

    def _print_Abs(self, expr: sp.Abs) -> str:  # noqa: N802
        return f"np.abs({self._print(expr.args[0])})"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:  # noqa: N802
        """H(a, h0) → np.heaviside(a, h0); keeps the dtype of ``a``."""
        arg, h0 = expr.args if len(expr.args) == 2 else (expr.args[0], sp.Rational(1, 2))
        return f"np.heaviside({self._print(arg)}, {self._print(h0)})"

    def _print_Max(self, expr: sp.Max) -> str:  # noqa: N802
        return self._pairwise("np.maximum", expr.args)

    def _print_Min(self, expr: sp.Min) -> str:  # noqa: N802
        return self._pairwise("np.minimum", expr.args)

    def _pairwise(self, fn: str, args: tuple[sp.Expr, ...]) -> str:
        out = self._print(args[0])
        for arg in args[1:]:
            out = f"{fn}({out}, {self._print(arg)})"
        return out

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:  # noqa: N802
        """x**2 → x*x (cheaper than a power); 1/x stays a division; sqrt → np.sqrt."""
        base, exp = expr.args
        if exp == 2 and (base.is_Symbol or base.is_Function):
            b = self._print(base)
            return f"{b}*{b}"
        if exp == sp.Rational(1, 2):
            return f"np.sqrt({self._print(base)})"
        if exp == -1:
            return f"1/{self.parenthesize(base, 50)}"
        return super()._print_Pow(expr, rational=rational)

    def _print_Rational(self, expr: sp.Rational) -> str:  # noqa: N802
        return f"{expr.p}/{expr.q}"

    def _print_Float(self, expr: sp.Float) -> str:  # noqa: N802
        return repr(float(expr))

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:  # noqa: N802
        raise DerivationError("piecewise expressions need a NumPy form in the registry")

    def _print_Exp1(self, expr) -> str:  # noqa: N802
        return "np.e"

    def _print_Pi(self, expr) -> str:  # noqa: N802
        return "np.pi"


_PRINTER = NumpyPrinter({"standard": "python3"})


def numpy_code(expr: sp.Expr, names: dict[sp.Symbol, str] | None = None) -> str:
    """NumPy source for ``expr``, with symbols renamed to the arrays they stand for."""
    if names:
        expr = expr.xreplace({s: sp.Symbol(n, real=True) for s, n in names.items()})
    return _PRINTER.doprint(expr)
