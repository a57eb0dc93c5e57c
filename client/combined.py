"""Combined rows from components and components from combined rows, through the cache.

``combined`` is exactly ``embeddings`` and ``handcrafted`` side by side, under a
fingerprint covering both, so each way is exact: a combined run joins the components it
finds cached and fetches the rest; its component rows are stored too, and cut again from
the cached combined rows when a damaged file took them away (``restore_components``); an
embeddings or handcrafted run cuts what it lacks from cached combined rows before it
fetches anything (``cut_from_combined``), as the server's store does.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pyarrow as pa

from hemma_features.arrowfiles.segments import WriteSession
from hemma_features.client.cache import FeatureCache
from hemma_features.client.components import join_components, split_component, with_components
from hemma_features.client.errors import CacheError
from hemma_features.client.report import RunStats
from hemma_features.client.results import rows_at
from hemma_features.client.source import OnBatch
from hemma_features.contract import KEY_COLUMN, FeatureSet, FingerprintInfo

JOIN_ROWS = 8192
"""Rows joined at a time from two cached components."""
VANISHED = (
    "cached {what} rows vanished during the run (another process removed them: cache gc or "
    "compact?); rerun"
)


class ComponentFill(Protocol):
    """What combined filling needs of the run's cache filling (``cache_fill.CacheFill``)."""

    store: FeatureCache
    info: FingerprintInfo
    stats: RunStats

    def counted(self, table: pa.Table, *, from_cache: bool = False) -> None: ...

    def fetch_rows(
        self, essays: pa.Table, keys: pa.Array, feature_set: FeatureSet, on_batch: OnBatch
    ) -> None: ...


def fill_combined(
    fill: ComponentFill, session: WriteSession, essays: pa.Table, keys: pa.Array
) -> None:
    """Make combined rows for ``essays``, reusing cached components and fetching the rest.

    Keys with both components cached are joined locally; keys with one are fetched for
    the other component only; keys with neither are fetched as combined and also stored
    as components. Each lookup costs the rows it asks for: the components' key indexes
    are loaded once, not rescanned per batch.
    """
    store = fill.store
    fp_e, fp_h, fp_c = (fill.info.for_set(s) for s in ("embeddings", "handcrafted", "combined"))
    have_e = store.contains(fp_e, "embeddings", keys)
    have_h = store.contains(fp_h, "handcrafted", keys)

    def rows(flags: tuple[bool, bool]) -> tuple[pa.Table, pa.Array]:
        index = np.flatnonzero((have_e == flags[0]) & (have_h == flags[1]))
        return rows_at(essays, index), rows_at(keys, index)

    def from_combined(table: pa.Table) -> None:
        session.add(fp_e, "embeddings", split_component(table, "embeddings", fp_e))
        session.add(fp_h, "handcrafted", split_component(table, "handcrafted", fp_h))
        session.add(fp_c, "combined", with_components(table, fp_e, fp_h))
        fill.counted(table)

    def from_component(fetched: str) -> OnBatch:
        """Store a fetched component and join it with the cached other one."""
        cached, fp_fetched, fp_cached = (
            ("embeddings", fp_h, fp_e) if fetched == "handcrafted" else ("handcrafted", fp_e, fp_h)
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
            fill.counted(table)

        return handle

    fill.fetch_rows(*rows((False, False)), "combined", from_combined)
    fill.fetch_rows(*rows((True, False)), "handcrafted", from_component("handcrafted"))
    fill.fetch_rows(*rows((False, True)), "embeddings", from_component("embeddings"))
    _, both_keys = rows((True, True))
    for start in range(0, len(both_keys), JOIN_ROWS):
        chunk = both_keys.slice(start, JOIN_ROWS)
        embeddings = store.read(fp_e, "embeddings", chunk)
        handcrafted = store.read(fp_h, "handcrafted", chunk)
        if embeddings is None or handcrafted is None:
            raise CacheError(VANISHED.format(what="component"))
        joined = join_components(embeddings, handcrafted, fp_c)
        session.add(fp_c, "combined", with_components(joined, fp_e, fp_h))
        fill.stats.reused += handcrafted.num_rows
        fill.counted(joined, from_cache=True)


def restore_components(fill: ComponentFill, session: WriteSession, keys: pa.Array) -> None:
    """Store the ``embeddings`` and ``handcrafted`` rows the cache lacks for ``keys``, all held
    as combined rows, cut from those rows (a damaged component file was moved aside, or an
    older client never stored them). Counts them in ``stats.cut_from_combined``."""
    store = fill.store
    fp_e, fp_h, fp_c = (fill.info.for_set(s) for s in ("embeddings", "handcrafted", "combined"))
    lacking = ~store.contains(fp_e, "embeddings", keys) | ~store.contains(fp_h, "handcrafted", keys)
    index = np.flatnonzero(lacking)
    for start in range(0, index.size, JOIN_ROWS):
        chunk = keys.take(pa.array(index[start : start + JOIN_ROWS]))
        combined = store.read(fp_c, "combined", chunk)
        if combined is None:
            raise CacheError(VANISHED.format(what="combined"))
        for feature_set, fingerprint in (("embeddings", fp_e), ("handcrafted", fp_h)):
            part = split_component(combined, feature_set, fingerprint)
            fill.stats.cut_from_combined += session.add(fingerprint, feature_set, part)


def cut_from_combined(
    fill: ComponentFill,
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
    fp_c = fill.info.feature_sets.get("combined")
    if fp_c is None or not len(keys):
        return essays, keys
    store = fill.store
    held = store.contains(fp_c, "combined", keys)
    index = np.flatnonzero(held)
    fingerprint = fill.info.for_set(feature_set)
    for start in range(0, index.size, JOIN_ROWS):
        chunk = keys.take(pa.array(index[start : start + JOIN_ROWS]))
        combined = store.read(fp_c, "combined", chunk)
        if combined is None:
            raise CacheError(VANISHED.format(what="combined"))
        part = split_component(combined, feature_set, fingerprint)
        fill.stats.cut_from_combined += session.add(fingerprint, feature_set, part)
        fill.counted(part, from_cache=True)
    rest = np.flatnonzero(~held)
    return rows_at(essays, rest), rows_at(keys, rest)
