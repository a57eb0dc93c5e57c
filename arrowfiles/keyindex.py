"""Which keys a partition holds, and where: an index that costs the batch, not the partition.

A data file's own key column is its index: loading it is a memory-mapped view of that
column as fixed-width bytes (no copy when all keys have one length, as content keys do)
plus its sort order, computed once per process and file; finding a batch of keys is then
a binary search per file. Rows stay in the order they arrived (a corpus's rows come back
as runs of consecutive stored rows), so ``Located.pieces`` can answer them with zero-copy
slices of the memory-mapped file.

A ``PartitionIndex`` loads each file once per process and afterwards only notices files
that appeared (written by another writer) or vanished (compacted, evicted) since it last
looked: one directory listing, never a rescan of rows already known. ``IndexStats``
counts the rows and files it loaded, so tests can check that a write reads nothing but
what is new.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from hemma_features.arrowfiles.atomic import FileFormat
from hemma_features.arrowfiles.checksums import verify_file
from hemma_features.arrowfiles.damaged import move_aside
from hemma_features.arrowfiles.layout import part_files
from hemma_features.contract.schema import KEY_COLUMN


def fixed_width(keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Keys as a numpy ``S<width>`` array (zero-copy when every key has the same length).

    Raises ValueError for null keys: a key column never holds one.
    """
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks() if keys.num_chunks != 1 else keys.chunk(0)
    if keys.null_count:
        raise ValueError("a key column holds nulls")
    if len(keys) == 0:
        return np.empty(0, dtype="S1")
    if not pa.types.is_large_string(keys.type):
        keys = keys.cast(pa.string())
    offset_type = np.int64 if pa.types.is_large_string(keys.type) else np.int32
    buffers = keys.buffers()
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[
        keys.offset : keys.offset + len(keys) + 1
    ]
    lengths = np.diff(offsets)
    width = int(lengths.max())
    if width > 0 and int(lengths.min()) == width:
        return np.frombuffer(buffers[2], dtype=f"S{width}", count=len(keys), offset=int(offsets[0]))
    return np.array([key.encode() for key in keys.to_pylist()], dtype=f"S{max(width, 1)}")


