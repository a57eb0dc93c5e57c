"""The engine behind both planes: semantic features, LanguageTool, determinism, policies."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.flight as fl
import pytest

from hemma_features.engine.errors import DependencyError
from hemma_features.engine.features.semantic import cosine
from hemma_features.engine.runtime import Runtime
from tests.conftest import count_forward_rows, embedder_variant, essays_table, settings_for_tests

TWO_PARAGRAPHS = "Phones help students learn.\n\nBut phones distract everyone in class."


def column(batch: pa.RecordBatch, name: str) -> list[float]:
    return batch.column(name).to_pylist()


def paragraph_vectors_by_hand(embedder, model, text: str) -> list[np.ndarray]:
    """Mean of the essay's final token states per paragraph, straight from the model."""
    import torch

    encoded = embedder._tokenizer(text, return_offsets_mapping=True, return_tensors="pt")
    offsets = encoded.pop("offset_mapping")[0].tolist()
    with torch.inference_mode():
        states = model(**encoded).last_hidden_state[0].numpy()
    vectors = []
    for start, end in ((0, text.index("\n")), (text.rindex("\n") + 1, len(text))):
        rows = [k for k, (a, b) in enumerate(offsets) if b > a and start <= a < end]
        vectors.append(states[rows].mean(0))
    return vectors


def test_prompt_and_paragraph_similarity_by_direct_embedding(runtime, torch_minilm):
    """prompt_similarity = cos(essay, prompt); paragraph similarity = cos(p1, p2)."""
    rows = [("a", TWO_PARAGRAPHS, "Phones in school"), ("b", "One paragraph only.", "Anything")]
    batch = runtime.extract(essays_table(rows).to_batches()[0], "embeddings")
    essay, prompt = runtime.embedder.embed([TWO_PARAGRAPHS, "Phones in school"])
    p1, p2 = paragraph_vectors_by_hand(runtime.embedder, torch_minilm, TWO_PARAGRAPHS)
    assert column(batch, "prompt_similarity")[0] == pytest.approx(cosine(essay, prompt), abs=1e-6)
    assert column(batch, "paragraph_similarity_mean")[0] == pytest.approx(cosine(p1, p2), abs=1e-5)
    assert column(batch, "paragraph_similarity_mean")[1] == 0.0  # fewer than two paragraphs
    assert column(batch, "embedded_paragraphs") == [2.0, 1.0]  # ...which this column says
    same = runtime.extract(
        essays_table([("c", "Same words.", "Same words.")]).to_batches()[0], "embeddings"
    )
    assert column(same, "prompt_similarity")[0] == pytest.approx(1.0, abs=1e-6)


def test_paragraphs_past_the_truncation_are_left_out(runtime):
    """Only paragraphs with embedded tokens count; spans come from the essay's own pass."""
    text = "First paragraph here.\n\nSecond one.\n\n" + "word " * 2000
    vectors, spans = runtime.embedder.embed_with_spans(
        [text, "prompt"], [[(0, 21), (23, 34), (36, 5000), (9000, 9500)], []]
    )
    assert spans[0].shape == (4, 384)
    assert np.isnan(spans[0][3]).all() and not np.isnan(spans[0][:3]).any()  # past 512 tokens
    assert spans[1].shape == (0, 384)
    assert np.array_equal(vectors[0], runtime.embedder.embed([text])[0])


def test_each_distinct_text_is_embedded_once_per_request(runtime, monkeypatch):
    """Three essays (two paragraphs each) with one shared prompt: four sequences in all."""
    seen = count_forward_rows(monkeypatch, runtime.embedder.encoder)
    rows = [(f"e{i}", f"Essay text number {i}.\n\nSecond part.", "Shared prompt") for i in range(3)]
    runtime.extract(essays_table(rows).to_batches()[0], "combined")
    assert sum(seen) == 4


def test_degenerate_texts_are_finite_in_every_column(runtime):
    """One word, punctuation only, no breaks, blank lines: no NaN or infinity anywhere."""
    rows = [
        ("1", "Hello", "p"),
        ("2", "!!!", "p"),
        ("3", "no punctuation at all", "p"),
        ("4", "\n\nTrailing.\n\n\n", "p"),
        ("5", "?", "?"),
    ]
    batch = runtime.extract(essays_table(rows).to_batches()[0], "combined")
    for name in batch.schema.names[2:]:
        assert np.isfinite(np.asarray(column(batch, name), dtype=np.float64)).all(), name
    embeddings = np.stack(batch.column("embedding").to_numpy(zero_copy_only=False))
    assert np.isfinite(embeddings).all()


def test_same_input_is_bit_identical_across_restarts(runtime):
    """A fresh runtime (a server restart) gives the same bytes for the same input."""
    rows = [("a", TWO_PARAGRAPHS, "Phones"), ("b", "Another essay here.", "Phones")]
    first = runtime.extract(essays_table(rows).to_batches()[0], "combined")
    again = Runtime.load(settings_for_tests())
    assert again.fingerprint == runtime.fingerprint
    second = again.extract(essays_table(rows).to_batches()[0], "combined")
    assert first.equals(second)
    assert again.extract(essays_table(rows[1:]).to_batches()[0], "combined").equals(first.slice(1))


