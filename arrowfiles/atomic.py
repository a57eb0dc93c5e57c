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
from collections.abc import Iterable, Iterator
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
    with staged_batches(directory, table.schema, table.to_batches(), file_format) as staged:
        yield staged


@contextlib.contextmanager
def staged_batches(
    directory: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch], file_format: FileFormat
) -> Iterator[StagedFile]:
    """``staged_table`` for batches produced one at a time (memory: one batch)."""
    tmp = directory / f".part.{uuid.uuid4().hex[:8]}.tmp"
    try:
        _write_batches(tmp, schema, batches, file_format)
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
    _write_batches(path, table.schema, table.to_batches(), file_format)


def _write_batches(
    path: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch], file_format: FileFormat
) -> None:
    if file_format == "parquet":
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for batch in batches:
                writer.write_batch(batch)
    else:
        with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
