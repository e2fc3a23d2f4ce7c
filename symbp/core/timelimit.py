"""Run a sympy routine with a time limit: some (solve, simplify) have no bound of their own."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any


class _OutOfTimeError(Exception):
    pass


def within(seconds: float, fn: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
    """(True, fn(*args)) if it finishes within ``seconds``, else (False, None).

    The limit uses SIGALRM, so it exists only in the main thread on POSIX; elsewhere (and for
    seconds <= 0) the routine is not run at all and (False, None) is returned.
    """
    in_main = threading.current_thread() is threading.main_thread()
    if seconds <= 0 or not hasattr(signal, "setitimer") or not in_main:
        return False, None

    def stop(signum, frame):  # noqa: ARG001
        raise _OutOfTimeError

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return True, fn(*args)
    except _OutOfTimeError:
        return False, None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Budget:
    """One time allowance shared by several bounded calls.

    ``within`` bounds each call; a search that makes many such calls (one per root of an
    equation, one per candidate form) still needs a bound on their sum, which this gives.
    """

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds remaining (never negative)."""
        return max(0.0, self.end - time.monotonic())

    def within(self, seconds: float, fn: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
        """``within(seconds, fn, *args)``, cut short to what remains of the allowance."""
        return within(min(seconds, self.left()), fn, *args)
