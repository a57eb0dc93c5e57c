"""``hemma-features cache``: ls, verify (``cache_verify``), compact, gc and export over a cache
directory."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from hemma_features.arrowfiles.atomic import TEMP_GLOB
from hemma_features.arrowfiles.compaction import merge_files
from hemma_features.arrowfiles.layout import part_files, partition_dir, partitions
from hemma_features.client.cache import CacheFormat, FeatureCache, cache_format
from hemma_features.client.cache_verify import Problem as Problem
from hemma_features.client.cache_verify import Verdict as Verdict
from hemma_features.client.cache_verify import check as check
from hemma_features.client.cache_verify import verify as verify
from hemma_features.client.components import stored_metadata
from hemma_features.client.errors import CacheError
from hemma_features.client.fingerprint_record import copy_record, read_record
from hemma_features.client.partition import resolve_fingerprint
from hemma_features.contract import META_COMPONENTS, META_EMBEDDING_MODEL


class PartitionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One ``fingerprint=/feature_set=`` directory, as ``cache ls`` shows it."""

    fingerprint: str
    feature_set: str
    rows: int
    files: int
    bytes: int
    embedding_model: str = ""
    """The model of its vectors (``embeddings`` and ``combined``; empty for handcrafted
    rows, which every model's runs share, and where nothing records it)."""
    written: str = ""
    """When its newest file was written (``2026-12-03 13:40:05 UTC``; empty with no file)."""


def list_partitions(root: Path) -> list[PartitionInfo]:
    """Rows, files, bytes, the embedding model and the last write per fingerprint and
    feature set."""
    _fingerprints(root)  # a missing directory is an error, not an empty cache
    file_format = cache_format(root)
    cache = FeatureCache(root)
    out = []
    for fingerprint, feature_set, directory in partitions(root):
        files = part_files(directory, file_format)
        rows = 0
        for path in files:  # a damaged file counts no rows here; `cache verify` names it
            try:
                rows += ds.dataset(path, format=file_format).count_rows()
            except (pa.ArrowInvalid, OSError):
                continue
        times = [f.stat().st_mtime for f in files]
        out.append(
            PartitionInfo(
                fingerprint=fingerprint,
                feature_set=feature_set,
                rows=rows,
                files=len(files),
                bytes=sum(f.stat().st_size for f in files),
                embedding_model=_embedding_model(cache, fingerprint, feature_set) or "",
                written=_utc(max(times)) if times else "",
            )
        )
    return out


