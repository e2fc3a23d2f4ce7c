"""Detecting execution of user text: a sentinel file and a Python audit hook.

Every hostile string in these tests tries, if it were run, to create a file called PWNED in the
current folder (a fresh temporary folder). Independently, an audit hook (PEP 578) records, while
a ``Watch`` is active, any ``compile()`` of source that contains the hostile text, any process
launch, and any attempt to open a path containing PWNED: what eval/exec of the text, a shell
escape, or rendering it as a Jinja template would do.
"""

from __future__ import annotations

import sys
from pathlib import Path

SENTINEL = "PWNED"
_WATCHES: list[Watch] = []
_LAUNCH = {"os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
           "subprocess.Popen", "pty.spawn", "os.startfile", "ctypes.dlopen"}


def _hook(event: str, args: tuple) -> None:
    if not _WATCHES:
        return
    watch = _WATCHES[-1]
    if event == "compile":
        source = args[0] if args else None
        if isinstance(source, bytes):
            source = source.decode("utf-8", "replace")
        if isinstance(source, str) and any(m in source for m in watch.markers):
            watch.events.append(f"compile of source containing the input: {source[:80]!r}")
    elif event in _LAUNCH:
        watch.events.append(f"{event}{args!r:.80}")
    elif event == "open" and args and SENTINEL in str(args[0]):
        watch.events.append(f"open({args[0]!r})")


sys.addaudithook(_hook)


class Watch:
    """``with Watch(text, folder) as w: …`` then ``w.assert_nothing_ran()``."""

    def __init__(self, text: str, folder: Path, *, compiles: bool = True):
        """``compiles=False`` when importing generated code on purpose: its comments may quote
        the hostile text, so only launches, sentinel opens and the sentinel file count."""
        self.markers = ([SENTINEL] + ([text] if len(text.strip()) >= 4 else [])) if compiles else []
        self.folder = folder
        self.events: list[str] = []

    def __enter__(self) -> Watch:
        _WATCHES.append(self)
        return self

    def __exit__(self, *exc) -> bool:
        _WATCHES.remove(self)
        return False

    def assert_nothing_ran(self) -> None:
        assert not self.events, self.events
        assert not (self.folder / SENTINEL).exists(), "the sentinel file was created"


def self_test(folder: Path) -> None:
    """The detector must see a real eval and a real file creation (else it proves nothing)."""
    code = "open('PWNED', 'w').close()"
    with Watch(code, folder) as watch:
        eval(compile(code, "<self-test>", "eval"))  # noqa: S307 - the detector's own check
    assert watch.events and (folder / SENTINEL).exists()
    (folder / SENTINEL).unlink()
