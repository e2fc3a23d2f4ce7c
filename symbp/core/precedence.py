"""How tightly the operators of symbp's two math readers bind: one table for both.

``symbp.core.formula`` (activations and losses in a spec) and ``symbp.check.claims`` (hand-written claims)
read the same plain notation, so ``-x^2``, ``a/b*c`` and ``f(u)^2`` must mean the same in
both. Higher binds tighter; binary operators are left-associative, ``^`` right-associative.
"""

from __future__ import annotations

SUM = 1  # a + b, a - b
PRODUCT = 2  # a * b, a / b
SIGN = 3  # -x^2 is -(x^2): a unary sign binds looser than the power on its right
POWER = 4  # x^-2 is x^(-2): the exponent may carry a sign
CALL = 5  # f(u)^2 is (f(u))^2: a function applied to its parenthesised arguments is one operand

BINARY: dict[str, int] = {"+": SUM, "-": SUM, "*": PRODUCT, "/": PRODUCT}


def power_applies_to_call() -> bool:
    """Whether ``f(u)^p`` raises the call's value (not the argument) to p."""
    return CALL > POWER