def prefixes(keys: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each fixed-width key as a big-endian uint64: ordered like the
    keys themselves (bytewise), and an 8-byte compare instead of a 64-byte one."""
    if keys.dtype.itemsize < 8:
        keys = keys.astype("S8")
    head = np.ascontiguousarray(keys.view(np.uint8).reshape(-1, keys.dtype.itemsize)[:, :8])
    return head.view(">u8").ravel().astype(np.uint64)


def _positions(
    sorted_keys: np.ndarray, sorted_prefixes: np.ndarray, query: np.ndarray
) -> np.ndarray:
    """For each query key, its position in ``sorted_keys``, or -1 when absent.

    A binary search on the 8-byte prefixes, the full key compared at the candidate; a
    query whose prefix is shared by several stored keys is searched again on full keys.
    """
    found = np.full(query.shape[0], -1, dtype=np.int64)
    if sorted_keys.shape[0] == 0 or query.shape[0] == 0:
        return found
    width = sorted_keys.dtype.itemsize
    fits = np.ones(query.shape[0], dtype=bool)
    if query.dtype.itemsize > width:  # a longer key cannot be stored here; never truncate it
        fits = np.char.str_len(query) <= width
    candidates = np.flatnonzero(fits)
    probe = query[candidates].astype(sorted_keys.dtype)
    probe_prefix = prefixes(probe)
    last = sorted_keys.shape[0] - 1
    where = np.minimum(np.searchsorted(sorted_prefixes, probe_prefix), last)
    hit = sorted_keys[where] == probe
    again = np.flatnonzero(~hit & (sorted_prefixes[where] == probe_prefix))
    if again.size:  # several keys share this prefix: search those queries on full keys
        retry = np.minimum(np.searchsorted(sorted_keys, probe[again]), last)
        where[again] = retry
        hit[again] = sorted_keys[retry] == probe[again]
    found[candidates[hit]] = where[hit]
    return found


MIN_SLICE_ROWS = 32
"""Shortest run of consecutive stored rows served as a slice rather than gathered."""


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


class FileKeys:
    """One data file's rows (memory-mapped for IPC) and its keys in row order (a view of
    the key column), plus, on first need, in sorted order."""

    def __init__(self, path: Path, table: pa.Table | None, file_format: FileFormat) -> None:
        self.path = path
        self.format = file_format
        self._table = table
        self._batches: list[pa.RecordBatch] = []
        self._starts: np.ndarray | None = None
        self.stamp = _stamp(path)
        keys = fixed_width(
            table.column(KEY_COLUMN)
            if table is not None
            else pq.read_table(path, columns=[KEY_COLUMN]).column(KEY_COLUMN)
        )
        self.rows = int(keys.shape[0])
        self.row_keys = keys
        self.base = -1  # first global id of this file's rows in its partition's prefix table
        self._sorted: tuple[np.ndarray, np.ndarray | None, np.ndarray] | None = None

    def sorted_keys(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(keys in sorted order, the row of each or None when the file is sorted, their
        prefixes), computed on first use: only keys sharing a prefix need them."""
        if self._sorted is None:
            keys = self.row_keys
            order: np.ndarray | None = None
            if self.rows > 1 and not bool(np.all(keys[:-1] <= keys[1:])):
                order = np.argsort(keys, kind="stable")
                keys = keys[order]
            self._sorted = (keys, order, prefixes(keys))
        return self._sorted

    @classmethod
    def load(cls, path: Path, file_format: FileFormat) -> FileKeys:
        """Index a file; IPC files stay memory-mapped, Parquet files are read when used."""
        if file_format == "ipc":
            with pa.memory_map(str(path)) as source:
                return cls(path, ipc.open_file(source).read_all(), file_format)
        return cls(path, None, file_format)

    def table(self) -> pa.Table:
        """All rows of the file (memory-mapped for IPC; read in full for Parquet)."""
        if self._table is not None:
            return self._table
        return pq.read_table(self.path)

    def batches(self) -> tuple[list[pa.RecordBatch], np.ndarray]:
        """The file's record batches and the row at which each starts (kept for IPC)."""
        if self._starts is not None:
            return self._batches, self._starts
        batches = self.table().to_batches()
        starts = np.cumsum([0] + [batch.num_rows for batch in batches])
        if self._table is not None:  # memory-mapped: worth keeping
            self._batches, self._starts = batches, starts
        return batches, starts

    def take_rows(self, rows: np.ndarray) -> list[pa.RecordBatch]:
        """Rows at ascending positions ``rows``, taken record batch by record batch (a
        take across a many-chunk table would first concatenate it)."""
        batches, starts = self.batches()
        out = []
        cuts = np.searchsorted(rows, starts)
        for number, batch in enumerate(batches):
            local = rows[cuts[number] : cuts[number + 1]] - starts[number]
            if local.size == batch.num_rows:
                out.append(batch)
            elif local.size:
                out.append(batch.take(pa.array(local)))
        return out

    def rows_of(self, query: np.ndarray) -> np.ndarray:
        """For each query key, its row in this file, or -1."""
        keys, order, heads = self.sorted_keys()
        where = _positions(keys, heads, query)
        if order is None:
            return where
        hit = where >= 0
        where[hit] = order[where[hit]]
        return where


@dataclass
class IndexStats:
    """What a ``PartitionIndex`` has read so far (for tests and benchmarks)."""

    files_loaded: int = 0
    rows_loaded: int = 0
    refreshes: int = 0


