"""Atomic file writes: a reader sees the old file or the whole new one, never a part.

Every write goes to a hidden temp name in the target directory (``.NAME.<hex>.tmp``,
which ``pyarrow.dataset`` skips), is fsynced, renamed over the target, and the directory
is fsynced so the rename survives a power cut.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

FileFormat = Literal["ipc", "parquet"]
TEMP_GLOB = ".*.tmp"


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; once the block has written it, it becomes ``path``.

    If the block raises, the temp file is removed and ``path`` is untouched.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write bytes already in hand (manifests, journals, datasets, ready files)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_table_atomically(path: Path, table: pa.Table, file_format: FileFormat) -> None:
    """Write ``table`` as Arrow IPC (file format) or Parquet (zstd)."""
    with atomic_path(path) as tmp:
        if file_format == "parquet":
            pq.write_table(table, tmp, compression="zstd")
        else:
            with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
