"""Essays from CSV, Parquet, JSONL, pandas or Arrow -> a table of ``essay_id, text, prompt``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hemma_features.client.errors import InputFileError
from hemma_features.client.text_encoding import declared_encoding, not_utf8
from hemma_features.contract import (
    ID_COLUMN,
    INPUT_SCHEMA,
    PROMPT_COLUMN,
    TEXT_COLUMN,
    InputRuleError,
    ServerConfig,
    input_violations,
    no_prompt,
)
from hemma_features.terminal import shown


class Columns(msgspec.Struct, frozen=True, kw_only=True):
    """Names of the input columns in the user's data, for a layout other than
    ``essay_id, text, prompt``: ``FeatureClient.extract(df, columns=Columns(essay_id=
    "essay_id_comp", text="full_text", prompt="prompt_name"))`` (the command line's
    ``--id-column``, ``--text-column`` and ``--prompt-column``)."""

    essay_id: str = ID_COLUMN
    """Column holding the essay id (any type; cast to string)."""
    text: str = TEXT_COLUMN
    """Column holding the essay text."""
    prompt: str = PROMPT_COLUMN
    """Column holding the prompt. Optional: without it (or where it is empty or null) an
    essay has no prompt, and its ``prompt_similarity`` is 0 and means nothing."""


def read_table(source: Any, columns: Columns) -> pa.Table:
    """Read a path (.csv, .parquet, .jsonl/.ndjson, .arrow/.feather), DataFrame or Table."""
    wanted = [columns.essay_id, columns.text, columns.prompt]
    required = wanted[:2]
    if isinstance(source, pa.Table):
        table = source
    elif isinstance(source, pa.RecordBatch):
        table = pa.Table.from_batches([source])
    elif hasattr(source, "to_dict") and hasattr(source, "columns"):  # a pandas DataFrame
        names = [str(c) for c in source.columns]
        missing = [c for c in required if c not in names]
        if missing:
            raise InputFileError(
                f"DataFrame lacks column(s) {missing}; it has {names}: "
                f"{mapping_hint(names, columns)}"
            )
        table = pa.Table.from_pandas(
            source[[c for c in wanted if c in names]], preserve_index=False
        )
    else:
        path = Path(source)
        table = read_file(path, wanted)
        if table.num_rows == 0:
            raise InputFileError(
                f"input file {shown(path)} holds no essays: it has the column(s) "
                f"{table.column_names} and no row under them"
            )
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise InputFileError(
            f"input lacks column(s) {missing}; it has {table.column_names}: "
            f"{mapping_hint(table.column_names, columns)}"
        )
    if columns.prompt not in table.column_names and columns.prompt != PROMPT_COLUMN:
        raise InputFileError(
            f"input lacks the prompt column {columns.prompt!r} named by --prompt-column "
            f"(Columns(prompt=...)); it has {table.column_names} (leave it out for essays "
            "without prompts)"
        )
    arrays = []
    for name in wanted:
        if name not in table.column_names:  # no prompt column: no prompts
            arrays.append(no_prompt(table.num_rows))
            continue
        column = table.column(name)
        if name != columns.essay_id and not _is_text(column.type):
            raise InputFileError(f"column {name!r} has type {column.type}; expected text")
        arrays.append(pc.cast(column, pa.string()))
    arrays[2] = pc.fill_null(arrays[2], "")  # a null prompt is no prompt, as an empty one
    return pa.Table.from_arrays(arrays, names=INPUT_SCHEMA.names)


_GUESSES = {"essay_id": ("id",), "text": ("text", "essay", "body"), "prompt": ("prompt", "topic")}


def mapping_hint(names: list[str], columns: Columns) -> str:
    """How to name the columns of another layout, guessed from its column names: the
    Python ``Columns(...)`` and the command line's flags."""
    chosen: dict[str, str] = {}
    for role, current in msgspec.structs.asdict(columns).items():
        if current in names:
            chosen[role] = current
            continue
        taken = set(chosen.values())
        guess = next(
            (n for n in names if n not in taken and any(k in n.lower() for k in _GUESSES[role])),
            None,
        )
        if guess is not None or role != "prompt":
            chosen[role] = guess if guess is not None else "..."
    python = ", ".join(f"{role}={name!r}" for role, name in chosen.items())
    flags = {"essay_id": "--id-column", "text": "--text-column", "prompt": "--prompt-column"}
    cli = " ".join(f"{flags[role]} {name}" for role, name in chosen.items())
    return (
        f"name yours with columns=Columns({python}) from Python (from hemma_features import "
        f"Columns), or {cli} on the command line (a prompt column is optional)"
    )


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)


