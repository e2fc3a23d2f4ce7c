"""``symbp check-example`` for a small graph spec: claimed entries (``grad_W1[0, 0, 1, 1]``)
judged against the element level's 30-digit values, as the dense check judges seed 000's."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from symbp.check.example import ExampleError, ExampleReport, Row, _short, judge
from symbp.core.textprint import text as plain

from ..core.graph_spec import GraphSpec
from ..docs.element_level import decimal, element_level, entry_key


def check_graph_example(spec: GraphSpec, claimed: Mapping[str, str], given: Mapping[str, str] | None = None,
                        *, strict: bool = False) -> ExampleReport:
    """Judge every claimed entry; ``given`` replaces some of the example's given values."""
    if not claimed:
        raise ExampleError("the table of claimed values has no rows")
    level = element_level(spec, given=given)
    table = {entry_key(plain(e.read)): e.value for e in level.given + level.forward + level.backward}
    rows = []
    for key, text in claimed.items():
        value = table.get(entry_key(key))
        if value is None:
            like = plain(level.backward[-1].read)
            raise ExampleError(f"row {key!r}: no entry of that name; entries are named as "
                               f"symbp example {spec.name} prints them, e.g. {like}")
        decimal(str(text), f"row {key}")  # a number, or a one-line error
        true = Decimal(str(value.evalf(30)))
        verdict, printed, agreeing = judge(str(text).strip(), true)
        rows.append(Row(key, str(text), _short(true), printed, agreeing, verdict))
    notes = ["a value agrees when it equals the computed value rounded to the decimals printed; "
             "truncated values are accepted and marked" + (" (not with --strict-rounding)" if strict else "")]
    return ExampleReport(rows, strict, notes)
