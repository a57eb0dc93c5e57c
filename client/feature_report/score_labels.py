"""Score labels for a report: a CSV or Parquet file of an id column (``essay_id``, or the one
named by ``--on``) plus numeric score columns.

Two steps: ``read_labels`` (``client.labels``' rules, every column a score) and
``align_labels`` (one value per cached row, NaN where an essay has no
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
    source: Any,
    *,
    on: str | None = None,
    id_columns: Sequence[str] = (),
    columns: Sequence[str] | None = None,
    features: Sequence[str] = (),
) -> pa.Table:
    """The id column (first, as strings) and the score columns (as float64) of a labels
    source.

    Every rule is ``client.labels.checked_labels``' (the same as ``open_features(labels=...)``
    and ``cache export --labels``), with every column a score, since the report
    correlates them all.

    Args:
        source: What ``client.labels.read_labels`` takes (a .csv, .tsv, .parquet or .arrow
            path, a pyarrow Table, a pandas DataFrame).
        on: The labels' id column (None: ``essay_id``, else the one of ``id_columns``
            they have).
        id_columns: The input columns the cached essays' ids were read from (``extract
            --id-column``).
        columns: The score columns; None takes every other column, which must all be
            numeric (name them to read scores from an essays file that also holds text).
        features: The cached feature columns, whose names no score column may take.

    Raises ``LabelsError`` with one line naming the column at fault.
    """
    table = client_labels.checked_labels(
        source, on, id_columns=id_columns, features=features, columns=columns, scores_only=True
    )
    on = table.column_names[0]
    ids = table.column(on).cast(pa.string())
    return pa.table({on: ids, **{c: table.column(c) for c in table.column_names if c != on}})


def align_labels(
    essay_ids: pa.Array | pa.ChunkedArray, labels: pa.Table, *, on: str | None = None
) -> LabelJoin:
    """One value per cached row for every score column of ``labels``.

    Args:
        essay_ids: The cached rows' essay ids, in row order.
        labels: A table from ``read_labels``.
        on: Its id column [its first].
    """
    on = on if on is not None else labels.column_names[0]
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
