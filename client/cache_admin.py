"""``hemma-features cache``: ls, verify, compact, gc and export over a cache directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.dataset as ds

from hemma_features.arrowfiles.atomic import TEMP_GLOB
from hemma_features.arrowfiles.checksums import verify_file
from hemma_features.arrowfiles.compaction import merge_files, unique_rows
from hemma_features.arrowfiles.layout import JOURNAL, part_files, partitions
from hemma_features.client.cache import CacheFormat, FeatureCache, cache_format
from hemma_features.client.errors import CacheError
from hemma_features.contract import KEY_COLUMN, META_FEATURE_SET, schema_fingerprint


class PartitionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One ``fingerprint=/feature_set=`` directory, as ``cache ls`` shows it."""

    fingerprint: str
    feature_set: str
    rows: int
    files: int
    bytes: int


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """Something ``cache verify`` found wrong, naming the file."""

    path: str
    problem: str


def list_partitions(root: Path) -> list[PartitionInfo]:
    """Rows, files and bytes per fingerprint and feature set."""
    file_format = cache_format(root)
    out = []
    for fingerprint, feature_set, directory in partitions(root):
        files = part_files(directory, file_format)
        rows = 0
        for path in files:  # a damaged file counts no rows here; `cache verify` names it
            try:
                rows += ds.dataset(path, format=file_format).count_rows()
            except (pa.ArrowInvalid, OSError):
                continue
        out.append(
            PartitionInfo(
                fingerprint=fingerprint,
                feature_set=feature_set,
                rows=rows,
                files=len(files),
                bytes=sum(f.stat().st_size for f in files),
            )
        )
    return out


def verify(root: Path) -> list[Problem]:
    """Every file intact, one schema per partition matching its directory, unique keys.

    Read-only: damaged files are reported, not moved. Each file is checked on its own first
    (its checksum, or a full read for a file from before checksums); only the intact ones
    are then compared with each other, so a healthy file is never blamed for a damaged one.
    """
    if not root.is_dir():
        return [Problem(path=str(root), problem="not a directory")]
    file_format = cache_format(root)
    problems: list[Problem] = []
    for fingerprint, feature_set, directory in partitions(root):
        schema: pa.Schema | None = None
        keys: dict[str, Path] = {}
        intact = []
        for path in part_files(directory, file_format):
            try:
                damage = verify_file(path, memo=False)  # checking is the point: hash afresh
            except FileNotFoundError:  # compacted by another process meanwhile
                continue
            if damage is None:
                intact.append(path)
            else:
                problems.append(Problem(path=str(path), problem=damage))
        for path in intact:
            try:
                table = ds.dataset(path, format=file_format).to_table()
            except (pa.ArrowInvalid, OSError) as exc:
                problems.append(Problem(path=str(path), problem=f"unreadable: {exc}"))
                continue
            if schema_fingerprint(table.schema) != fingerprint:
                problems.append(
                    Problem(
                        path=str(path), problem="fingerprint in metadata differs from directory"
                    )
                )
            meta_set = (table.schema.metadata or {}).get(META_FEATURE_SET, b"").decode()
            if meta_set != feature_set:
                problems.append(
                    Problem(
                        path=str(path),
                        problem=f"feature_set {meta_set!r} in a {feature_set} directory",
                    )
                )
            if schema is None:
                schema = table.schema
            elif not table.schema.equals(schema, check_metadata=False):
                problems.append(
                    Problem(path=str(path), problem="schema differs from the partition's")
                )
            if KEY_COLUMN not in table.column_names:
                problems.append(Problem(path=str(path), problem="no key column"))
                continue
            for key in table.column(KEY_COLUMN).to_pylist():
                if key in keys:
                    problems.append(
                        Problem(path=str(path), problem=f"key {key} also in {keys[key].name}")
                    )
                    break
                keys[key] = path
        if (directory / JOURNAL).exists():
            problems.append(
                Problem(path=str(directory / JOURNAL), problem="an interrupted rewrite is pending")
            )
    return problems


def compact(root: Path) -> int:
    """Merge each partition's files into one, rows unchanged; returns files removed.

    Crash-safe: a journal names the files the new one replaces; the next lock of the
    partition finishes the swap (new file present) or drops the journal (new file absent).
    """
    cache = FeatureCache(root)
    removed = 0
    for fingerprint, feature_set, _ in list(partitions(root)):
        with cache.locked(fingerprint, feature_set) as directory:
            # Damaged files are moved aside first: merged into a new file, their changed
            # values would get a valid checksum.
            files = cache.index(fingerprint, feature_set).files()
            if len(files) < 2:
                continue
            tables = [file.table() for file in files]  # memory-mapped for IPC
            merge_files(directory, tables, [file.path for file in files], cache.format)
            removed += len(files) - 1
    return removed


def gc(root: Path, keep: list[str]) -> list[str]:
    """Remove every fingerprint directory not in ``keep``; returns the removed ones."""
    if not keep:
        raise CacheError("gc needs at least one --keep FINGERPRINT")
    removed = []
    for fp_dir in sorted(root.glob("fingerprint=*")):
        fingerprint = fp_dir.name.split("=", 1)[1]
        if fingerprint not in keep:
            shutil.rmtree(fp_dir)
            removed.append(fingerprint)
    for stale in root.rglob(TEMP_GLOB):  # temp files of clients that were killed
        stale.unlink(missing_ok=True)
    return removed


def export(root: Path, out: Path, file_format: CacheFormat) -> int:
    """Copy every partition into a new cache at ``out`` in ``file_format``; returns rows."""
    if out.exists() and any(out.iterdir()):
        raise CacheError(f"export target {out} exists and is not empty")
    source = FeatureCache(root)
    target = FeatureCache(out, file_format)
    rows = 0
    for fingerprint, feature_set, _ in partitions(root):
        dataset = source.dataset(fingerprint, feature_set)  # intact files only
        if dataset is None:
            continue
        rows += target.write(fingerprint, feature_set, unique_rows(dataset.to_table()))
    return rows
