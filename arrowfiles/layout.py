"""Where partition files live and how a dataset root says which format it holds.

Layout: ``ROOT/fingerprint=<fp>/feature_set=<fs>/part-<sha256>.arrow`` (Arrow IPC, the
default, memory-mappable) or ``.parquet`` (zstd), chosen once per root and recorded in
``ROOT/_hemma-cache.json``. ``<sha256>`` is the checksum of the file's own bytes, so it is
recorded by the same rename that publishes the file; files from before checksums have
other names (``part-<uuid>``) and are "legacy". Damaged files are moved aside to
``ROOT/_damaged/fingerprint=<fp>/feature_set=<fs>/``. Names starting with ``_`` or ``.``
are skipped by ``pyarrow.dataset``, so the manifest, damaged files, locks, journals and
temp files never show as data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import msgspec

from hemma_features.arrowfiles.atomic import FileFormat

SUFFIXES: dict[str, str] = {"ipc": ".arrow", "parquet": ".parquet"}
MANIFEST = "_hemma-cache.json"
LOCK = ".lock"
JOURNAL = ".journal.json"
DAMAGED = "_damaged"
LAYOUT_VERSION = 1
_DIGEST_NAME = re.compile(r"part-([0-9a-f]{64})\.(?:arrow|parquet)")


class ManifestError(ValueError):
    """A dataset root's manifest cannot be read."""


class Manifest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``ROOT/_hemma-cache.json``: how this root stores its files."""

    layout_version: int = LAYOUT_VERSION
    """Version of the directory layout."""
    format: FileFormat = "ipc"
    """File format of every partition file."""


def partition_dir(root: Path | str, fingerprint: str, feature_set: str) -> Path:
    """Directory holding one fingerprint's rows for one feature set."""
    return Path(root).expanduser() / f"fingerprint={fingerprint}" / f"feature_set={feature_set}"


def partitions(root: Path) -> Iterator[tuple[str, str, Path]]:
    """(fingerprint, feature_set, directory) for every partition under ``root``."""
    for fp_dir in sorted(root.glob("fingerprint=*")):
        for fs_dir in sorted(fp_dir.glob("feature_set=*")):
            if fs_dir.is_dir():
                yield fp_dir.name.split("=", 1)[1], fs_dir.name.split("=", 1)[1], fs_dir


def part_files(directory: Path, file_format: FileFormat) -> list[Path]:
    """The partition's data files, by name."""
    return sorted(directory.glob(f"part-*{SUFFIXES[file_format]}"))


def part_path(directory: Path, digest: str, file_format: FileFormat) -> Path:
    """The data file in ``directory`` whose bytes hash to ``digest`` (sha256 hex)."""
    return directory / f"part-{digest}{SUFFIXES[file_format]}"


def recorded_digest(path: Path) -> str | None:
    """The sha256 a data file's name records, or None for a legacy (pre-checksum) name."""
    match = _DIGEST_NAME.fullmatch(path.name)
    return match.group(1) if match else None


def file_format_of(path: Path) -> FileFormat:
    """A data file's format, from its suffix."""
    return "parquet" if path.suffix == SUFFIXES["parquet"] else "ipc"


def damaged_dir(directory: Path) -> Path:
    """Where damaged files of the partition ``directory`` are moved aside."""
    return directory.parent.parent / DAMAGED / directory.parent.name / directory.name


def read_manifest(root: Path | str) -> Manifest:
    """The root's manifest; an IPC root when there is none yet."""
    path = Path(root).expanduser() / MANIFEST
    if not path.is_file():
        return Manifest()
    try:
        return msgspec.json.decode(path.read_bytes(), type=Manifest)
    except msgspec.DecodeError as exc:
        raise ManifestError(f"{path} is not a hemma cache manifest: {exc}") from exc
