"""Merging files: tiered automatic compaction and the full merge of ``cache compact``.

Writers commit a file every few seconds, so a partition collects small files. Files are
grouped in size tiers (tier 0 below ``base`` = target / fanout**3, tier k below
``base * fanout**k``); once a tier holds ``fanout`` files they are merged into one, which
is at least ``fanout`` times the tier's floor and so lands in a higher tier. Files at or
above the target size are never merged again. A row is therefore rewritten about once per
tier (four tiers with the defaults: below 128 KiB, 1 MiB, 8 MiB and 64 MiB; tier 0 may
merge a few more times when commits are far smaller than 128 KiB), so the cost of
writing stays linear in the rows written while a partition keeps a few dozen files
however large it grows.

A merge streams: it finds repeated keys on the key column only, then writes the rows one
slice at a time in their order, so memory stays at one slice whatever the merged size.
It is crash-safe through the journal (``journal.replace_files``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hemma_features.arrowfiles.atomic import FileFormat
from hemma_features.arrowfiles.journal import replace_files
from hemma_features.contract.schema import KEY_COLUMN

TARGET_FILE_BYTES = 64 * 1024**2
"""Files this large are final: never merged again."""
FANOUT = 8
"""Files of one tier merged at once."""
TIERS_BELOW_TARGET = 4
"""Size tiers below the target: tier 0 holds sizes below target / fanout**3, tier k
sizes below target / fanout**(3 - k)."""
WRITE_SLICE_ROWS = 8192
"""Rows per record batch in a written file (and per step of a streaming merge)."""


def tier(size: int, target: int = TARGET_FILE_BYTES, fanout: int = FANOUT) -> int | None:
    """A file's size tier; None for a file at or above the target (final)."""
    if size >= target:
        return None
    base = max(1, target // fanout ** (TIERS_BELOW_TARGET - 1))
    if size < base:
        return 0
    return min(TIERS_BELOW_TARGET - 1, int(math.log(size / base, fanout)) + 1)


def merge_plan(
    sizes: dict[Path, int], target: int = TARGET_FILE_BYTES, fanout: int = FANOUT
) -> list[Path]:
    """Files to merge now: the smallest tier holding ``fanout`` files; [] if none does."""
    tiers: dict[int, list[Path]] = {}
    for path, size in sizes.items():
        level = tier(size, target, fanout)
        if level is not None:
            tiers.setdefault(level, []).append(path)
    for level in sorted(tiers):
        if len(tiers[level]) >= fanout:
            return sorted(tiers[level])
    return []


def _first_of_each_key(table: pa.Table) -> np.ndarray | None:
    """Ascending rows holding the first occurrence of each key; None if no key repeats."""
    keys = table.column(KEY_COLUMN)
    if pc.count_distinct(keys).as_py() == table.num_rows:
        return None
    return np.sort(pc.index_in(pc.unique(keys), value_set=keys).to_numpy())


def _slices(table: pa.Table, order: np.ndarray | None) -> Iterator[pa.RecordBatch]:
    rows = table.num_rows if order is None else order.size
    for start in range(0, rows, WRITE_SLICE_ROWS):
        part = (
            table.slice(start, WRITE_SLICE_ROWS)
            if order is None
            else table.take(pa.array(order[start : start + WRITE_SLICE_ROWS]))
        )
        yield from part.combine_chunks().to_batches()


def unique_batches(table: pa.Table) -> tuple[int, Iterator[pa.RecordBatch]]:
    """(rows, batches) of ``table`` without repeated keys, in its order, a slice at a time."""
    order = _first_of_each_key(table)
    return (table.num_rows if order is None else int(order.size)), _slices(table, order)


def merge_files(
    directory: Path, tables: list[pa.Table], old: list[Path], file_format: FileFormat
) -> Path:
    """Replace ``old`` (whose rows are ``tables``) with one file, repeated keys dropped and
    row order kept (rows that arrived together stay together).

    The partition lock must be held. Returns the new file.
    """
    pool = pa.concat_tables(tables, promote_options="none") if len(tables) > 1 else tables[0]
    _, batches = unique_batches(pool)
    return replace_files(directory, pool.schema, batches, old, file_format)
