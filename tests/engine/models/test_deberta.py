"""The compose default, ``microsoft/deberta-v3-base``, loads offline from a mounted Hugging
Face cache with the declared dependencies (its tokenizer ships only ``spm.model``, which
needs sentencepiece). No DeBERTa weights can be downloaded here, so a small model of the same
architecture and tokenizer kind is built in the test and laid out in a cache the way the hub
leaves it; the server then loads it by the compose file's model id."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from tests.conftest import REPO, SAMPLES, embedding_section

COMPOSE_MODEL = "microsoft/deberta-v3-base"
COMMIT = "0" * 40


def compose_default_model() -> str:
    """The embedding model compose.hemma.yml starts by default."""
    import yaml

    compose = yaml.safe_load((REPO / "compose.hemma.yml").read_text())
    value = compose["services"]["features"]["environment"]["HEMMA_EMBEDDING_MODEL"]
    return value.split(":-", 1)[1].rstrip("}")  # ${HEMMA_EMBEDDING_MODEL:-default}


def build_deberta_v3_like(directory) -> None:
    """DeBERTa-v2/v3 architecture (relative attention, no absolute positions) with a
    sentencepiece vocabulary trained on the sample essays; only ``spm.model`` is kept, as in
    the hub snapshot, so the tokenizer is converted at load."""
    import sentencepiece as spm
    import torch
    from transformers import DebertaV2Config, DebertaV2Model, DebertaV2Tokenizer

    directory.mkdir(parents=True)
    lines = [line for line in SAMPLES.read_text().splitlines() if line.strip()]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines * 3), model_writer=model, vocab_size=300,
        model_type="unigram", pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece="[PAD]",
        unk_piece="[UNK]", bos_piece="[CLS]", eos_piece="[SEP]",
        user_defined_symbols=["[MASK]"], minloglevel=2,
    )  # fmt: skip
    (directory / "spm.model").write_bytes(model.getvalue())
    DebertaV2Tokenizer(vocab_file=str(directory / "spm.model")).save_pretrained(directory)
    (directory / "tokenizer.json").unlink(missing_ok=True)  # as on the hub: spm.model only
    torch.manual_seed(0)
    config = DebertaV2Config(
        vocab_size=320, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, relative_attention=True,
        position_buckets=32, pos_att_type=["p2c", "c2p"], position_biased_input=False,
        norm_rel_ebd="layer_norm", share_att_key=True,
    )  # fmt: skip
    DebertaV2Model(config).eval().save_pretrained(directory)


@pytest.fixture()
def hf_cache(tmp_path, monkeypatch):
    """A Hugging Face cache holding a DeBERTa-v3-like model under the compose model id."""
    home = tmp_path / "hf"
    repo = home / "hub" / ("models--" + COMPOSE_MODEL.replace("/", "--"))
    build_deberta_v3_like(repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads HF_HOME when first imported (a server reads it at start)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    return home


def test_compose_default_model_loads_offline_from_the_mounted_cache(hf_cache, tmp_path):
    """By the compose file's id: resolved in the cache without network, tokenizer converted
    from spm.model, exported to ONNX, agreeing with torch float32, and the vectors equal a
    plain transformers mean pooling of the same model."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from hemma_features.engine.models.embed import Embedder

    assert compose_default_model() == COMPOSE_MODEL
    assert os.environ["HF_HOME"] == str(hf_cache)
    embedder = Embedder.load(embedding_section(COMPOSE_MODEL, backend="auto"), tmp_path / "cache")
    report = embedder.report
    assert report is not None and report.backend == "onnx" and report.min_cosine >= 0.9999
    assert embedder.model_id == COMPOSE_MODEL and embedder.revision == COMMIT
    texts = ["Homework helps students learn.", "A second essay about school and sport."]
    vectors = embedder.embed(texts)
    directory = hf_cache / "hub" / "models--microsoft--deberta-v3-base" / "snapshots" / COMMIT
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    model = AutoModel.from_pretrained(directory, local_files_only=True).eval()
    for text, vector in zip(texts, vectors, strict=True):
        ids = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            states = model(**ids).last_hidden_state[0].double().numpy()
        assert np.allclose(vector, states.mean(axis=0), atol=1e-5)
