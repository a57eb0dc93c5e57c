"""``FlightFetcher``: compute essays on a feature server, streamed over ``do_exchange``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Protocol

import numpy as np
import pyarrow as pa

from hemma_features.client.errors import FingerprintChangedError, RetryableError
from hemma_features.client.report import RunStats
from hemma_features.client.results import rows_at
from hemma_features.client.retry import RetryPolicy
from hemma_features.client.source import FetchRequest, OnBatch
from hemma_features.contract import KEY_COLUMN, FeatureSet, schema_fingerprint
from hemma_features.logs import library_logger

log = library_logger(__name__)


class Streams(Protocol):
    """What a fetcher needs of its client (``FeatureClient``): one stream, and how often to
    retry one that failed."""

    retries: int
    backoff: float
    busy_budget: float

    def stream(
        self,
        essays: pa.Table,
        feature_set: FeatureSet,
        *,
        fingerprint: str | None = None,
        location: str | None = None,
        stats: RunStats | None = None,
    ) -> Iterator[pa.RecordBatch]: ...


class FlightFetcher:
    """One run's fetcher: requests of at most ``max_items`` rows to one Flight location.

    A transport failure (Unavailable) is retried with bounded backoff by a new stream for
    the rows not yet answered; a half-read stream is never resumed.

    Args:
        client: The client whose connection settings, retry budget and stream it uses.
        location: Where the run's Flight calls go.
        max_items: The server's row limit per request.
        stats: The run's counters.
    """

    def __init__(self, client: Streams, location: str, max_items: int, stats: RunStats) -> None:
        self.client = client
        self.location = location
        self.max_items = max_items
        self.stats = stats

    def __call__(self, request: FetchRequest, on_batch: OnBatch) -> None:
        client, stats = self.client, self.stats
        essays, keys, fingerprint = request.essays, request.keys, request.fingerprint
        remaining = np.arange(essays.num_rows)
        retry = RetryPolicy(client.retries, client.backoff, client.busy_budget)
        while True:
            done: list[int] = []
            try:
                for start in range(0, remaining.size, self.max_items):
                    rows = remaining[start : start + self.max_items]
                    offset = 0
                    for batch in client.stream(
                        rows_at(essays, rows), request.feature_set, fingerprint=fingerprint,
                        location=self.location, stats=stats,
                    ):  # fmt: skip
                        if schema_fingerprint(batch.schema) != fingerprint:
                            raise FingerprintChangedError(
                                f"the {request.feature_set} fingerprint changed during the run "
                                f"(started with {fingerprint}, now "
                                f"{schema_fingerprint(batch.schema)}); the server was "
                                "redeployed: rerun to fetch from the new one"
                            )
                        answered = rows[offset : offset + batch.num_rows]
                        offset += batch.num_rows
                        table = pa.Table.from_batches([batch])
                        on_batch(table.add_column(0, KEY_COLUMN, rows_at(keys, answered)))
                        stats.rows_fetched += batch.num_rows
                        stats.bytes_received += batch.nbytes
                        done.extend(answered.tolist())
                return
            except RetryableError as exc:
                remaining = np.setdiff1d(remaining, np.asarray(done, dtype=np.int64))
                delay = retry.next_delay(exc)  # raises the final error when the budget is spent
                log.debug("client.retry", attempt=retry.attempts, delay=delay, reason=str(exc))
                stats.retries += 1
                time.sleep(delay)
