"""Buffered writers: rows accumulate in memory and are committed as one file per segment.

A segment is committed when it reaches ``segment_bytes`` or when its oldest row has
waited ``commit_seconds``, whichever comes first; a background flusher makes the time
bound hold even while no rows arrive, and in a ``WriteSession`` committer threads write
full segments while the next ones fill (one in flight per partition, three partitions at
once, so memory stays at two segments per partition). So a writer killed with SIGKILL
loses at most its uncommitted segments (rows of the last few seconds), never a committed
row, and a rerun finds exactly those rows missing. Rows whose key is already stored are
dropped on ``add``; the commit checks again under the partition lock and keeps the first
of keys buffered twice, so concurrent writers end with one row per key.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import structlog

from hemma_features.arrowfiles.compaction import TARGET_FILE_BYTES
from hemma_features.arrowfiles.partitions import PartitionedDataset
from hemma_features.contract.schema import KEY_COLUMN

log = structlog.get_logger(__name__)

COMMIT_SECONDS = 5.0
"""Longest a fetched row waits in memory before it is committed to disk."""
COMMIT_THREADS = 3
"""Segments written at once (combined runs fill three partitions); writing, hashing and
fsync release the GIL, so they overlap with fetching."""


class SegmentWriter:
    """Buffers rows for one partition and commits them as segments (thread-safe).

    Args:
        dataset: The dataset root.
        fingerprint: Partition fingerprint.
        feature_set: Partition feature set.
        segment_bytes: Commit once the buffer holds this many bytes.
        commit_seconds: Commit once the oldest buffered row is this old.
        clock: Monotonic clock (tests pass their own).
        committer: Thread that writes full segments while rows keep arriving (at most one
            segment in flight per writer); None: the caller's thread writes them.
    """

    def __init__(
        self,
        dataset: PartitionedDataset,
        fingerprint: str,
        feature_set: str,
        *,
        segment_bytes: int = TARGET_FILE_BYTES,
        commit_seconds: float = COMMIT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        committer: ThreadPoolExecutor | None = None,
    ) -> None:
        self.dataset = dataset
        self.fingerprint = fingerprint
        self.feature_set = feature_set
        self.segment_bytes = segment_bytes
        self.commit_seconds = commit_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._buffer: list[pa.Table] = []
        self._bytes = 0
        self._oldest: float | None = None
        self._committer = committer
        self._pending: Future[int] | None = None
        self.committed = 0
        self.segments = 0

    def add(self, table: pa.Table) -> int:
        """Buffer the rows whose key is not stored yet; commit if due. Returns those rows.

        A key buffered twice is written once: the commit keeps the first of repeated keys.
        """
        if table.num_rows == 0:
            return 0
        stored = self.dataset.index(self.fingerprint, self.feature_set, refresh=False)
        fresh = ~stored.locate(table.column(KEY_COLUMN)).present
        accepted = int(np.count_nonzero(fresh))
        with self._lock:
            if accepted:
                kept = table if accepted == table.num_rows else table.filter(pa.array(fresh))
                self._buffer.append(kept)
                self._bytes += kept.get_total_buffer_size()
                if self._oldest is None:
                    self._oldest = self._clock()
            if self._due():
                self._submit()
        return accepted

    def _due(self) -> bool:
        if not self._buffer:
            return False
        waited = self._clock() - (self._oldest or 0.0)
        return self._bytes >= self.segment_bytes or waited >= self.commit_seconds

    def flush_if_due(self) -> None:
        """Hand the buffer to the committer if it is big or old enough."""
        with self._lock:
            if self._due():
                self._submit()

    def flush(self) -> int:
        """Commit whatever is buffered or in flight, now; rows committed by this call."""
        with self._lock:
            before = self.committed
            self._wait_pending()
            table = self._take_buffer()
            if table is not None:
                self._write(table)
            return self.committed - before

    def _take_buffer(self) -> pa.Table | None:
        if not self._buffer:
            return None
        table = pa.concat_tables(self._buffer, promote_options="none")
        self._buffer = []
        self._bytes = 0
        self._oldest = None
        return table

    def _submit(self) -> None:
        """Commit the buffer: in the committer thread (after the previous segment, whose
        failure is raised here), or in this thread when there is none."""
        table = self._take_buffer()
        if table is None:
            return
        if self._committer is None:
            self._write(table)
            return
        self._wait_pending()
        self._pending = self._committer.submit(self._write, table)

    def _wait_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _write(self, table: pa.Table) -> int:
        written = self.dataset.write(self.fingerprint, self.feature_set, table)
        self.committed += written
        self.segments += 1
        return written


class WriteSession:
    """Segment writers for any number of partitions of one dataset, flushed in the
    background every fraction of ``commit_seconds`` and completely on ``close``."""

    def __init__(
        self,
        dataset: PartitionedDataset,
        *,
        segment_bytes: int = TARGET_FILE_BYTES,
        commit_seconds: float = COMMIT_SECONDS,
    ) -> None:
        self.dataset = dataset
        self.segment_bytes = segment_bytes
        self.commit_seconds = commit_seconds
        self._writers: dict[tuple[str, str], SegmentWriter] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._committer = ThreadPoolExecutor(
            max_workers=COMMIT_THREADS, thread_name_prefix="segment-commit"
        )
        self._flusher = threading.Thread(target=self._flush_loop, name="segment-flush", daemon=True)
        self._flusher.start()

    def writer(self, fingerprint: str, feature_set: str) -> SegmentWriter:
        """The partition's writer (created on first use)."""
        with self._lock:
            key = (fingerprint, feature_set)
            if key not in self._writers:
                self._writers[key] = SegmentWriter(
                    self.dataset,
                    fingerprint,
                    feature_set,
                    segment_bytes=self.segment_bytes,
                    commit_seconds=self.commit_seconds,
                    committer=self._committer,
                )
            return self._writers[key]

    def add(self, fingerprint: str, feature_set: str, table: pa.Table) -> int:
        """Buffer new rows for a partition (see ``SegmentWriter.add``)."""
        if self._error is not None:
            raise self._error
        return self.writer(fingerprint, feature_set).add(table)

    def _writers_now(self) -> list[SegmentWriter]:
        with self._lock:
            return list(self._writers.values())

    def _flush_loop(self) -> None:
        interval = min(max(self.commit_seconds / 4, 0.05), 1.0)
        while not self._stop.wait(interval):
            for writer in self._writers_now():
                try:
                    writer.flush_if_due()
                except Exception as exc:  # a full disk: the next add raises it in the caller
                    log.warning("arrowfiles.flush_failed", error=str(exc))
                    self._error = exc
                    return

    def flush(self) -> int:
        """Commit every writer's buffer now; rows committed."""
        return sum(writer.flush() for writer in self._writers_now())

    def close(self) -> int:
        """Stop the flusher and commit what is left; rows committed."""
        self._stop.set()
        self._flusher.join(timeout=60)
        try:
            return self.flush()
        finally:
            self._committer.shutdown(wait=True)


@contextlib.contextmanager
def write_session(
    dataset: PartitionedDataset,
    *,
    segment_bytes: int = TARGET_FILE_BYTES,
    commit_seconds: float = COMMIT_SECONDS,
) -> Iterator[WriteSession]:
    """A ``WriteSession`` whose buffers are committed when the block ends, however it ends.

    When the block raised, a failure to commit is logged and the block's error goes on.
    """
    session = WriteSession(dataset, segment_bytes=segment_bytes, commit_seconds=commit_seconds)
    try:
        yield session
    except BaseException:
        try:
            session.close()
        except Exception as exc:
            log.warning("arrowfiles.final_flush_failed", error=str(exc))
        raise
    session.close()
