"""Prometheus metrics, one registry per running server (tests start several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """Counters and histograms shared by both planes."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.extract_requests = Counter(
            "hemma_extract_requests",
            "Flight extraction requests (do_exchange calls), by feature set and outcome.",
            ["feature_set", "outcome"],
            registry=self.registry,
        )
        self.extract_rows = Counter(
            "hemma_extract_rows",
            "Rows whose features were actually computed, by feature set.",
            ["feature_set"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "hemma_reloads",
            "Hot reloads (SIGHUP or the reload action), by outcome (ok, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self.store_hits = Counter(
            "hemma_store_hits",
            "Distinct essays served from the server-side feature store, by feature set.",
            ["feature_set"],
            registry=self.registry,
        )
        self.extract_batch_seconds = Histogram(
            "hemma_extract_batch_duration_seconds",
            "Time to compute one feature batch, by feature set.",
            ["feature_set"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_request_seconds = Histogram(
            "hemma_http_request_duration_seconds",
            "Control-plane request latency, by method, route and status.",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.flight_streams = Gauge(
            "hemma_flight_active_streams",
            "Flight streams being served right now.",
            registry=self.registry,
        )
        self.flight_refusals = Counter(
            "hemma_flight_refusals",
            "Flight calls refused as busy (no compute slot within the queue wait), by verb.",
            ["verb"],
            registry=self.registry,
        )
        self.flight_queue_seconds = Histogram(
            "hemma_flight_queue_seconds",
            "Time a Flight call waited for a compute slot, by verb.",
            ["verb"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.parse_worker_restarts = Counter(
            "hemma_parse_worker_restarts",
            "Parse workers replaced, by reason (died, deadline).",
            ["reason"],
            registry=self.registry,
        )
        self.store_write_errors = Counter(
            "hemma_store_write_errors",
            "Computed rows the feature store could not keep (disk full, unwritable).",
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The registry in Prometheus text exposition format."""
        return generate_latest(self.registry)
