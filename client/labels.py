"""Labels beside features: read a labels file or frame, check it, join it to feature rows.

One set of rules for every reader of labels (``open_features(labels=...)``, ``cache export
--labels``, ``join_labels`` and the feature report), in ``checked_labels``:

- a path is a CSV (``.csv``, ``.tsv``), Parquet or Arrow file: a directory, a missing file
  or a file that is not UTF-8 is named as such (with the encoding its byte-order mark
  declares);
- the id column is there (``on``; by default ``essay_id``, else the one column the cached
  essays' ids were read from at extract, ``extract --id-column``, that the labels have),
  holds no empty id and repeats none;
- a label column joined to the features never takes a feature column's name;
- a score is a finite number or nothing: text among numbers (``'n/a '``) and values that
  are not finite (``1e309`` reads as infinity) are refused naming the column, the row and
  the id.

``join_labels`` is an inner join of the labels' id column with the features' column of
that name, or their ``essay_id`` (a labels file may call its ids anything), in the
features' row order, that counts and names the ids each side lacks instead of dropping
them silently; the report
keeps every cached row instead (``feature_report.score_labels.align_labels``). Every id or
value a message shows is escaped for the terminal (``hemma_features.terminal``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from hemma_features.client.errors import LabelsError
from hemma_features.client.text_encoding import declared_encoding, not_utf8
from hemma_features.contract import ID_COLUMN
from hemma_features.logs import library_logger
from hemma_features.terminal import shown

log = library_logger(__name__)

SAMPLE_IDS = 5
"""Unmatched ids named per side in the warning and in ``LabelMatch``."""


class UnmatchedIdsWarning(UserWarning):
    """Some feature rows have no label, or some labels no feature row."""


class LabelMatch(msgspec.Struct, frozen=True, kw_only=True):
    """How the feature rows and the label rows of one join matched."""

    on: str
    """The labels' id column joined on."""
    features_on: str = ID_COLUMN
    """The features' id column it met (``on`` itself when the features have one so named)."""
    matched: int
    """Rows in the joined table (ids on both sides)."""
    features_without_label: int
    """Feature rows whose id no label row has (left out of the join)."""
    labels_without_features: int
    """Label rows whose id no feature row has (left out of the join)."""
    sample_features_without_label: list[str]
    """The first few of those feature ids, in feature order."""
    sample_labels_without_features: list[str]
    """The first few of those label ids, in label order."""

    def summary(self) -> str:
        """One line: matched, and what each side lacks, naming the first few ids."""
        line = f"{self.matched} rows matched on {self.on}"
        if self.features_on != self.on:
            line += f" (the features' {self.features_on})"
        for count, sample, what in (
            (self.features_without_label, self.sample_features_without_label,
             "feature rows without a label"),
            (self.labels_without_features, self.sample_labels_without_features,
             "labels without feature rows"),
        ):  # fmt: skip
            if count:
                more = f", ... {count - len(sample)} more" if count > len(sample) else ""
                named = ", ".join(shown(essay_id) for essay_id in sample)
                line += f"; {count} {what} ({named}{more})"
        return line


def read_labels(labels: Any, on: str | None = None, *, id_columns: Sequence[str] = ()) -> pa.Table:
    """A labels table from a CSV, Parquet or Arrow path, a pyarrow Table or a pandas DataFrame,
    as it is (``checked_labels`` applies the rules), its id column first.

    Args:
        labels: ``.csv``/``.tsv``/``.parquet``/``.arrow`` path, ``pa.Table`` or
            ``pandas.DataFrame``.
        on: The labels' id column; read as text from a CSV, so ids like ``007`` keep their
            zeros. None: ``essay_id``, else the one of ``id_columns`` the labels have.
        id_columns: The input columns the cached essays' ids were read from
            (``extract --id-column``, recorded in the cache), tried when ``on`` is None
            and the labels have no ``essay_id``.
    """
    candidates = [on] if on is not None else [ID_COLUMN, *id_columns]
    if isinstance(labels, pa.Table):
        table = labels
    elif hasattr(labels, "columns") and hasattr(labels, "to_dict"):  # a pandas DataFrame
        table = pa.Table.from_pandas(labels, preserve_index=False)
    elif isinstance(labels, str | Path):
        table = _read_path(Path(labels).expanduser(), candidates)
    else:
        raise LabelsError(
            f"labels must be a CSV, Parquet or Arrow path, a pyarrow Table or a pandas "
            f"DataFrame; got {type(labels).__name__}"
        )
    column = id_column(table.column_names, on, id_columns)
    return table.select([column, *[c for c in table.column_names if c != column]])


