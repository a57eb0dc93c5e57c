"""The local feature cache: a hive-partitioned Arrow IPC dataset any Arrow tool can read.

Layout: ``ROOT/fingerprint=<fp>/feature_set=<fs>/part-<uuid>.arrow``. Every file holds
``key`` (content key), ``essay_id``, the embedding and/or the handcrafted columns, with
the fingerprint, schema_version and catalogue in the schema metadata. Files are written
under a hidden temp name (``.part-*.tmp``, ignored by ``pyarrow.dataset``) and renamed,
so a reader never sees half a file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.ipc as ipc

from flight.contract import KEY_COLUMN, FeatureSet

SUFFIX = ".arrow"


def partition_dir(root: Path | str, fingerprint: str, feature_set: FeatureSet) -> Path:
    """Directory holding one fingerprint's rows for one feature set."""
    return Path(root) / f"fingerprint={fingerprint}" / f"feature_set={feature_set}"


def open_features(
    root: Path | str, fingerprint: str, feature_set: FeatureSet = "combined"
) -> ds.Dataset:
    """The cached rows of one fingerprint and feature set as a ``pyarrow.dataset.Dataset``.

    Args:
        root: Cache directory given to ``extract --cache``.
        fingerprint: Server fingerprint (``hemma-features fingerprint``).
        feature_set: ``handcrafted``, ``embeddings`` or ``combined``.
    """
    directory = partition_dir(root, fingerprint, feature_set)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"no cached features for fingerprint {fingerprint} and feature set {feature_set} "
            f"under {root}"
        )
    return ds.dataset(directory, format="ipc")


class FeatureCache:
    """Reads and atomically writes the partitions of one cache directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def known_keys(self, fingerprint: str, feature_set: FeatureSet) -> set[str]:
        """Content keys already cached for this fingerprint and feature set."""
        directory = partition_dir(self.root, fingerprint, feature_set)
        if not directory.is_dir():
            return set()
        keys = ds.dataset(directory, format="ipc").to_table(columns=[KEY_COLUMN])
        return set(keys.column(KEY_COLUMN).to_pylist())

    def write(self, fingerprint: str, feature_set: FeatureSet, table: pa.Table) -> Path:
        """Write one new file (temp name, fsync, rename) and return its path."""
        directory = partition_dir(self.root, fingerprint, feature_set)
        directory.mkdir(parents=True, exist_ok=True)
        name = f"part-{uuid.uuid4().hex}{SUFFIX}"
        tmp = directory / f".{name}.tmp"
        try:
            with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            final = directory / name
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return final

    def read(self, fingerprint: str, feature_set: FeatureSet, keys: Iterable[str]) -> pa.Table:
        """Cached rows whose key is in ``keys`` (one row per key, any order)."""
        dataset = open_features(self.root, fingerprint, feature_set)
        wanted = pa.array(sorted(set(keys)), type=pa.string())
        table = dataset.to_table(filter=pc.field(KEY_COLUMN).isin(wanted))
        return _first_per_key(table)


def _first_per_key(table: pa.Table) -> pa.Table:
    """Drop repeated keys (two runs may have raced to write the same rows)."""
    keys = table.column(KEY_COLUMN)
    if pc.count_distinct(keys).as_py() == table.num_rows:
        return table
    unique = pc.unique(keys)
    first = pc.index_in(unique, value_set=keys)
    return table.take(first)
