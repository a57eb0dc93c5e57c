"""The encoder's queue: one device-wide queue that every stream's texts go through, one
thread that owns the encoder.

With padded passes (batch size above 1, the CUDA default) a request is tokenised in the
caller's thread, while the encoder runs other requests' passes, and its windows join the
buckets of their padded width (``padded.Buckets``): windows of every stream and of every
micro-batch in flight fill the same passes, the way TEI's and infinity's dynamic batchers
coalesce requests. The encoder thread runs the next pass as soon as the previous one is
done; a request's vectors are assembled, in its caller's thread, once its last window has
been through a pass. With batch size 1 (the CPU default) requests waiting together are
embedded in one call, each sequence its own pass.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import msgspec
import numpy as np
import structlog

from hemma_features.engine.errors import ShuttingDownError
from hemma_features.engine.models.embed import Embedder
from hemma_features.engine.models.padded import Buckets, PassStats, Pending, WindowResult

log = structlog.get_logger(__name__)

MAX_WAIT = 0.5
"""Seconds a window may wait while fuller buckets go first (``padded.Buckets``): long
enough for buckets to fill under load (a GPU pass takes milliseconds), short enough that no
stream's essays wait long behind another's."""


class _Job:
    def __init__(self, texts: list[str], spans: list[Sequence[tuple[int, int]]]) -> None:
        self.texts = texts
        self.spans = spans
        self.future: Future[Any] = Future()
        self.since = time.monotonic()
        self.results: list[WindowResult | None] = []
        self.left = 0

    def deliver(self, position: int, result: WindowResult) -> None:
        """One window's sums (encoder thread only); the last one completes the job."""
        self.results[position] = result
        self.left -= 1
        if self.left == 0 and not self.future.done():
            self.future.set_result([r for r in self.results if r is not None])


class EncoderQueue:
    """The one queue in front of the encoder.

    Args:
        embedder: The loaded embedder (its ``shapes`` say whether passes are padded).
        on_pass: Told of every encoder pass.
        on_wait: Told the seconds each window (padded) or request (batch size 1) waited
            for the encoder.
        max_wait: Seconds a window may wait while fuller buckets go first.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        on_pass: Callable[[PassStats], None] | None = None,
        on_wait: Callable[[float], None] | None = None,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self.embedder = embedder
        self._on_pass = on_pass
        self._on_wait = on_wait
        self._closing = False
        self._ready = threading.Condition()
        self._buckets = Buckets(embedder.shapes, max_wait) if embedder.shapes else None
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        target = self._run_padded if self._buckets is not None else self._run_unpadded
        self._thread = threading.Thread(target=target, name="encoder-queue", daemon=True)
        self._thread.start()

    def view(self) -> dict[str, Any]:
        """The batching in force, for ``/v1/config``."""
        options = self.embedder.options
        shapes = self.embedder.shapes
        return {
            "padded": shapes is not None,
            "batch_size": options.batch_size,
            "token_budget": options.settings.token_budget,
            "pad_multiple": options.settings.pad_multiple if shapes else None,
            **(shapes.view() if shapes else {}),
            "max_wait_seconds": self._buckets.max_wait if self._buckets is not None else None,
        }

    def embed_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """As ``Embedder.embed_with_spans``, sharing passes with every request queued now."""
        job = _Job(list(texts), list(spans))
        if self._buckets is None:
            self._jobs.put(job)
            vectors, span_vectors = job.future.result()
            return vectors, span_vectors
        request = self.embedder.prepare(job.texts, job.spans)  # overlaps the running pass
        job.results = [None] * len(request.works)
        job.left = len(request.works)
        if request.works:
            now = time.monotonic()
            with self._ready:
                if self._closing:
                    raise ShuttingDownError()
                for position, work in enumerate(request.works):
                    self._buckets.add(Pending(work, now, (job, position)))
                self._ready.notify()
            results = job.future.result()
        else:
            results = []
        return self.embedder.finish(request, results)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """As ``Embedder.embed``."""
        return self.embed_with_spans(texts, [[] for _ in texts])[0]

    def _waited(self, seconds: float) -> None:
        if self._on_wait is not None:
            self._on_wait(seconds)

    def _run_padded(self) -> None:
        buckets = self._buckets
        assert buckets is not None
        while True:
            with self._ready:
                while not self._closing and not len(buckets):
                    self._ready.wait()
                if self._closing:
                    self._fail_waiting(ShuttingDownError())
                    return
                taken = buckets.take()
            if taken is None:
                continue
            width, items = taken
            started = time.monotonic()
            try:
                results, stats = self.embedder.run_pass(width, [item.work for item in items])
            except BaseException as exc:  # every request with a window in it fails with it
                self._fail({id(item.ticket[0]): item.ticket[0] for item in items}, exc)
                continue
            waited = tuple(started - item.since for item in items)
            if self._on_pass is not None:
                self._on_pass(msgspec.structs.replace(stats, waited=waited))
            for seconds in waited:
                self._waited(seconds)
            for item, result in zip(items, results, strict=True):
                job, position = item.ticket
                job.deliver(position, result)

    def _fail(self, failed: dict[int, _Job], exc: BaseException) -> None:
        """Fail these jobs and forget their windows still waiting."""
        for job in failed.values():
            if not job.future.done():
                job.future.set_exception(exc)
        assert self._buckets is not None
        with self._ready:
            self._buckets.drop(lambda item: id(item.ticket[0]) not in failed)

    def _fail_waiting(self, exc: BaseException) -> None:
        assert self._buckets is not None
        while (taken := self._buckets.take()) is not None:
            for item in taken[1]:
                job = item.ticket[0]
                if not job.future.done():
                    job.future.set_exception(exc)

    def _run_unpadded(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            jobs = [job]
            while True:
                try:
                    extra = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if extra is None:
                    self._jobs.put(None)
                    break
                jobs.append(extra)
            self._serve(jobs)

    def _serve(self, jobs: list[_Job]) -> None:
        now = time.monotonic()
        for job in jobs:
            self._waited(now - job.since)
        texts = [t for job in jobs for t in job.texts]
        spans = [s for job in jobs for s in job.spans]
        try:
            vectors, span_vectors = self.embedder.embed_with_spans(texts, spans, self._on_pass)
        except BaseException as exc:  # every waiting request fails with the cause
            for job in jobs:
                job.future.set_exception(exc)
            return
        if len(jobs) > 1:
            log.debug("embedding.batched", requests=len(jobs), texts=len(texts))
        start = 0
        for job in jobs:
            stop = start + len(job.texts)
            job.future.set_result((vectors[start:stop], span_vectors[start:stop]))
            start = stop

    def close(self) -> None:
        """Stop the thread after the pass in progress (waits at most 5 s; it is a daemon).
        Requests still waiting fail with ``ShuttingDownError``."""
        with self._ready:
            self._closing = True
            self._ready.notify_all()
        self._jobs.put(None)
        self._thread.join(timeout=5)
