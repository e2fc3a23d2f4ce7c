"""The robustness summary line, printed after the test run from counts the tests made."""

from __future__ import annotations

from .tally import ACCURACY, COUNTS, SOFTMAX_ELEMENTWISE


def summary_line() -> str:
    return (f"robustness: {COUNTS['bad_specs']} bad specs, {COUNTS['bad_options']} bad options, "
            f"{COUNTS['hostile_strings']} hostile "
            f"strings, {COUNTS['architectures']} architectures fuzzed, "
            f"{COUNTS['mismatches']} mismatches")


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


def pytest_terminal_summary(terminalreporter, exitstatus, config):
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
