"""Counters the robustness tests increment as their cases run; conftest prints them at the end."""

from __future__ import annotations

from collections import Counter

COUNTS: Counter[str] = Counter()
# What the summary line reports, one entry per class of hostile or random case: counter -> label.
LABELS: dict[str, str] = {
    "bad_specs": "bad specs",
    "bad_options": "bad options",
    "hostile_strings": "hostile strings",
    "hostile_claims": "hostile claims",
    "hostile_tables": "hostile tables",
    "hostile_functions": "hostile functions",
    "architectures": "architectures fuzzed",
    "file_cases": "file and I/O hazards",
    "formula_losses": "formula losses checked for J",
    "misused_calls": "misused kernel calls refused",
}
# (quantity, activation, position, loss, dtype) -> worst error seen, for the accuracy table.
ACCURACY: dict[tuple[str, ...], float] = {}
# The worst elementwise error of softmax outputs per dtype (a figure, not held to the tolerance).
SOFTMAX_ELEMENTWISE: dict[str, float] = {}


def count(key: str, n: int = 1) -> None:
    COUNTS[key] += n


def record_accuracy(key: tuple[str, ...], error: float) -> None:
    ACCURACY[key] = max(error, ACCURACY.get(key, 0.0))
