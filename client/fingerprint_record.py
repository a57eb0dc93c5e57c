"""What stands behind a cached fingerprint, kept beside its rows for later readers.

An extract run writes the server's ``/v1/fingerprint`` answer (components: model id and
weights hash, spaCy model, LanguageTool, library and feature versions) to
``CACHE/fingerprint=<fp>/_fingerprint.json``, so a report made offline, months later,
can say exactly what produced the rows; and it adds its input (the file, and the columns
its ids, texts and prompts were read from) to ``_inputs.json`` beside it, so a later read
joins labels on the id column the researcher named (``extract --id-column``) and reads an
input file's essays back (``--ids-from``) without being told the columns again. The names
start with ``_``, which ``pyarrow.dataset`` skips, and they live in the fingerprint's
directory, so ``cache gc`` removes them with the rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import msgspec

from hemma_features.arrowfiles.atomic import write_bytes_atomically
from hemma_features.arrowfiles.lock import partition_lock
from hemma_features.contract import FingerprintInfo

RECORD = "_fingerprint.json"
INPUTS = "_inputs.json"
INPUTS_KEPT = 50
"""Inputs remembered per fingerprint (the latest)."""


class InputRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One input an extract run read its essays from."""

    source: str
    """The input file's absolute path; empty for a DataFrame or a Table."""
    id_column: str
    """The column its essay ids came from (``--id-column``)."""
    text_column: str
    """The column its texts came from (``--text-column``)."""
    prompt_column: str
    """The column its prompts came from, when it has one (``--prompt-column``)."""
    feature_set: str
    """The feature set the run asked for."""
    rows: int
    """Input rows."""
    written: float = 0.0
    """When the run ended (seconds since the epoch)."""

    def same_input(self, other: InputRecord) -> bool:
        """The same file read through the same columns for the same set."""
        return (self.source, self.id_column, self.text_column, self.prompt_column,
                self.feature_set) == (other.source, other.id_column, other.text_column,
                other.prompt_column, other.feature_set)  # fmt: skip


def record_path(root: Path | str, fingerprint: str) -> Path:
    """Where the record of ``fingerprint`` lives in the cache ``root``."""
    return Path(root).expanduser() / f"fingerprint={fingerprint}" / RECORD


def write_records(root: Path | str, info: FingerprintInfo) -> None:
    """Record ``info`` beside every fingerprint of it that the cache holds rows for."""
    data = msgspec.json.encode(info, order="sorted")
    for fingerprint in set(info.feature_sets.values()):
        path = record_path(root, fingerprint)
        if path.parent.is_dir() and not (path.is_file() and path.read_bytes() == data):
            write_bytes_atomically(path, data)


def read_record(root: Path | str, fingerprint: str) -> FingerprintInfo | None:
    """The recorded answer for ``fingerprint``, or None (a cache written before records,
    or a record that no longer decodes)."""
    path = record_path(root, fingerprint)
    try:
        return msgspec.json.decode(path.read_bytes(), type=FingerprintInfo)
    except (OSError, msgspec.DecodeError):
        return None


def copy_record(source: Path | str, target: Path | str, fingerprint: str) -> None:
    """Copy the records of ``fingerprint`` (the server's answer, the inputs) from one cache
    to another (``cache export``), when the source has them and the target holds the
    fingerprint's rows."""
    for name in (RECORD, INPUTS):
        origin = record_path(source, fingerprint).with_name(name)
        destination = record_path(target, fingerprint).with_name(name)
        if origin.is_file() and destination.parent.is_dir() and not destination.is_file():
            write_bytes_atomically(destination, origin.read_bytes())


def record_input(root: Path | str, fingerprints: Iterable[str], record: InputRecord) -> None:
    """Add ``record`` to the inputs of every fingerprint of ``fingerprints`` the cache holds
    rows for (the same input read again replaces its older entry; the latest
    ``INPUTS_KEPT`` are kept)."""
    record = msgspec.structs.replace(record, written=record.written or time.time())
    for fingerprint in dict.fromkeys(fingerprints):
        path = record_path(root, fingerprint).with_name(INPUTS)
        if not path.parent.is_dir():
            continue
        with partition_lock(path.parent):  # two runs into one cache keep both entries
            kept = [r for r in read_inputs(root, fingerprint) if not r.same_input(record)]
            kept = [*kept, record][-INPUTS_KEPT:]
            write_bytes_atomically(path, msgspec.json.encode(kept))


def read_inputs(root: Path | str, fingerprint: str) -> list[InputRecord]:
    """The inputs recorded for ``fingerprint``, oldest first ([] when none are, or the
    record no longer decodes)."""
    path = record_path(root, fingerprint).with_name(INPUTS)
    try:
        return msgspec.json.decode(path.read_bytes(), type=list[InputRecord])
    except (OSError, msgspec.DecodeError):
        return []
