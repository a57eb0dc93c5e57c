"""Score labels for a report: a CSV or Parquet file of ``essay_id`` plus numeric score columns.

Kept to one module with two steps, ``read_labels`` (file -> checked table) and
``align_labels`` (table -> one value per cached row, the unmatched ids counted and named),
so it folds into ``client.labels.join_labels`` later without touching the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from hemma_features.client.errors import InputFileError
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

    Args:
        source: A .csv, .parquet or .arrow/.feather path, a pyarrow Table or a pandas
            DataFrame.
        on: The id column.
        columns: The score columns; None takes every other column, which must all be
            numeric (name them to read scores from an essays file that also holds text).

    Raises ``InputFileError`` with one line naming the file and the column at fault.
    """
    name, table = _read(source, None if columns is None else [on, *columns])
    if on not in table.column_names:
        raise InputFileError(
            f"labels {name} has no {on!r} column (it has {table.column_names}); "
            f"a labels file holds {on} plus numeric score columns"
        )
    wanted = [c for c in table.column_names if c != on] if columns is None else list(columns)
    absent = [c for c in wanted if c not in table.column_names]
    if absent:
        raise InputFileError(
            f"labels {name} has no column(s) {absent} (it has {table.column_names})"
        )
    if not wanted:
        raise InputFileError(f"labels {name} has no score column besides {on!r}")
    ids = table.column(on).cast(pa.string())
    if ids.null_count:
        row = pc.index(pc.is_null(ids), True).as_py()
        raise InputFileError(f"labels {name}: column {on!r} is empty at row {row}")
    counts = pc.value_counts(ids)
    repeated = pc.filter(counts, pc.greater(counts.field("counts"), 1))
    if len(repeated):
        first = repeated[0].as_py()
        raise InputFileError(
            f"labels {name}: {on} {first['values']!r} appears {first['counts']} times "
            f"({len(repeated)} id(s) repeat); give one row per essay"
        )
    scores = {c: _numeric(name, c, table.column(c), columns is None) for c in wanted}
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


def _read(source: Any, wanted: list[str] | None) -> tuple[str, pa.Table]:
    if isinstance(source, pa.Table):
        return "table", source
    if hasattr(source, "to_dict") and hasattr(source, "columns"):  # a pandas DataFrame
        return "DataFrame", pa.Table.from_pandas(source, preserve_index=False)
    path = Path(source).expanduser()
    if not path.is_file():
        raise InputFileError(f"labels file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            # ids stay text ("007" is not the number 7); an essays file's text spans lines;
            # with the columns named, the others (the text) are never parsed.
            header = pacsv.open_csv(path).schema.names
            convert = pacsv.ConvertOptions(
                column_types={ID_COLUMN: pa.string()},
                include_columns=[c for c in wanted if c in header] if wanted else None,
            )
            parse = pacsv.ParseOptions(newlines_in_values=True)
            return str(path), pacsv.read_csv(path, parse_options=parse, convert_options=convert)
        if suffix in (".parquet", ".pq"):
            names = pq.read_schema(path).names
            chosen = [c for c in wanted if c in names] if wanted else None
            return str(path), pq.read_table(path, columns=chosen)
        if suffix in (".arrow", ".feather", ".ipc"):
            import pyarrow.feather as feather

            return str(path), feather.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(f"labels file {path} cannot be read: {first}") from exc
    raise InputFileError(
        f"labels file {path}: unknown suffix {path.suffix!r}; give .csv, .parquet or .arrow"
    )


def _numeric(name: str, column: str, values: pa.ChunkedArray, chosen_all: bool) -> pa.Array:
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
    raise InputFileError(
        f"labels {name}: column {column!r} is not numeric ({kind}, e.g. {example!r}){hint}"
    )
