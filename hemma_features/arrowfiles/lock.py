"""One exclusive, portable lock per partition (``filelock``: flock on POSIX, msvcrt on
Windows), so concurrent writers, in one process or several, take turns."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock

from hemma_features.arrowfiles.layout import LOCK


@contextlib.contextmanager
def partition_lock(directory: Path) -> Iterator[None]:
    """Hold ``directory/.lock`` exclusively for the block."""
    # thread_local=False: a lock object is used by one block only, whatever thread it is in.
    with FileLock(directory / LOCK, thread_local=False):
        yield
