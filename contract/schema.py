"""Column names, the input schema, and the feature schema with the contract in its metadata."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec
import pyarrow as pa

FeatureSet = Literal["handcrafted", "embeddings", "combined"]
FEATURE_SETS: tuple[FeatureSet, ...] = ("handcrafted", "embeddings", "combined")

# Schema metadata keys (bytes, as Arrow stores them).
META_FINGERPRINT = b"hemma.fingerprint"
META_SCHEMA_VERSION = b"hemma.schema_version"
META_FEATURE_SET = b"hemma.feature_set"
META_CATALOGUE = b"hemma.catalogue"
META_EMBEDDING_MODEL = b"hemma.embedding_model"
META_COMPONENTS = b"hemma.components"
"""On cached combined rows: the fingerprints of the embeddings and handcrafted rows they
were split into or joined from (JSON object), so `cache gc` keeps those too."""
# Field metadata key on every handcrafted column.
FIELD_META_SPEC = b"hemma.feature"

ID_COLUMN = "essay_id"
TEXT_COLUMN = "text"
PROMPT_COLUMN = "prompt"
KEY_COLUMN = "key"
EMBEDDING_COLUMN = "embedding"

INPUT_SCHEMA = pa.schema(
    [
        pa.field(ID_COLUMN, pa.string(), nullable=False),
        pa.field(TEXT_COLUMN, pa.string(), nullable=False),
        pa.field(PROMPT_COLUMN, pa.string(), nullable=False),
    ]
)


class Undefined(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """When a feature cannot be measured (its denominator is empty), the value it takes
    then, and which column of the same rows tells those rows apart from real values."""

    case: str
    """The case in words, completing "undefined ...": ``for a text without words``."""
    value: float = 0.0
    """The value the feature takes in that case (never a measurement there)."""
    column: str | None = None
    """A column of the same feature set that tells the case: undefined where ``column <
    below``. None: no column records it."""
    below: float = 1.0
    """The threshold on ``column``."""
    exact: bool = True
    """True: the case is exactly ``column < below`` (with no column: exactly the rows at
    ``value``). False: ``column < below`` implies the case, but it also arises where no
    column records it, so a row at ``value`` elsewhere is undefined or a real value, and no
    column says which."""

    def tells(self) -> str:
        """The rule in symbols: ``n_words = 0``, ``embedded_paragraphs < 2``."""
        if self.column is None:
            return f"rows at {self.value:g}" if self.exact else ""
        return f"{self.column} = 0" if self.below == 1 else f"{self.column} < {self.below:g}"

    def sentence(self) -> str:
        """The definition's sentence on it: ``Undefined, and 0, for a text without words
        (n_words = 0).``"""
        rule = self.tells()
        if self.column is None:
            told = "" if self.exact else " (no column records it)"
        elif self.exact:
            told = f" ({rule})"
        else:
            told = f" (always where {rule}; elsewhere no column records it)"
        return f"Undefined, and {self.value:g}, {self.case}{told}."


class FeatureSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One named handcrafted feature, as listed in the catalogue."""

    name: str
    """Column name, stable across versions of the same ``schema_version``."""
    tier: int
    """1 surface/readability/errors, 2 syntax and embedding-derived, 3 lexical/structure."""
    group: str
    """Family of the feature (``surface``, ``readability``, ``syntax``...)."""
    definition: str
    """What is computed, precisely enough to recompute it by hand."""
    unit: str
    """Unit of the value (``words``, ``grade``, ``ratio``...)."""
    source: str
    """Library that computes it (``spacy``, ``textdescriptives``, ``transformers``...)."""
    undefined: Undefined | None = None
    """When its value is not a measurement (None: it always is one). Catalogues recorded
    before this field have none; the report then counts no undefined rows."""


class FeatureEntry(FeatureSpec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One entry of ``GET /v1/features``: the catalogue entry and its computation version."""

    version: int
    """Version of the feature's computation (it moves when its values move, and enters the
    fingerprint, so rows of an older version are never mixed with newer ones)."""


EMBEDDING_DERIVED = "semantic"
"""Catalogue group of the features computed from the embedding forward pass. They belong
to the ``embeddings`` set (which runs that pass), not to ``handcrafted`` (which does not)."""


def specs_for(feature_set: FeatureSet, catalogue: Sequence[FeatureSpec]) -> tuple[FeatureSpec, ...]:
    """The named columns of a feature set, in column order.

    ``embeddings``: the embedding-derived features; ``handcrafted``: the rest;
    ``combined``: both, embedding-derived first, so combined = embeddings + handcrafted.
    """
    derived = tuple(spec for spec in catalogue if spec.group == EMBEDDING_DERIVED)
    own = tuple(spec for spec in catalogue if spec.group != EMBEDDING_DERIVED)
    if feature_set == "embeddings":
        return derived
    return own if feature_set == "handcrafted" else derived + own


def output_schema(
    *,
    feature_set: FeatureSet,
    embedding_dim: int,
    catalogue: Sequence[FeatureSpec],
    fingerprint: str,
    schema_version: str,
    embedding_model: str,
) -> pa.Schema:
    """Schema of the feature batches for one feature set, with the contract in metadata."""
    fields = [pa.field(ID_COLUMN, pa.string(), nullable=False)]
    if feature_set in ("embeddings", "combined"):
        fields.append(
            pa.field(EMBEDDING_COLUMN, pa.list_(pa.float32(), embedding_dim), nullable=False)
        )
    specs = specs_for(feature_set, catalogue)
    for spec in specs:
        fields.append(
            pa.field(
                spec.name,
                pa.float32(),
                nullable=False,
                metadata={FIELD_META_SPEC: msgspec.json.encode(spec)},
            )
        )
    metadata = {
        META_FINGERPRINT: fingerprint.encode(),
        META_SCHEMA_VERSION: schema_version.encode(),
        META_FEATURE_SET: feature_set.encode(),
        META_CATALOGUE: msgspec.json.encode(list(specs)),
        META_EMBEDDING_MODEL: embedding_model.encode(),
    }
    return pa.schema(fields, metadata=metadata)


def schema_fingerprint(schema: pa.Schema) -> str | None:
    """The fingerprint recorded in a feature schema, or None."""
    meta = schema.metadata or {}
    value = meta.get(META_FINGERPRINT)
    return value.decode() if value is not None else None


def decode_catalogue(schema: pa.Schema) -> list[FeatureSpec]:
    """The feature catalogue recorded in a feature schema's metadata."""
    raw = (schema.metadata or {}).get(META_CATALOGUE, b"[]")
    return msgspec.json.decode(raw, type=list[FeatureSpec])