def _utc(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def compact(root: Path) -> int:
    """Merge each partition's files into one, rows unchanged; returns files removed.

    The merged file carries the metadata that describes its rows: no embedding model on
    handcrafted rows, and on combined rows the model of their embeddings (an older client
    copied it from handcrafted rows another model's run had cached); a lone file whose
    metadata is wrong that way is rewritten too.

    Crash-safe: a journal names the files the new one replaces; the next lock of the
    partition finishes the swap (new file present) or drops the journal (new file absent).
    """
    cache = FeatureCache(root)
    removed = 0
    for fingerprint, feature_set, _ in list(partitions(root)):
        model = _embedding_model(cache, fingerprint, feature_set)
        with cache.locked(fingerprint, feature_set) as directory:
            # Damaged files are moved aside first: merged into a new file, their changed
            # values would get a valid checksum.
            files = cache.index(fingerprint, feature_set).files()
            if not files:
                continue
            tables = [file.table() for file in files]  # memory-mapped for IPC
            meta = stored_metadata(tables[0].schema.metadata, feature_set)
            if model is not None:
                meta[META_EMBEDDING_MODEL] = model.encode()
            if len(files) < 2 and (tables[0].schema.metadata or {}) == meta:
                continue
            tables = [table.replace_schema_metadata(meta) for table in tables]
            merge_files(directory, tables, [file.path for file in files], cache.format)
            removed += len(files) - 1
    return removed


def _embedding_model(cache: FeatureCache, fingerprint: str, feature_set: str) -> str | None:
    """The model behind the vectors of an ``embeddings`` or ``combined`` partition: the one
    its fingerprint record names, else (combined) the one its embeddings rows name."""
    if feature_set == "handcrafted":
        return None
    record = read_record(cache.root, fingerprint)
    embedding = record.components.get("embedding") if record is not None else None
    if isinstance(embedding, dict) and isinstance(embedding.get("model_id"), str):
        return str(embedding["model_id"])
    if feature_set != "combined":
        return None
    components = _component_map(partition_dir(cache.root, fingerprint, "combined"))
    if "embeddings" not in components:
        return None
    for file in cache.index(components["embeddings"], "embeddings").files():
        model = (file.table().schema.metadata or {}).get(META_EMBEDDING_MODEL)
        if model is not None:
            return model.decode()
    return None


class GcPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What ``cache gc`` removes and keeps, and why."""

    remove: list[str]
    """Fingerprint directories to delete."""
    keep: list[str]
    """Fingerprints kept: those asked for and the components of their combined rows."""
    unknown_components: list[str]
    """Kept fingerprints with combined rows that do not record their components (written
    before they did): their embeddings/handcrafted rows are kept only if asked for."""


def gc_plan(root: Path, keep: list[str]) -> GcPlan:
    """Which fingerprints ``gc`` would remove. Every ``keep`` must name one fingerprint of
    the cache, whole or by a prefix only it starts with."""
    if not keep:
        raise CacheError("gc needs at least one --keep FINGERPRINT")
    present = _fingerprints(root)
    resolved, problems = [], []
    for given in keep:  # a unique prefix names its fingerprint, as everywhere
        try:
            resolved.append(resolve_fingerprint(given, present, str(root)))
        except CacheError as exc:
            problems.append(str(exc))
    if problems:
        raise CacheError(
            f"gc: {'; '.join(problems)}; nothing was removed. `hemma-features fingerprint` "
            f"prints the server's current ones, `hemma-features cache ls {root}` what the "
            "cache holds"
        )
    keep = resolved
    kept = set(keep)
    unknown_components = []
    for fingerprint in keep:
        components = _components(partition_dir(root, fingerprint, "combined"))
        if components is None:
            unknown_components.append(fingerprint)
        kept.update(components or ())
    return GcPlan(
        remove=sorted(set(present) - kept),
        keep=sorted(kept & set(present)),
        unknown_components=unknown_components,
    )


def gc(root: Path, keep: list[str], *, dry_run: bool = False) -> GcPlan:
    """Remove every fingerprint directory not kept (see ``gc_plan``); with ``dry_run``
    only say what would go."""
    plan = gc_plan(root, keep)
    if dry_run:
        return plan
    for fingerprint in plan.remove:
        shutil.rmtree(root / f"fingerprint={fingerprint}")
    for stale in root.rglob(TEMP_GLOB):  # temp files of clients that were killed
        stale.unlink(missing_ok=True)
    return plan


def _fingerprints(root: Path) -> set[str]:
    if not root.is_dir():
        raise CacheError(f"no cache at {root}: the directory does not exist")
    return {p.name.split("=", 1)[1] for p in root.glob("fingerprint=*") if p.is_dir()}


def _component_map(directory: Path) -> dict[str, str]:
    """``{"embeddings": fp, "handcrafted": fp}`` a combined partition's first readable
    file records; empty when none does."""
    for path in sorted(directory.glob("part-*")):
        try:
            schema = (
                pq.read_schema(path) if path.suffix == ".parquet" else ipc.open_file(path).schema
            )
        except (pa.ArrowInvalid, OSError):
            continue
        recorded = (schema.metadata or {}).get(META_COMPONENTS)
        if recorded is not None:
            return msgspec.json.decode(recorded, type=dict[str, str])
    return {}


def _components(directory: Path) -> set[str] | None:
    """Component fingerprints recorded by a combined partition's files; an empty set when
    there is no combined partition, None when some file records none."""
    if not directory.is_dir():
        return set()
    found: set[str] = set()
    for path in sorted(directory.glob("part-*")):
        try:
            schema = (
                pq.read_schema(path) if path.suffix == ".parquet" else ipc.open_file(path).schema
            )
        except (pa.ArrowInvalid, OSError):
            continue  # damaged: `cache verify` names it
        recorded = (schema.metadata or {}).get(META_COMPONENTS)
        if recorded is None:
            return None
        found.update(msgspec.json.decode(recorded, type=dict[str, str]).values())
    return found


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
        rows += target.write(fingerprint, feature_set, dataset.to_table())  # drops repeats
        copy_record(root, out, fingerprint)  # what produced the rows travels with them
    return rows
