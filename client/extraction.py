"""One extract run: essays in, their feature rows out, in input order, through the cache.

The same for every ``RowSource``: read and check the essays with the server's rules, hash
their content keys, send only what the cache lacks (combined rows reuse cached
components), commit what arrives in segments, align the rows with the input and report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from hemma_features.arrowfiles.segments import COMMIT_SECONDS
from hemma_features.client.cache import CacheFormat, FeatureCache
from hemma_features.client.cache_fill import CacheFill, Progress
from hemma_features.client.errors import CacheError, HemmaClientError
from hemma_features.client.fingerprint_record import InputRecord, record_input, write_records
from hemma_features.client.inputs import Columns, check_essays, read_table
from hemma_features.client.losses import MovedAside, damaged_files, moved_aside
from hemma_features.client.results import align, first_rows_of_missing, rows_at
from hemma_features.client.run_report import ExtractReport, RunStats
from hemma_features.client.source import Fetcher, FetchRequest, RowSource, fingerprint_for
from hemma_features.contract import FeatureSet, FingerprintInfo, content_key_array
from hemma_features.logs import library_logger

log = library_logger(__name__)

COMPONENT_SETS = ("embeddings", "handcrafted")
"""The sets a ``combined`` run also writes rows of (the components it joins or reuses)."""


class ExtractOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What one extract run asks for besides the essays."""

    feature_set: FeatureSet = "combined"
    """``handcrafted``, ``embeddings`` or ``combined``."""
    cache: str | None = None
    """Cache directory; only essays missing there are sent (None: no cache)."""
    cache_format: CacheFormat | None = None
    """``ipc`` (default) or ``parquet`` for a new cache."""
    columns: Columns = Columns()
    """Names of the id, text and prompt columns in the input."""
    commit_seconds: float = COMMIT_SECONDS
    """Longest fetched rows wait in memory before they are committed to the cache."""
    limit: int | None = None
    """Only the input's first rows, this many (to try a few essays of a large file first;
    the full run later fetches only the rest). None: every row."""


class ExtractResult(NamedTuple):
    """The rows of a run, in input order, and its report."""

    table: pa.Table
    """``key``, ``essay_id`` and the feature columns, one row per input row."""
    report: ExtractReport
    """What the run did."""


OnPartial = Callable[[ExtractReport], None]
"""Told the report of a run that stopped early (an error or Ctrl-C), before it re-raises."""


def extract_options(
    feature_set: FeatureSet,
    cache: Path | str | None,
    columns: Columns | None,
    cache_format: CacheFormat | None,
    *,
    commit_seconds: float = COMMIT_SECONDS,
) -> ExtractOptions:
    """The options of the ``extract(...)`` keyword arguments both engines take."""
    return ExtractOptions(
        feature_set=feature_set,
        cache=str(cache) if cache is not None else None,
        cache_format=cache_format,
        columns=columns or Columns(),
        commit_seconds=commit_seconds,
    )


def extract(
    source: RowSource,
    data: Any,
    options: ExtractOptions,
    *,
    progress: Progress | None = None,
    on_partial: OnPartial | None = None,
) -> ExtractResult:
    """Features for every input row of ``data``, computed by ``source`` where not cached.

    Args:
        source: Who computes what the cache lacks.
        data: A path (.csv/.parquet/.jsonl/.arrow), pandas DataFrame or pyarrow Table.
        options: Feature set, cache and input columns.
        progress: Called with (rows done, cache hits among them, total rows) as rows land.
        on_partial: Told the report of a run that stops early, then the error re-raised.
    """
    stats = RunStats(started=time.perf_counter())
    essays = read_table(data, options.columns)
    if options.limit is not None:
        essays = essays.slice(0, options.limit)
    if progress:
        progress(0, 0, essays.num_rows)  # the total, from the start
    config = source.config()
    info = source.fingerprint()
    check_essays(essays, config)
    keys = content_key_array(essays)
    fingerprint = fingerprint_for(info, options.feature_set, "the feature server")
    fetch = source.fetcher(config, stats)

    def report(complete: bool = True, in_cache: int = 0) -> ExtractReport:
        return stats.report(
            fingerprint=fingerprint,
            feature_set=options.feature_set,
            rows_requested=essays.num_rows,
            location=fetch.location,
            complete=complete,
            essays_in_cache=in_cache,
        )

    if options.cache is None:
        todo = first_rows_of_missing(keys)
        request = FetchRequest(
            essays=rows_at(essays, todo),
            keys=rows_at(keys, todo),
            feature_set=options.feature_set,
            fingerprint=fingerprint,
        )
        found = _without_cache(fetch, request, essays.num_rows, progress)
        stats.unique = int(todo.size)
        done = report()
    else:
        cache = options.cache
        fill = CacheFill(FeatureCache(cache, options.cache_format), info, fetch, stats, progress)
        damaged_before = _damaged(cache)
        try:
            found = fill.run(essays, keys, options.feature_set, options.commit_seconds)
        except BaseException as exc:  # an error or Ctrl-C: what was fetched is in the cache
            partial = report(False, _held(cache, fingerprint, options.feature_set, keys))
            partial.moved_aside = _moved_aside(cache, damaged_before)
            _record(cache, info, _input(data, options, essays.num_rows))
            if on_partial is not None:
                on_partial(partial)
            if isinstance(exc, OSError):  # disk full, read-only, no permission: one line
                raise CacheError(
                    f"cannot write the cache at {Path(cache).expanduser()}: "
                    f"{exc.strerror or exc} ({exc.filename or 'cache file'}); the files "
                    "already there are intact: free space or fix permissions, then rerun"
                ) from exc
            raise
        done = report(in_cache=stats.unique)
        done.moved_aside = _moved_aside(cache, damaged_before)
        _record(cache, info, _input(data, options, essays.num_rows))
    table = align(essays, keys, found)
    log.debug("client.extract", **msgspec.to_builtins(done))
    return ExtractResult(table, done)


