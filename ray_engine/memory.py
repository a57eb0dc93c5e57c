"""What the cluster computed at the last run into a cache, remembered in that cache.

Asking the cluster what it computes (``info.describe``) loads a runtime on it: 15 to 50 s
a run. A run into a cache remembers the answer there, under
``CACHE/_ray_engine/<key>.json``, keyed by everything the answer depends on that the
driver knows: the settings, the cluster's address, the GPUs per actor and the versions of
this package and of Ray. A rerun with the same key takes the fingerprint and schemas from
there: it joins the cluster only when something is missing from the cache (a rerun whose
rows are all cached answers without it), and its actors pin the remembered fingerprint.
When the cluster changed since (another library, model or kernel class on its hosts),
those actors refuse to start; the run stops, the memory is forgotten, and the rerun asks
the cluster again.

The name starts with ``_``, which the cache's readers skip; ``cache gc`` leaves it (it
names no rows).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from pathlib import Path

import msgspec

from hemma_features import __version__
from hemma_features.arrowfiles.atomic import write_bytes_atomically
from hemma_features.engine.settings import Settings
from hemma_features.logs import library_logger
from hemma_features.ray_engine.info import EngineInfo

log = library_logger(__name__)

DIRECTORY = "_ray_engine"
VERSION = 1


class Remembered(msgspec.Struct, frozen=True, kw_only=True):
    """One remembered answer, with what it was keyed by (to read, not to trust: the key
    is the file's name)."""

    version: int
    keyed_by: dict[str, object]
    info: EngineInfo


def key_material(
    settings: Settings,
    address: str | None,
    num_gpus: float,
    ray_version: str,
    resources: Mapping[str, float] | None = None,
) -> dict[str, object]:
    """Everything the cluster's answer depends on that the driver knows."""
    return {
        "settings": settings.flat(),
        "address": address or "local",
        "num_gpus": num_gpus,
        "resources": dict(sorted((resources or {}).items())),
        "hemma_features": __version__,
        "ray": ray_version,
    }


class RunMemory:
    """The remembered answer for one key in one cache.

    Args:
        cache: The run's cache directory.
        material: ``key_material(...)``.
    """

    def __init__(self, cache: Path | str, material: dict[str, object]) -> None:
        self.material = material
        digest = hashlib.sha256(msgspec.json.encode(material, order="sorted")).hexdigest()
        self.path = Path(cache).expanduser() / DIRECTORY / f"{digest[:32]}.json"

    def read(self) -> EngineInfo | None:
        """The remembered answer, or None (none yet, or one that no longer decodes)."""
        try:
            found = msgspec.json.decode(self.path.read_bytes(), type=Remembered)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return None
        return found.info if found.version == VERSION else None

    def write(self, info: EngineInfo) -> None:
        """Remember ``info`` (a failure to write only costs the next run a question)."""
        data = msgspec.json.encode(
            Remembered(version=VERSION, keyed_by=self.material, info=info), order="sorted"
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomically(self.path, data)
        except OSError as exc:
            log.warning("ray.memory_not_written", path=str(self.path), error=str(exc))

    def forget(self) -> None:
        """Drop the answer (the cluster computes something else now)."""
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)
