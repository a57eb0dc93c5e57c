"""Combined rows from components: reuse cached embeddings/handcrafted rows, fetch the rest."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from client.cache import FeatureCache
from client.components import join_components, split_component
from client.report import RunStats
from flight.contract import KEY_COLUMN, FeatureSet, FingerprintInfo

if TYPE_CHECKING:
    from client.feature_client import FeatureClient

OnBatch = Callable[[pa.Table], None]


class FetchSession:
    """What one extract call needs to fetch: the client, its stats, location and limit."""

    def __init__(
        self, client: FeatureClient, stats: RunStats, location: str, max_items: int
    ) -> None:
        self.client = client
        self.stats = stats
        self.location = location
        self.max_items = max_items

    def fetch(
        self, essays: pa.Table, keys: pa.Array, feature_set: FeatureSet, fingerprint: str,
        on_batch: OnBatch,
    ) -> None:  # fmt: skip
        if essays.num_rows == 0:
            return
        self.client.fetch(
            essays, keys, feature_set, fingerprint=fingerprint, location=self.location,
            max_items=self.max_items, on_batch=on_batch, stats=self.stats,
        )  # fmt: skip


def fill_combined(
    session: FetchSession,
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

    session.fetch(*rows((False, False)), "combined", fp_c, from_combined)
    session.fetch(*rows((True, False)), "handcrafted", fp_h, from_component("handcrafted"))
    session.fetch(*rows((False, True)), "embeddings", fp_e, from_component("embeddings"))
    both, both_keys = rows((True, True))
    for start in range(0, both.num_rows, 4096):
        chunk = both_keys.slice(start, 4096).to_pylist()
        embeddings = store.read(fp_e, "embeddings", chunk)
        handcrafted = store.read(fp_h, "handcrafted", chunk)
        assert embeddings is not None and handcrafted is not None
        store.write(fp_c, "combined", join_components(embeddings, handcrafted, fp_c))
        session.stats.reused += handcrafted.num_rows