def read_file(path: Path, wanted: list[str]) -> pa.Table:
    """Every column of an essays file (.csv, .parquet, .jsonl, .arrow), the ``wanted`` ones
    read as text from a CSV (ids keep their leading zeros)."""
    if path.is_dir():
        raise InputFileError(
            f"input path {shown(path)} is a directory; give one file: .csv, .parquet, .jsonl "
            "or .arrow"
        )
    if not path.is_file():
        raise InputFileError(f"input file {shown(path)} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".jsonl", ".ndjson", ".json") and declared_encoding(path) is not None:
        raise InputFileError(not_utf8(path, "input file"))
    try:
        if suffix == ".csv":
            import pyarrow.csv as pacsv

            return pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in wanted},
                    strings_can_be_null=False,
                ),
            )
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if suffix in (".jsonl", ".ndjson", ".json"):
            import pyarrow.json as pajson

            return pajson.read_json(path)
        if suffix in (".arrow", ".feather", ".ipc"):
            import pyarrow.feather as feather

            return feather.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        if "invalid UTF8" in str(exc) or "UTF-8" in str(exc):
            raise InputFileError(f"{not_utf8(path, 'input file')} ({shown(exc)})") from exc
        raise InputFileError(f"cannot read {shown(path)}: {shown(exc)}") from exc
    raise InputFileError(
        f"unsupported input {shown(path.name)}: use .csv, .parquet, .jsonl or .arrow"
    )


BATCH_TEXT_BYTES = 8 * 1024**2
"""Most text bytes per Flight batch, whatever its row count."""


def input_batches(
    essays: pa.Table, max_rows: int, max_bytes: int = BATCH_TEXT_BYTES
) -> list[pa.RecordBatch]:
    """The essays as record batches of at most ``max_rows`` rows and ``max_bytes`` of text
    (a batch holds at least one row, however long)."""
    sizes = pc.fill_null(pc.binary_length(essays.column(TEXT_COLUMN)), 0).to_numpy()
    sizes = np.asarray(sizes, dtype=np.int64)
    batches = []
    start = 0
    while start < essays.num_rows:
        stop = min(start + max_rows, essays.num_rows)
        within = np.cumsum(sizes[start:stop]) <= max_bytes
        stop = start + max(1, int(np.count_nonzero(within)))
        batches.extend(essays.slice(start, stop - start).combine_chunks().to_batches())
        start = stop
    return [batch for batch in batches if batch.num_rows]


def duplicate_id_violations(table: pa.Table) -> list[tuple[int | None, str | None, str]]:
    """Rows whose essay id an earlier row has with another text or prompt (one row per
    essay: an id names one essay)."""
    if pc.count_distinct(table.column(ID_COLUMN)).as_py() == table.num_rows:
        return []  # every id once: nothing to compare
    seen: dict[str, tuple[int, str, str]] = {}
    ids = table.column(ID_COLUMN).to_pylist()
    texts = table.column(TEXT_COLUMN).to_pylist()
    prompts = table.column(PROMPT_COLUMN).to_pylist()
    violations: list[tuple[int | None, str | None, str]] = []
    for row, (essay_id, text, prompt) in enumerate(zip(ids, texts, prompts, strict=True)):
        first = seen.setdefault(essay_id, (row, text, prompt))
        if first[0] != row and (first[1], first[2]) != (text, prompt):
            violations.append(
                (
                    row,
                    essay_id,
                    f"duplicate essay_id with a different text or prompt than row {first[0]}",
                )
            )
    return violations


def check_essays(essays: pa.Table, config: ServerConfig) -> None:
    """Reject bad rows before anything is sent, with the server's own rules, naming every
    bad row at once."""
    violations: list[tuple[int | None, str | None, str]] = []
    first_row = 0
    for batch in essays.to_batches():
        violations += input_violations(
            batch, max_text_chars=config.limits.max_text_chars, first_row=first_row
        )
        first_row += batch.num_rows
    if not violations:  # ids are compared only among rows that are otherwise fine
        violations = duplicate_id_violations(essays)
    if violations:
        raise InputRuleError.of(violations)
