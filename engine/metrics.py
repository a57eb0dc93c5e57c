"""Prometheus metrics, one registry per running server (tests start several)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class PassFigures(Protocol):
    """One encoder pass as the engine reports it (``engine.models.padded.PassStats``)."""

    @property
    def width(self) -> int: ...
    @property
    def rows(self) -> int: ...
    @property
    def sequences(self) -> int: ...
    @property
    def tokens(self) -> int: ...
    @property
    def seconds(self) -> float: ...


_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_PASS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
_ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_SHARE_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)


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

        self.encoder_passes = Counter(
            "hemma_encoder_passes",
            "Encoder forward passes.",
            registry=self.registry,
        )
        self.encoder_tokens = Counter(
            "hemma_encoder_tokens",
            "Token positions the encoder computed, by kind (real, padding: padded positions "
            "and empty rows of fixed-shape passes).",
            ["kind"],
            registry=self.registry,
        )
        self.encoder_pass_rows = Histogram(
            "hemma_encoder_pass_rows",
            "Sequences per encoder pass (empty rows not counted).",
            buckets=_ROW_BUCKETS,
            registry=self.registry,
        )
        self.encoder_pass_padding = Histogram(
            "hemma_encoder_pass_padding_ratio",
            "Share of an encoder pass's token positions that are padding.",
            buckets=_SHARE_BUCKETS,
            registry=self.registry,
        )
        self.encoder_pass_seconds = Histogram(
            "hemma_encoder_pass_duration_seconds",
            "Time of one encoder pass, pooling and the copy to the host included.",
            buckets=_PASS_BUCKETS,
            registry=self.registry,
        )
        self.encoder_queue_seconds = Histogram(
            "hemma_encoder_queue_seconds",
            "Time a sequence (padded passes) or a request (batch size 1) waited for the encoder.",
            buckets=_PASS_BUCKETS,
            registry=self.registry,
        )
        self.gpu_memory = Gauge(
            "hemma_gpu_memory_bytes",
            "GPU memory held by tensors now (0 without a GPU).",
            registry=self.registry,
        )
        self.gpu_memory_peak = Gauge(
            "hemma_gpu_memory_peak_bytes",
            "Most GPU memory held by tensors since the server started (0 without a GPU).",
            registry=self.registry,
        )

    def observe_pass(self, stats: PassFigures) -> None:
        """Count one encoder pass."""
        positions = stats.rows * stats.width
        self.encoder_passes.inc()
        self.encoder_tokens.labels("real").inc(stats.tokens)
        self.encoder_tokens.labels("padding").inc(positions - stats.tokens)
        self.encoder_pass_rows.observe(stats.sequences)
        self.encoder_pass_padding.observe(1 - stats.tokens / positions if positions else 0.0)
        self.encoder_pass_seconds.observe(stats.seconds)

    def watch_gpu(self, in_use: Callable[[], float], peak: Callable[[], float]) -> None:
        """Read GPU memory at every scrape."""
        self.gpu_memory.set_function(in_use)
        self.gpu_memory_peak.set_function(peak)

    def render(self) -> bytes:
        """The registry in Prometheus text exposition format."""
        return generate_latest(self.registry)
