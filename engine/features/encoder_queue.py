"""The encoder's queue: one thread owns the encoder; requests waiting together are
embedded in one call, duplicates once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

import numpy as np
import structlog

from hemma_features.engine.features.embed import Embedder

log = structlog.get_logger(__name__)


class _Job:
    def __init__(self, texts: list[str], spans: list[Sequence[tuple[int, int]]]) -> None:
        self.texts = texts
        self.spans = spans
        self.future: Future[tuple[np.ndarray, list[np.ndarray]]] = Future()


class EmbeddingBatcher:
    """One thread owns the encoder; jobs waiting together are embedded in one call."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="embedding-batcher", daemon=True)
        self._thread.start()

    def embed_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """As ``Embedder.embed_with_spans``, batched with other requests waiting now."""
        job = _Job(list(texts), list(spans))
        self._jobs.put(job)
        return job.future.result()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """As ``Embedder.embed``."""
        return self.embed_with_spans(texts, [[] for _ in texts])[0]

    def _run(self) -> None:
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
        texts = [t for job in jobs for t in job.texts]
        spans = [s for job in jobs for s in job.spans]
        try:
            vectors, span_vectors = self.embedder.embed_with_spans(texts, spans)
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
        """Stop the thread after the pass in progress (waits at most 5 s; it is a daemon)."""
        self._jobs.put(None)
        self._thread.join(timeout=5)
