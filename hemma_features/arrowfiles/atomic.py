"""Atomic file writes: a reader sees the old file or the whole new one, never a part.

Every write goes to a hidden temp name in the target directory (``.NAME.<hex>.tmp``,
which ``pyarrow.dataset`` skips), is fsynced, renamed over the target, and the directory
is fsynced so the rename survives a power cut.

Table writes also return the sha256 of the bytes written, hashed from the temp file before
the rename, so a file can be named by its own checksum (``staged_table``): the name, and so
the checksum, lands with the same rename as the bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
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


def write_table_atomically(path: Path, table: pa.Table, file_format: FileFormat) -> str:
    """Write ``table`` as Arrow IPC (file format) or Parquet (zstd); returns its sha256 (hex)."""
    with atomic_path(path) as tmp:
        _write_table(tmp, table, file_format)
        digest = file_sha256(tmp)
    return digest


class StagedFile:
    """A table written and fsynced under a hidden temp name, hashed, not yet in place.

    Attributes:
        tmp: The hidden temp file.
        digest: sha256 (hex) of its bytes.
    """

    def __init__(self, tmp: Path, digest: str) -> None:
        self.tmp = tmp
        self.digest = digest

    def commit(self, path: Path) -> None:
        """Rename the temp file to ``path`` (same directory) and make the rename durable."""
        os.replace(self.tmp, path)
        fsync_dir(path.parent)


@contextlib.contextmanager
def staged_table(directory: Path, table: pa.Table, file_format: FileFormat) -> Iterator[StagedFile]:
    """Write ``table`` to a hidden temp file in ``directory``, fsync and hash it.

    The block decides the final name from ``digest`` and calls ``commit``; a temp file the
    block did not commit (it raised, or chose not to) is removed.
    """
    tmp = directory / f".part.{uuid.uuid4().hex[:8]}.tmp"
    try:
        _write_table(tmp, table, file_format)
        with open(tmp, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
            os.fsync(handle.fileno())
        yield StagedFile(tmp, digest)
    finally:
        tmp.unlink(missing_ok=True)


def file_sha256(path: Path) -> str:
    """sha256 (hex) of a file's bytes, read in chunks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _write_table(path: Path, table: pa.Table, file_format: FileFormat) -> None:
    if file_format == "parquet":
        pq.write_table(table, path, compression="zstd")
    else:
        with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
