"""Compute slots: who may compute a micro-batch now, who waits, who is refused.

A stream holds a slot only while one of its micro-batches is computed, never while it
waits for the client, so idle streams cost no capacity. When every slot is taken a caller
waits in a bounded queue for at most ``queue_timeout`` seconds; a full queue or a wait
that runs out is refused with ``BusyError`` (Flight Unavailable, code ``busy``). Refusals
and waits are logged and counted in ``/metrics``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import structlog

from hemma_features.engine.errors import BusyError, ShuttingDownError
from hemma_features.engine.metrics import Metrics

log = structlog.get_logger(__name__)


class Admission:
    """Bounded compute slots with a bounded, timed wait queue.

    Args:
        slots: Micro-batches computed at once (``max_streams``).
        queue_limit: Callers allowed to wait for a slot (``stream_queue``).
        queue_timeout: Longest wait for a slot, in seconds (``stream_queue_timeout``).
        metrics: Where refusals and waits are counted.
        stopping: Set on shutdown; waiting callers give up at once.
    """

    def __init__(
        self,
        *,
        slots: int,
        queue_limit: int,
        queue_timeout: float,
        metrics: Metrics,
        stopping: threading.Event,
    ) -> None:
        self.slots = slots
        self.queue_limit = queue_limit
        self.queue_timeout = queue_timeout
        self._metrics = metrics
        self._stopping = stopping
        self._free = threading.Semaphore(slots)
        self._lock = threading.Lock()
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """Callers waiting for a slot now."""
        return self._waiting

    @contextlib.contextmanager
    def slot(self, verb: str, correlation_id: str) -> Iterator[None]:
        """Hold one compute slot for the block, waiting (bounded) when all are taken."""
        if not self._free.acquire(blocking=False):
            self._wait(verb, correlation_id)
        try:
            if self._stopping.is_set():
                raise ShuttingDownError()
            yield
        finally:
            self._free.release()

    def _wait(self, verb: str, correlation_id: str) -> None:
        with self._lock:
            if self._waiting >= self.queue_limit:
                self._refuse(verb, correlation_id, "the wait queue is full", 0.0)
            self._waiting += 1
        started = time.monotonic()
        acquired = False
        try:
            deadline = started + self.queue_timeout
            while not acquired and not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                acquired = self._free.acquire(timeout=min(remaining, 0.5))
        finally:
            with self._lock:
                self._waiting -= 1
            waited = time.monotonic() - started
            self._metrics.flight_queue_seconds.labels(verb).observe(waited)
        if not acquired:
            if self._stopping.is_set():
                raise ShuttingDownError()
            self._refuse(verb, correlation_id, f"no slot came free within {waited:.1f} s", waited)
        log.info(
            "flight.queued", verb=verb, correlation_id=correlation_id, seconds=round(waited, 3)
        )

    def _refuse(self, verb: str, correlation_id: str, why: str, waited: float) -> None:
        self._metrics.flight_refusals.labels(verb).inc()
        log.warning(
            "flight.refused",
            verb=verb,
            correlation_id=correlation_id,
            reason=why,
            waiting=self._waiting,
            slots=self.slots,
        )
        raise BusyError(
            f"the server is busy: all {self.slots} compute slots are taken (max_streams) and "
            f"{why}; retry after a pause",
            retry_after=max(1.0, min(self.queue_timeout, 10.0)),
        )
