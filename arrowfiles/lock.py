"""One exclusive, portable lock per partition (``filelock``: flock on POSIX, msvcrt on
Windows), so concurrent writers, in one process or several, take turns."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock

from hemma_features.arrowfiles.layout import LOCK

_held = threading.local()


@contextlib.contextmanager
def partition_lock(directory: Path) -> Iterator[None]:
    """Hold ``directory/.lock`` exclusively for the block; re-entrant within one thread.

    A writer holding the lock reads the partition's keys, and that read may move a damaged
    file aside, which takes the lock again: a second flock on a new descriptor would wait
    for ourselves forever.
    """
    held: set[str] = _held.__dict__.setdefault("directories", set())
    key = os.path.abspath(directory)
    if key in held:
        yield
        return
    # thread_local=False: a lock object is used by one block only, whatever thread it is in.
    with FileLock(directory / LOCK, thread_local=False):
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
