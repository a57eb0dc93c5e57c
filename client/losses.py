"""Rows a cache lost, named: damaged files moved aside, components missing beside combined.

A damaged file is moved to ``CACHE/_damaged/fingerprint=<fp>/feature_set=<fs>/`` and its
rows are then missing until a run fetches them again. Whether they are back is a fact a
user must be told, not guessed: ``moved_aside`` reads the keys and essay ids the damaged
file still holds (a flipped bit rarely touches them; a truncated file may hold none that
can be read) and checks each against the partition now. Combined rows are stored with
their ``embeddings`` and ``handcrafted`` parts, so a component partition lacking keys
its combined partition holds lost them (``Shortfall``); a combined run cuts them again.

Both ``extract`` (for the files it moved aside) and ``cache verify`` (for all of them)
report through here, with the command that gets the rows back.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from hemma_features.arrowfiles.checksums import verify_file
from hemma_features.arrowfiles.layout import DAMAGED, SUFFIXES, file_format_of
from hemma_features.contract import ID_COLUMN, KEY_COLUMN
from hemma_features.terminal import shown

SAMPLE_IDS = 5
"""Essay ids named per loss."""


class RowsLostWarning(UserWarning):
    """Rows of the partition read are missing: a damaged file was moved aside and its rows
    are not back (or cannot be named); the message says which and the command that
    fetches them."""


class MovedAside(msgspec.Struct, kw_only=True):
    """A damaged cache file moved aside, and what became of its rows."""

    path: str
    """Where the file lies now, under ``CACHE/_damaged/``."""
    fingerprint: str
    """The partition it was moved out of: its fingerprint..."""
    feature_set: str
    """...and feature set."""
    problem: str
    """What is wrong with it (``checksum mismatch``, ``unreadable: ...``)."""
    rows: int | None
    """Rows it holds that could be read; None when none could (which rows it held is
    unknown)."""
    missing: int | None
    """Of those rows, how many the partition lacks now; None when unknown."""
    missing_ids: list[str] = msgspec.field(default_factory=list)
    """Essay ids of the first few rows the partition lacks."""

    @property
    def partition(self) -> str:
        """``fingerprint=<fp>/feature_set=<fs>``, escaped for the terminal."""
        return shown(f"fingerprint={self.fingerprint}/feature_set={self.feature_set}")

    def line(self, cache: Path | str, essays: str = "ESSAYS") -> str:
        """One line: the file, the partition, its rows' fate and how to get them back."""
        head = f"{self.partition}: damaged file moved aside to {shown(self.path)} ({self.problem})"
        return head + self.fate(cache, essays)

    def fate(self, cache: Path | str, essays: str = "ESSAYS") -> str:
        """``; its N rows are back`` or which are not and the command that fetches them."""
        refetch = (
            f"`hemma-features extract {shown(essays)} --feature-set {shown(self.feature_set)} "
            f"--cache {shown(cache)}`"
        )
        if self.rows is None or self.missing is None:
            return (
                f"; its rows cannot be read, so which are missing is unknown: run {refetch} "
                "over every essays file this cache holds rows of (it fetches only what is "
                "missing), then delete the damaged file"
            )
        if not self.missing:
            return f"; its {self.rows} rows are back in the cache"
        return (
            f"; {self.missing} of its {self.rows} rows are not in the cache (essay ids "
            f"{_ids(self.missing_ids, self.missing)}): {refetch} over the essays holding them "
            "fetches them again"
        )


class Shortfall(msgspec.Struct, kw_only=True):
    """A component partition lacking rows that its combined partition holds."""

    fingerprint: str
    """The component partition's fingerprint..."""
    feature_set: str
    """...and feature set (``embeddings`` or ``handcrafted``)."""
    combined: str
    """The fingerprint of the combined rows that hold them."""
    missing: int
    """Rows the component lacks."""
    missing_ids: list[str] = msgspec.field(default_factory=list)
    """Essay ids of the first few."""

    def line(self, cache: Path | str, essays: str = "ESSAYS") -> str:
        """One line: the short partition, its missing rows and the run that restores them."""
        where = shown(f"fingerprint={self.fingerprint}/feature_set={self.feature_set}")
        return f"{where} {self.fate(cache, essays)}"

    def fate(self, cache: Path | str, essays: str = "ESSAYS") -> str:
        """``lacks N rows ...`` and the command that restores them."""
        return (
            f"lacks {self.missing} rows that the combined rows of fingerprint "
            f"{shown(self.combined)} hold (essay ids {_ids(self.missing_ids, self.missing)}): "
            f"`hemma-features extract {shown(essays)} --feature-set combined --cache "
            f"{shown(cache)}` over the essays holding them cuts them from those combined rows"
        )


