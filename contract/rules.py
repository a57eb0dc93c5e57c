"""Input rules both sides apply: the client before sending, the server on every batch."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hemma_features.contract.errors import InputRuleError
from hemma_features.contract.schema import ID_COLUMN, INPUT_SCHEMA, PROMPT_COLUMN, TEXT_COLUMN

_STRING_TYPES = (pa.string(), pa.large_string())


def check_input_schema(schema: pa.Schema) -> None:
    """Require string columns ``essay_id`` and ``text``; ``prompt``, when present, is a
    string column too (absent, every essay has no prompt)."""
    for name in INPUT_SCHEMA.names:
        found = schema.get_all_field_indices(name)
        if len(found) > 1:
            raise InputRuleError(
                None, None, f"column {name!r} appears {len(found)} times; send it once"
            )
        index = found[0] if found else -1
        if index < 0:
            if name == PROMPT_COLUMN:
                continue
            raise InputRuleError(
                None,
                None,
                f"missing column {name!r}; expected columns {INPUT_SCHEMA.names} "
                "(prompt is optional)",
            )
        if schema.field(index).type not in _STRING_TYPES:
            raise InputRuleError(
                None,
                None,
                f"column {name!r} has type {schema.field(index).type}; expected string",
            )


def as_input_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The input columns of ``batch`` in the input schema's order and types.

    ``large_string`` columns are cast to ``string`` (both are allowed on the wire); any
    other column is dropped.
    A missing or null prompt becomes the empty string: no prompt (see ``no_prompt``).
    """
    check_input_schema(batch.schema)
    columns = [
        batch.column(name) if name in batch.schema.names else no_prompt(batch.num_rows)
        for name in INPUT_SCHEMA.names
    ]
    columns = [c if c.type == pa.string() else c.cast(pa.string()) for c in columns]
    columns[-1] = pc.fill_null(columns[-1], "")
    return pa.RecordBatch.from_arrays(columns, names=INPUT_SCHEMA.names)


def no_prompt(rows: int) -> pa.Array:
    """The prompt column of essays without one: empty strings. An empty prompt is no
    prompt: ``prompt_similarity`` is then 0 (and means nothing), every other value is the
    same as with any prompt."""
    return pa.array([""] * rows, pa.string())


def check_utf8(batch: pa.RecordBatch, *, first_row: int = 0) -> None:
    """Every value of the input columns is valid UTF-8; else name every bad row and column."""
    violations: list[tuple[int | None, str | None, str]] = []
    for name in INPUT_SCHEMA.names:
        if name not in batch.schema.names:
            continue
        column = batch.column(name)
        try:
            column.validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        for row in range(len(column)):  # only on the failure path: find the bad rows
            try:
                column.slice(row, 1).validate(full=True)
            except pa.ArrowInvalid:
                violations.append((first_row + row, None, f"column {name!r} is not valid UTF-8"))
        if not violations:
            violations.append((None, None, f"column {name!r} is not valid UTF-8"))
    if violations:
        raise InputRuleError.of(violations)


def input_violations(
    batch: pa.RecordBatch, *, max_text_chars: int, first_row: int = 0
) -> list[tuple[int | None, str | None, str]]:
    """Every ``(row, essay_id, rule)`` an input batch breaks (schema and UTF-8 problems
    raise at once: the rows cannot be read).

    Args:
        batch: Record batch with the input columns.
        max_text_chars: Longest text allowed, in characters.
        first_row: Index of the batch's first row in the whole request (for messages).
    """
    check_input_schema(batch.schema)
    check_utf8(batch, first_row=first_row)
    ids = batch.column(ID_COLUMN)
    text = batch.column(TEXT_COLUMN)
    rules: list[tuple[pa.Array, str]] = [
        (pc.is_null(ids), "essay_id is missing"),
        (pc.equal(pc.utf8_length(ids), 0), "essay_id is empty"),
        (pc.is_null(text), "text is missing"),
        (
            pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0),
            "text is empty or only whitespace",
        ),
        (pc.greater(pc.utf8_length(text), max_text_chars), "too long"),
    ]
    violations: list[tuple[int | None, str | None, str]] = []
    for mask, rule in rules:
        bad = np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))
        for i in bad.tolist():
            detail = rule
            if rule == "too long":
                detail = (
                    f"text has {pc.utf8_length(text[i]).as_py()} characters, over the limit of "
                    f"{max_text_chars} (the server's HEMMA_MAX_TEXT_CHARS)"
                )
            violations.append((first_row + i, ids[i].as_py(), detail))
    return violations


def check_input_batch(batch: pa.RecordBatch, *, max_text_chars: int, first_row: int = 0) -> None:
    """Check every row of an input batch; raise naming every row that breaks a rule."""
    violations = input_violations(batch, max_text_chars=max_text_chars, first_row=first_row)
    if violations:
        raise InputRuleError.of(violations)
