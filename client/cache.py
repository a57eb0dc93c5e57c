"""The local feature cache: a hive-partitioned Arrow dataset any Arrow tool can read.

Layout (``hemma_features.arrowfiles.layout``): ``ROOT/fingerprint=<fp>/feature_set=<fs>/
part-<sha256>.arrow`` (Arrow IPC, the default, memory-mappable) or ``.parquet`` (zstd),
chosen once per cache and recorded in ``ROOT/_hemma-cache.json``; ``<sha256>`` is the
checksum of the file's bytes. Every file holds ``key``
(content key), ``essay_id`` and the set's feature columns, with the fingerprint,
schema_version and catalogue in the schema metadata.

Safety comes from the Arrow file layer: atomic writes (a reader never sees half a file),
one lock per partition with no duplicate keys, a journal for multi-file rewrites, and
checksums: a file that no longer hashes to its name is moved aside to ``ROOT/_damaged/``
and its rows are fetched again.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds

from hemma_features.arrowfiles.atomic import FileFormat
from hemma_features.arrowfiles.layout import ManifestError, partition_dir, read_manifest
from hemma_features.arrowfiles.partitions import FormatConflictError, PartitionedDataset
from hemma_features.client.errors import CacheError
from hemma_features.contract import FeatureSet

CacheFormat = FileFormat


class FeatureCache(PartitionedDataset):
    """The partitions of one cache directory (see ``PartitionedDataset``).

    Args:
        root: Cache directory (created on first write).
        file_format: Format for a new cache; an existing cache keeps its own and a
            different request is a ``CacheError``.
    """

    def __init__(self, root: Path | str, file_format: CacheFormat | None = None) -> None:
        try:
            super().__init__(root, file_format)
        except (FormatConflictError, ManifestError) as exc:
            raise CacheError(str(exc)) from exc


def cache_format(root: Path | str) -> CacheFormat:
    """The file format a cache directory stores (``ipc`` when it has no manifest yet)."""
    try:
        return read_manifest(root).format
    except ManifestError as exc:
        raise CacheError(str(exc)) from exc


def open_features(
    root: Path | str, fingerprint: str, feature_set: FeatureSet = "combined"
) -> ds.Dataset:
    """The cached rows of one fingerprint and feature set as a ``pyarrow.dataset.Dataset``.

    Only files that verify are included; a damaged one is moved aside (and logged).

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
    dataset = FeatureCache(root).dataset(fingerprint, feature_set)
    # No intact file: an empty dataset (not the directory, where a damaged file may remain).
    return dataset if dataset is not None else ds.dataset([], format=cache_format(root))
