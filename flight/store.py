"""The server-side feature store: computed rows kept on disk by fingerprint + content key.

Same layout and safety as the client cache, from the Arrow file layer
(``hemma_features.arrowfiles``: hive partitions of Arrow IPC files, atomic writes, one lock
per partition, no duplicate keys), plus:

- an in-memory index key -> (file, row), built once per immutable file, so a lookup reads
  only the files that hold hits (memory-mapped);
- a size bound: past ``max_bytes`` the least recently used files are deleted (a hit
  refreshes its file's mtime); evicted rows are simply recomputed next time;
- integrity: only files that still hash to their name (``part-<sha256>.arrow``) are
  indexed; a damaged one is moved aside to ``ROOT/_damaged/`` and its rows are recomputed.

Any replica pointed at the same directory serves what the others stored.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import structlog

from hemma_features.arrowfiles.checksums import touch
from hemma_features.arrowfiles.damaged import healthy_files, move_aside
from hemma_features.arrowfiles.layout import partition_dir
from hemma_features.arrowfiles.partitions import PartitionedDataset
from hemma_features.contract import KEY_COLUMN

log = structlog.get_logger(__name__)


class FeatureStore:
    """Rows computed by the server, shared by concurrent requests and replicas.

    Args:
        root: Store directory.
        max_bytes: Size bound of all partition files together.
    """

    def __init__(self, root: Path | str, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._files = PartitionedDataset(self.root, "ipc")
        self._file_keys: dict[Path, list[str]] = {}
        self._lock = threading.Lock()

    def _index(self, fingerprint: str, feature_set: str) -> dict[str, tuple[Path, int]]:
        directory = partition_dir(self.root, fingerprint, feature_set)
        index: dict[str, tuple[Path, int]] = {}
        if not directory.is_dir():
            return index
        # Verified (hashed once per process and file): a damaged file is moved aside here,
        # so its keys are not indexed and its rows are recomputed.
        for path in healthy_files(directory, "ipc"):
            keys = self._keys_of(path)
            for row, key in enumerate(keys):
                index.setdefault(key, (path, row))
        return index

    def _keys_of(self, path: Path) -> list[str]:
        with self._lock:
            known = self._file_keys.get(path)
        if known is None:
            table = _read(path)
            if table is None:
                return []
            known = table.column(KEY_COLUMN).to_pylist()
            with self._lock:
                self._file_keys[path] = known
        return known

    def lookup(self, fingerprint: str, feature_set: str, keys: list[str]) -> pa.Table | None:
        """Stored rows for those of ``keys`` that are present (any order), or None."""
        index = self._index(fingerprint, feature_set)
        by_file: dict[Path, list[int]] = {}
        for key in dict.fromkeys(keys):
            hit = index.get(key)
            if hit is not None:
                by_file.setdefault(hit[0], []).append(hit[1])
        parts = []
        for path, rows in by_file.items():
            table = _read(path)
            if table is None:
                continue  # those rows are recomputed
            parts.append(table.take(pa.array(rows, pa.int64())))
            touch(path)  # least recently used goes first
        if not parts:
            return None
        return pa.concat_tables(parts, promote_options="none")

    def add(self, fingerprint: str, feature_set: str, table: pa.Table) -> int:
        """Store rows whose key is not there yet; evict past the size bound. Rows written."""
        written = self._files.write(
            fingerprint,
            feature_set,
            table.combine_chunks(),
            known=lambda: self._index(fingerprint, feature_set),
        )
        if written:
            self.evict()
        return written

    def size(self) -> int:
        """Bytes of all partition files."""
        return sum(p.stat().st_size for p in self.root.glob("fingerprint=*/feature_set=*/part-*"))

    def evict(self) -> list[Path]:
        """Delete least recently used files until the store fits ``max_bytes``."""
        files = []
        for path in self.root.glob("fingerprint=*/feature_set=*/part-*.arrow"):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            files.append((stat.st_mtime_ns, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        removed = []
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            with self._lock:
                self._file_keys.pop(path, None)
            total -= size
            removed.append(path)
        if removed:
            log.info("store.evicted", files=len(removed), bytes_now=total)
        return removed


def _read(path: Path) -> pa.Table | None:
    """A stored file, memory-mapped; None when it was evicted meanwhile, or damaged since it
    was verified (then it is moved aside)."""
    try:
        with pa.memory_map(str(path)) as source:
            return ipc.open_file(source).read_all()
    except FileNotFoundError:
        return None
    except (pa.ArrowInvalid, OSError) as exc:
        move_aside(path, f"unreadable: {exc}")
        return None


def merge_in_order(keys: list[str], stored: pa.Table | None, computed: pa.Table | None) -> pa.Table:
    """Rows for ``keys`` in that order, from stored and freshly computed rows (with ``key``)."""
    parts = [t for t in (stored, computed) if t is not None and t.num_rows]
    pool = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
    index = pc.index_in(pa.array(keys, pa.string()), value_set=pool.column(KEY_COLUMN))
    if index.null_count:
        missing = int(np.flatnonzero(index.is_null().to_numpy(zero_copy_only=False))[0])
        raise RuntimeError(f"row {missing}: neither stored nor computed (a bug)")
    return pool.take(index)
