"""The robustness summary line, printed after the test run from counts the tests made.

Under pytest-xdist each worker counts its own cases; ``dump`` and ``merge`` carry a worker's
counts to the controller, which prints the sum."""

from __future__ import annotations

import json

from .tally import ACCURACY, COUNTS, LABELS, SOFTMAX_ELEMENTWISE


def summary_line() -> str:
    """Every counted class in the order of ``tally.LABELS``, mismatches last."""
    parts = [f"{COUNTS[key]} {label}" for key, label in LABELS.items()]
    return f"robustness: {', '.join(parts)}, {COUNTS['mismatches']} mismatches"


def accuracy_lines() -> list[str]:
    """Worst error per activation and position, float64 and float32, over all losses."""
    table: dict[tuple[str, str], dict[str, float]] = {}
    for (activation, position, _loss, dtype), error in ACCURACY.items():
        row = table.setdefault((activation, position), {})
        row[dtype] = max(error, row.get(dtype, 0.0))
    lines = []
    for (activation, position), row in sorted(table.items()):
        cells = ", ".join(f"{dtype} {row[dtype]:.1e}" for dtype in sorted(row))
        lines.append(f"  {activation:>10s} at {position:6s}: {cells}")
    return lines


def write(terminalreporter) -> None:
    """The accuracy table and the summary line, after the run."""
    if not COUNTS and not ACCURACY:
        return
    terminalreporter.write_sep("-", "robustness")
    if ACCURACY:
        terminalreporter.write_line(
            "worst error against a 600-digit mpmath reference (forward, loss, gradients; "
            "pre-activations up to ±1e3, targets within 1e-12 of 0 and 1; tests/robustness/"
            "reference.py says how it is measured):")
        for line in accuracy_lines():
            terminalreporter.write_line(line)
    if SOFTMAX_ELEMENTWISE:
        figures = ", ".join(f"{v:.1e} ({k})" for k, v in sorted(SOFTMAX_ELEMENTWISE.items()))
        terminalreporter.write_line(
            f"  softmax outputs element by element: {figures} (held row by row instead: a tiny "
            "probability e^(z_i - max) has the relative error |z_i - max| times the rounding of z)")
    if COUNTS["numerics_calls"]:
        terminalreporter.write_line(
            f"  {COUNTS['numerics_underflow']} of {COUNTS['numerics_calls']} kernel calls raise "
            "FloatingPointError under np.errstate(under='raise'), all for underflow (results below "
            "the smallest normal number, e.g. sigmoid(-1000) = 5e-435, are correctly 0); none for "
            "overflow, invalid or division by zero")
    if COUNTS["oracle_disagreements"]:
        terminalreporter.write_line(
            f"  {COUNTS['oracle_disagreements']} fuzzed architectures where autograd of the defined "
            "loss lost digits (saturated outputs) and the 600-digit reference confirmed the kernel")
    terminalreporter.write_line(summary_line())


def dump() -> str:
    """This process's counts as JSON, for the controller of a parallel run."""
    return json.dumps({"counts": dict(COUNTS), "accuracy": [[list(k), v] for k, v in ACCURACY.items()],
                       "softmax": SOFTMAX_ELEMENTWISE})


def merge(text: str) -> None:
    """Add a worker's counts to this process's: counts add up, worst errors take the maximum."""
    data = json.loads(text)
    COUNTS.update(data["counts"])
    for key, error in data["accuracy"]:
        ACCURACY[tuple(key)] = max(error, ACCURACY.get(tuple(key), 0.0))
    for key, error in data["softmax"].items():
        SOFTMAX_ELEMENTWISE[key] = max(error, SOFTMAX_ELEMENTWISE.get(key, 0.0))
