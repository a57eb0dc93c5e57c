"""One ``do_exchange`` driven by a worker thread, so the caller's thread stays interruptible.

A Flight read blocks in C++ and Python's signal handlers run only between bytecodes of
the main thread: reading there, a Ctrl-C waited for the server's next micro-batch, then
for the rest of the call. Here a worker writes the essays and reads the answers into a
small bounded queue; the caller waits on the queue in short slices, so a signal lands at
once, and ``close`` cancels the call (the server stops within one micro-batch).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.flight as fl

from hemma_features.client._wire import answers
from hemma_features.client.run_report import RunStats

QUEUE_BATCHES = 4
"""Answer batches held between the worker and the caller (the worker waits when full)."""
POLL_SECONDS = 0.1
"""How long the caller waits on the queue before looking again (signals land between)."""
JOIN_SECONDS = 2.0
"""How long ``close`` waits for a cancelled worker to let go of the call."""

_DONE = object()


class Exchange:
    """Write ``batches`` into one exchange and read its answers on a worker thread.

    Args:
        writer: The exchange's writer (``begin`` not yet called).
        reader: The exchange's reader.
        batches: Input batches; at least the schema of the first is sent.
        schema: The input schema, for an empty input.
        stats: The run's counters (latency per answered batch).
    """

    def __init__(
        self,
        writer: fl.FlightStreamWriter,
        reader: fl.FlightStreamReader,
        batches: list[pa.RecordBatch],
        schema: pa.Schema,
        stats: RunStats | None,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._batches = batches
        self._schema = schema
        self._stats = stats
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_BATCHES)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flight-exchange", daemon=True)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        """Answer batches in order; the worker's error, if any, is raised here."""
        self._thread.start()
        while True:
            try:
                item = self._queue.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Cancel the call if it is still running and wait (bounded) for the worker."""
        if self._thread.is_alive():
            self._stop.set()
            self._reader.cancel()
            self._thread.join(JOIN_SECONDS)

    @property
    def finished(self) -> bool:
        """The worker is gone (a client may be closed under it only then)."""
        return not self._thread.is_alive()

    def _put(self, item: Any) -> bool:
        """Hand ``item`` on; False once the caller has stopped listening."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            # The next input batch is sent before its predecessor's answers are read, so
            # the server never waits for the client.
            with self._writer as writer:
                writer.begin(self._batches[0].schema if self._batches else self._schema)
                pending: deque[tuple[pa.RecordBatch, float]] = deque()
                for batch in self._batches:
                    if self._stop.is_set():
                        return
                    writer.write_batch(batch)
                    pending.append((batch, time.perf_counter()))
                    if len(pending) > 1 and not self._answers(*pending.popleft()):
                        return
                writer.done_writing()
                while pending:
                    if not self._answers(*pending.popleft()):
                        return
            self._put(_DONE)
        except BaseException as exc:  # handed to the caller, who raises it
            if not self._stop.is_set():
                self._put(exc)

    def _answers(self, sent: pa.RecordBatch, sent_at: float) -> bool:
        for answer in answers(self._reader, sent, sent_at, self._stats):
            if not self._put(answer):
                return False
        return True
