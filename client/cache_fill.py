"""Fill a cache with what it lacks for a run, then read the run's rows back from it.

``combined`` is exactly ``embeddings`` and ``handcrafted`` side by side, under a
fingerprint covering both, so each way is exact: a combined run joins the components it
finds cached and fetches the rest; its component rows are stored too, and cut again from
the cached combined rows when a damaged file took them away; an embeddings or handcrafted
run cuts what it lacks from cached combined rows before it fetches anything, as the
server's store does. The fill owns all of it; its fetcher only computes what it is asked.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hemma_features.arrowfiles.segments import COMMIT_SECONDS, WriteSession, write_session
from hemma_features.client.cache import FeatureCache
from hemma_features.client.components import join_components, split_component, with_components
from hemma_features.client.errors import CacheError
from hemma_features.client.results import first_rows_of_missing, rows_at
from hemma_features.client.run_report import RunStats
from hemma_features.client.source import Fetcher, FetchRequest, OnBatch
from hemma_features.contract import KEY_COLUMN, FeatureSet, FingerprintInfo

Progress = Callable[[int, int, int], None]  # (rows done now, of which cache hits, total rows)

JOIN_ROWS = 8192
"""Rows joined at a time from two cached components."""
VANISHED = (
    "cached {what} rows vanished during the run (another process removed them: cache gc or "
    "compact?); rerun"
)


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
                self._restore_components(session, pc.unique(keys.filter(pa.array(held))))
                self._fill_combined(session, missing, missing_keys)
            else:
                missing, missing_keys = self._cut_from_combined(
                    session, feature_set, missing, missing_keys
                )

                def store_rows(table: pa.Table) -> None:
                    session.add(fingerprint, feature_set, table)
                    self.counted(table)

                self._fetch(missing, missing_keys, feature_set, store_rows)
        return store.read(fingerprint, feature_set, keys) if len(keys) else None

    def _fetch(
        self, essays: pa.Table, keys: pa.Array, feature_set: FeatureSet, on_batch: OnBatch
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

    def _fill_combined(self, session: WriteSession, essays: pa.Table, keys: pa.Array) -> None:
        """Make combined rows for ``essays``, reusing cached components and fetching the rest.

        Keys with both components cached are joined locally; keys with one are fetched for
        the other component only; keys with neither are fetched as combined and also stored
        as components. Each lookup costs the rows it asks for: the components' key indexes
        are loaded once, not rescanned per batch.
        """
        store = self.store
        fp_e, fp_h, fp_c = (self.info.for_set(s) for s in ("embeddings", "handcrafted", "combined"))
        have_e = store.contains(fp_e, "embeddings", keys)
        have_h = store.contains(fp_h, "handcrafted", keys)

        def rows(flags: tuple[bool, bool]) -> tuple[pa.Table, pa.Array]:
            index = np.flatnonzero((have_e == flags[0]) & (have_h == flags[1]))
            return rows_at(essays, index), rows_at(keys, index)

        def from_combined(table: pa.Table) -> None:
            session.add(fp_e, "embeddings", split_component(table, "embeddings", fp_e))
            session.add(fp_h, "handcrafted", split_component(table, "handcrafted", fp_h))
            session.add(fp_c, "combined", with_components(table, fp_e, fp_h))
            self.counted(table)

        def from_component(fetched: str) -> OnBatch:
            """Store a fetched component and join it with the cached other one."""
            cached, fp_fetched, fp_cached = (
                ("embeddings", fp_h, fp_e)
                if fetched == "handcrafted"
                else ("handcrafted", fp_e, fp_h)
            )

            def handle(table: pa.Table) -> None:
                session.add(fp_fetched, fetched, table)
                other = store.read(fp_cached, cached, table.column(KEY_COLUMN))
                if other is None or other.num_rows != table.num_rows:
                    raise CacheError(VANISHED.format(what=cached))
                parts = (other, table) if fetched == "handcrafted" else (table, other)
                session.add(
                    fp_c, "combined", with_components(join_components(*parts, fp_c), fp_e, fp_h)
                )
                self.counted(table)

            return handle

        self._fetch(*rows((False, False)), "combined", from_combined)
        self._fetch(*rows((True, False)), "handcrafted", from_component("handcrafted"))
        self._fetch(*rows((False, True)), "embeddings", from_component("embeddings"))
        _, both_keys = rows((True, True))
        for start in range(0, len(both_keys), JOIN_ROWS):
            chunk = both_keys.slice(start, JOIN_ROWS)
            embeddings = store.read(fp_e, "embeddings", chunk)
            handcrafted = store.read(fp_h, "handcrafted", chunk)
            if embeddings is None or handcrafted is None:
                raise CacheError(VANISHED.format(what="component"))
            joined = join_components(embeddings, handcrafted, fp_c)
            session.add(fp_c, "combined", with_components(joined, fp_e, fp_h))
            self.stats.reused += handcrafted.num_rows
            self.counted(joined, from_cache=True)

    def _restore_components(self, session: WriteSession, keys: pa.Array) -> None:
        """Store the ``embeddings`` and ``handcrafted`` rows the cache lacks for ``keys``, all held
        as combined rows, cut from those rows (a damaged component file was moved aside, or an
        older client never stored them). Counts them in ``stats.cut_from_combined``."""
        store = self.store
        fp_e, fp_h, fp_c = (self.info.for_set(s) for s in ("embeddings", "handcrafted", "combined"))
        lacking = ~store.contains(fp_e, "embeddings", keys) | ~store.contains(
            fp_h, "handcrafted", keys
        )
        index = np.flatnonzero(lacking)
        for start in range(0, index.size, JOIN_ROWS):
            chunk = keys.take(pa.array(index[start : start + JOIN_ROWS]))
            combined = store.read(fp_c, "combined", chunk)
            if combined is None:
                raise CacheError(VANISHED.format(what="combined"))
            for feature_set, fingerprint in (("embeddings", fp_e), ("handcrafted", fp_h)):
                part = split_component(combined, feature_set, fingerprint)
                self.stats.cut_from_combined += session.add(fingerprint, feature_set, part)

    def _cut_from_combined(
        self,
        session: WriteSession,
        feature_set: FeatureSet,
        essays: pa.Table,
        keys: pa.Array,
    ) -> tuple[pa.Table, pa.Array]:
        """Store the ``feature_set`` rows of ``keys`` held as combined rows, cut from them; the
        essays and keys left to fetch.

        ``feature_set`` is ``embeddings`` or ``handcrafted``; the combined rows are those of the
        same server answer's combined fingerprint, so their columns are the component's values
        bit for bit. Without a combined fingerprint (LanguageTool pending) nothing is cut.
        """
        fp_c = self.info.feature_sets.get("combined")
        if fp_c is None or not len(keys):
            return essays, keys
        store = self.store
        held = store.contains(fp_c, "combined", keys)
        index = np.flatnonzero(held)
        fingerprint = self.info.for_set(feature_set)
        for start in range(0, index.size, JOIN_ROWS):
            chunk = keys.take(pa.array(index[start : start + JOIN_ROWS]))
            combined = store.read(fp_c, "combined", chunk)
            if combined is None:
                raise CacheError(VANISHED.format(what="combined"))
            part = split_component(combined, feature_set, fingerprint)
            self.stats.cut_from_combined += session.add(fingerprint, feature_set, part)
            self.counted(part, from_cache=True)
        rest = np.flatnonzero(~held)
        return rows_at(essays, rest), rows_at(keys, rest)
