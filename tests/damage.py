"""Damaging files on purpose: bit flips and truncations, as disks and copies do."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def damage(path: Path, change: Callable[[bytes], bytes]) -> None:
    """Change a file's bytes in place and move its mtime on, as a later write would (the
    per-process verdict memo is keyed by size and mtime; damage that keeps both is the
    documented blind spot, caught by ``cache verify``)."""
    before = path.stat()
    path.write_bytes(change(path.read_bytes()))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))


def flip_bit(position: int, bit: int) -> Callable[[bytes], bytes]:
    """A change that flips one bit."""

    def change(data: bytes) -> bytes:
        changed = bytearray(data)
        changed[position] ^= 1 << bit
        return bytes(changed)

    return change


def data_offset(path: Path) -> int:
    """Where, in an Arrow IPC file, the values of the first batch's last column start: a
    bit flipped there leaves the file readable (schema, footer and keys intact) while its
    checksum no longer matches, wherever the metadata puts the batch."""
    import pyarrow as pa

    whole = pa.memory_map(str(path)).read_buffer()
    batch = pa.ipc.open_file(pa.BufferReader(whole)).get_batch(0)
    column = batch.column(batch.num_columns - 1)
    values = column.values if hasattr(column, "values") else column
    return values.buffers()[1].address - whole.address


def truncate(data: bytes) -> bytes:
    """A change that keeps the first half."""
    return data[: len(data) // 2]
