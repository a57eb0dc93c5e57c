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

import re
from pathlib import Path
from typing import Any, overload

import pyarrow as pa
import pyarrow.dataset as ds

from hemma_features.arrowfiles.atomic import FileFormat
from hemma_features.arrowfiles.layout import DAMAGED, ManifestError, partition_dir, read_manifest
from hemma_features.arrowfiles.partitions import FormatConflictError, PartitionedDataset
from hemma_features.client.components import as_stored
from hemma_features.client.errors import CacheError
from hemma_features.client.fingerprint_record import read_inputs
from hemma_features.client.losses import damaged_files, warn_lost
from hemma_features.client.partition import pick_partition
from hemma_features.contract import FEATURE_SETS, FeatureSet

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

    def write(self, fingerprint: str, feature_set: str, table: pa.Table) -> int:
        """Add rows whose key is new (``PartitionedDataset.write``), with the metadata that
        describes them (``components.stored_metadata``: no embedding model on handcrafted
        rows, which every embedding model's runs share)."""
        return super().write(fingerprint, feature_set, as_stored(table, feature_set))


def cache_format(root: Path | str) -> CacheFormat:
    """The file format a cache directory stores (``ipc`` when it has no manifest yet)."""
    try:
        return read_manifest(root).format
    except ManifestError as exc:
        raise CacheError(str(exc)) from exc


@overload
def open_features(
    root: Path | str,
    feature_set: FeatureSet = "combined",
    fingerprint: str | None = None,
    *,
    labels: Any = None,
    on: str | None = None,
    latest: bool = False,
    ids: Any = None,
    id_column: str | None = None,
) -> pa.Table: ...
@overload
def open_features(
    root: Path | str, feature_set: str, fingerprint: str | None = None
) -> ds.Dataset: ...
def open_features(
    root: Path | str,
    feature_set: FeatureSet | str = "combined",
    fingerprint: str | None = None,
    *,
    labels: Any = None,
    on: str | None = None,
    latest: bool = False,
    ids: Any = None,
    id_column: str | None = None,
) -> pa.Table | ds.Dataset:
    """Every cached row of one feature set and fingerprint, as a ``pyarrow.Table``.

    The whole partition, however many files it holds; only files that verify are read (a
    damaged one is moved aside and a ``RowsLostWarning`` names the rows that leaves out
    and the extract that fetches them again).
    With several fingerprints for the set and none given it is an error listing them
    (rows and dates), unless ``latest`` picks the newest: a cache also keeps older
    fingerprints and the component sets a ``combined`` run reused.

    The older form ``open_features(root, fingerprint, feature_set)`` (a fingerprint
    second) still returns the ``pyarrow.dataset.Dataset`` of that partition.

    Args:
        root: Cache directory given to ``extract --cache``.
        feature_set: ``combined``, ``embeddings`` or ``handcrafted``.
        fingerprint: The set's fingerprint (``hemma-features fingerprint``); None: the
            only one the cache holds for the set.
        labels: CSV or Parquet path, ``pyarrow.Table`` or ``pandas.DataFrame`` joined on
            ``on`` (inner join, in cache order, unmatched ids counted and named in an
            ``UnmatchedIdsWarning``; see ``client.labels.join_labels``).
        on: The labels' id column, met with the rows' ``essay_id`` (None: ``essay_id``, or
            the column ``extract --id-column`` named, when the labels have it).
        latest: With several fingerprints for the set and none given, take the newest.
        ids: Only the essays of this input: the essays file given to extract (rows matched
            by text and prompt, carrying its ids, in its order), or a file, Table,
            DataFrame or list of ids (rows matched by ``essay_id``); ids the cache lacks
            are named in a ``MissingEssaysWarning`` (see ``client.scope``).
        id_column: The id column of ``ids`` (None: the one its extract used, else
            ``essay_id``).
    """
    if feature_set not in FEATURE_SETS and _FINGERPRINT.fullmatch(str(feature_set)):
        if labels is not None or ids is not None:
            raise CacheError(
                "labels= takes the feature set second (so does ids=): open_features(root, "
                "feature_set, fingerprint, labels=...); a fingerprint second is the older "
                "form, which returns a pyarrow.dataset.Dataset and joins nothing"
            )
        old_set = fingerprint if fingerprint is not None else "combined"
        return _partition_dataset(root, str(feature_set), old_set)  # the older form
    if feature_set not in FEATURE_SETS:
        raise CacheError(
            f"feature_set must be one of {', '.join(FEATURE_SETS)}, given: {feature_set!r}"
        )
    chosen = pick_partition(root, feature_set, fingerprint, latest=latest)
    table = _partition_dataset(root, chosen.fingerprint, feature_set).to_table()
    inputs = read_inputs(root, chosen.fingerprint)
    if ids is not None:
        from hemma_features.client.scope import limit_to

        table = limit_to(table, ids, id_column=id_column, inputs=inputs)[0]
    if labels is None:
        return table
    from hemma_features.client.labels import join_labels

    return join_labels(table, labels, on, id_columns=[r.id_column for r in inputs])[0]


_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def _partition_dataset(root: Path | str, fingerprint: str, feature_set: str) -> ds.Dataset:
    directory = partition_dir(root, fingerprint, feature_set)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"no cached features for fingerprint {fingerprint} and feature set {feature_set} "
            f"under {root}"
        )
    cache = FeatureCache(root)
    before = {path for _, _, path in damaged_files(cache.root)}
    dataset = cache.dataset(fingerprint, feature_set)  # moves damaged files aside
    if (cache.root / DAMAGED).is_dir():  # say which rows that leaves out, and the fix

        def present(keys: pa.ChunkedArray) -> Any:
            return cache.contains(fingerprint, feature_set, keys)

        warn_lost(cache.root, fingerprint, feature_set, present, before)
    # No intact file: an empty dataset (not the directory, where a damaged file may remain).
    return dataset if dataset is not None else ds.dataset([], format=cache_format(root))