@dataclass
class Located:
    """Where each of a batch of keys is stored: ``file[i]`` is an index into ``files`` or
    -1 (absent), ``row[i]`` the row in that file."""

    files: list[FileKeys]
    file: np.ndarray
    row: np.ndarray
    _hits: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self._hits = self.file >= 0

    @property
    def present(self) -> np.ndarray:
        """Boolean mask: is the key stored."""
        return self._hits

    def take(self, which: np.ndarray | None = None, *, ordered: bool = True) -> pa.Table | None:
        """Stored rows of the keys at positions ``which`` (default: all present ones);
        None when none of them is stored. Absent positions are skipped.

        ``ordered``: in the order of ``which``, each numeric column gathered straight into
        place (one copy); otherwise in storage order (each file's rows in one ascending
        pass, record batch by record batch).
        """
        positions = np.flatnonzero(self._hits) if which is None else which[self._hits[which]]
        if positions.size == 0:
            return None
        files = self.file[positions]
        rows = self.row[positions]
        if not ordered:
            order = np.lexsort((rows, files))  # by file, then row
            pieces: list[pa.RecordBatch] = []
            sorted_files, sorted_rows = files[order], rows[order]
            bounds = np.flatnonzero(np.diff(sorted_files)) + 1
            for chunk_files, chunk_rows in zip(
                np.split(sorted_files, bounds), np.split(sorted_rows, bounds), strict=True
            ):
                pieces.extend(self.files[int(chunk_files[0])].take_rows(chunk_rows))
            return pa.Table.from_batches(pieces)
        groups: list[tuple[pa.RecordBatch, np.ndarray, np.ndarray]] = []
        for number in np.unique(files):
            chosen = np.flatnonzero(files == number)
            batches, starts = self.files[int(number)].batches()
            batch_of = np.searchsorted(starts, rows[chosen], side="right") - 1
            for batch_number in np.unique(batch_of):
                mine = batch_of == batch_number
                local = rows[chosen[mine]] - starts[batch_number]
                groups.append((batches[batch_number], local, chosen[mine]))
        schema = groups[0][0].schema
        columns = [_gather(i, field, groups, positions.size) for i, field in enumerate(schema)]
        return pa.Table.from_arrays(columns, schema=schema)

    def pieces(self, which: np.ndarray) -> list[pa.Table]:
        """Stored rows at positions ``which`` (all present), in that order, as a few tables:
        zero-copy slices of the stored record batches wherever consecutive positions are
        consecutive stored rows, gathered copies for the rest."""
        files, rows = self.file[which], self.row[which]
        if which.size == 0 or (files < 0).any():
            raise ValueError("pieces: every position must be stored")
        batch_of = np.empty_like(rows)
        local = np.empty_like(rows)
        for number in np.unique(files):
            chosen = np.flatnonzero(files == number)
            _, starts = self.files[int(number)].batches()
            batch_of[chosen] = np.searchsorted(starts, rows[chosen], side="right") - 1
            local[chosen] = rows[chosen] - starts[batch_of[chosen]]
        breaks = np.flatnonzero(
            (files[1:] != files[:-1])
            | (batch_of[1:] != batch_of[:-1])
            | (local[1:] != local[:-1] + 1)
        )
        if breaks.size * MIN_SLICE_ROWS > which.size:  # scattered: one gather is cheaper
            gathered = self.take(which)
            assert gathered is not None
            return [gathered]
        bounds = [0, *(breaks + 1).tolist(), int(which.size)]
        out: list[pa.Table] = []
        scattered_from: int | None = None
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            if stop - start < MIN_SLICE_ROWS:
                scattered_from = start if scattered_from is None else scattered_from
                continue
            if scattered_from is not None:
                out.append(self.take(which[scattered_from:start]))  # type: ignore[arg-type]
                scattered_from = None
            batches, _ = self.files[int(files[start])].batches()
            run = batches[int(batch_of[start])].slice(int(local[start]), stop - start)
            out.append(pa.Table.from_batches([run]))
        if scattered_from is not None:
            out.append(self.take(which[scattered_from:]))  # type: ignore[arg-type]
        return out

    def used_files(self) -> list[Path]:
        """Files that hold at least one of the keys."""
        return [self.files[i].path for i in np.unique(self.file[self._hits])]


def _numeric_view(column: pa.Array, field: pa.Field) -> np.ndarray | None:
    """A null-free numeric column (or fixed-size list of numbers) as a 2-D numpy view."""
    values, width = column, 1
    if pa.types.is_fixed_size_list(field.type):
        values, width = column.flatten(), field.type.list_size
    if column.null_count or values.null_count:
        return None
    if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
        return None
    return values.to_numpy(zero_copy_only=True).reshape(-1, width)


