"""What stands behind a cached fingerprint, kept beside its rows for later readers.

An extract run writes the server's ``/v1/fingerprint`` answer (components: model id and
weights hash, spaCy model, LanguageTool, library and feature versions) to
``CACHE/fingerprint=<fp>/_fingerprint.json``, so a report made offline, months later,
can say exactly what produced the rows. The name starts with ``_``, which
``pyarrow.dataset`` skips, and it lives in the fingerprint's directory, so ``cache gc``
removes it with the rows.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from hemma_features.arrowfiles.atomic import write_bytes_atomically
from hemma_features.contract import FingerprintInfo

RECORD = "_fingerprint.json"


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
    """Copy the record of ``fingerprint`` from one cache to another (``cache export``),
    when the source has one and the target holds the fingerprint's rows."""
    origin, destination = record_path(source, fingerprint), record_path(target, fingerprint)
    if origin.is_file() and destination.parent.is_dir() and not destination.is_file():
        write_bytes_atomically(destination, origin.read_bytes())
