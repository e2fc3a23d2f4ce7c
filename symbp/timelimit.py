"""Run a sympy routine with a time limit: some (solve, simplify) have no bound of their own."""

from __future__ import annotations

import signal
import threading
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