class ExtractFacade:
    """``extract`` and ``extract_with_report``, the same for every engine: ``FeatureClient``
    (a feature server over Flight) and ``RayEngine`` (actors on a Ray cluster) both are one.

    An engine says where one run's rows come from (``row_source``) and how long computed
    rows may wait before they are committed (``commit_seconds``); the run is ``extract``.
    """

    commit_seconds: float = COMMIT_SECONDS
    """Longest fetched rows wait in memory before they are committed to the cache."""

    def row_source(self, cache: str | None) -> RowSource:
        """Who computes the rows a run into ``cache`` (None: no cache) lacks."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (the engine is done with)."""

    def extract(
        self,
        data: Any,
        *,
        feature_set: FeatureSet = "combined",
        cache: Path | str | None = None,
        columns: Columns | None = None,
        progress: Progress | None = None,
        cache_format: CacheFormat | None = None,
    ) -> pa.Table:
        """Features for every input row, in input order.

        Args:
            data: A path (.csv/.parquet/.jsonl/.arrow), pandas DataFrame or pyarrow Table.
            feature_set: ``handcrafted``, ``embeddings`` or ``combined``.
            cache: Cache directory; only essays missing there are computed.
            columns: Names of the id, text and prompt columns in ``data``.
            progress: Called with (rows done, cache hits among them, total rows) as
                batches land.
            cache_format: ``ipc`` (default) or ``parquet`` for a new cache.

        Returns:
            ``key``, ``essay_id`` and the feature columns, one row per input row
            (``extract_with_report`` returns the run's report as well).
        """
        return self.extract_with_report(
            data, feature_set=feature_set, cache=cache, columns=columns, progress=progress,
            cache_format=cache_format,
        ).table  # fmt: skip

    def extract_with_report(
        self,
        data: Any,
        *,
        feature_set: FeatureSet = "combined",
        cache: Path | str | None = None,
        columns: Columns | None = None,
        progress: Progress | None = None,
        cache_format: CacheFormat | None = None,
        on_partial: OnPartial | None = None,
    ) -> ExtractResult:
        """As ``extract``, returning the rows and the run's report (``ExtractResult``);
        ``on_partial`` is told the report of a run that stops early before it re-raises."""
        options = extract_options(
            feature_set, cache, columns, cache_format, commit_seconds=self.commit_seconds
        )
        source = self.row_source(options.cache)
        return extract(source, data, options, progress=progress, on_partial=on_partial)


def _without_cache(
    fetch: Fetcher, request: FetchRequest, total: int, progress: Progress | None
) -> pa.Table | None:
    """Every distinct essay fetched, held in memory (no cache to write to)."""
    fetched: list[pa.Table] = []

    def keep(table: pa.Table) -> None:
        fetched.append(table)
        if progress:
            progress(table.num_rows, 0, total)

    if request.essays.num_rows:
        fetch(request, keep)
    return pa.concat_tables(fetched) if fetched else None


def _held(cache: str, fingerprint: str, feature_set: FeatureSet, keys: pa.Array) -> int:
    """Distinct essays of ``keys`` the cache holds now (0 when it cannot be read)."""
    try:
        return int(FeatureCache(cache).contains(fingerprint, feature_set, pc.unique(keys)).sum())
    except (OSError, HemmaClientError, pa.ArrowException):
        return 0


def _damaged(cache: str) -> set[Path]:
    """The files under the cache's ``_damaged/`` now."""
    return {path for _, _, path in damaged_files(Path(cache).expanduser())}


def _moved_aside(cache: str, before: set[Path]) -> list[MovedAside]:
    """The files this call moved aside, each with its rows' fate, logged when rows are
    missing or unknown (a run that repaired its own partition says so too)."""
    root = Path(cache).expanduser()
    found: list[MovedAside] = []
    try:
        store = FeatureCache(root)
        for fingerprint, feature_set, path in damaged_files(root):
            if path in before:
                continue

            def present(keys: pa.ChunkedArray, fp: str = fingerprint, fs: str = feature_set) -> Any:
                return store.contains(fp, fs, keys)

            moved = moved_aside(fingerprint, feature_set, path, present)
            found.append(moved)
            if moved.missing != 0:
                log.warning("client.rows_lost", **msgspec.to_builtins(moved))
    except (OSError, HemmaClientError, pa.ArrowException) as exc:  # never fails the run
        log.warning("client.damaged_files_unchecked", cache=str(root), error=str(exc))
    return found


def _input(data: Any, options: ExtractOptions, rows: int) -> InputRecord:
    """What the run read its essays from: the file (none for a frame) and its columns."""
    source = str(Path(data).expanduser().resolve()) if isinstance(data, str | Path) else ""
    columns = options.columns
    return InputRecord(
        source=source, id_column=columns.essay_id, text_column=columns.text,
        prompt_column=columns.prompt, feature_set=options.feature_set, rows=rows,
    )  # fmt: skip


def _record(cache: str, info: FingerprintInfo, read: InputRecord) -> None:
    """Keep what produced the rows beside them, and which input and columns they came from
    (a failure here never fails the run)."""
    sets = [read.feature_set, *(COMPONENT_SETS if read.feature_set == "combined" else ())]
    try:
        write_records(cache, info)
        record_input(cache, [info.feature_sets[s] for s in sets if s in info.feature_sets], read)
    except OSError as exc:
        log.warning("client.fingerprint_record_failed", error=str(exc))