def id_column(names: Sequence[str], on: str | None, id_columns: Sequence[str] = ()) -> str:
    """The labels' id column among ``names``: ``on`` when given; else ``essay_id``; else the
    one column of ``id_columns`` (the cached essays' own id columns) they have.

    Raises:
        LabelsError: one line naming the columns the labels have and ``--on``.
    """
    if on is not None:
        if on not in names:
            raise LabelsError(f"labels have no {on!r} column to join on; they have {list(names)}")
        return on
    if ID_COLUMN in names:
        return ID_COLUMN
    found = [c for c in dict.fromkeys(id_columns) if c in names]
    if len(found) == 1:
        return found[0]
    recorded = (
        f" (the cached essays' ids came from column(s) {list(dict.fromkeys(id_columns))})"
        if id_columns
        else ""
    )
    raise LabelsError(
        f"labels have no {ID_COLUMN!r} column to join on; they have {list(names)}{recorded}: "
        "name their id column with --on (on= in Python)"
    )


def checked_labels(
    labels: Any,
    on: str | None = None,
    *,
    id_columns: Sequence[str] = (),
    features: Sequence[str] = (),
    columns: Sequence[str] | None = None,
    scores_only: bool = False,
) -> pa.Table:
    """Labels that pass every rule (see the module docstring): the id column (first) and the
    label columns, text holding numbers read as float64.

    Args:
        labels: What ``read_labels`` takes.
        on: The id column (None: ``essay_id``, else the one of ``id_columns`` they have).
        id_columns: What ``read_labels`` takes.
        features: The feature table's column names: a label column may take none of them.
        columns: The label columns to keep (None: every column but ``on``).
        scores_only: Every kept column must hold numbers (the report correlates them all)
            and becomes float64.

    Raises:
        LabelsError: one line naming the file, column, row or id at fault.
    """
    table = read_labels(labels, on, id_columns=id_columns)
    on = table.column_names[0]
    if columns is not None:
        absent = [c for c in columns if c not in table.column_names]
        if absent:
            raise LabelsError(f"labels have no column(s) {absent} (they have {table.column_names})")
        table = table.select([on, *[c for c in columns if c != on]])
    kept = [c for c in table.column_names if c != on]
    if scores_only and not kept:
        raise LabelsError(f"labels have no score column besides {on!r}")
    clash = [c for c in kept if c in features]
    if clash:
        raise LabelsError(f"label column(s) {clash} have the name of a feature column; rename them")
    no_missing_ids(table.column(on), on)
    no_repeats(table.column(on), "the labels")
    return numeric_scores(table, on, scores_only=scores_only)


