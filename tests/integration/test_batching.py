"""The server at the encoder's pace: padded passes behind Flight, micro-batches in flight,
what /metrics and /v1/config show of them."""

from __future__ import annotations

import re
import threading
import time

import httpx
import numpy as np
import pyarrow as pa
import pytest

from benchmarks.samples import mixed_texts
from hemma_features import FeatureClient
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.step_loop import InputBatch, StoreBackedFeatures
from tests.conftest import embedder_variant, essays_table, settings_for_tests
from tests.servers import LiveServer


@pytest.fixture(scope="module")
def padded_server(runtime):
    """Both planes over a runtime whose encoder runs padded passes of fixed shapes."""
    settings = settings_for_tests(embedding_batch_size=16, embedding_pad_multiple=32)
    embedder = embedder_variant(runtime.embedder, batch_size=16, pad_multiple=32)
    server = LiveServer(Runtime.from_models(settings, runtime.analyzer, embedder))
    yield server
    server.close()
    server.runtime.close()


def essays(count: int, tag: str = "E") -> pa.Table:
    texts = mixed_texts(count)
    return essays_table(
        [(f"{tag}{i:03d}", text, "Phones in school") for i, text in enumerate(texts)]
    )


def test_an_essays_row_is_the_same_bytes_alone_or_among_others(padded_server, tmp_path):
    """Through Flight, padded passes: an essay's embedding and semantic features are the same
    bytes sent with 23 others, alone, and in reverse order."""
    table = essays(24)
    with FeatureClient(padded_server.http_url) as client:
        together = client.extract(table, feature_set="embeddings", cache=tmp_path / "a")
        reverse_order = pa.array(list(range(23, -1, -1)), pa.int64())
        reverse = client.extract(
            table.take(reverse_order), feature_set="embeddings", cache=tmp_path / "b"
        )
        alone = client.extract(table.slice(9, 1), feature_set="embeddings", cache=tmp_path / "c")
    assert together.column("essay_id").to_pylist() == table.column("essay_id").to_pylist()
    row = together.slice(9, 1)
    assert alone.equals(row)
    by_id = {r["essay_id"]: r for r in reverse.to_pylist()}
    for want in together.to_pylist():
        got = by_id[want["essay_id"]]
        assert (
            np.asarray(got["embedding"], np.float32).tobytes()
            == np.asarray(want["embedding"], np.float32).tobytes()
        )
        assert got == want


def metric(http_url: str, name: str) -> float:
    """A sample's value (the first of that name, without labels) from /metrics."""
    text = httpx.get(f"{http_url}/metrics", timeout=30).text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert match is not None, f"{name} not in /metrics"
    return float(match.group(1))


def test_metrics_and_config_show_the_batching(padded_server, tmp_path):
    """/metrics counts passes, rows and padding per pass and the queue wait; /v1/config
    shows the pass shapes and the micro-batches in flight."""
    before = metric(padded_server.http_url, "hemma_encoder_passes_total")
    with FeatureClient(padded_server.http_url) as client:
        client.extract(essays(10, "M"), feature_set="embeddings", cache=tmp_path)
    url = padded_server.http_url
    assert metric(url, "hemma_encoder_passes_total") > before
    assert metric(url, "hemma_encoder_pass_rows_count") > 0
    assert metric(url, "hemma_encoder_pass_padding_ratio_count") > 0
    assert metric(url, "hemma_encoder_queue_seconds_count") >= 10
    assert metric(url, "hemma_gpu_memory_bytes") == 0  # no GPU here
    runtime = httpx.get(f"{url}/v1/config", timeout=30).json()["runtime"]
    batching = runtime["encoder_batching"]
    assert batching["padded"] is True and batching["mode"] == "fixed"
    assert batching["rows_per_width"]["32"] == 16
    assert runtime["micro_batch_rows"] == 16 and runtime["micro_batches_in_flight"] == 2
    fingerprint = httpx.get(f"{url}/v1/fingerprint", timeout=30).json()
    assert fingerprint["components"]["embedding"]["batching"]["mode"] == "fixed"


def test_a_stream_keeps_micro_batches_in_flight_in_order(runtime, monkeypatch):
    """With 2 in flight, two micro-batches compute at once (never three); answers leave in
    input order; a stop between batches starts no new micro-batch."""
    features = StoreBackedFeatures(runtime, use_store=False)
    running, most, started = [0], [0], []
    lock = threading.Lock()
    original = runtime.extract

    def extract(batch, feature_set):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            started.append(batch.column("essay_id")[0].as_py())
        time.sleep(0.3)  # long enough for the next micro-batch to start beside it
        try:
            return original(batch, feature_set)
        finally:
            with lock:
                running[0] -= 1

    # a built runtime is frozen: the test reaches past that to slow and count its micro-batches
    monkeypatch.setitem(vars(runtime), "extract", extract)
    monkeypatch.setitem(vars(runtime), "micro_batch_rows", 2)
    table = essays(8, "F")
    job = InputBatch(rows=table.to_batches()[0], feature_set="handcrafted")
    out = pa.Table.from_batches(list(features.answers(job, in_flight=2)))
    assert out.column("essay_id").to_pylist() == table.column("essay_id").to_pylist()
    assert most[0] == 2 and len(started) == 4

    started.clear()

    class Stop(Exception):
        pass

    answers = features.answers(job, in_flight=2, check=lambda: stop(len(started)))

    def stop(count: int) -> None:
        if count >= 2:
            raise Stop

    with pytest.raises(Stop):
        list(answers)
    time.sleep(0.5)
    assert len(started) == 2  # the two in flight finished; none started after the stop
