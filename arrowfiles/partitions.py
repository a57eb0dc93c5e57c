"""``PartitionedDataset``: add rows whose key is new, read rows by key, one partition at a time.

Writers of one partition hold its lock (``lock.partition_lock``); under it they look only
at files that are new since their last look (``keyindex``) and drop rows whose key is
already stored, so concurrent writers never duplicate a row and no write rescans the
partition. Each commit is one new file, rows in arrival order, written atomically and named by
its checksum (``atomic``, ``layout``); past a number of small files a tier of them is
merged (``compaction``); an interrupted merge is finished before the lock is handed over
(``journal.recover``). Rows arrive in ``SegmentWriter`` buffers (``segments``) that commit
every few seconds or every target size, whichever comes first.

Readers use only files that verify (``checksums``): a damaged file is moved aside
(``damaged``) and its rows count as missing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from hemma_features.arrowfiles.atomic import FileFormat, staged_batches, write_bytes_atomically
from hemma_features.arrowfiles.checksums import forget
from hemma_features.arrowfiles.compaction import (
    FANOUT,
    TARGET_FILE_BYTES,
    merge_files,
    merge_plan,
    unique_batches,
)
from hemma_features.arrowfiles.damaged import healthy_files
from hemma_features.arrowfiles.journal import recover
from hemma_features.arrowfiles.keyindex import Located, PartitionIndex
from hemma_features.arrowfiles.layout import (
    MANIFEST,
    SUFFIXES,
    Manifest,
    part_path,
    partition_dir,
    read_manifest,
)
from hemma_features.arrowfiles.lock import partition_lock
from hemma_features.contract.schema import KEY_COLUMN

MAX_MERGES_PER_COMMIT = 16
"""Bound on cascading tier merges after one commit."""


@dataclass
class WriteStats:
    """What one ``PartitionedDataset`` has written (for tests and benchmarks)."""

    rows_committed: int = 0
    files_committed: int = 0
    rows_merged: int = 0
    merges: int = 0


class FormatConflictError(ValueError):
    """A root that stores one format was asked to take another."""


class PartitionedDataset:
    """Reads and writes the partitions of one dataset root.

    Args:
        root: Root directory (created on first write).
        file_format: Format for a new root; an existing root keeps its own and a
            different request raises ``FormatConflictError``.
        target_bytes: Size at which a file is final (never merged again).
        fanout: Files of one size tier merged at once.
    """

    def __init__(
        self,
        root: Path | str,
        file_format: FileFormat | None = None,
        *,
        target_bytes: int = TARGET_FILE_BYTES,
        fanout: int = FANOUT,
    ) -> None:
        self.root = Path(root).expanduser()
        self.target_bytes = target_bytes
        self.fanout = fanout
        self._indexes: dict[tuple[str, str], PartitionIndex] = {}
        self.stats = WriteStats()
        existing = (self.root / MANIFEST).is_file()
        manifest = read_manifest(self.root)
        if existing and file_format is not None and file_format != manifest.format:
            raise FormatConflictError(
                f"cache {self.root} stores {manifest.format} files; it cannot take "
                f"{file_format} (use `hemma-features cache export --format {file_format}`)"
            )
        self.format: FileFormat = manifest.format if existing else (file_format or "ipc")

    @property
    def suffix(self) -> str:
        return SUFFIXES[self.format]

    def _ensure_manifest(self) -> None:
        path = self.root / MANIFEST
        if not path.is_file():
            self.root.mkdir(parents=True, exist_ok=True)
            write_bytes_atomically(path, msgspec.json.encode(Manifest(format=self.format)))

    @contextlib.contextmanager
    def locked(self, fingerprint: str, feature_set: str) -> Iterator[Path]:
        """Exclusive lock on one partition; finishes an interrupted rewrite first."""
        self._ensure_manifest()
        directory = partition_dir(self.root, fingerprint, feature_set)
        directory.mkdir(parents=True, exist_ok=True)
        with partition_lock(directory):
            recover(directory)
            yield directory

    def dataset(self, fingerprint: str, feature_set: str) -> ds.Dataset | None:
        """The partition's intact files as a dataset, or None when it holds none.

        Damaged files are moved aside first (``damaged.healthy_files``), so their rows are
        missing rather than wrong.
        """
        directory = partition_dir(self.root, fingerprint, feature_set)
        if not directory.is_dir():
            return None
        files = healthy_files(directory, self.format)
        if not files:
            return None
        return ds.dataset([str(path) for path in files], format=self.format)

    def index(self, fingerprint: str, feature_set: str, *, refresh: bool = True) -> PartitionIndex:
        """The partition's key index (one per partition and object), brought up to date."""
        key = (fingerprint, feature_set)
        index = self._indexes.get(key)
        if index is None:
            index = self._indexes.setdefault(
                key, PartitionIndex(partition_dir(self.root, fingerprint, feature_set), self.format)
            )
        if refresh:
            index.refresh()
        return index

    def locate(self, fingerprint: str, feature_set: str, keys: Iterable[str] | pa.Array) -> Located:
        """Where each of ``keys`` is stored (see ``Located``)."""
        return self.index(fingerprint, feature_set).locate(_as_keys(keys))

    def contains(
        self, fingerprint: str, feature_set: str, keys: Iterable[str] | pa.Array
    ) -> np.ndarray:
        """Boolean mask over ``keys``: is the key stored."""
        return self.locate(fingerprint, feature_set, keys).present

    def known_keys(self, fingerprint: str, feature_set: str) -> set[str]:
        """Every content key stored for this fingerprint and feature set (reads them all)."""
        keys: set[str] = set()
        for file in self.index(fingerprint, feature_set).files():
            keys.update(file.table().column(KEY_COLUMN).to_pylist())
        return keys

    def read(
        self, fingerprint: str, feature_set: str, keys: Iterable[str] | pa.Array
    ) -> pa.Table | None:
        """Stored rows whose key is in ``keys``: one row per key, in storage order, absent
        keys skipped; None when none is stored."""
        unique = pc.unique(_as_keys(keys))
        return self.locate(fingerprint, feature_set, unique).take(ordered=False)

    def write(self, fingerprint: str, feature_set: str, table: pa.Table) -> int:
        """Add rows whose key is not there yet, now, as one new file; returns rows written.

        Under the partition lock: drop rows already stored and repeats (the first of each
        key stays), write the rest in arrival order, index the file, and merge a tier of
        small files if one is full."""
        if table.num_rows == 0:
            return 0
        with self.locked(fingerprint, feature_set) as directory:
            index = self.index(fingerprint, feature_set)  # sees other writers' new files
            stored = index.locate(table.column(KEY_COLUMN)).present
            if stored.any():
                table = table.filter(pa.array(~stored))
            if table.num_rows == 0:
                return 0
            rows, batches = unique_batches(table)
            with staged_batches(directory, table.schema, batches, self.format) as staged:
                path = part_path(directory, staged.digest, self.format)
                staged.commit(path)
            index.add(path)
            self.stats.rows_committed += rows
            self.stats.files_committed += 1
            self._merge_tiers(directory, index)
            return rows

    def _merge_tiers(self, directory: Path, index: PartitionIndex) -> None:
        for _ in range(MAX_MERGES_PER_COMMIT):
            files = {file.path: file for file in index.files()}
            sizes = {}
            for path in files:
                with contextlib.suppress(FileNotFoundError):
                    sizes[path] = path.stat().st_size
            plan = merge_plan(sizes, self.target_bytes, self.fanout)
            if not plan:
                return
            tables = [files[p].table() for p in plan]
            new = merge_files(directory, tables, plan, self.format)
            self.stats.rows_merged += sum(table.num_rows for table in tables)
            self.stats.merges += 1
            for path in plan:
                forget(path)
            index.forget({path.name for path in plan if path != new})
            index.add(new)


def _as_keys(keys: Iterable[str] | pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    if isinstance(keys, (pa.Array, pa.ChunkedArray)):
        return keys
    return pa.array(list(keys), type=pa.string())
