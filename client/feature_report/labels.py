"""Score labels for a report: a CSV or Parquet file of ``essay_id`` plus numeric score columns.

Two steps: ``read_labels`` (``client.labels``' reader and checks, plus "every score column
is numeric") and ``align_labels`` (one value per cached row, NaN where an essay has no
label: unlike ``client.labels.join_labels``, an inner join, the report keeps every cached
row for the feature statistics; unmatched ids are counted and named).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hemma_features.client import labels as client_labels
from hemma_features.client.errors import LabelsError
from hemma_features.contract import ID_COLUMN

NAMED_IDS = 10
"""How many unmatched ids a report names (it counts them all)."""


class LabelJoin(NamedTuple):
    """Labels lined up with the cached rows."""

    values: dict[str, np.ndarray]
    """Score name -> float64 array, one value per cached row (NaN: no label, or empty)."""
    matched: int
    """Cached rows with a labels row."""
    missing_ids: list[str]
    """Cached essay ids the labels file lacks (all of them, in cache order)."""
    extra_ids: list[str]
    """Labelled essay ids the cache lacks (all of them, in file order)."""


def read_labels(
    source: Any, *, on: str = ID_COLUMN, columns: Sequence[str] | None = None
) -> pa.Table:
    """The id column (as strings) and the score columns (as float64) of a labels source.

    Reading, number parsing and the repeated-id check are ``client.labels``' (the same
    rules as ``open_features(labels=...)``); the report adds that every score column must be
    numeric, since it correlates them.

    Args:
        source: What ``client.labels.read_labels`` takes (a .csv, .tsv or .parquet path, a
            pyarrow Table, a pandas DataFrame).
        on: The id column.
        columns: The score columns; None takes every other column, which must all be
            numeric (name them to read scores from an essays file that also holds text).

    Raises ``LabelsError`` with one line naming the column at fault.
    """
    table = client_labels.read_labels(source, on)
    wanted = [c for c in table.column_names if c != on] if columns is None else list(columns)
    absent = [c for c in wanted if c not in table.column_names]
    if absent:
        raise LabelsError(f"labels have no column(s) {absent} (they have {table.column_names})")
    if not wanted:
        raise LabelsError(f"labels have no score column besides {on!r}")
    table = client_labels.numeric_scores(table.select([on, *wanted]), on)
    ids = table.column(on).cast(pa.string())
    client_labels.no_repeats(ids, "the labels")
    scores = {c: _numeric(c, table.column(c), columns is None) for c in wanted}
    return pa.table({on: ids, **scores})


def align_labels(
    essay_ids: pa.Array | pa.ChunkedArray, labels: pa.Table, *, on: str = ID_COLUMN
) -> LabelJoin:
    """One value per cached row for every score column of ``labels``.

    Args:
        essay_ids: The cached rows' essay ids, in row order.
        labels: A table from ``read_labels``.
        on: Its id column.
    """
    ids = essay_ids.cast(pa.string())
    label_ids = labels.column(on)
    at = pc.index_in(ids, value_set=label_ids).to_numpy(zero_copy_only=False)
    # index_in gives null (-> NaN in float) where the cache id has no labels row.
    present = ~np.isnan(at.astype(np.float64))
    rows = np.where(present, np.nan_to_num(at.astype(np.float64)), 0).astype(np.int64)
    values = {}
    for column in labels.column_names:
        if column == on:
            continue
        score = labels.column(column).to_numpy().astype(np.float64)
        values[column] = np.where(present, score[rows] if len(score) else np.nan, np.nan)
    missing = pc.filter(ids, pa.array(~present)).to_pylist()
    extra = pc.filter(label_ids, pc.invert(pc.is_in(label_ids, value_set=ids))).to_pylist()
    return LabelJoin(values, int(present.sum()), missing, extra)


def _numeric(column: str, values: pa.ChunkedArray, chosen_all: bool) -> pa.Array:
    kind = values.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return values.cast(pa.float64())
    if pa.types.is_null(kind):  # every cell empty
        return pa.nulls(len(values), pa.float64())
    valid = pc.drop_null(values)
    example = valid[0].as_py() if len(valid) else None
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        bad = pc.invert(
            pc.match_substring_regex(valid, r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
        )
        example = pc.filter(valid, bad)[0].as_py() if pc.any(bad).as_py() else example
    if isinstance(example, str) and len(example) > 40:
        example = example[:40] + "..."
    hint = "; name the score columns with --label-columns" if chosen_all else ""
    raise LabelsError(f"labels column {column!r} is not numeric ({kind}, e.g. {example!r}){hint}")
