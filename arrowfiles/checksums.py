"""Is a data file intact? Its name records the sha256 of its bytes; compare.

``part-<sha256>.arrow`` (``layout.part_path``) gets its name from the bytes written, in
the rename that publishes it, so a file and its checksum never disagree after a crash:
any later flip or truncation does. Files with other names were written before checksums
("legacy"): they are only read in full, which catches truncation but not a flipped value.

Hashing reads the whole file, so a verdict is memoised per process by (path, size,
mtime_ns): a file is hashed once per process unless it changes size or mtime.
``cache verify`` asks for a fresh hash (``memo=False``) because checking is its whole job.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from hemma_features.arrowfiles.atomic import file_sha256
from hemma_features.arrowfiles.layout import file_format_of, recorded_digest

CHECKSUM_MISMATCH = "checksum mismatch"
UNREADABLE = "unreadable"
# The last bytes of a whole file of each format: their absence means a truncated file.
_FOOTER_MAGIC = {"ipc": b"ARROW1", "parquet": b"PAR1"}

_memo: dict[str, tuple[int, int, str | None]] = {}
_memo_lock = threading.Lock()


def verify_file(path: Path, *, memo: bool = True) -> str | None:
    """None if ``path`` is intact, else the problem (``checksum mismatch`` or ``unreadable``).

    Raises FileNotFoundError when the file is gone (evicted or compacted meanwhile).

    Args:
        path: A partition data file.
        memo: Reuse this process's verdict while size and mtime are unchanged.
    """
    stat = path.stat()
    key = str(path)
    if memo:
        with _memo_lock:
            known = _memo.get(key)
        if known is not None and known[:2] == (stat.st_size, stat.st_mtime_ns):
            return known[2]
    problem = _check(path)
    with _memo_lock:
        _memo[key] = (stat.st_size, stat.st_mtime_ns, problem)
    return problem


def touch(path: Path) -> None:
    """Set ``path``'s mtime to now (least-recently-used order) keeping its memoised verdict.

    Only mtime changes, not the bytes, so re-hashing the file would be wasted work.
    """
    before = path.stat()
    os.utime(path)
    after = path.stat()
    key = str(path)
    with _memo_lock:
        known = _memo.get(key)
        if known is not None and known[:2] == (before.st_size, before.st_mtime_ns):
            _memo[key] = (after.st_size, after.st_mtime_ns, known[2])


def forget(path: Path) -> None:
    """Drop the memoised verdict of a file that was moved or deleted."""
    with _memo_lock:
        _memo.pop(str(path), None)


def _check(path: Path) -> str | None:
    expected = recorded_digest(path)
    if expected is None:
        return _read_problem(path)
    if file_sha256(path) == expected:
        return None
    # Tell truncation from a changed byte by the footer magic alone: parsing a damaged file
    # is exactly what this check exists to avoid.
    magic = _FOOTER_MAGIC[file_format_of(path)]
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(size - len(magic), 0))
        if handle.read() != magic:
            return f"{UNREADABLE}: truncated (no {file_format_of(path)} footer)"
    return CHECKSUM_MISMATCH


def _read_problem(path: Path) -> str | None:
    """Read a legacy file in full; None if that works, else why it does not."""
    try:
        if file_format_of(path) == "parquet":
            pq.read_table(path).validate(full=True)
        else:
            with pa.memory_map(str(path)) as source:
                ipc.open_file(source).read_all().validate(full=True)
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        return f"{UNREADABLE}: {exc}"
    return None
