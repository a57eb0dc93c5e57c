"""Combined rows from components: reuse cached embeddings/handcrafted rows, fetch the rest."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from hemma_features.client.cache import FeatureCache
from hemma_features.client.components import join_components, split_component
from hemma_features.client.report import RunStats
from hemma_features.contract import KEY_COLUMN, FeatureSet, FingerprintInfo

OnBatch = Callable[[pa.Table], None]
Fetch = Callable[[pa.Table, pa.Array, FeatureSet, str, OnBatch], None]
"""(essays, their keys, feature set, fingerprint, what to do with each answered batch)."""


def fill_combined(
    fetch: Fetch,
    stats: RunStats,
    store: FeatureCache,
    info: FingerprintInfo,
    essays: pa.Table,
    keys: pa.Array,
    counted: OnBatch,
) -> None:
    """Make combined rows for ``essays``, reusing cached components and fetching the rest.

    Keys with both components cached are joined locally; keys with one are fetched for
    the other component only; keys with neither are fetched as combined and also stored
    as components.
    """
    fp_e, fp_h, fp_c = (info.for_set(s) for s in ("embeddings", "handcrafted", "combined"))
    have_e = store.known_keys(fp_e, "embeddings")
    have_h = store.known_keys(fp_h, "handcrafted")
    key_list = keys.to_pylist()
    groups: dict[tuple[bool, bool], list[int]] = {}
    for row, key in enumerate(key_list):
        groups.setdefault((key in have_e, key in have_h), []).append(row)

    def rows(flags: tuple[bool, bool]) -> tuple[pa.Table, pa.Array]:
        index = np.asarray(groups.get(flags, []), dtype=np.int64)
        return essays.take(index), keys.take(index)

    def from_combined(table: pa.Table) -> None:
        store.write(fp_e, "embeddings", split_component(table, "embeddings", fp_e))
        store.write(fp_h, "handcrafted", split_component(table, "handcrafted", fp_h))
        store.write(fp_c, "combined", table)
        counted(table)

    def from_component(fetched: str) -> OnBatch:
        """Store a fetched component and join it with the cached other one."""
        cached, fp_fetched, fp_cached = (
            ("embeddings", fp_h, fp_e) if fetched == "handcrafted" else ("handcrafted", fp_e, fp_h)
        )

        def handle(table: pa.Table) -> None:
            store.write(fp_fetched, fetched, table)
            other = store.read(fp_cached, cached, table.column(KEY_COLUMN).to_pylist())
            assert other is not None  # these keys were in the other component's partition
            parts = (other, table) if fetched == "handcrafted" else (table, other)
            store.write(fp_c, "combined", join_components(*parts, fp_c))
            counted(table)

        return handle

    fetch(*rows((False, False)), "combined", fp_c, from_combined)
    fetch(*rows((True, False)), "handcrafted", fp_h, from_component("handcrafted"))
    fetch(*rows((False, True)), "embeddings", fp_e, from_component("embeddings"))
    both, both_keys = rows((True, True))
    for start in range(0, both.num_rows, 4096):
        chunk = both_keys.slice(start, 4096).to_pylist()
        embeddings = store.read(fp_e, "embeddings", chunk)
        handcrafted = store.read(fp_h, "handcrafted", chunk)
        assert embeddings is not None and handcrafted is not None
        store.write(fp_c, "combined", join_components(embeddings, handcrafted, fp_c))
        stats.reused += handcrafted.num_rows
