"""The fingerprint: sha256 of the canonical JSON of everything that changes a feature value."""

from __future__ import annotations

import hashlib
from importlib import metadata
from typing import Any

import msgspec

from hemma_features.contract import FingerprintInfo

# The libraries the engine computes with. TextDescriptives is not one: the project's own
# read-outs compute its definitions, and tests check them against it (the dev extra).
_LIBRARIES = ("spacy", "pyphen", "wordfreq", "symspellpy", "pyspellchecker", "transformers",
              "torch", "tokenizers", "onnxruntime", "numpy")  # fmt: skip
_EMBEDDING_LIBRARIES = ("transformers", "torch", "tokenizers", "onnxruntime", "numpy")
_HANDCRAFTED_LIBRARIES = ("spacy", "pyphen", "wordfreq", "symspellpy", "pyspellchecker",
                          "numpy")  # fmt: skip


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that compute features."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def fingerprint_of(components: dict[str, Any]) -> str:
    """sha256 hex over ``msgspec.json.encode(components, order="sorted")``."""
    return hashlib.sha256(msgspec.json.encode(components, order="sorted")).hexdigest()


def build_fingerprint(
    *,
    schema_version: str,
    feature_names: list[str],
    embedding: dict[str, Any],
    spacy_model: dict[str, str],
    languagetool: dict[str, Any],
    text_normalization: dict[str, Any] | None = None,
    libraries: dict[str, str] | None = None,
    unavailable: dict[str, str] | None = None,
    embedding_features: list[str] | None = None,
    feature_versions: dict[str, int] | None = None,
) -> FingerprintInfo:
    """Assemble the components and hash them.

    Args:
        schema_version: Version of the feature schema.
        feature_names: Every named feature, in catalogue order.
        embedding: Model id, weights hash, pooling, max_length, normalisation, dim, dtype.
        spacy_model: spaCy pipeline name, version and components.
        languagetool: ``{"enabled": False}`` or version and request options.
        text_normalization: How texts are normalised before parsing (changes values).
        libraries: Library versions; the installed ones when None.
        unavailable: Feature sets that cannot be computed now, with the reason; they get
            no fingerprint until they can.
        embedding_features: The names computed from the embedding forward pass: they
            enter the ``embeddings`` set's fingerprint, the rest ``handcrafted``'s.
        feature_versions: Computation version per feature name (the code that makes a
            value); each set hashes the versions of its own features.

    Each set hashes only what changes its own values: another embedding model leaves the
    ``handcrafted`` fingerprint (and its cache) alone, another spaCy model the
    ``embeddings`` one. ``combined`` hashes everything.
    """
    derived = list(embedding_features or [])
    versions = dict(feature_versions or {})
    components: dict[str, Any] = {
        "schema_version": schema_version,
        "features": feature_names,
        "embedding": embedding,
        "spacy_model": spacy_model,
        "languagetool": languagetool,
        "libraries": library_versions() if libraries is None else libraries,
    }
    if text_normalization is not None:
        components["text_normalization"] = text_normalization
    if versions:
        components["feature_versions"] = versions
    everything = fingerprint_of(components)
    libraries = components["libraries"]

    def only(names: tuple[str, ...]) -> dict[str, str]:
        return {name: version for name, version in libraries.items() if name in names}

    embedding_only = fingerprint_of(
        {
            "feature_set": "embeddings",
            "schema_version": schema_version,
            "embedding": embedding,
            "features": derived,
            "feature_versions": {n: v for n, v in versions.items() if n in derived},
            "libraries": only(_EMBEDDING_LIBRARIES),
        }
    )
    handcrafted_only = fingerprint_of(
        {
            "feature_set": "handcrafted",
            "schema_version": schema_version,
            "features": [name for name in feature_names if name not in derived],
            "feature_versions": {n: v for n, v in versions.items() if n not in derived},
            "spacy_model": spacy_model,
            "languagetool": languagetool,
            "text_normalization": text_normalization,
            "libraries": only(_HANDCRAFTED_LIBRARIES),
        }
    )
    return FingerprintInfo(
        fingerprint=everything,
        schema_version=schema_version,
        components=components,
        feature_sets={
            name: value
            for name, value in (
                ("embeddings", embedding_only),
                ("handcrafted", handcrafted_only),
                ("combined", everything),
            )
            if name not in (unavailable or {})
        },
        unavailable=dict(unavailable or {}),
    )
