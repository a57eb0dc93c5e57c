"""Combined rows from components: reuse cached embeddings/handcrafted rows, fetch the rest."""

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

    def counted(self, table: pa.Table) -> None: ...

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