def damaged_files(root: Path) -> Iterator[tuple[str, str, Path]]:
    """(fingerprint, feature set, path) of every file moved aside under ``root``."""
    base = root / DAMAGED
    for fp_dir in sorted(base.glob("fingerprint=*")):
        for fs_dir in sorted(fp_dir.glob("feature_set=*")):
            for path in sorted(fs_dir.iterdir()):
                if path.suffix in SUFFIXES.values() and path.is_file():
                    yield fp_dir.name.split("=", 1)[1], fs_dir.name.split("=", 1)[1], path


def held_rows(path: Path) -> pa.Table | None:
    """The ``key`` and ``essay_id`` columns a damaged file still holds, or None when they
    cannot be read (each is checked in full: a changed byte must not be trusted blindly)."""
    try:
        if file_format_of(path) == "parquet":
            table = pq.read_table(path, columns=[KEY_COLUMN, ID_COLUMN])
        else:
            with pa.memory_map(str(path)) as source:
                table = ipc.open_file(source).read_all().select([KEY_COLUMN, ID_COLUMN])
        table.validate(full=True)
        return table
    except (pa.ArrowException, OSError, KeyError):
        return None


def moved_aside(
    fingerprint: str,
    feature_set: str,
    path: Path,
    present: Callable[[pa.ChunkedArray], np.ndarray],
) -> MovedAside:
    """What became of the rows of one file moved aside.

    Args:
        fingerprint: The partition it came from...
        feature_set: ...by feature set.
        path: The file under ``_damaged/``.
        present: For an array of keys, the mask of those the partition holds now.
    """
    try:
        problem = verify_file(path, memo=False) or "moved aside"
    except FileNotFoundError:
        problem = "moved aside"
    held = held_rows(path)
    found = MovedAside(
        path=str(path),
        fingerprint=fingerprint,
        feature_set=feature_set,
        problem=shown(problem),
        rows=None,
        missing=None,
    )
    if held is None:
        return found
    lacking = ~present(held.column(KEY_COLUMN))
    found.rows = held.num_rows
    found.missing = int(lacking.sum())
    found.missing_ids = sample_ids(held.column(ID_COLUMN), lacking)
    return found


def sample_ids(ids: pa.ChunkedArray | pa.Array, mask: np.ndarray) -> list[str]:
    """The first few ids where ``mask`` is set."""
    return [str(v) for v in ids.filter(pa.array(mask)).slice(0, SAMPLE_IDS).to_pylist()]


def _ids(sample: list[str], count: int) -> str:
    named = ", ".join(shown(essay_id) for essay_id in sample)
    return named + (f", ... {count - len(sample)} more" if count > len(sample) else "")


def warn_lost(
    root: Path,
    fingerprint: str,
    feature_set: str,
    present: Callable[[pa.ChunkedArray], np.ndarray],
    before: set[Path],
) -> list[MovedAside]:
    """Warn (``RowsLostWarning``) about the rows a partition lacks because of damaged files:
    those moved aside since ``before`` whose rows are not all back, and those moved earlier
    whose rows are known to be missing. Returns what it warned about."""
    warned = []
    for fp, fs, path in damaged_files(root):
        if (fp, fs) != (fingerprint, feature_set):
            continue
        moved = moved_aside(fp, fs, path, present)
        if moved.missing or (moved.missing is None and path not in before):
            warned.append(moved)
            warnings.warn(moved.line(root), RowsLostWarning, stacklevel=3)
    return warned
