"""The local feature cache: a hive-partitioned Arrow dataset any Arrow tool can read.

Layout: ``ROOT/fingerprint=<fp>/feature_set=<fs>/part-<uuid>.arrow`` (Arrow IPC, the
default, memory-mappable) or ``.parquet`` (zstd), chosen once per cache and recorded in
``ROOT/_hemma-cache.json``. Every file holds ``key`` (content key), ``essay_id`` and the
set's feature columns, with the fingerprint, schema_version and catalogue in the schema
metadata.

Safety:
- a file is written under a hidden temp name (``.part-*.tmp``, which ``pyarrow.dataset``
  ignores), fsynced and renamed: a reader never sees half a file;
- writers of one partition take an exclusive ``flock`` on ``.lock`` in it and drop rows
  whose key is already there: concurrent clients never duplicate a row;
- multi-file rewrites (compaction) keep a journal so a crash is finished at the next lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Literal

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from client.errors import CacheError
from flight.contract import KEY_COLUMN, FeatureSet

CacheFormat = Literal["ipc", "parquet"]
SUFFIXES: dict[str, str] = {"ipc": ".arrow", "parquet": ".parquet"}
MANIFEST = "_hemma-cache.json"  # "_" and "." names are skipped by pyarrow.dataset
LOCK = ".lock"
JOURNAL = ".journal.json"
CACHE_LAYOUT_VERSION = 1


class Manifest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``ROOT/_hemma-cache.json``: how this cache stores its files."""

    layout_version: int = CACHE_LAYOUT_VERSION
    """Version of the directory layout."""
    format: CacheFormat = "ipc"
    """File format of every partition file."""


class Journal(msgspec.Struct, frozen=True, kw_only=True):
    """A multi-file replacement in progress: ``new`` replaces ``old`` once it exists."""

    new: str
    """Final name of the replacement file."""
    old: list[str]
    """Files the replacement makes redundant."""


def partition_dir(root: Path | str, fingerprint: str, feature_set: str) -> Path:
    """Directory holding one fingerprint's rows for one feature set."""
    return Path(root).expanduser() / f"fingerprint={fingerprint}" / f"feature_set={feature_set}"


def read_manifest(root: Path | str) -> Manifest:
    """The cache's manifest; an IPC cache when there is none yet."""
    path = Path(root).expanduser() / MANIFEST
    if not path.is_file():
        return Manifest()
    try:
        return msgspec.json.decode(path.read_bytes(), type=Manifest)
    except msgspec.DecodeError as exc:
        raise CacheError(f"{path} is not a hemma cache manifest: {exc}") from exc


def open_features(
    root: Path | str, fingerprint: str, feature_set: FeatureSet = "combined"
) -> ds.Dataset:
    """The cached rows of one fingerprint and feature set as a ``pyarrow.dataset.Dataset``.

    Args:
        root: Cache directory given to ``extract --cache``.
        fingerprint: The feature set's fingerprint (``hemma-features fingerprint``).
        feature_set: ``handcrafted``, ``embeddings`` or ``combined``.
    """
    directory = partition_dir(root, fingerprint, feature_set)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"no cached features for fingerprint {fingerprint} and feature set {feature_set} "
            f"under {root}"
        )
    return ds.dataset(directory, format=read_manifest(root).format)


def write_file(path: Path, table: pa.Table, file_format: CacheFormat) -> None:
    """Write ``table`` to ``path`` atomically: hidden temp name, fsync, rename."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if file_format == "parquet":
            pq.write_table(table, tmp, compression="zstd")
        else:
            with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FeatureCache:
    """Reads and writes the partitions of one cache directory.

    Args:
        root: Cache directory (created on first write).
        file_format: Format for a new cache; an existing cache keeps its own and a
            different request is an error.
    """

    def __init__(self, root: Path | str, file_format: CacheFormat | None = None) -> None:
        self.root = Path(root).expanduser()
        existing = (self.root / MANIFEST).is_file()
        manifest = read_manifest(self.root)
        if existing and file_format is not None and file_format != manifest.format:
            raise CacheError(
                f"cache {self.root} stores {manifest.format} files; it cannot take "
                f"{file_format} (use `hemma-features cache export --format {file_format}`)"
            )
        self.format: CacheFormat = manifest.format if existing else (file_format or "ipc")

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
        with open(directory / LOCK, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                recover(directory)
                yield directory
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def dataset(self, fingerprint: str, feature_set: str) -> ds.Dataset | None:
        """The partition as a dataset, or None when it holds no file yet."""
        directory = partition_dir(self.root, fingerprint, feature_set)
        if not directory.is_dir() or not any(directory.glob(f"part-*{self.suffix}")):
            return None
        return ds.dataset(directory, format=self.format)

    def known_keys(self, fingerprint: str, feature_set: str) -> set[str]:
        """Content keys already cached for this fingerprint and feature set."""
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
            write_file(directory / f"part-{uuid.uuid4().hex}{self.suffix}", table, self.format)
            return table.num_rows

    def read(self, fingerprint: str, feature_set: str, keys: Iterable[str]) -> pa.Table | None:
        """Cached rows whose key is in ``keys`` (one row per key, any order)."""
        dataset = self.dataset(fingerprint, feature_set)
        if dataset is None:
            return None
        wanted = pa.array(sorted(set(keys)), type=pa.string())
        return first_per_key(dataset.to_table(filter=pc.field(KEY_COLUMN).isin(wanted)))


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: hidden temp name, fsync, rename, fsync the dir.

    Used for bytes already in hand (manifests, journals, serialized datasets, ready files):
    a crash leaves either the old file or the whole new one.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def recover(directory: Path) -> None:
    """Finish or roll back a multi-file rewrite interrupted by a crash (lock held)."""
    journal_path = directory / JOURNAL
    if not journal_path.is_file():
        return
    journal = msgspec.json.decode(journal_path.read_bytes(), type=Journal)
    if (directory / journal.new).is_file():
        for name in journal.old:
            (directory / name).unlink(missing_ok=True)
    journal_path.unlink()


def first_per_key(table: pa.Table) -> pa.Table:
    """Drop repeated keys, keeping the first row of each."""
    keys = table.column(KEY_COLUMN)
    if pc.count_distinct(keys).as_py() == table.num_rows:
        return table
    first = pc.index_in(pc.unique(keys), value_set=keys)
    return table.take(first)