def join_labels(
    table: pa.Table,
    labels: Any,
    on: str | None = None,
    *,
    warn: bool = True,
    id_columns: Sequence[str] = (),
) -> tuple[pa.Table, LabelMatch]:
    """Feature rows with their labels' columns appended: an inner join of the labels' ``on``
    column with the features' column of that name, or, when the features have none, their
    ``essay_id`` (``on="essay_id_comp"`` joins a labels file that names its ids so).

    Rows keep the features' order. Ids one side lacks are left out, counted and named in
    the returned ``LabelMatch``, a structlog warning and an ``UnmatchedIdsWarning``.

    Args:
        table: Feature rows (``open_features``, ``extract``), holding ``essay_id``.
        labels: What ``read_labels`` takes.
        on: The labels' id column (None: ``essay_id``, else the one of ``id_columns`` the
            labels have).
        warn: Log and warn about unmatched ids (a caller that prints
            ``LabelMatch.summary`` itself passes False).
        id_columns: The input columns the cached essays' ids were read from (``extract
            --id-column``, recorded in the cache; ``open_features`` passes them).

    Raises:
        LabelsError: what ``checked_labels`` refuses, no id column among the features, or
            an id repeated among the feature rows.
    """
    labels = checked_labels(labels, on, id_columns=id_columns, features=table.column_names)
    on = labels.column_names[0]
    own = on if on in table.column_names else ID_COLUMN
    if own not in table.column_names:
        raise LabelsError(f"the feature rows have no {on!r} column; they have {table.column_names}")
    ids = table.column(own)
    label_ids = _same_type(labels.column(on), ids.type, on)
    no_repeats(ids, "the feature rows")
    where = pc.index_in(ids, value_set=label_ids)
    found = where.is_valid()
    back = pc.is_in(label_ids, value_set=ids)
    joined = table.filter(found)
    rows = pc.drop_null(where)
    for name in labels.column_names:
        if name != on:
            joined = joined.append_column(labels.schema.field(name), labels.column(name).take(rows))
    match = LabelMatch(
        on=on,
        features_on=own,
        matched=joined.num_rows,
        features_without_label=table.num_rows - joined.num_rows,
        labels_without_features=labels.num_rows - int(pc.sum(back).as_py() or 0),
        sample_features_without_label=_first(ids, pc.invert(found)),
        sample_labels_without_features=_first(label_ids, pc.invert(back)),
    )
    if warn and (match.features_without_label or match.labels_without_features):
        log.warning("labels.unmatched", **msgspec.to_builtins(match))
        warnings.warn(match.summary(), UnmatchedIdsWarning, stacklevel=2)
    return joined, match


_CSV = {".csv": ",", ".tsv": "\t"}
_PARQUET = (".parquet", ".pq")
_ARROW = (".arrow", ".feather", ".ipc")


def _read_path(path: Path, ids: Sequence[str]) -> pa.Table:
    if path.is_dir():
        raise LabelsError(
            f"labels path {shown(path)} is a directory; give one CSV (.csv, .tsv), Parquet "
            "(.parquet) or Arrow (.arrow) file"
        )
    if not path.exists():
        raise LabelsError(f"labels file {shown(path)} does not exist")
    suffix = path.suffix.lower()
    if suffix not in (*_CSV, *_PARQUET, *_ARROW):
        raise LabelsError(
            f"labels file {shown(path)}: expected .csv, .tsv, .parquet or .arrow, got {suffix!r}"
        )
    if suffix in _CSV and declared_encoding(path) is not None:
        raise LabelsError(not_utf8(path, "labels file"))
    try:
        if suffix in _CSV:
            table = pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(delimiter=_CSV[suffix], newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in ids}),
            )
        elif suffix in _PARQUET:
            table = pq.read_table(path)
        else:
            import pyarrow.feather as feather

            table = feather.read_table(str(path))
    except (pa.ArrowInvalid, OSError) as exc:
        if "UTF8" in str(exc) or "UTF-8" in str(exc):
            raise LabelsError(not_utf8(path, "labels file")) from exc
        raise LabelsError(f"cannot read labels file {shown(path)}: {shown(exc)}") from exc
    if suffix in _CSV:  # a cell that is not UTF-8 outside the id column reads as bytes
        for field in table.schema:
            if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
                raise LabelsError(not_utf8(path, "labels file", where=f"column {field.name!r}"))
    return table


def _same_type(label_ids: pa.ChunkedArray, kind: pa.DataType, on: str) -> pa.ChunkedArray:
    """The labels' ids as the features' id type (an integer id column joins string ids)."""
    if label_ids.type == kind:
        return label_ids
    try:
        return label_ids.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise LabelsError(
            f"labels column {on!r} is {label_ids.type}, the features' is {kind}: {shown(exc)}"
        ) from exc


def no_missing_ids(ids: pa.ChunkedArray, on: str) -> None:
    """Every labels row names its essay."""
    if ids.null_count:
        row = int(np.flatnonzero(ids.is_null().to_numpy(zero_copy_only=False))[0])
        raise LabelsError(f"labels row {row} has no {on}")


