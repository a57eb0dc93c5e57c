"""The run report of one ``extract``: counts, bytes, time and micro-batch latency
percentiles."""

from __future__ import annotations

import time

import msgspec
import numpy as np

from hemma_features.client.losses import MovedAside


class ExtractReport(msgspec.Struct, kw_only=True):
    """What one ``extract`` call did (written by ``--report FILE``)."""

    fingerprint: str
    """Fingerprint of the feature set the rows belong to."""
    feature_set: str
    """Feature set requested."""
    location: str = ""
    """Where the rows were computed: the Flight location the run used, or ``ray``."""
    rows_requested: int
    """Input rows."""
    complete: bool = True
    """False when the call ended with an error or was interrupted; a rerun fetches only
    what the cache still lacks."""
    essays_in_cache: int = 0
    """Distinct essays of this input the cache holds after the call, also after one that
    stopped early (0 without a cache)."""
    unique_essays: int
    """Distinct content keys among the input rows."""
    cache_hits: int
    """Distinct essays already in the cache for this feature set."""
    reused_components: int
    """Combined rows joined locally from cached embeddings and handcrafted rows."""
    cut_from_combined: int = 0
    """Embeddings or handcrafted rows cut from cached combined rows instead of fetched:
    rows an embeddings or handcrafted run found as combined rows, or component rows a
    combined run restored after a damaged file took them away."""
    moved_aside: list[MovedAside] = msgspec.field(default_factory=list)
    """Damaged cache files this call moved aside, and whether their rows are back."""
    rows_fetched: int
    """Rows computed by the server in this call."""
    bytes_received: int
    """Arrow bytes received from the server."""
    retries: int
    """Streams restarted after a transport failure (Ray: blocks computed again after their
    actor was lost, at least this many)."""
    lost_actors: int = 0
    """Ray: actors lost mid-run (a crash, an out-of-memory kill, their node gone) that Ray
    restarted; 0 on the Flight path."""
    seconds: float
    """Wall time of the call."""
    essays_per_second: float
    """rows_fetched / seconds (0 when nothing was fetched)."""
    first_rows_seconds: float
    """Seconds from the start of the call to the first fetched rows (0: none fetched)."""
    latency_p50: float
    """Median seconds an answered micro-batch took: from its batch being sent, or the
    previous answer arriving if that was later, to its arrival (Ray: per block)."""
    latency_p90: float
    """90th percentile of the micro-batch latency."""
    latency_p99: float
    """99th percentile of the micro-batch latency."""
    latency_count: int = 0
    """Answered micro-batches (Ray: blocks) the percentiles are over."""


class RunStats:
    """Mutable counters filled during one extract call."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.unique = 0
        self.cache_hits = 0
        self.reused = 0
        self.cut_from_combined = 0
        self.rows_fetched = 0
        self.bytes_received = 0
        self.retries = 0
        self.lost_actors = 0
        self.latencies: list[float] = []
        self.first_rows_at: float | None = None
        self.last_answer_at: float | None = None

    def report(
        self,
        *,
        fingerprint: str,
        feature_set: str,
        rows_requested: int,
        location: str = "",
        complete: bool = True,
        essays_in_cache: int = 0,
    ) -> ExtractReport:
        """Freeze the counters into a report."""
        seconds = time.perf_counter() - self.started
        p50, p90, p99 = (
            (float(np.percentile(self.latencies, q)) for q in (50, 90, 99))
            if self.latencies
            else (0.0, 0.0, 0.0)
        )
        return ExtractReport(
            fingerprint=fingerprint,
            feature_set=feature_set,
            location=location,
            rows_requested=rows_requested,
            complete=complete,
            essays_in_cache=essays_in_cache,
            unique_essays=self.unique,
            cache_hits=self.cache_hits,
            reused_components=self.reused,
            cut_from_combined=self.cut_from_combined,
            rows_fetched=self.rows_fetched,
            bytes_received=self.bytes_received,
            retries=self.retries,
            lost_actors=self.lost_actors,
            seconds=round(seconds, 4),
            essays_per_second=essays_per_second(self.rows_fetched, seconds),
            first_rows_seconds=round(self.first_rows_at - self.started, 4)
            if self.first_rows_at is not None
            else 0.0,
            latency_p50=round(p50, 4),
            latency_p90=round(p90, 4),
            latency_p99=round(p99, 4),
            latency_count=len(self.latencies),
        )


def essays_per_second(computed: int, seconds: float) -> float:
    """Essays computed for the run (fetched; cache hits not counted) per second since it
    started: the one figure the progress bar and the summary both show."""
    return round(computed / seconds, 2) if computed and seconds > 0 else 0.0
