"""Fill a cache with what it lacks for a run, then read the run's rows back from it."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from hemma_features.arrowfiles.segments import COMMIT_SECONDS, write_session
from hemma_features.client.cache import FeatureCache
from hemma_features.client.combined import cut_from_combined, fill_combined, restore_components
from hemma_features.client.report import RunStats
from hemma_features.client.results import first_rows_of_missing, rows_at
from hemma_features.client.source import Fetcher, FetchRequest
from hemma_features.contract import FeatureSet, FingerprintInfo

Progress = Callable[[int, int, int], None]  # (rows done now, of which cache hits, total rows)


class CacheFill:
    """One run's cache filling: what the cache lacks is fetched into it, in segments.

    Args:
        store: The cache.
        info: Every feature set's fingerprint (combined rows reuse cached components).
        fetch: Computes what the cache lacks.
        stats: The run's counters.
        progress: Told of rows as they land (cache hits first).
    """

    def __init__(
        self,
        store: FeatureCache,
        info: FingerprintInfo,
        fetch: Fetcher,
        stats: RunStats,
        progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.info = info
        self.fetch = fetch
        self.stats = stats
        self.progress = progress
        self.total = 0

    def counted(self, table: pa.Table, *, from_cache: bool = False) -> None:
        """Tell the progress callback that ``table``'s rows landed: fetched, or (with
        ``from_cache``) taken from rows the cache held, which count as cache hits."""
        if self.progress:
            self.progress(table.num_rows, table.num_rows if from_cache else 0, self.total)

    def run(
        self,
        essays: pa.Table,
        keys: pa.Array,
        feature_set: FeatureSet,
        commit_seconds: float = COMMIT_SECONDS,
    ) -> pa.Table | None:
        """Fetch what the cache lacks into it; return the cached rows for ``keys``.

        Answers are buffered and committed in segments (``arrowfiles.segments``); whatever
        was fetched is committed when the run ends, also when it ends with an error.
        """
        store, stats = self.store, self.stats
        fingerprint = self.info.for_set(feature_set)
        self.total = essays.num_rows
        held = store.contains(fingerprint, feature_set, keys)
        todo = first_rows_of_missing(keys, held)
        stats.unique = len(pc.unique(keys))
        stats.cache_hits = stats.unique - int(todo.size)
        if self.progress and stats.cache_hits:
            self.progress(essays.num_rows - int(todo.size), stats.cache_hits, essays.num_rows)
        missing, missing_keys = rows_at(essays, todo), rows_at(keys, todo)
        with write_session(store, commit_seconds=commit_seconds) as session:
            if feature_set == "combined":
                restore_components(self, session, pc.unique(keys.filter(pa.array(held))))
                fill_combined(self, session, missing, missing_keys)
            else:
                missing, missing_keys = cut_from_combined(
                    self, session, feature_set, missing, missing_keys
                )

                def store_rows(table: pa.Table) -> None:
                    session.add(fingerprint, feature_set, table)
                    self.counted(table)

                self.fetch_rows(missing, missing_keys, feature_set, store_rows)
        return store.read(fingerprint, feature_set, keys) if len(keys) else None

    def fetch_rows(
        self,
        essays: pa.Table,
        keys: pa.Array,
        feature_set: FeatureSet,
        on_batch: Callable[[pa.Table], None],
    ) -> None:
        """Compute ``essays`` for ``feature_set`` (nothing to do for none)."""
        if essays.num_rows:
            request = FetchRequest(
                essays=essays,
                keys=keys,
                feature_set=feature_set,
                fingerprint=self.info.for_set(feature_set),
            )
            self.fetch(request, on_batch)
