"""Where partition files live and how a dataset root says which format it holds.

Layout: ``ROOT/fingerprint=<fp>/feature_set=<fs>/part-<uuid>.arrow`` (Arrow IPC, the
default, memory-mappable) or ``.parquet`` (zstd), chosen once per root and recorded in
``ROOT/_hemma-cache.json``. Names starting with ``_`` or ``.`` are skipped by
``pyarrow.dataset``, so the manifest, locks, journals and temp files never show as data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec

from hemma_features.arrowfiles.atomic import FileFormat

SUFFIXES: dict[str, str] = {"ipc": ".arrow", "parquet": ".parquet"}
MANIFEST = "_hemma-cache.json"
LOCK = ".lock"
JOURNAL = ".journal.json"
LAYOUT_VERSION = 1


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


def new_part_path(directory: Path, file_format: FileFormat) -> Path:
    """A fresh, unique data file name in ``directory``."""
    return directory / f"part-{uuid.uuid4().hex}{SUFFIXES[file_format]}"


def read_manifest(root: Path | str) -> Manifest:
    """The root's manifest; an IPC root when there is none yet."""
    path = Path(root).expanduser() / MANIFEST
    if not path.is_file():
        return Manifest()
    try:
        return msgspec.json.decode(path.read_bytes(), type=Manifest)
    except msgspec.DecodeError as exc:
        raise ManifestError(f"{path} is not a hemma cache manifest: {exc}") from exc
