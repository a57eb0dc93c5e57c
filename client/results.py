"""Result tables: align cached/fetched rows with the input, and numpy views for training."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hemma_features.client.errors import ProtocolError
from hemma_features.contract import EMBEDDING_COLUMN, ID_COLUMN, KEY_COLUMN


def first_rows_of_missing(keys: pa.Array, cached: np.ndarray | None = None) -> np.ndarray:
    """Row indices of the first occurrence of each key not already cached.

    Args:
        keys: Content keys of the input rows.
        cached: Boolean mask over ``keys``: already cached (default: none is).
    """
    first = pc.index_in(pc.unique(keys), value_set=keys).to_numpy()
    if cached is not None:
        first = first[~cached[first]]
    return np.sort(first).astype(np.int64)


def rows_at(data: pa.Table | pa.Array, index: np.ndarray) -> pa.Table | pa.Array:
    """``data.take(index)``, but a zero-copy slice when ``index`` is a run of rows."""
    if index.size == 0:
        return data.slice(0, 0)
    start = int(index[0])
    if int(index[-1]) - start + 1 == index.size and bool(np.all(np.diff(index) == 1)):
        return data.slice(start, index.size)
    return data.take(pa.array(index))


def align(essays: pa.Table, keys: pa.Array, found: pa.Table | None) -> pa.Table:
    """One output row per input row, in input order, carrying the input's essay_id."""
    if found is None:
        if essays.num_rows:
            raise ProtocolError("no features came back for a non-empty input")
        return pa.table(
            {KEY_COLUMN: pa.array([], pa.string()), ID_COLUMN: pa.array([], pa.string())}
        )
    index = pc.index_in(keys, value_set=found.column(KEY_COLUMN))
    if index.null_count:
        missing = int(np.flatnonzero(index.is_null().to_numpy(zero_copy_only=False))[0])
        raise ProtocolError(f"row {missing}: no features were returned or cached for this essay")
    aligned = found.take(index)
    position = aligned.schema.get_field_index(ID_COLUMN)
    return aligned.set_column(position, aligned.schema.field(ID_COLUMN), essays.column(ID_COLUMN))


def embedding_matrix(table: pa.Table) -> np.ndarray:
    """The ``[N, D]`` float32 embedding matrix of a feature table (zero-copy when possible)."""
    column = table.column(EMBEDDING_COLUMN).combine_chunks()
    size = column.type.list_size
    return column.flatten().to_numpy(zero_copy_only=False).reshape(-1, size)


def handcrafted_matrix(table: pa.Table) -> tuple[np.ndarray, list[str]]:
    """The ``[N, H]`` float32 handcrafted matrix and its column names, in catalogue order."""
    names = [n for n in table.column_names if n not in (KEY_COLUMN, ID_COLUMN, EMBEDDING_COLUMN)]
    if not names:
        return np.zeros((table.num_rows, 0), dtype=np.float32), []
    matrix = np.column_stack([table.column(n).to_numpy() for n in names]).astype(np.float32)
    return matrix, names
