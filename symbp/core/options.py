"""Command-line options, checked as they are read: typed argparse converters with ranges, and a
parser whose errors are one line (exit code 2) before any work is done or any file written.

Each converter is a callable ``str -> value`` that raises ``argparse.ArgumentTypeError`` with
a message saying what is allowed; argparse prefixes it with the option's name.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from .errors import SymbpError

MAX_BATCH = 1_000_000  # rows of a test batch; memory decides below this (symbp.codegen.memory)
MAX_SEED = 2**32 - 1
MAX_STEPS = 10_000_000  # gradient-descent steps of a worked example
MAX_LEARNING_RATE = 1e6


class UsageError(SymbpError):
    """A command line argparse cannot read: an unknown option, a value out of range."""


class Parser(argparse.ArgumentParser):
    """argparse, but an error is a ``UsageError`` (one line, exit 2) instead of usage text and
    ``SystemExit``; subcommand parsers inherit this class."""

    def error(self, message: str) -> None:  # type: ignore[override]
        message = message.removeprefix("argument ")
        raise UsageError(f"{message} (see {self.prog} --help)")


def _shown(text: str) -> str:
    return repr(text[:40] + ("…" if len(text) > 40 else ""))


def integer(low: int, high: int) -> Callable[[str], int]:
    """A converter for a whole number in [low, high]."""
    def convert(text: str) -> int:
        if not re.fullmatch(r"\s*[+-]?[0-9]{1,12}\s*", text) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {low:,} to {high:,}, got {_shown(text)}")
        return int(text)
    convert.__name__ = "integer"
    return convert


def number(low: float, high: float, *, low_open: bool = True, high_open: bool = False,
           keep_text: bool = False) -> Callable[[str], float | str]:
    """A converter for a finite number in the interval from low to high (open at an end when
    asked); with ``keep_text`` it returns the text itself, so printed digits are kept."""
    left, right = "(" if low_open else "[", ")" if high_open else "]"

    def convert(text: str) -> float | str:
        try:
            value = float(Decimal(text.strip()))
        except (InvalidOperation, ValueError, OverflowError):
            value = math.nan
        inside = (low < value if low_open else low <= value) and (
            value < high if high_open else value <= high)
        if not math.isfinite(value) or not inside:
            raise argparse.ArgumentTypeError(
                f"must be a number in {left}{low:g}, {high:g}{right}, got {_shown(text)}")
        return text.strip() if keep_text else value
    convert.__name__ = "number"
    return convert


BATCH = integer(1, MAX_BATCH)
SEED = integer(0, MAX_SEED)
STEPS = integer(0, MAX_STEPS)
LEARNING_RATE = number(0, MAX_LEARNING_RATE)
LEARNING_RATE_TEXT = number(0, MAX_LEARNING_RATE, keep_text=True)
TOLERANCE = number(0, 1, high_open=True)
