"""Reads limited to the essays of one input (``--ids-from FILE``, ``ids=`` in Python).

A cache shared by several studies holds all their rows; a report, an evaluation or an
export of one study reads its own essays only. Two ways to find them:

- a file holding the essays' texts (the file given to ``extract``): each essay's row is
  found by its content key (text and prompt, read through the columns that extract used,
  recorded in the cache) and carries this file's id: the rows ``extract`` returned for
  it, also where another study's essay with the same text gave the cached row its id;
- a file, table or list of ids alone: the rows whose ``essay_id`` is one of them.

The id column is ``--id-column`` when given, else the one the extract of that file used
(``_inputs.json``), else ``essay_id``, else the one id column an extract into this cache
used that the file has. Ids the cache lacks are counted and named, never dropped silently;
an input none of whose essays the cache holds is an error naming the extract that fills it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hemma_features.client.errors import InputFileError, ScopeError
from hemma_features.client.fingerprint_record import InputRecord
from hemma_features.client.inputs import Columns, read_file, read_table
from hemma_features.contract import (
    ID_COLUMN,
    KEY_COLUMN,
    PROMPT_COLUMN,
    TEXT_COLUMN,
    content_key_array,
)
from hemma_features.terminal import shown

NAMED = 5
"""Ids the cache lacks named in a summary (all are counted)."""


class MissingEssaysWarning(UserWarning):
    """Some essays of the input a read is limited to are not in the cache."""


class Scope(NamedTuple):
    """The essays of one input, to read the cached rows of."""

    source: str
    """What they came from: the file's name, ``a DataFrame``, ``a list of ids``."""
    id_column: str
    """The column their ids were read from."""
    ids: pa.Array
    """Their distinct ids (as strings), in the input's order."""
    keys: pa.Array | None
    """Their content keys, when the input holds their texts (None: match by id)."""
    table: pa.Table
    """The input's columns for those essays (``--group-by`` may read one)."""


class ScopeMatch(NamedTuple):
    """Which cached rows hold the essays of a ``Scope``."""

    source: str
    by: str
    """``text and prompt`` or ``essay_id``."""
    rows: np.ndarray
    """Positions among the partition's rows, in the input's order."""
    ids: pa.Array
    """The input's id of each of those rows."""
    at: np.ndarray
    """For each of those rows, its position in ``Scope.ids`` and ``Scope.table``."""
    requested: int
    """Distinct essays in the input."""
    missing: list[str]
    """The input's ids without a cached row (all of them, in input order)."""

    def summary(self) -> str:
        """``100 essays of essays.csv (matched by text and prompt); 3 of its essays are not
        in the cache (a, b, c)``."""
        line = f"{len(self.rows)} essays of {self.source} (matched by {self.by})"
        if self.missing:
            named = ", ".join(shown(i) for i in self.missing[:NAMED])
            more = f", ... {len(self.missing) - NAMED} more" if len(self.missing) > NAMED else ""
            line += f"; {len(self.missing)} of its essays are not in the cache ({named}{more})"
        return line

    def in_cache_order(self) -> ScopeMatch:
        """The same rows, in the partition's order (a streaming reader's)."""
        order = np.argsort(self.rows, kind="stable")
        return self._replace(rows=self.rows[order], ids=self.ids.take(order), at=self.at[order])


def read_scope(
    source: Any, *, id_column: str | None = None, inputs: Sequence[InputRecord] = ()
) -> Scope:
    """The essays of ``source``: a file (.csv, .parquet, .jsonl, .arrow), a pyarrow Table,
    a pandas DataFrame, or a sequence of ids (list, array, Series).

    Args:
        source: Where the essays (or their ids) are.
        id_column: Its id column (None: see the module docstring).
        inputs: The inputs extract recorded for the partition read
            (``fingerprint_record.read_inputs``).

    Raises:
        ScopeError: a file that cannot be read, no id column, an empty id.
    """
    recorded: InputRecord | None = None
    if isinstance(source, str | Path):
        path = Path(source).expanduser()
        name = str(path)
        recorded = next((r for r in reversed(inputs) if r.source == str(path.resolve())), None)
        try:
            table = read_file(path, _names(id_column, recorded, inputs))
        except InputFileError as exc:
            raise ScopeError(f"--ids-from: {exc}") from exc
    elif isinstance(source, pa.Table):
        table, name = source, "a Table"
    elif hasattr(source, "columns") and hasattr(source, "to_dict"):  # a pandas DataFrame
        table, name = pa.Table.from_pandas(source, preserve_index=False), "a DataFrame"
    else:
        try:
            ids = pa.array(list(source) if not isinstance(source, pa.Array) else source)
        except (TypeError, pa.ArrowException) as exc:
            raise ScopeError(
                "ids= takes a file (.csv, .parquet, .jsonl, .arrow), a Table, a DataFrame or "
                f"a sequence of ids; got {type(source).__name__}"
            ) from exc
        table, name = pa.table({ID_COLUMN: ids}), f"a list of {len(ids)} ids"
    column = _id_column(table.column_names, id_column, recorded, inputs, name)
    ids = pc.cast(table.column(column), pa.string()).combine_chunks()
    empty = pc.fill_null(pc.equal(ids, ""), True)
    if pc.any(empty).as_py():
        row = int(np.flatnonzero(empty.to_numpy(zero_copy_only=False))[0])
        raise ScopeError(f"{shown(name)}: row {row} has no {column}")
    text = recorded.text_column if recorded is not None else TEXT_COLUMN
    prompt = recorded.prompt_column if recorded is not None else PROMPT_COLUMN
    keys = None
    if text in table.column_names:
        columns = Columns(essay_id=column, text=text, prompt=prompt)
        try:
            keys = content_key_array(read_table(table, columns))
        except InputFileError as exc:
            raise ScopeError(f"{shown(name)}: {exc}") from exc
    first = pc.index_in(pc.unique(ids), value_set=ids).to_numpy()  # one row per id
    first = np.sort(first)
    return Scope(
        source=name,
        id_column=column,
        ids=ids.take(pa.array(first)),
        keys=keys.take(pa.array(first)) if keys is not None else None,
        table=table.take(pa.array(first)),
    )


