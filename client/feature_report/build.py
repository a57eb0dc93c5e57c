"""``report(cache, ...)``: read one cached partition column by column and write the HTML."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from hemma_features.arrowfiles.layout import partitions
from hemma_features.client.cache import open_features
from hemma_features.client.errors import CacheError, InputFileError
from hemma_features.client.evaluation.results import Evaluation
from hemma_features.client.feature_report import stats
from hemma_features.client.feature_report.html import render
from hemma_features.client.feature_report.model import (
    Embedding,
    Feature,
    LabelSummary,
    Provenance,
    ReportData,
)
from hemma_features.client.feature_report.score_labels import align_labels, read_labels
from hemma_features.client.fingerprint_record import InputRecord, read_inputs, read_record
from hemma_features.client.partition import resolve_fingerprint
from hemma_features.client.scope import ScopeMatch, match_scope, read_scope, with_ids
from hemma_features.contract import (
    EMBEDDING_COLUMN,
    ID_COLUMN,
    KEY_COLUMN,
    META_COMPONENTS,
    META_EMBEDDING_MODEL,
    META_SCHEMA_VERSION,
    FingerprintInfo,
    decode_catalogue,
)
from hemma_features.terminal import shown

PREFERRED_SETS = ("combined", "handcrafted", "embeddings")
SAMPLE_ROWS = 5000
"""Rows (evenly spaced) behind the feature-feature correlations."""
SCATTER_ROWS = 2500
"""Rows (evenly spaced) drawn in the embedding projection."""
REDUNDANT = 0.95
"""|rho| at or above which two features are listed as near duplicates."""
REDUNDANT_MIN_ROWS = 30
"""Fewer rows than this say nothing about redundancy: no pairs are listed."""
REDUNDANT_PAIRS = 40
"""At most this many pairs are listed, the strongest first."""
EMBEDDING_BATCH = 2048


def report(
    cache: Path | str,
    out: Path | str = "report.html",
    *,
    labels: Any = None,
    feature_set: str | None = None,
    fingerprint: str | None = None,
    label_columns: Sequence[str] | None = None,
    colour_by: str | None = None,
    command: str = "",
    on: str | None = None,
    ids: Any = None,
    id_column: str | None = None,
    evaluation: Evaluation | None = None,
) -> Path:
    """Write one self-contained HTML report of a cached feature set; returns its path.

    Args:
        cache: Cache directory given to ``extract --cache``.
        out: Where to write the HTML.
        labels: A .csv/.parquet/.arrow path (or Table/DataFrame) with an id column and
            numeric score columns: adds Spearman correlations, a heat map and colours.
        feature_set: ``combined``, ``handcrafted`` or ``embeddings`` (default: the one
            the cache holds, combined first).
        fingerprint: Which fingerprint, or a prefix only it starts with (default: the only
            one the cache holds for the set).
        label_columns: Score columns to use (default: every column but ``essay_id``).
        colour_by: Label (or feature) colouring the embedding projection (default: the
            first label, else ``n_words``).
        command: The command line to print in the footer.
        on: The labels' id column (None: ``essay_id``, or the one ``extract --id-column``
            named, when the labels have it).
        ids: Only the essays of this input (``open_features``' ``ids=``): the essays file
            given to extract, or a file, Table, DataFrame or list of ids.
        id_column: The id column of ``ids`` (None: the one its extract used, else
            ``essay_id``).
        evaluation: An ``evaluate`` result of these rows, shown as a section of its own.
    """
    root = Path(cache).expanduser()
    chosen_fp, chosen_set = choose_partition(root, fingerprint, feature_set)
    dataset = open_features(root, chosen_fp, chosen_set)  # type: ignore[arg-type]
    if not dataset.files:
        raise CacheError(
            f"cache {root}: fingerprint {chosen_fp}, feature set {chosen_set} holds no intact "
            f"file (`hemma-features cache verify {root}` says why)"
        )
    inputs = read_inputs(root, chosen_fp)
    scoped = _scoped(dataset, ids, id_column, inputs)
    rows = scoped[0] if scoped is not None else dataset
    joined = None
    if labels is not None:
        table = read_labels(
            labels, on=on, id_columns=[r.id_column for r in inputs], columns=label_columns,
            features=dataset.schema.names,
        )  # fmt: skip
        essay_ids = rows.to_table(columns=[ID_COLUMN]).column(0)
        joined = LabelSummary(
            source=str(labels) if isinstance(labels, str | Path) else type(labels).__name__,
            join=align_labels(essay_ids, table),
            summaries={},
        )
        joined.summaries.update(
            {name: stats.summarize(v, None) for name, v in joined.join.values.items()}
        )
        for summary in joined.summaries.values():
            summary.flags.remove("not in the catalogue")
    data = gather(root, dataset, chosen_fp, chosen_set, joined, colour_by, command, scoped=scoped)
    data = data._replace(
        evaluation=evaluation, provenance=data.provenance._replace(inputs=tuple(inputs))
    )
    path = Path(out).expanduser()
    text = render(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def choose_partition(
    root: Path, fingerprint: str | None, feature_set: str | None
) -> tuple[str, str]:
    """The (fingerprint, feature set) a report is about; an error naming the choices
    when the cache holds none or several."""
    if not root.is_dir():
        raise CacheError(f"no cache at {root}: the directory does not exist")
    held = [(fp, fs) for fp, fs, _ in partitions(root)]
    if fingerprint is not None:  # a unique prefix names its fingerprint, as everywhere
        pool = {fp for fp, fs in held if feature_set is None or fs == feature_set}
        if any(fp.startswith(fingerprint) for fp in pool):
            fingerprint = resolve_fingerprint(fingerprint, pool, shown(root))
    fitting = [
        (fp, fs)
        for fp, fs in held
        if (fingerprint is None or fp == fingerprint) and (feature_set is None or fs == feature_set)
    ]
    if not fitting:
        listing = ", ".join(shown(f"{fs} {fp[:12]}") for fp, fs in held) or "nothing"
        raise CacheError(
            f"cache {shown(root)} holds no rows for fingerprint {shown(fingerprint or 'any')} "
            f"and feature set {shown(feature_set or 'any')} (it holds: {listing})"
        )
    if feature_set is None:
        best = min(PREFERRED_SETS.index(fs) if fs in PREFERRED_SETS else 9 for _, fs in fitting)
        fitting = [(fp, fs) for fp, fs in fitting if PREFERRED_SETS.index(fs) == best]
    if len(fitting) > 1:
        listing = ", ".join(shown(fp) for fp, _ in fitting)
        raise CacheError(
            f"cache {root} holds {len(fitting)} fingerprints for feature set {fitting[0][1]}: "
            f"{listing}; choose one with --fingerprint"
        )
    return fitting[0]


def gather(
    root: Path,
    dataset: ds.Dataset,
    fingerprint: str,
    feature_set: str,
    labels: LabelSummary | None,
    colour_by: str | None,
    command: str,
    *,
    scoped: tuple[ds.Dataset, ScopeMatch] | None = None,
) -> ReportData:
    """Read the partition one column at a time into the numbers the report shows (of the
    rows of ``scoped`` instead, when given: one input's essays)."""
    provenance = _provenance(root, dataset, fingerprint, feature_set)
    if scoped is not None:
        dataset, match = scoped
        provenance = provenance._replace(
            rows=dataset.count_rows(), scope=match, partition_rows=provenance.rows
        )
    schema = dataset.schema
    specs = {spec.name: spec for spec in decode_catalogue(schema)}
    versions = _versions(provenance.record)
    names = [
        f.name
        for f in schema
        if f.name not in (KEY_COLUMN, ID_COLUMN, EMBEDDING_COLUMN)
        and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
    ]
    deciders: dict[str, np.ndarray] = {}

    def decider(name: str) -> np.ndarray | None:
        if name not in names:
            return None
        if name not in deciders:
            deciders[name] = _column(dataset, name)
        return deciders[name]

    label_ranks = _label_ranks(labels)
    sample = _sample(provenance.rows, SAMPLE_ROWS)
    sample_ranks: dict[str, np.ndarray] = {}
    features = []
    for name in names:
        values = _column(dataset, name)
        spec = specs.get(name)
        summary = stats.summarize(values, spec, stats.undefined_rows(values, spec, decider))
        correlations = {
            label: stats.spearman(*_paired(values, rows, ranks_))
            for label, rows, ranks_ in label_ranks
        }
        finite = values[sample]
        if np.isfinite(finite).all() and summary.minimum != summary.maximum:
            sample_ranks[name] = stats.ranks(finite)
        version = versions.get(name) if versions is not None else None
        features.append(Feature(name, spec, version, summary, correlations))
    embedding = None
    if EMBEDDING_COLUMN in schema.names:
        embedding = _embedding(dataset, provenance.rows, labels, colour_by, names)
    return ReportData(
        provenance=provenance,
        features=features,
        labels=labels,
        embedding=embedding,
        redundant=_redundant(sample_ranks),
        command=command,
    )


def _scoped(
    dataset: ds.Dataset, ids: Any, id_column: str | None, inputs: list[InputRecord]
) -> tuple[ds.Dataset, ScopeMatch] | None:
    """The rows of the essays of ``ids`` (in the partition's order, with the input's ids)
    as an in-memory dataset, and how they matched; None without ``ids``."""
    if ids is None:
        return None
    scope = read_scope(ids, id_column=id_column, inputs=inputs)
    keys = dataset.to_table(columns=[KEY_COLUMN, ID_COLUMN])
    match = match_scope(scope, keys.column(0), keys.column(1)).in_cache_order()
    return ds.dataset(with_ids(dataset.take(pa.array(match.rows)), match.ids)), match


def _column(dataset: ds.Dataset, name: str) -> np.ndarray:
    column = dataset.to_table(columns=[name]).column(0)
    return column.to_numpy().astype(np.float64)  # nulls become NaN


def _label_ranks(labels: LabelSummary | None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, the rows it holds a finite value for, the ranks of those values)."""
    if labels is None:
        return []
    out = []
    for name, values in labels.join.values.items():
        rows = np.flatnonzero(np.isfinite(values))
        out.append((name, rows, stats.ranks(values[rows])))
    return out


def _paired(
    values: np.ndarray, rows: np.ndarray, label_ranks: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    picked = values[rows]
    finite = np.isfinite(picked)
    if finite.all():
        return stats.ranks(picked), label_ranks
    # A feature with gaps: rank both over the rows where both are known.
    return stats.ranks(picked[finite]), stats.ranks(label_ranks[finite])


def _sample(rows: int, most: int) -> np.ndarray:
    if rows <= most:
        return np.arange(rows)
    return np.linspace(0, rows - 1, most).astype(np.int64)


def _redundant(sample_ranks: dict[str, np.ndarray]) -> list[tuple[str, str, float]]:
    names = list(sample_ranks)
    if len(names) < 2 or sample_ranks[names[0]].size < REDUNDANT_MIN_ROWS:
        return []
    matrix = np.corrcoef(np.vstack([sample_ranks[n] for n in names]))
    pairs = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if abs(matrix[i, j]) >= REDUNDANT:
                pairs.append((names[i], names[j], float(matrix[i, j])))
    return sorted(pairs, key=lambda p: -abs(p[2]))[:REDUNDANT_PAIRS]


def _embedding(
    dataset: ds.Dataset,
    rows: int,
    labels: LabelSummary | None,
    colour_by: str | None,
    names: list[str],
) -> Embedding:
    dim = dataset.schema.field(EMBEDDING_COLUMN).type.list_size
    moments = stats.Moments(dim)
    norms = []
    for block in _embedding_blocks(dataset, dim):
        moments.add(block)
        norms.append(np.linalg.norm(block.astype(np.float64), axis=1))
    mean, vectors, explained = moments.components()
    picked = _sample(rows, SCATTER_ROWS)
    points, start = [], 0
    for block in _embedding_blocks(dataset, dim):
        inside = picked[(picked >= start) & (picked < start + block.shape[0])] - start
        if inside.size:
            points.append((block[inside].astype(np.float64) - mean) @ vectors)
        start += block.shape[0]
    projection = stats.Projection(
        points=np.vstack(points) if points else np.zeros((0, 2)),
        rows=picked,
        explained=explained,
        dim=dim,
        rows_total=rows,
    )
    colour, colour_label = _colour(dataset, picked, labels, colour_by, names)
    all_norms = np.concatenate(norms) if norms else np.zeros(0)
    norm_summary = stats.summarize(all_norms, None)
    norm_summary.flags.remove("not in the catalogue")
    return Embedding(dim, norm_summary, projection, colour, colour_label)


def _embedding_blocks(dataset: ds.Dataset, dim: int):  # type: ignore[no-untyped-def]
    # Readahead off: pyarrow's defaults buffer up to 16 batches of 4 files, which for a
    # 384-d embedding is hundreds of MB that the scan does not need.
    batches = dataset.to_batches(
        columns=[EMBEDDING_COLUMN],
        batch_size=EMBEDDING_BATCH,
        batch_readahead=0,
        fragment_readahead=0,
        use_threads=False,
    )
    for batch in batches:
        if batch.num_rows:
            flat = batch.column(0).flatten().to_numpy(zero_copy_only=False)
            yield flat.reshape(batch.num_rows, dim)


def _colour(
    dataset: ds.Dataset,
    picked: np.ndarray,
    labels: LabelSummary | None,
    colour_by: str | None,
    names: list[str],
) -> tuple[np.ndarray | None, str]:
    label_values = labels.join.values if labels is not None else {}
    if colour_by is None:
        colour_by = next(iter(label_values), "n_words" if "n_words" in names else None)
    if colour_by is None:
        return None, ""
    if colour_by in label_values:
        return label_values[colour_by][picked], colour_by
    if colour_by in names:
        return _column(dataset, colour_by)[picked], colour_by
    raise InputFileError(
        f"--colour-by {colour_by!r} is neither a label ({sorted(label_values)}) nor a feature"
    )


def _provenance(root: Path, dataset: ds.Dataset, fingerprint: str, feature_set: str) -> Provenance:
    from hemma_features import __version__

    meta = dataset.schema.metadata or {}
    files = [Path(f) for f in dataset.files]
    times = [os.stat(f).st_mtime for f in files]
    components = meta.get(META_COMPONENTS)
    return Provenance(
        cache=str(root),
        fingerprint=fingerprint,
        feature_set=feature_set,
        schema_version=meta.get(META_SCHEMA_VERSION, b"?").decode(),
        embedding_model=meta.get(META_EMBEDDING_MODEL, b"").decode(),
        components=msgspec.json.decode(components, type=dict[str, str]) if components else {},
        record=read_record(root, fingerprint),
        rows=dataset.count_rows(),
        files=len(files),
        bytes=sum(os.stat(f).st_size for f in files),
        written_first=_utc(min(times)) if times else "",
        written_last=_utc(max(times)) if times else "",
        generated=_utc(dt.datetime.now(dt.UTC).timestamp()),
        tool_version=__version__,
    )


def _versions(record: FingerprintInfo | None) -> dict[str, int] | None:
    if record is None:
        return None
    versions = record.components.get("feature_versions")
    return {str(k): int(v) for k, v in versions.items()} if isinstance(versions, dict) else None


def _utc(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
