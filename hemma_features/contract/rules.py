"""Input rules both sides apply: the client before sending, the server on every batch."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hemma_features.contract.errors import InputRuleError
from hemma_features.contract.schema import ID_COLUMN, INPUT_SCHEMA, PROMPT_COLUMN, TEXT_COLUMN

_STRING_TYPES = (pa.string(), pa.large_string())


def check_input_schema(schema: pa.Schema) -> None:
    """Require string columns ``essay_id``, ``text`` and ``prompt``."""
    for name in INPUT_SCHEMA.names:
        index = schema.get_field_index(name)
        if index < 0:
            raise InputRuleError(
                None, None, f"missing column {name!r}; expected columns {INPUT_SCHEMA.names}"
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
    """
    check_input_schema(batch.schema)
    columns = [batch.column(name) for name in INPUT_SCHEMA.names]
    columns = [c if c.type == pa.string() else c.cast(pa.string()) for c in columns]
    return pa.RecordBatch.from_arrays(columns, names=INPUT_SCHEMA.names)


def check_utf8(batch: pa.RecordBatch, *, first_row: int = 0) -> None:
    """Every value of the input columns is valid UTF-8; else name the row and column."""
    for name in INPUT_SCHEMA.names:
        column = batch.column(name)
        try:
            column.validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        for row in range(len(column)):  # only on the failure path: find the first bad row
            try:
                column.slice(row, 1).validate(full=True)
            except pa.ArrowInvalid:
                raise InputRuleError(
                    first_row + row, None, f"column {name!r} is not valid UTF-8"
                ) from None
        raise InputRuleError(None, None, f"column {name!r} is not valid UTF-8")


def check_input_batch(batch: pa.RecordBatch, *, max_text_chars: int, first_row: int = 0) -> None:
    """Check every row of an input batch; raise on the first row that breaks a rule.

    Args:
        batch: Record batch with the input columns.
        max_text_chars: Longest text allowed, in characters.
        first_row: Index of the batch's first row in the whole request (for messages).
    """
    check_input_schema(batch.schema)
    check_utf8(batch, first_row=first_row)
    ids = batch.column(ID_COLUMN)
    text = batch.column(TEXT_COLUMN)
    prompt = batch.column(PROMPT_COLUMN)
    rules: list[tuple[pa.Array, str]] = [
        (pc.is_null(ids), "essay_id is missing"),
        (pc.equal(pc.utf8_length(ids), 0), "essay_id is empty"),
        (pc.is_null(text), "text is missing"),
        (
            pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0),
            "text is empty or only whitespace",
        ),
        (
            pc.greater(pc.utf8_length(text), max_text_chars),
            f"text is longer than the limit of {max_text_chars} characters "
            "(the server's HEMMA_MAX_TEXT_CHARS)",
        ),
        (pc.is_null(prompt), "prompt is missing (a prompt string is required)"),
    ]
    for mask, rule in rules:
        bad = np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))
        if bad.size:
            i = int(bad[0])
            essay_id = ids[i].as_py()
            detail = rule
            if rule.startswith("text is longer"):
                detail = (
                    f"text has {len(text[i].as_py())} characters, over the limit of "
                    f"{max_text_chars} (the server's HEMMA_MAX_TEXT_CHARS)"
                )
            raise InputRuleError(first_row + i, essay_id, detail)
