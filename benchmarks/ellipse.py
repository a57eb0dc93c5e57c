"""The shared ELLIPSE essays for benchmarks: read them, or say they are absent."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

ELLIPSE = Path(__file__).resolve().parents[2] / "shared" / "data" / "ellipse" / "essays.csv"


def read_ellipse(rows: int) -> pa.Table | None:
    """The first ``rows`` ELLIPSE rows (every column), or None (printed) when absent."""
    if not ELLIPSE.is_file():
        print(f"skipped: {ELLIPSE} is absent")
        return None
    table = pacsv.read_csv(ELLIPSE, parse_options=pacsv.ParseOptions(newlines_in_values=True))
    return table.slice(0, rows)


def essay_inputs(table: pa.Table) -> pa.Table:
    """``essay_id``, ``text``, ``prompt`` as strings: what the feature server takes."""
    return pa.table(
        {name: table.column(name).cast(pa.string()) for name in ("essay_id", "text", "prompt")}
    )
