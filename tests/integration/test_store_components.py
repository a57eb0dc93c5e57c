"""A store of combined rows serves embeddings and handcrafted reads without computing."""

from __future__ import annotations

import pyarrow.csv as pacsv

from hemma_features import FeatureClient
from hemma_features.engine.runtime import Runtime
from tests.conftest import SAMPLES, settings_for_tests
from tests.servers import LiveServer, counter


def test_component_reads_are_cut_from_stored_combined_rows(runtime, live_server, tmp_path):
    """After a combined read, do_get of embeddings and of handcrafted computes no row and
    returns exactly what a server without a store computes; later reads are plain hits."""
    essays = pacsv.read_csv(SAMPLES, parse_options=pacsv.ParseOptions(newlines_in_values=True))
    settings = settings_for_tests(store_dir=str(tmp_path / "store"), shard_rows=3, batch_rows=2)
    server = LiveServer(Runtime.from_models(settings, runtime.analyzer, runtime.embedder))
    try:
        with FeatureClient(server.http_url) as client:
            client.upload("corpus", essays)
            client.read_dataset("corpus", "combined")  # computed once, stored as combined
            for feature_set in ("embeddings", "handcrafted"):
                computed = counter(server.http_url, "hemma_extract_rows_total", feature_set)
                first = client.read_dataset("corpus", feature_set)
                hits = counter(server.http_url, "hemma_store_hits_total", feature_set)
                again = client.read_dataset("corpus", feature_set)
                assert counter(server.http_url, "hemma_extract_rows_total", feature_set) == computed
                assert counter(server.http_url, "hemma_store_hits_total", feature_set) == hits + 8
                with FeatureClient(live_server.http_url) as fresh:  # no store: computes
                    expected = fresh.extract(essays, feature_set=feature_set).drop_columns(["key"])
                assert first.equals(expected) and again.equals(expected)
    finally:
        server.close()
