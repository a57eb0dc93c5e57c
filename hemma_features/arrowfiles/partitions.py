"""``PartitionedDataset``: add rows whose key is new, read rows by key, one partition at a time.

Writers of one partition hold its lock (``lock.partition_lock``) and drop rows whose key
is already there, so concurrent writers never duplicate a row; each write is one new file
written atomically and named by its checksum (``atomic``, ``layout``); an interrupted
multi-file rewrite is finished before the lock is handed over (``journal.recover``).
Readers use only files that verify (``checksums``): a damaged file is moved aside
(``damaged``) and its rows count as missing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from hemma_features.arrowfiles.atomic import FileFormat, staged_table, write_bytes_atomically
from hemma_features.arrowfiles.damaged import healthy_files
from hemma_features.arrowfiles.journal import recover
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


class FormatConflictError(ValueError):
    """A root that stores one format was asked to take another."""


class PartitionedDataset:
    """Reads and writes the partitions of one dataset root.

    Args:
        root: Root directory (created on first write).
        file_format: Format for a new root; an existing root keeps its own and a
            different request raises ``FormatConflictError``.
    """

    def __init__(self, root: Path | str, file_format: FileFormat | None = None) -> None:
        self.root = Path(root).expanduser()
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

    def known_keys(self, fingerprint: str, feature_set: str) -> set[str]:
        """Content keys already stored for this fingerprint and feature set."""
        dataset = self.dataset(fingerprint, feature_set)
        if dataset is None:
            return set()
        return set(dataset.to_table(columns=[KEY_COLUMN]).column(KEY_COLUMN).to_pylist())

    def write(
        self,
        fingerprint: str,
        feature_set: str,
        table: pa.Table,
        known: Callable[[], Collection[str]] | None = None,
    ) -> int:
        """Add rows whose key is not there yet, as one new file. Returns rows written.

        ``known`` lists the partition's keys under the lock (default: read them all).
        """
        with self.locked(fingerprint, feature_set) as directory:
            present = (known or (lambda: self.known_keys(fingerprint, feature_set)))()
            if present:
                fresh = pc.invert(pc.is_in(table.column(KEY_COLUMN), pa.array(list(present))))
                table = table.filter(fresh)
            if table.num_rows == 0:
                return 0
            with staged_table(directory, table, self.format) as staged:
                staged.commit(part_path(directory, staged.digest, self.format))
            return table.num_rows

    def read(self, fingerprint: str, feature_set: str, keys: Iterable[str]) -> pa.Table | None:
        """Stored rows whose key is in ``keys`` (one row per key, any order)."""
        dataset = self.dataset(fingerprint, feature_set)
        if dataset is None:
            return None
        wanted = pa.array(sorted(set(keys)), type=pa.string())
        return first_per_key(dataset.to_table(filter=pc.field(KEY_COLUMN).isin(wanted)))


def first_per_key(table: pa.Table) -> pa.Table:
    """Drop repeated keys, keeping the first row of each."""
    keys = table.column(KEY_COLUMN)
    if pc.count_distinct(keys).as_py() == table.num_rows:
        return table
    first = pc.index_in(pc.unique(keys), value_set=keys)
    return table.take(first)