def test_languagetool_features_through_the_runtime(runtime, lt_server):
    """8 words ('dont' is one word), 'dont' twice (spelling) and 'he dont' once (grammar):
    25 and 12.5 per 100 words."""
    configured = Runtime.from_models(
        settings_for_tests(languagetool_url=lt_server.url), runtime.analyzer, runtime.embedder
    )
    rows = [("a", "I dont like it and he dont care.", "p"), ("b", "All fine here.", "p")]
    batch = configured.extract(essays_table(rows).to_batches()[0], "handcrafted")
    assert column(batch, "n_words")[0] == 8  # spaCy's "do" + "nt" is one word
    assert column(batch, "spelling_errors_per_100_words") == [25.0, 0.0]
    assert column(batch, "grammar_errors_per_100_words") == [12.5, 0.0]
    assert column(batch, "lt_cat_typos")[0] == 2 and column(batch, "lt_cat_grammar")[0] == 1
    assert column(batch, "lt_matches_total")[0] == 3
    assert "lt_cat_typos" not in runtime.schema("handcrafted").names  # LT disabled there
    embeddings_only = configured.extract(essays_table(rows).to_batches()[0], "embeddings")
    assert embeddings_only.schema.names == [
        "essay_id", "embedding", "prompt_similarity", "paragraph_similarity_mean",
        "embedded_paragraphs", "adjacent_sentence_similarity_mean", "embedded_sentences",
    ]  # fmt: skip
    lt_server.mode = "overloaded"
    with pytest.raises(DependencyError, match="LanguageTool unavailable.*503"):
        configured.extract(essays_table(rows).to_batches()[0], "handcrafted")


def test_languagetool_outage_is_unavailable_over_flight(runtime, lt_server):
    """Over Flight an LT outage is FlightUnavailableError naming LanguageTool; serving goes on."""
    from hemma_features.flight.server import create_flight_server

    configured = Runtime.from_models(
        settings_for_tests(languagetool_url=lt_server.url), runtime.analyzer, runtime.embedder
    )
    server = create_flight_server(configured, "127.0.0.1", 0)
    try:
        from tests.integration.test_flight import exchange

        url = f"grpc://127.0.0.1:{server.port}"
        table = essays_table([("a", "I dont know.", "p")])
        lt_server.mode = "drop"
        with pytest.raises(fl.FlightUnavailableError, match="LanguageTool unavailable"):
            exchange(url, table, "handcrafted")
        lt_server.mode = "ok"
        [ok] = exchange(url, table, "handcrafted")
        assert ok.column("lt_cat_typos")[0].as_py() == 1
    finally:
        server.shutdown()


def test_chunk_mean_differs_from_truncate_only_for_long_texts(runtime):
    """Short texts: bit-identical; texts past max_length: windows change the vector."""
    truncate = embedder_variant(runtime.embedder, max_length=64, long_text="truncate")
    chunked = embedder_variant(
        runtime.embedder, max_length=64, long_text="chunk_mean", chunk_overlap=16
    )
    short = "A short essay about phones."
    long = " ".join(f"Sentence {i} talks about a different idea entirely." for i in range(40))
    assert np.array_equal(truncate.embed([short]), chunked.embed([short]))
    assert not np.allclose(truncate.embed([long]), chunked.embed([long]), atol=1e-3)
    windows = chunked._windows([long])[0]
    assert len(windows) > 1 and all(len(w.ids) <= 64 for w in windows)
    assert windows[0].ids[-17:-1] == windows[1].ids[1:17]  # 16 tokens of overlap


def test_handcrafted_runs_no_encoder_and_combined_is_the_two_sets(runtime, monkeypatch):
    """handcrafted costs a parse only; combined's columns are embeddings' then handcrafted's,
    value for value."""
    rows = [("a", TWO_PARAGRAPHS, "Phones"), ("b", "Another essay here.", "Phones")]
    batch = essays_table(rows).to_batches()[0]
    seen = count_forward_rows(monkeypatch, runtime.embedder.encoder)
    hand = runtime.extract(batch, "handcrafted")
    assert seen == []
    emb = runtime.extract(batch, "embeddings")
    assert seen  # the encoder ran for the embeddings set
    combined = runtime.extract(batch, "combined")
    assert combined.schema.names == ["essay_id", *emb.schema.names[1:], *hand.schema.names[1:]]
    for name in combined.schema.names[1:]:
        source = emb if name in emb.schema.names else hand
        assert combined.column(name).equals(source.column(name)), name


def test_a_built_runtime_does_not_change(runtime):
    """Setting or deleting an attribute of a built runtime raises: a new fingerprint comes
    with a new runtime swapped through the slot."""
    with pytest.raises(AttributeError, match="does not change"):
        runtime.fingerprint = runtime.fingerprint
    with pytest.raises(AttributeError, match="does not change"):
        del runtime.catalogue
