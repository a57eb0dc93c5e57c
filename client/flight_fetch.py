"""``FlightSource``: a feature server as a ``RowSource``; ``FlightFetcher``: one run's essays
streamed to it over ``do_exchange``, retried where that is safe."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from hemma_features.client.control_plane import ControlPlane
from hemma_features.client.errors import FingerprintChangedError, RetryableError
from hemma_features.client.results import rows_at
from hemma_features.client.retry import RetryPolicy
from hemma_features.client.run_report import RunStats
from hemma_features.client.source import FetchRequest, OnBatch
from hemma_features.client.transport import FlightTransport
from hemma_features.contract import KEY_COLUMN, FingerprintInfo, ServerConfig, schema_fingerprint
from hemma_features.logs import library_logger

log = library_logger(__name__)


class FlightFetcher:
    """One run's fetcher: requests of at most ``max_items`` rows to one Flight location.

    A transport failure (Unavailable) is retried with bounded backoff by a new stream for
    the rows not yet answered; a half-read stream is never resumed.

    Args:
        transport: The data plane the streams go through.
        location: Where the run's Flight calls go.
        max_items: The server's row limit per request.
        stats: The run's counters.
        retry: A new request's ``RetryPolicy`` (a fresh budget for each).
    """

    def __init__(
        self,
        transport: FlightTransport,
        location: str,
        max_items: int,
        stats: RunStats,
        retry: Callable[[], RetryPolicy],
    ) -> None:
        self.transport = transport
        self.location = location
        self.max_items = max_items
        self.stats = stats
        self.retry = retry

    def __call__(self, request: FetchRequest, on_batch: OnBatch) -> None:
        transport, stats = self.transport, self.stats
        essays, keys, fingerprint = request.essays, request.keys, request.fingerprint
        remaining = np.arange(essays.num_rows)
        retry = self.retry()
        while True:
            done: list[int] = []
            try:
                for start in range(0, remaining.size, self.max_items):
                    rows = remaining[start : start + self.max_items]
                    offset = 0
                    for batch in transport.stream(
                        rows_at(essays, rows), request.feature_set, self.location,
                        fingerprint=fingerprint, stats=stats,
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


class FlightSource:
    """A feature server as a ``RowSource``: fingerprints and limits from its control plane,
    rows over its data plane.

    Args:
        control: The server's control plane.
        transport: Its data plane.
        retry: A new request's ``RetryPolicy``.
    """

    def __init__(
        self, control: ControlPlane, transport: FlightTransport, retry: Callable[[], RetryPolicy]
    ) -> None:
        self.control = control
        self.transport = transport
        self.retry = retry

    def config(self) -> ServerConfig:
        """``/v1/config``."""
        return self.control.config()

    def fingerprint(self) -> FingerprintInfo:
        """``/v1/fingerprint``."""
        return self.control.fingerprint()

    def fetcher(self, config: ServerConfig, stats: RunStats) -> FlightFetcher:
        """A run's fetcher: streams to the Flight location of ``config``."""
        location = self.transport.location(config)
        return FlightFetcher(self.transport, location, config.limits.max_items, stats, self.retry)

    def close(self) -> None:
        """Nothing to release: the connections belong to the ``FeatureClient``."""
