"""Keep damaged data files out of every read: verify, and move the damaged ones aside.

A file that fails ``checksums.verify_file`` is moved, under its partition's lock, to
``ROOT/_damaged/fingerprint=<fp>/feature_set=<fs>/`` (kept for inspection; ``_`` hides it
from ``pyarrow.dataset``) and logged. Its rows are then simply missing, so the client
refetches them and the server recomputes them.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import structlog

from hemma_features.arrowfiles.atomic import FileFormat, fsync_dir
from hemma_features.arrowfiles.checksums import forget, verify_file
from hemma_features.arrowfiles.layout import damaged_dir, part_files
from hemma_features.arrowfiles.lock import partition_lock

log = structlog.get_logger(__name__)


def healthy_files(directory: Path, file_format: FileFormat) -> list[Path]:
    """The partition's data files that verify, by name; damaged ones are moved aside."""
    healthy = []
    for path in part_files(directory, file_format):
        try:
            problem = verify_file(path)
        except FileNotFoundError:  # compacted or evicted meanwhile
            continue
        if problem is None:
            healthy.append(path)
        else:
            move_aside(path, problem)
    return healthy


def move_aside(path: Path, problem: str) -> Path | None:
    """Move a damaged data file out of its partition (lock taken); returns where it went.

    None when it is gone already, turned out intact under the lock, or cannot be moved (a
    read-only cache): then it stays, and callers skip it all the same.
    """
    directory = path.parent
    try:
        with partition_lock(directory):
            # Re-check under the lock: another process may have moved it, or replaced it
            # with an intact file of the same name (same rows, same bytes, same digest).
            try:
                if verify_file(path) is None:
                    return None
            except FileNotFoundError:
                return None
            target_dir = damaged_dir(directory)
            target_dir.mkdir(parents=True, exist_ok=True)
            target = target_dir / path.name
            if target.exists():  # the same file was damaged before
                target = target_dir / f"{path.stem}.{uuid.uuid4().hex[:8]}{path.suffix}"
            os.replace(path, target)
            fsync_dir(directory)
            fsync_dir(target_dir)
    except OSError as exc:
        log.warning("arrowfiles.damaged_file_kept", path=str(path), problem=problem, error=str(exc))
        return None
    forget(path)
    log.warning("arrowfiles.damaged_file_moved", path=str(path), problem=problem, to=str(target))
    return target
