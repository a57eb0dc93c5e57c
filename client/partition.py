"""Which partition holds "the rows of this run": one fingerprint of one feature set.

A cache keeps every fingerprint it ever fetched, and a ``combined`` run also leaves the
``embeddings`` and ``handcrafted`` rows it reused, so "the first ``fingerprint=*``" is
often the wrong one. ``pick_partition`` never guesses: with one fingerprint for the set
it is that one; with several, the one named, or the newest when asked for; otherwise
an error listing each candidate with its rows and date.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.dataset as ds

from hemma_features.arrowfiles.layout import ManifestError, part_files, partitions, read_manifest
from hemma_features.client.errors import CacheError
from hemma_features.terminal import shown


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    """One fingerprint's partition of a feature set."""

    fingerprint: str
    """The fingerprint the rows were computed under."""
    directory: str
    """``ROOT/fingerprint=<fp>/feature_set=<fs>``."""
    rows: int
    """Rows in its readable files."""
    files: int
    """Data files."""
    written: float
    """When its newest file was written (seconds since the epoch; 0 with no file)."""

    def label(self) -> str:
        """``<fp> (150 rows, 2026-12-03 13:40 UTC)``."""
        when = dt.datetime.fromtimestamp(self.written, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"{shown(self.fingerprint)} ({self.rows} rows, {when})"


class Choose(msgspec.Struct, frozen=True, kw_only=True):
    """How the caller names a fingerprint and "the newest", for the error messages (a
    command line has flags, Python has keyword arguments)."""

    fingerprint: str = "fingerprint=FP"
    latest: str = "latest=True"


PYTHON = Choose()
CLI = Choose(fingerprint="--fingerprint FP", latest="--latest")


def candidates(root: Path | str, feature_set: str) -> list[Candidate]:
    """Every fingerprint holding ``feature_set`` rows under ``root``, newest first."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise CacheError(f"no cache at {shown(root)}: the directory does not exist")
    try:
        file_format = read_manifest(root).format
    except ManifestError as exc:
        raise CacheError(str(exc)) from exc
    found = []
    for fingerprint, fs, directory in partitions(root):
        if fs != feature_set:
            continue
        files = part_files(directory, file_format)
        rows, written = 0, 0.0
        for path in files:
            try:
                written = max(written, path.stat().st_mtime)
                rows += ds.dataset(path, format=file_format).count_rows()
            except (pa.ArrowInvalid, OSError):  # damaged or compacted away: no rows here
                continue
        found.append(
            Candidate(
                fingerprint=fingerprint, directory=str(directory), rows=rows, files=len(files),
                written=written,
            )
        )  # fmt: skip
    return sorted(found, key=lambda c: c.written, reverse=True)


def pick_partition(
    root: Path | str,
    feature_set: str,
    fingerprint: str | None = None,
    *,
    latest: bool = False,
    choose: Choose = PYTHON,
) -> Candidate:
    """The partition of ``feature_set`` to read.

    Args:
        root: Cache directory.
        feature_set: ``combined``, ``embeddings`` or ``handcrafted``.
        fingerprint: The fingerprint to read; None: the only one the set has.
        latest: With several fingerprints and none given, take the newest.
        choose: How the caller's error messages name ``fingerprint`` and ``latest``.
    """
    found = candidates(root, feature_set)
    root = Path(root).expanduser()
    if fingerprint is not None:
        for candidate in found:
            if candidate.fingerprint == fingerprint:
                return candidate
        held = "; ".join(c.label() for c in found) or "none"
        raise CacheError(
            f"{shown(root)} holds no {feature_set} rows under fingerprint {shown(fingerprint)} "
            f"({feature_set} fingerprints it holds: {held})"
        )
    if not found:
        sets = sorted({shown(fs) for _, fs, _ in partitions(root)})
        raise CacheError(
            f"{shown(root)} holds no {feature_set} rows (feature sets it holds: "
            f"{', '.join(sets) or 'none'})"
        )
    if len(found) == 1 or latest:
        return found[0]
    raise CacheError(
        f"{shown(root)} holds {len(found)} {feature_set} fingerprints: "
        f"{'; '.join(c.label() for c in found)}; give {choose.fingerprint} "
        f"(`hemma-features fingerprint` prints the server's) or {choose.latest} for the newest"
    )
