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
    META_EMBEDDING_MODEL,
    META_FEATURE_SET,
    META_FINGERPRINT,
    decode_catalogue,
    specs_for,
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


def stored_metadata(metadata: dict[bytes, bytes] | None, feature_set: str) -> dict[bytes, bytes]:
    """The schema metadata rows of ``feature_set`` are stored with: what describes them.

    Handcrafted rows never ran an encoder, and rows under one handcrafted fingerprint are
    shared by runs of any embedding model, so they carry no embedding model (the server
    names its own in every answer). Only combined rows record their components.
    """
    meta = dict(metadata or {})
    if feature_set == "handcrafted":
        meta.pop(META_EMBEDDING_MODEL, None)
    if feature_set != "combined":
        meta.pop(META_COMPONENTS, None)
    return meta


def as_stored(table: pa.Table, feature_set: str) -> pa.Table:
    """``table`` with the metadata its feature set is stored with (``stored_metadata``)."""
    meta = stored_metadata(table.schema.metadata, feature_set)
    return table if meta == (table.schema.metadata or {}) else table.replace_schema_metadata(meta)


def split_component(combined: pa.Table, feature_set: str, fingerprint: str) -> pa.Table:
    """The ``embeddings`` or ``handcrafted`` part of combined rows, as that set stores it.

    The embeddings part keeps the vector and the embedding-derived features; the
    handcrafted part the rest (``contract.specs_for``).
    """
    specs = decode_catalogue(combined.schema)
    part_specs = specs_for(feature_set, specs)  # type: ignore[arg-type]
    names = [KEY_COLUMN, ID_COLUMN]
    if feature_set == "embeddings":
        names.append(EMBEDDING_COLUMN)
    names += [spec.name for spec in part_specs]
    part = combined.select(names)
    catalogue = msgspec.json.encode(list(part_specs))
    meta = _with_meta(part.schema, feature_set, fingerprint, catalogue)
    return part.replace_schema_metadata(stored_metadata(meta, feature_set))


def with_components(combined: pa.Table, embeddings_fp: str, handcrafted_fp: str) -> pa.Table:
    """Combined rows that record the fingerprints of their components (for ``cache gc``)."""
    meta = dict(combined.schema.metadata or {})
    meta[META_COMPONENTS] = msgspec.json.encode(
        {"embeddings": embeddings_fp, "handcrafted": handcrafted_fp}
    )
    return combined.replace_schema_metadata(meta)


def join_components(embeddings: pa.Table, handcrafted: pa.Table, fingerprint: str) -> pa.Table:
    """Combined rows for the keys of ``handcrafted``, taking the embeddings part by key.

    Columns as the server's combined schema: key, id, embedding, embedding-derived
    features, handcrafted features; the catalogue is the two parts' catalogues in order.
    The metadata says what computed the vectors: the embeddings rows' model, never the
    one a handcrafted row was fetched beside (handcrafted rows are shared by every
    embedding model's runs).
    """
    index = pc.index_in(handcrafted.column(KEY_COLUMN), value_set=embeddings.column(KEY_COLUMN))
    if index.null_count:
        raise ValueError("join_components: some handcrafted keys have no embedding row")
    taken = embeddings.drop_columns([KEY_COLUMN, ID_COLUMN]).take(index)
    columns = [handcrafted.column(KEY_COLUMN), handcrafted.column(ID_COLUMN), *taken.columns]
    columns += [handcrafted.column(name) for name in handcrafted.column_names[2:]]
    fields = [handcrafted.schema.field(KEY_COLUMN), handcrafted.schema.field(ID_COLUMN)]
    fields += list(taken.schema)
    fields += [handcrafted.schema.field(name) for name in handcrafted.column_names[2:]]
    catalogue = decode_catalogue(embeddings.schema) + decode_catalogue(handcrafted.schema)
    meta = _with_meta(handcrafted.schema, "combined", fingerprint, msgspec.json.encode(catalogue))
    meta.pop(META_EMBEDDING_MODEL, None)
    model = (embeddings.schema.metadata or {}).get(META_EMBEDDING_MODEL)
    if model is not None:
        meta[META_EMBEDDING_MODEL] = model
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=meta))