def no_repeats(ids: pa.ChunkedArray, side: str) -> None:
    """Every id once on ``side`` (``the labels``, ``the feature rows``)."""
    counts = pc.value_counts(ids).flatten()
    repeated = pc.filter(counts[0], pc.greater(counts[1], 1))
    if len(repeated):
        names = ", ".join(shown(v) for v in repeated.slice(0, SAMPLE_IDS).to_pylist())
        more = f" and {len(repeated) - SAMPLE_IDS} more" if len(repeated) > SAMPLE_IDS else ""
        raise LabelsError(
            f"{side} repeat {len(repeated)} id(s): {names}{more}; a join needs one row per id"
        )


def numeric_scores(labels: pa.Table, on: str, *, scores_only: bool = False) -> pa.Table:
    """Label columns as scores: text that holds numbers becomes float64, and every number
    must be finite.

    A text column mixing numbers with other text is an error naming the column and the
    first value that is not a number; a text column with no number at all (a split, a
    prompt name) is kept as text, unless ``scores_only``, where every column must hold
    numbers and becomes float64. A value that is not finite (``inf``, ``nan``, ``1e309``)
    is an error naming its row and id: an empty cell or a null is how a label says
    "no score".
    """
    ids = labels.column(on)
    for position, field in enumerate(labels.schema):
        if field.name == on:
            continue
        column = labels.column(position)
        kind = field.type
        source: pa.ChunkedArray | None = None  # the text the numbers were read from
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            values = pc.utf8_trim_whitespace(column)
            numbers = pc.cast(
                pc.if_else(pc.match_substring_regex(values, _NUMBER), values, None), pa.float64()
            )
            text = pc.and_(values.is_valid(), numbers.is_null())
            text = pc.and_(text, pc.not_equal(values, ""))
            if numbers.null_count == len(numbers) and not scores_only:
                continue  # no number at all: a text column, not a score
            if pc.any(text).as_py():
                row = int(np.flatnonzero(text.to_numpy(zero_copy_only=False))[0])
                hint = _HINT if scores_only else ""
                raise LabelsError(
                    f"labels column {field.name!r} is not numeric: row {row} "
                    f"({on}={_id(ids, row)}) holds {_cut(values[row].as_py())!r} (a score "
                    f"column holds numbers or nothing){hint}"
                )
            column, source = numbers, values
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            column = column.cast(pa.float64()) if scores_only else column
        elif pa.types.is_null(kind):  # every cell empty
            column = pa.nulls(len(column), pa.float64()) if scores_only else column
        elif scores_only:
            raise LabelsError(f"labels column {field.name!r} is not numeric ({kind}){_HINT}")
        if pa.types.is_floating(column.type):
            _finite(column, field.name, ids, on, source)
        if column is not labels.column(position):
            labels = labels.set_column(position, pa.field(field.name, column.type), column)
    return labels


_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_HINT = "; name the score columns with --label-columns (label_columns= in Python)"


def _finite(
    column: pa.ChunkedArray, name: str, ids: pa.ChunkedArray, on: str,
    source: pa.ChunkedArray | None,
) -> None:  # fmt: skip
    """Refuse a score that is not a finite number, naming its row and id."""
    values = column.to_numpy(zero_copy_only=False).astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(values) & ~column.is_null().to_numpy(zero_copy_only=False))
    if not bad.size:
        return
    row = int(bad[0])
    read = f"{_cut(source[row].as_py())!r}, read as {values[row]}" if source else values[row]
    more = f" (and {bad.size - 1} more rows)" if bad.size > 1 else ""
    raise LabelsError(
        f"labels column {name!r} row {row} ({on}={_id(ids, row)}) holds {read}, which is not "
        f"a finite number{more}: a score is a finite number (beyond about 1.8e308 a number "
        "reads as infinite), or empty for none"
    )


def _id(ids: pa.ChunkedArray, row: int) -> str:
    return repr(ids[row].as_py())  # repr writes control characters as escapes


def _cut(value: str | None, limit: int = 40) -> str | None:
    return value if value is None or len(value) <= limit else value[:limit] + "..."


def _first(ids: pa.ChunkedArray, mask: Any) -> list[str]:
    return [str(v) for v in ids.filter(mask).slice(0, SAMPLE_IDS).to_pylist()]
