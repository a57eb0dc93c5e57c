"""Fill a cache with what it lacks for a run, then read the run's rows back from it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from hemma_features.arrowfiles.segments import COMMIT_SECONDS, write_session
from hemma_features.client.cache import CacheFormat, FeatureCache
from hemma_features.client.combined import Fetch, OnBatch, fill_combined
from hemma_features.client.report import RunStats
from hemma_features.client.results import first_rows_of_missing, rows_at
from hemma_features.contract import FeatureSet, FingerprintInfo

Progress = Callable[[int, int, int], None]  # (rows done now, of which cache hits, total rows)


def fill_cache(
    cache: Path | str,
    cache_format: CacheFormat | None,
    essays: pa.Table,
    keys: pa.Array,
    feature_set: FeatureSet,
    fingerprint: str,
    info: FingerprintInfo,
    fetch: Fetch,
    stats: RunStats,
    progress: Progress | None,
    counted: OnBatch,
    commit_seconds: float = COMMIT_SECONDS,
) -> pa.Table | None:
    """Fetch what the cache lacks into it; return the cached rows for ``keys``.

    Answers are buffered and committed in segments (``arrowfiles.segments``); whatever
    was fetched is committed when the run ends, also when it ends with an error.
    """
    store = FeatureCache(cache, cache_format)
    todo = first_rows_of_missing(keys, store.contains(fingerprint, feature_set, keys))
    stats.unique = len(pc.unique(keys))
    stats.cache_hits = stats.unique - int(todo.size)
    if progress and stats.cache_hits:
        progress(essays.num_rows - int(todo.size), stats.cache_hits, essays.num_rows)
    missing, missing_keys = rows_at(essays, todo), rows_at(keys, todo)
    with write_session(store, commit_seconds=commit_seconds) as session:
        if feature_set == "combined":
            fill_combined(fetch, stats, store, session, info, missing, missing_keys, counted)
        else:

            def store_rows(table: pa.Table) -> None:
                session.add(fingerprint, feature_set, table)
                counted(table)

            fetch(missing, missing_keys, feature_set, fingerprint, store_rows)
    return store.read(fingerprint, feature_set, keys) if len(keys) else None
