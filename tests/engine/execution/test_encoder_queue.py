"""The encoder's queue: requests from many streams share forward passes."""

from __future__ import annotations

import threading

import numpy as np

from hemma_features.engine.execution.encoder_queue import EncoderQueue
from tests.conftest import wait_for


def test_concurrent_requests_share_embedding_passes(runtime, monkeypatch):
    """Requests queued while the encoder is busy are embedded in one call, same vectors."""
    embedder = runtime.embedder
    calls = []
    original = embedder.embed_with_spans
    batcher = EncoderQueue(embedder)
    others_queued = threading.Event()

    def held(texts, spans, observe=None):
        calls.append(len(texts))
        if len(calls) == 1:  # keep the encoder busy until the others have queued up
            others_queued.wait(120)
        return original(texts, spans, observe)

    monkeypatch.setattr(embedder, "embed_with_spans", held)
    results: dict[int, np.ndarray] = {}

    def request(i: int) -> None:
        results[i] = batcher.embed([f"Request number {i} about essays."])

    first = threading.Thread(target=request, args=(0,))
    first.start()
    assert wait_for(lambda: len(calls) == 1)
    others = [threading.Thread(target=request, args=(i,)) for i in range(1, 6)]
    for thread in others:
        thread.start()
    assert wait_for(lambda: batcher._jobs.qsize() == 5)
    others_queued.set()
    for thread in [first, *others]:
        thread.join(timeout=120)
    batcher.close()
    assert calls == [1, 5]
    monkeypatch.undo()
    for i, vector in results.items():
        assert np.array_equal(vector, embedder.embed([f"Request number {i} about essays."]))
