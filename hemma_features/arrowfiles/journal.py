"""Multi-file rewrites (compaction) that a crash finishes or rolls back.

A journal names the new file and the files it replaces. The journal is written first,
then the new file; once the new file exists the old ones go. Whoever next holds the
partition lock calls ``recover``: new file present -> delete the old ones; absent -> drop
the journal (the old files are intact).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pyarrow as pa

from hemma_features.arrowfiles.atomic import (
    FileFormat,
    write_bytes_atomically,
    write_table_atomically,
)
from hemma_features.arrowfiles.layout import JOURNAL


class Journal(msgspec.Struct, frozen=True, kw_only=True):
    """A multi-file replacement in progress: ``new`` replaces ``old`` once it exists."""

    new: str
    """Final name of the replacement file."""
    old: list[str]
    """Files the replacement makes redundant."""


def replace_files(
    directory: Path, new: Path, table: pa.Table, old: list[Path], file_format: FileFormat
) -> None:
    """Write ``table`` to ``new`` and delete ``old``, crash-safely (partition lock held)."""
    journal = Journal(new=new.name, old=[path.name for path in old])
    write_bytes_atomically(directory / JOURNAL, msgspec.json.encode(journal))
    write_table_atomically(new, table, file_format)
    recover(directory)


def recover(directory: Path) -> None:
    """Finish or roll back a multi-file rewrite interrupted by a crash (lock held)."""
    journal_path = directory / JOURNAL
    if not journal_path.is_file():
        return
    journal = msgspec.json.decode(journal_path.read_bytes(), type=Journal)
    if (directory / journal.new).is_file():
        for name in journal.old:
            (directory / name).unlink(missing_ok=True)
    journal_path.unlink()
