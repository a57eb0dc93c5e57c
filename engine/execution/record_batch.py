"""Arrays -> ``pa.RecordBatch`` in the contract's output schema."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from hemma_features.contract import EMBEDDING_COLUMN, ID_COLUMN


def feature_batch(
    schema: pa.Schema,
    essay_ids: pa.Array,
    embeddings: np.ndarray | None,
    handcrafted: np.ndarray | None,
) -> pa.RecordBatch:
    """Build one output batch; columns follow ``schema`` exactly.

    Args:
        schema: Output schema from ``flight.contract.output_schema``.
        essay_ids: The request's ids, in request order.
        embeddings: [N, D] float32, or None when the schema has no embedding column.
        handcrafted: [N, H] float32 in catalogue order, or None when not requested.
    """
    columns: list[pa.Array] = []
    hand_index = 0
    for field in schema:
        if field.name == ID_COLUMN:
            columns.append(essay_ids.cast(pa.string()))
        elif field.name == EMBEDDING_COLUMN:
            if embeddings is None:
                raise ValueError("schema has an embedding column but no embeddings were given")
            flat = pa.array(np.ascontiguousarray(embeddings, dtype=np.float32).reshape(-1))
            columns.append(pa.FixedSizeListArray.from_arrays(flat, field.type.list_size))
        else:
            if handcrafted is None:
                raise ValueError(f"schema has column {field.name!r} but no handcrafted values")
            columns.append(pa.array(handcrafted[:, hand_index], type=pa.float32()))
            hand_index += 1
    return pa.RecordBatch.from_arrays(columns, schema=schema)
