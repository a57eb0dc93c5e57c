"""Split combined rows into their components and join components back into combined rows.

``combined`` = ``embeddings`` + ``handcrafted`` columns. The cache keeps each component
under its own fingerprint so a change that touches one component (say, the LanguageTool
version) refetches only that component's columns.
"""

from __future__ import annotations

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from hemma_features.contract import (
    EMBEDDING_COLUMN,
    ID_COLUMN,
    KEY_COLUMN,
    META_CATALOGUE,
    META_COMPONENTS,
    META_FEATURE_SET,
    META_FINGERPRINT,
)


def _with_meta(
    schema: pa.Schema, feature_set: str, fingerprint: str, catalogue: bytes | None
) -> dict:
    meta = dict(schema.metadata or {})
    meta[META_FEATURE_SET] = feature_set.encode()
    meta[META_FINGERPRINT] = fingerprint.encode()
    if catalogue is not None:
        meta[META_CATALOGUE] = catalogue
    return meta


def split_component(combined: pa.Table, feature_set: str, fingerprint: str) -> pa.Table:
    """The ``embeddings`` or ``handcrafted`` part of combined rows, as that set stores it."""
    hand = [n for n in combined.column_names if n not in (KEY_COLUMN, ID_COLUMN, EMBEDDING_COLUMN)]
    if feature_set == "embeddings":
        names = [KEY_COLUMN, ID_COLUMN, EMBEDDING_COLUMN]
        catalogue: bytes | None = b"[]"
    else:
        names = [KEY_COLUMN, ID_COLUMN, *hand]
        catalogue = None
    part = combined.select(names)
    return part.replace_schema_metadata(
        _with_meta(part.schema, feature_set, fingerprint, catalogue)
    )


def with_components(combined: pa.Table, embeddings_fp: str, handcrafted_fp: str) -> pa.Table:
    """Combined rows that record the fingerprints of their components (for ``cache gc``)."""
    meta = dict(combined.schema.metadata or {})
    meta[META_COMPONENTS] = msgspec.json.encode(
        {"embeddings": embeddings_fp, "handcrafted": handcrafted_fp}
    )
    return combined.replace_schema_metadata(meta)


def join_components(embeddings: pa.Table, handcrafted: pa.Table, fingerprint: str) -> pa.Table:
    """Combined rows for the keys of ``handcrafted``, taking embeddings by key."""
    index = pc.index_in(handcrafted.column(KEY_COLUMN), value_set=embeddings.column(KEY_COLUMN))
    if index.null_count:
        raise ValueError("join_components: some handcrafted keys have no embedding row")
    embedding = embeddings.column(EMBEDDING_COLUMN).take(index)
    field = embeddings.schema.field(EMBEDDING_COLUMN)
    joined = handcrafted.add_column(2, field, embedding)
    meta = _with_meta(handcrafted.schema, "combined", fingerprint, None)
    return joined.replace_schema_metadata(meta)
