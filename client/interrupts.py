"""Ctrl-C during ``extract``: acknowledged at once, saved, gone within seconds.

The first SIGINT writes ``stopping: saving what arrived...`` to stderr and raises
``KeyboardInterrupt`` in the main thread, which cancels the Flight call (the worker
thread of ``client._exchange`` lets go of it) and commits the rows already received (the
write session commits on any exit; every file is written aside and renamed, so none is
ever half there). A watchdog ends the process with 130 if that has not finished within
``GRACE_SECONDS``; a second Ctrl-C ends it at once. Either way the cache stays valid:
what was committed is whole, and a rerun fetches the rest.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

GRACE_SECONDS = 4.0
"""Longest the first Ctrl-C waits for the save before the process ends anyway."""
EXIT_CODE = 130
"""128 + SIGINT, what a shell reports for a process ended by Ctrl-C."""
STOPPING = "stopping: saving what arrived... (Ctrl-C again to quit at once)\n"


def _say(text: str) -> None:
    with contextlib.suppress(OSError):  # stderr closed: nothing to tell
        os.write(2, text.encode())


class _Handler:
    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.count = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count > 1:
            _say("stopped at once; the cache holds what was committed, a rerun fetches the rest\n")
            os._exit(EXIT_CODE)
        _say(STOPPING)
        watchdog = threading.Timer(self.grace, self._give_up)
        watchdog.daemon = True
        watchdog.start()
        raise KeyboardInterrupt

    def _give_up(self) -> None:
        _say(
            f"stopping: not saved within {self.grace:g} s; quitting (files already committed "
            "are intact, a rerun fetches the rest)\n"
        )
        os._exit(EXIT_CODE)


@contextlib.contextmanager
def stop_on_ctrl_c(grace: float = GRACE_SECONDS) -> Iterator[None]:
    """Within the block, SIGINT behaves as the module docstring says (main thread only;
    elsewhere the block runs with the handler it had)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = _Handler(grace)
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        if not handler.count:  # once stopping, a second Ctrl-C still quits at once
            signal.signal(signal.SIGINT, previous)
