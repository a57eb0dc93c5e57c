"""Multi-file rewrites (compaction) that a crash finishes or rolls back.

A journal names the new file and the files it replaces. The new file is first written
under a hidden temp name and hashed (its final name is its checksum, ``part-<sha256>``);
then the journal is written; then the temp file is renamed to its final name; once the new
file exists the old ones go. Whoever next holds the partition lock calls ``recover``: new
file present -> delete the old ones; absent -> drop the journal (the old files are intact;
a leftover temp file is hidden and removed by ``cache gc``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import msgspec
import pyarrow as pa

from hemma_features.arrowfiles.atomic import FileFormat, staged_batches, write_bytes_atomically
from hemma_features.arrowfiles.layout import JOURNAL, part_path


class Journal(msgspec.Struct, frozen=True, kw_only=True):
    """A multi-file replacement in progress: ``new`` replaces ``old`` once it exists."""

    new: str
    """Final name of the replacement file."""
    old: list[str]
    """Files the replacement makes redundant."""


def replace_files(
    directory: Path,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    old: list[Path],
    file_format: FileFormat,
) -> Path:
    """Write ``batches`` as a new file and delete ``old``, crash-safely (partition lock held).

    Returns the new file, named by its checksum.
    """
    with staged_batches(directory, schema, batches, file_format) as staged:
        new = part_path(directory, staged.digest, file_format)
        # An old file with the very same bytes is the new file: it must not be deleted.
        journal = Journal(new=new.name, old=[path.name for path in old if path.name != new.name])
        write_bytes_atomically(directory / JOURNAL, msgspec.json.encode(journal))
        staged.commit(new)
    recover(directory)
    return new


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
