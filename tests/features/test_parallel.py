"""Parsing in worker processes and embeddings batched across concurrent requests."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
from hemma_features.service.features.parallel import EmbeddingBatcher, InlineParser, ProcessParser

TEXTS = ["The cat sat on the mat.\n\nIt slept.", "Do you like it? However, we do.", "Hello"]


def test_worker_processes_parse_exactly_like_the_request_thread(runtime):
    """The default runtime parses in another process, with identical values."""
    assert isinstance(runtime.parser, ProcessParser)
    worker_pid = runtime.parser._pool.submit(os.getpid).result(timeout=60)
    assert worker_pid != os.getpid()
    assert (
        runtime.parser.submit(TEXTS).result()
        == InlineParser(runtime.analyzer).submit(TEXTS).result()
    )
    assert runtime.parser.submit([]).result() == []


def test_concurrent_requests_share_embedding_passes(runtime, monkeypatch):
    """Requests queued while the encoder is busy are embedded in one call, same vectors."""
    embedder = runtime.embedder
    calls = []
    original = embedder.embed_with_spans

    def slow(texts, spans):
        calls.append(len(texts))
        if len(calls) == 1:
            time.sleep(0.5)  # keep the encoder busy while the others queue up
        return original(texts, spans)

    monkeypatch.setattr(embedder, "embed_with_spans", slow)
    batcher = EmbeddingBatcher(embedder)
    results: dict[int, np.ndarray] = {}

    def request(i: int) -> None:
        results[i] = batcher.embed([f"Request number {i} about essays."])

    first = threading.Thread(target=request, args=(0,))
    first.start()
    time.sleep(0.1)
    others = [threading.Thread(target=request, args=(i,)) for i in range(1, 6)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(timeout=60)
    batcher.close()
    assert calls[0] == 1 and len(calls) == 2 and calls[1] == 5
    monkeypatch.undo()
    for i, vector in results.items():
        assert np.array_equal(vector, embedder.embed([f"Request number {i} about essays."]))