def _gather(
    index: int,
    field: pa.Field,
    groups: list[tuple[pa.RecordBatch, np.ndarray, np.ndarray]],
    rows: int,
) -> pa.Array:
    """Column ``index`` of the rows ``groups`` name ((batch, its rows, their output
    positions)), in output order."""
    views = [_numeric_view(batch.column(index), field) for batch, _, _ in groups]
    if all(view is not None for view in views):
        first = views[0]
        assert first is not None
        out = np.empty((rows, first.shape[1]), dtype=first.dtype)
        for view, (_, local, dest) in zip(views, groups, strict=True):
            out[dest] = view[local]  # type: ignore[index]
        if pa.types.is_fixed_size_list(field.type):
            return pa.FixedSizeListArray.from_arrays(pa.array(out.reshape(-1)), type=field.type)
        return pa.array(out[:, 0], type=field.type)
    taken = pa.concat_arrays(
        [batch.column(index).take(pa.array(local)) for batch, local, _ in groups]
    )
    back = np.empty(rows, dtype=np.int64)
    back[np.concatenate([dest for _, _, dest in groups])] = np.arange(rows)
    return taken.take(pa.array(back))


AMBIGUOUS = -2
"""Prefix-table value of a prefix that more than one stored key shares."""


class PrefixTable:
    """8-byte key prefix -> global row id across a partition's files: a lookup costs the
    keys asked, not the number of files (a dict probe per key, then one vectorised compare
    of the full keys). A prefix shared by several stored keys is ``AMBIGUOUS``; those few
    queries fall back to a binary search in every file."""

    def __init__(self) -> None:
        self._ids: dict[int, int] = {}
        self._next = 0

    def register(self, file: FileKeys) -> None:
        file.base = self._next
        self._next += file.rows
        heads = prefixes(file.row_keys) if file.rows else np.empty(0, np.uint64)
        values, first, counts = np.unique(heads, return_index=True, return_counts=True)
        fresh = dict(zip(values.tolist(), (first + file.base).tolist(), strict=True))
        for shared in values[counts > 1].tolist():
            fresh[shared] = AMBIGUOUS
        clashes = fresh.keys() & self._ids.keys()
        self._ids.update(fresh)
        for shared in clashes:
            self._ids[shared] = AMBIGUOUS

    def unregister(self, file: FileKeys) -> None:
        low, high = file.base, file.base + file.rows
        ids = self._ids
        for head in prefixes(file.row_keys).tolist() if file.rows else []:
            value = ids.get(head)
            if value is not None and low <= value < high:
                del ids[head]

    def lookup(self, query: np.ndarray) -> np.ndarray:
        """Global id, -1 (absent) or ``AMBIGUOUS`` for each query key's prefix."""
        heads = prefixes(query).tolist()
        found = map(self._ids.get, heads, itertools.repeat(-1, len(heads)))  # C-level loop
        return np.fromiter(found, dtype=np.int64, count=len(heads))