def match_scope(scope: Scope, keys: pa.ChunkedArray, essay_ids: pa.ChunkedArray) -> ScopeMatch:
    """The cached rows (their ``key`` and ``essay_id`` columns given) holding the essays of
    ``scope``.

    Raises:
        ScopeError: none of them is cached, or, matching by id, the cache holds two rows
            for one of them (two inputs' different texts under one id).
    """
    if scope.keys is not None:
        where = pc.index_in(scope.keys, value_set=keys)
        by = "text and prompt"
    else:
        cached = pc.cast(essay_ids, pa.string())
        where = pc.index_in(scope.ids, value_set=cached)
        by = ID_COLUMN
        _one_row_each(scope, cached)
    found = where.is_valid().to_numpy(zero_copy_only=False)
    at = np.flatnonzero(found)
    rows = pc.drop_null(where).to_numpy().astype(np.int64)
    missing = scope.ids.filter(pa.array(~found)).to_pylist()
    if not rows.size:
        raise ScopeError(
            f"none of the {len(scope.ids)} essays of {shown(scope.source)} is in these cached "
            f"rows (matched by {by}): extract them first (hemma-features extract FILE --cache "
            "CACHE), or give the feature set and fingerprint they were extracted under"
        )
    return ScopeMatch(
        source=scope.source, by=by, rows=rows, ids=scope.ids.take(pa.array(at)), at=at,
        requested=len(scope.ids), missing=missing,
    )  # fmt: skip


def scoped_table(table: pa.Table, match: ScopeMatch) -> pa.Table:
    """The rows of ``match``, in its order, each carrying the input's essay id."""
    return with_ids(table.take(pa.array(match.rows)), match.ids)


def with_ids(rows: pa.Table, ids: pa.Array) -> pa.Table:
    """``rows`` with ``ids`` as their ``essay_id`` column (the schema's metadata kept)."""
    position = rows.schema.get_field_index(ID_COLUMN)
    field = rows.schema.field(ID_COLUMN)
    return rows.set_column(position, field, ids.cast(field.type))


def limit_to(
    table: pa.Table, source: Any, *, id_column: str | None = None,
    inputs: Sequence[InputRecord] = (), warn: bool = True,
) -> tuple[pa.Table, ScopeMatch]:  # fmt: skip
    """``table`` (a whole partition) limited to the essays of ``source``, in its order,
    with its ids; a ``MissingEssaysWarning`` names those the cache lacks (unless not
    ``warn``: a caller printing ``ScopeMatch.summary`` itself)."""
    scope = read_scope(source, id_column=id_column, inputs=inputs)
    match = match_scope(scope, table.column(KEY_COLUMN), table.column(ID_COLUMN))
    if warn and match.missing:
        warnings.warn(match.summary(), MissingEssaysWarning, stacklevel=2)
    return scoped_table(table, match), match


def _names(
    id_column: str | None, recorded: InputRecord | None, inputs: Sequence[InputRecord]
) -> list[str]:
    """The columns a CSV reads as text: every id column it may have, and the texts."""
    names = [id_column or ID_COLUMN, *(r.id_column for r in inputs), TEXT_COLUMN, PROMPT_COLUMN]
    if recorded is not None:
        names += [recorded.id_column, recorded.text_column, recorded.prompt_column]
    return list(dict.fromkeys(names))


def _id_column(
    names: list[str], given: str | None, recorded: InputRecord | None,
    inputs: Sequence[InputRecord], source: str,
) -> str:  # fmt: skip
    if given is not None:
        if given not in names:
            raise ScopeError(f"{shown(source)} has no column {given!r}; it has {names}")
        return given
    if recorded is not None and recorded.id_column in names:
        return recorded.id_column
    if ID_COLUMN in names:
        return ID_COLUMN
    found = [c for c in dict.fromkeys(r.id_column for r in inputs) if c in names]
    if len(found) == 1:
        return found[0]
    raise ScopeError(
        f"{shown(source)} has no {ID_COLUMN!r} column; it has {names}: name its id column "
        "with --id-column (id_column= in Python)"
    )


def _one_row_each(scope: Scope, cached: pa.ChunkedArray) -> None:
    """Matching by id, an id the cache holds twice (different texts) is ambiguous."""
    inside = cached.filter(pc.is_in(cached, value_set=scope.ids))
    counts = pc.value_counts(inside).flatten()
    repeated = pc.filter(counts[0], pc.greater(counts[1], 1))
    if len(repeated):
        essay_id = repr(repeated[0].as_py())  # repr writes control characters as escapes
        raise ScopeError(
            f"the cache holds {len(repeated)} id(s) of {shown(scope.source)} more than once "
            f"(e.g. {essay_id}): essays of different inputs share those ids; give the essays "
            "file itself (with its text column) so rows are matched by text"
        )
