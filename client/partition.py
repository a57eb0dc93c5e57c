"""Which partition holds "the rows of this run": one fingerprint of one feature set.

A cache keeps every fingerprint it ever fetched, and a ``combined`` run also leaves the
``embeddings`` and ``handcrafted`` rows it reused, so "the first ``fingerprint=*``" is
often the wrong one. ``pick_partition`` never guesses: with one fingerprint for the set
it is that one; with several, the one named, or the newest when asked for; otherwise
an error listing each candidate with its rows and date.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
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


SHORT = 12
"""The fewest characters ``cache ls`` shows of a fingerprint."""
_HEX64 = re.compile(r"[0-9a-f]{64}")


def resolve_fingerprint(given: str, held: Iterable[str], where: str) -> str:
    """The fingerprint of ``held`` that is ``given`` or the only one starting with it
    (a unique prefix does, as in git); a one-line ``CacheError`` naming the candidates when
    none or several do.

    Args:
        given: A whole fingerprint or a prefix of one.
        held: The fingerprints there are.
        where: What holds them, for the message (``"~/hemma-cache"``, ``"... combined
            rows"``).
    """
    held = sorted(set(held))
    if given in held:
        return given
    matches = [fp for fp in held if given and fp.startswith(given)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise CacheError(
            f"fingerprint prefix {shown(given)} is ambiguous: {len(matches)} fingerprints "
            f"in {where} start with it ({', '.join(shown(fp) for fp in matches)}); give "
            "more characters"
        )
    raise CacheError(
        f"no fingerprint in {where} is or starts with {shown(given)} (it holds: "
        f"{', '.join(shown(fp) for fp in held) or 'none'})"
    )


def short_fingerprints(fingerprints: Iterable[str], least: int = SHORT) -> dict[str, str]:
    """Each fingerprint's shortest prefix of at least ``least`` characters that no other
    starts with (what ``cache ls`` shows; every command takes it). A name that is not
    64 hex digits is shown whole."""
    names = sorted(set(fingerprints))
    out = {}
    for name in names:
        if not _HEX64.fullmatch(name):
            out[name] = name
            continue
        size = least
        while size < len(name) and any(o != name and o.startswith(name[:size]) for o in names):
            size += 1
        out[name] = name[:size]
    return out


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
        fingerprint: The fingerprint to read, or a prefix only it starts with; None: the
            only one the set has.
        latest: With several fingerprints and none given, take the newest.
        choose: How the caller's error messages name ``fingerprint`` and ``latest``.
    """
    found = candidates(root, feature_set)
    root = Path(root).expanduser()
    if fingerprint is not None:
        matches = [c for c in found if c.fingerprint.startswith(fingerprint) and fingerprint]
        exact = [c for c in found if c.fingerprint == fingerprint]
        if exact or len(matches) == 1:
            return (exact or matches)[0]
        if matches:
            raise CacheError(
                f"fingerprint prefix {shown(fingerprint)} is ambiguous: {len(matches)} "
                f"{feature_set} fingerprints in {shown(root)} start with it: "
                f"{'; '.join(c.label() for c in matches)}; give more characters"
            )
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