class PartitionIndex:
    """The keys of one partition directory, kept current by directory listings.

    Thread-safe: lookups use a snapshot of the loaded files; ``refresh`` swaps it.
    """

    def __init__(self, directory: Path, file_format: FileFormat) -> None:
        self.directory = directory
        self.format = file_format
        self.stats = IndexStats()
        self._files: dict[str, FileKeys] = {}
        self._prefixes = PrefixTable()
        self._lock = threading.Lock()

    def _set_files(self, files: dict[str, FileKeys]) -> None:
        """Swap the loaded files, keeping the prefix table in step (lock held)."""
        for name, old in self._files.items():
            if files.get(name) is not old:
                self._prefixes.unregister(old)
        for name, new in files.items():
            if self._files.get(name) is not new:
                self._prefixes.register(new)
        self._files = files

    def refresh(self) -> None:
        """Load files new since the last look (verified first); forget vanished ones.

        A file that fails its checksum or cannot be read is moved aside, so its rows count
        as missing. Files already loaded are not read again.
        """
        with self._lock:
            self.stats.refreshes += 1
            current = part_files(self.directory, self.format) if self.directory.is_dir() else []
            files = {}
            for path in current:
                known = self._files.get(path.name)
                if known is not None and self._unchanged(known):
                    files[path.name] = known
                    continue
                loaded = self._load(path)
                if loaded is not None:
                    files[path.name] = loaded
            self._set_files(files)

    @staticmethod
    def _unchanged(known: FileKeys) -> bool:
        """Still the file that was loaded: same size and mtime, or (touched, by the LRU of
        a store) still hashing to its name."""
        try:
            stamp = _stamp(known.path)
            if stamp == known.stamp:
                return True
            if verify_file(known.path) is None:
                known.stamp = stamp
                return True
        except FileNotFoundError:
            return False
        return False  # damaged in place: reloading it moves it aside

    def _load(self, path: Path) -> FileKeys | None:
        try:
            problem = verify_file(path)
            if problem is None:
                loaded = FileKeys.load(path, self.format)
                self.stats.files_loaded += 1
                self.stats.rows_loaded += loaded.rows
                return loaded
        except FileNotFoundError:  # compacted or evicted meanwhile
            return None
        except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
            problem = f"unreadable: {exc}"
        move_aside(path, problem)
        return None

    def add(self, path: Path) -> None:
        """Index a file this process has just committed (no checksum: we wrote it)."""
        loaded = FileKeys.load(path, self.format)
        with self._lock:
            self._set_files({**self._files, path.name: loaded})

    def forget(self, names: set[str]) -> None:
        """Drop files this process has just removed."""
        with self._lock:
            self._set_files({n: k for n, k in self._files.items() if n not in names})

    def files(self) -> list[FileKeys]:
        """The loaded files, by name (a snapshot)."""
        with self._lock:
            return [self._files[name] for name in sorted(self._files)]

    def locate(self, keys: pa.Array | pa.ChunkedArray | np.ndarray) -> Located:
        """Where each of ``keys`` is stored, in the files loaded so far.

        Keys asked in the order they were stored (a corpus read back) are followed as runs:
        one probe, then one vectorised compare of the file's next keys. The rest cost one
        prefix probe each.
        """
        query = keys if isinstance(keys, np.ndarray) else fixed_width(keys)
        file = np.full(query.shape[0], -1, dtype=np.int64)
        row = np.full(query.shape[0], -1, dtype=np.int64)
        with self._lock:
            files = [self._files[name] for name in sorted(self._files)]
            if not files:
                return Located(files, file, row)
            bases = np.array([f.base for f in files], dtype=np.int64)
            by_base = np.argsort(bases)
            start = self._follow_runs(query, files, bases, by_base, file, row)
            rest = np.arange(start, query.shape[0])
            ids = self._prefixes.lookup(query[rest]) if rest.size else np.empty(0, np.int64)
        found = rest[ids >= 0]
        found_ids = ids[ids >= 0]
        slot = by_base[np.searchsorted(bases[by_base], found_ids, side="right") - 1]
        rows_in = found_ids - bases[slot]
        for number in np.unique(slot):
            mine = slot == number
            asked, at = found[mine], rows_in[mine]
            same = files[int(number)].row_keys[at] == query[asked]  # the full key, not a prefix
            file[asked[same]] = number
            row[asked[same]] = at[same]
        unsure = rest[ids == AMBIGUOUS]
        for number, keys_of_file in enumerate(files):  # the rare shared prefixes
            todo = unsure[file[unsure] < 0]
            if todo.size == 0:
                break
            hit_rows = keys_of_file.rows_of(query[todo])
            hit = hit_rows >= 0
            file[todo[hit]] = number
            row[todo[hit]] = hit_rows[hit]
        return Located(files, file, row)

    def _follow_runs(
        self,
        query: np.ndarray,
        files: list[FileKeys],
        bases: np.ndarray,
        by_base: np.ndarray,
        file: np.ndarray,
        row: np.ndarray,
    ) -> int:
        """Resolve leading positions that are runs of consecutively stored keys (lock held);
        returns the first position left to probe key by key."""
        at = 0
        while at < query.shape[0]:
            [first] = self._prefixes.lookup(query[at : at + 1])
            if first < 0:
                return at
            slot = int(by_base[np.searchsorted(bases[by_base], first, side="right") - 1])
            stored_row = int(first - bases[slot])
            keys_of_file = files[slot].row_keys
            span = min(query.shape[0] - at, keys_of_file.shape[0] - stored_row)
            same = keys_of_file[stored_row : stored_row + span] == query[at : at + span]
            length = span if bool(same.all()) else int(np.argmin(same))
            if length < MIN_SLICE_ROWS:
                return at  # not a run worth following: probe the rest key by key
            file[at : at + length] = slot
            row[at : at + length] = np.arange(stored_row, stored_row + length)
            at += length
        return at
