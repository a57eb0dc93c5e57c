"""Labels beside features: read a labels file or frame, join it to feature rows by id.

``join_labels`` is the one place features meet scores, for ``open_features(labels=...)``,
``cache export --labels`` and anything else (a report) that needs both: an inner join on
one id column, in the features' row order, that counts and names the ids each side lacks
instead of dropping them silently, and refuses what would make the join ambiguous
(duplicate ids) or a score column unusable (a number column holding text).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from hemma_features.client.errors import LabelsError
from hemma_features.logs import library_logger

log = library_logger(__name__)

SAMPLE_IDS = 5
"""Unmatched ids named per side in the warning and in ``LabelMatch``."""


class UnmatchedIdsWarning(UserWarning):
    """Some feature rows have no label, or some labels no feature row."""


class LabelMatch(msgspec.Struct, frozen=True, kw_only=True):
    """How the feature rows and the label rows of one join matched."""

    on: str
    """The id column joined on."""
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
        for count, sample, what in (
            (self.features_without_label, self.sample_features_without_label,
             "feature rows without a label"),
            (self.labels_without_features, self.sample_labels_without_features,
             "labels without feature rows"),
        ):  # fmt: skip
            if count:
                more = f", ... {count - len(sample)} more" if count > len(sample) else ""
                line += f"; {count} {what} ({', '.join(sample)}{more})"
        return line


def read_labels(labels: Any, on: str = "essay_id") -> pa.Table:
    """A labels table from a CSV or Parquet path, a pyarrow Table or a pandas DataFrame.

    Args:
        labels: ``.csv``/``.tsv``/``.parquet`` path, ``pa.Table`` or ``pandas.DataFrame``.
        on: The id column; read as text from a CSV, so ids like ``007`` keep their zeros.
    """
    if isinstance(labels, pa.Table):
        table = labels
    elif hasattr(labels, "columns") and hasattr(labels, "to_dict"):  # a pandas DataFrame
        table = pa.Table.from_pandas(labels, preserve_index=False)
    elif isinstance(labels, str | Path):
        table = _read_path(Path(labels).expanduser(), on)
    else:
        raise LabelsError(
            f"labels must be a CSV or Parquet path, a pyarrow Table or a pandas DataFrame; "
            f"got {type(labels).__name__}"
        )
    if on not in table.column_names:
        raise LabelsError(
            f"labels have no {on!r} column to join on; they have {table.column_names}"
        )
    return table


def join_labels(
    table: pa.Table, labels: Any, on: str = "essay_id", *, warn: bool = True
) -> tuple[pa.Table, LabelMatch]:
    """Feature rows with their labels' columns appended: an inner join on ``on``.

    Rows keep the features' order. Ids one side lacks are left out, counted and named in
    the returned ``LabelMatch``, a structlog warning and an ``UnmatchedIdsWarning``.

    Args:
        table: Feature rows (``open_features``, ``extract``), holding ``on``.
        labels: What ``read_labels`` takes.
        on: The id column of both sides.
        warn: Log and warn about unmatched ids (a caller that prints
            ``LabelMatch.summary`` itself passes False).

    Raises:
        LabelsError: ``on`` missing on either side, an id repeated on either side, a label
            column sharing a feature column's name, or a score column holding text.
    """
    labels = read_labels(labels, on)
    if on not in table.column_names:
        raise LabelsError(f"the feature rows have no {on!r} column; they have {table.column_names}")
    clash = [c for c in labels.column_names if c != on and c in table.column_names]
    if clash:
        raise LabelsError(f"label column(s) {clash} have the name of a feature column; rename them")
    labels = numeric_scores(labels, on)
    ids = table.column(on)
    label_ids = _same_type(labels.column(on), ids.type, on)
    no_repeats(ids, "the feature rows")
    no_repeats(label_ids, "the labels")
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


def _read_path(path: Path, on: str) -> pa.Table:
    if not path.is_file():
        raise LabelsError(f"labels file {path} does not exist")
    try:
        if path.suffix.lower() in (".csv", ".tsv"):
            return pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(
                    delimiter="\t" if path.suffix.lower() == ".tsv" else ",",
                    newlines_in_values=True,
                ),
                convert_options=pacsv.ConvertOptions(column_types={on: pa.string()}),
            )
        if path.suffix.lower() in (".parquet", ".pq"):
            return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise LabelsError(f"cannot read labels file {path}: {exc}") from exc
    raise LabelsError(f"labels file {path}: expected .csv, .tsv or .parquet, got {path.suffix!r}")


def _same_type(label_ids: pa.ChunkedArray, kind: pa.DataType, on: str) -> pa.ChunkedArray:
    """The labels' ids as the features' id type (an integer id column joins string ids)."""
    if label_ids.null_count:
        row = int(np.flatnonzero(label_ids.is_null().to_numpy(zero_copy_only=False))[0])
        raise LabelsError(f"labels row {row} has no {on}")
    if label_ids.type == kind:
        return label_ids
    try:
        return label_ids.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise LabelsError(
            f"labels column {on!r} is {label_ids.type}, the features' is {kind}: {exc}"
        ) from exc


def no_repeats(ids: pa.ChunkedArray, side: str) -> None:
    counts = pc.value_counts(ids).flatten()
    repeated = pc.filter(counts[0], pc.greater(counts[1], 1))
    if len(repeated):
        names = ", ".join(str(v) for v in repeated.slice(0, SAMPLE_IDS).to_pylist())
        more = f" and {len(repeated) - SAMPLE_IDS} more" if len(repeated) > SAMPLE_IDS else ""
        raise LabelsError(
            f"{side} repeat {len(repeated)} id(s): {names}{more}; a join needs one row per id"
        )


def numeric_scores(labels: pa.Table, on: str) -> pa.Table:
    """Text columns that hold numbers become float64; one that mixes numbers with other
    text is an error naming the column and the first value that is not a number. A text
    column with no number at all (a split, a prompt name) is kept as text."""
    for position, field in enumerate(labels.schema):
        if field.name == on or not (
            pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
        ):
            continue
        values = pc.utf8_trim_whitespace(labels.column(position))
        numbers = pc.cast(
            pc.if_else(pc.match_substring_regex(values, _NUMBER), values, None), pa.float64()
        )
        text = pc.and_(values.is_valid(), numbers.is_null())
        text = pc.and_(text, pc.not_equal(values, ""))
        if numbers.null_count == len(numbers):
            continue  # no number at all: a text column, not a score
        if pc.any(text).as_py():
            row = int(np.flatnonzero(text.to_numpy(zero_copy_only=False))[0])
            raise LabelsError(
                f"labels column {field.name!r} is not numeric: row {row} holds "
                f"{values[row].as_py()!r} (a score column holds numbers or nothing)"
            )
        labels = labels.set_column(position, pa.field(field.name, pa.float64()), numbers)
    return labels


_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def _first(ids: pa.ChunkedArray, mask: Any) -> list[str]:
    return [str(v) for v in ids.filter(mask).slice(0, SAMPLE_IDS).to_pylist()]
