"""The server-side feature store: computed rows kept on disk by fingerprint + content key.

Same layout and safety as the client cache, from the Arrow file layer
(``hemma_features.arrowfiles``: hive partitions of Arrow IPC files, rows in the order they
were computed, atomic writes, one lock per partition, no duplicate keys, tiered
compaction), plus:

- an index kept on disk in the files themselves: each file's memory-mapped key column,
  from which a process builds its sort order and an 8-byte prefix table once
  (``arrowfiles.keyindex``); "which of these keys are stored, and where" then costs one
  probe per key asked, not the store's size. Afterwards the process lists the directory
  only to notice files added or removed by others (another replica, eviction, a merge);
- stored stretches of a request served as zero-copy slices of the memory-mapped files
  where the rows were stored in the order asked (a corpus read back as it was computed);
- a size bound: past ``max_bytes`` the least recently used files are deleted (a hit
  refreshes its file's mtime); evicted rows are simply recomputed next time;
- integrity: only files that still hash to their name (``part-<sha256>.arrow``) are
  indexed; a damaged one is moved aside to ``ROOT/_damaged/`` and its rows are recomputed.

Any replica pointed at the same directory serves what the others stored.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import structlog

from hemma_features.arrowfiles.checksums import touch
from hemma_features.arrowfiles.keyindex import Located
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

    def locate(self, fingerprint: str, feature_set: str, keys: pa.Array | list[str]) -> Located:
        """Where each key is stored; the files that hold hits become most recently used."""
        located = self._files.locate(fingerprint, feature_set, keys)
        for path in located.used_files():
            with contextlib.suppress(FileNotFoundError):
                touch(path)  # least recently used goes first
        return located

    def lookup(self, fingerprint: str, feature_set: str, keys: list[str]) -> pa.Table | None:
        """Stored rows for those of ``keys`` that are present (any order), or None."""
        unique = pc.unique(pa.array(keys, pa.string()))
        return self.locate(fingerprint, feature_set, unique).take()

    def add(self, fingerprint: str, feature_set: str, table: pa.Table) -> int:
        """Store rows whose key is not there yet; evict past the size bound. Rows written."""
        written = self._files.write(fingerprint, feature_set, table.combine_chunks())
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
            total -= size
            removed.append(path)
        if removed:
            log.info("store.evicted", files=len(removed), bytes_now=total)
        return removed


def merge_in_order(keys: list[str], stored: pa.Table | None, computed: pa.Table | None) -> pa.Table:
    """Rows for ``keys`` in that order, from stored and freshly computed rows (with ``key``)."""
    parts = [t for t in (stored, computed) if t is not None and t.num_rows]
    pool = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
    index = pc.index_in(pa.array(keys, pa.string()), value_set=pool.column(KEY_COLUMN))
    if index.null_count:
        missing = int(np.flatnonzero(index.is_null().to_numpy(zero_copy_only=False))[0])
        raise RuntimeError(f"row {missing}: neither stored nor computed (a bug)")
    return pool.take(index)
