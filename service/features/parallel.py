"""Where the CPU-heavy work runs: spaCy parsing in worker processes, embeddings in one
batching thread shared by concurrent requests.

The GIL serialises Python Flight handlers (apache/arrow#40360), so parsing leaves the
handler thread for ``spawn``-ed worker processes (each loads the spaCy pipeline once),
while torch, which releases the GIL, runs in this process. One request's parse and
embedding overlap; concurrent requests' texts are embedded in one pass, duplicates once.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np
import structlog
from hemma_features.service.features.embed import Embedder
from hemma_features.service.features.nlp import TextAnalyzer

log = structlog.get_logger(__name__)

_WORKER_ANALYZER: TextAnalyzer | None = None


def _load_in_worker(model: str) -> None:
    global _WORKER_ANALYZER
    _WORKER_ANALYZER = TextAnalyzer.load(model)


def _features_in_worker(texts: list[str]) -> list[dict[str, float]]:
    assert _WORKER_ANALYZER is not None  # set by the pool initializer
    return _WORKER_ANALYZER.features(texts)


class InlineParser:
    """Parses in the calling thread (``parse_workers=0``, and tests)."""

    def __init__(self, analyzer: TextAnalyzer) -> None:
        self._analyzer = analyzer

    def submit(self, texts: Sequence[str]) -> Future[list[dict[str, float]]]:
        future: Future[list[dict[str, float]]] = Future()
        try:
            future.set_result(self._analyzer.features(list(texts)))
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)
        return future

    def close(self) -> None:
        """Nothing to release."""


class ProcessParser:
    """spaCy + TextDescriptives in ``workers`` spawned processes."""

    def __init__(self, model: str, workers: int) -> None:
        self.workers = workers
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load_in_worker,
            initargs=(model,),
        )
        # Start and warm every worker now, not on the first request.
        warm = [self._pool.submit(_features_in_worker, ["Warm up."]) for _ in range(workers)]
        for future in warm:
            future.result(timeout=300)

    def submit(self, texts: Sequence[str]) -> Future[list[dict[str, float]]]:
        """Parse in the workers; the texts are split evenly between them."""
        texts = list(texts)
        size = max(1, -(-len(texts) // self.workers))
        parts = [self._pool.submit(_features_in_worker, texts[i : i + size])
                 for i in range(0, len(texts), size)]  # fmt: skip
        combined: Future[list[dict[str, float]]] = Future()

        def gather(_: Future[Any]) -> None:
            if not all(part.done() for part in parts) or combined.done():
                return
            try:
                combined.set_result([row for part in parts for row in part.result()])
            except BaseException as exc:  # a worker failed: the request fails with it
                combined.set_exception(exc)

        if not parts:
            combined.set_result([])
        for part in parts:
            part.add_done_callback(gather)
        return combined

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


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
        self._jobs.put(None)
        self._thread.join(timeout=10)
