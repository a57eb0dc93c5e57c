"""Named essay datasets uploaded with ``do_put``: content-addressed Arrow IPC files on disk.

``ROOT/datasets/<sha256>.arrow`` holds ``essay_id, text, prompt`` exactly as uploaded (after
validation); ``ROOT/datasets/<sha256>.keys.arrow`` the rows' content keys in the same order
(so serving a shard of stored features hashes nothing); ``ROOT/datasets/names/<name>.json``
maps a name to its content hash, so a ticket that names a hash keeps meaning the same rows
even when the name is re-uploaded.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from hemma_features.arrowfiles.atomic import write_bytes_atomically
from hemma_features.contract import (
    ID_COLUMN,
    INPUT_SCHEMA,
    KEY_COLUMN,
    DatasetEntry,
    InputRuleError,
    check_input_batch,
    content_key_array,
)
from hemma_features.engine.errors import DatasetNotFoundError

OPEN_DATASETS = 4
"""Datasets kept memory-mapped between requests."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_name(name: str) -> str:
    """Dataset names: 1-128 of letters, digits, '.', '_', '-', not starting with a symbol."""
    if not _NAME.fullmatch(name):
        raise InputRuleError(
            None,
            None,
            f"dataset name {name!r} is not allowed: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    return name


class DatasetStore:
    """Datasets under ``ROOT/datasets``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root) / "datasets"
        self.names = self.root / "names"
        self._open: dict[str, pa.Table] = {}
        self._lock = threading.Lock()

    def put(
        self,
        name: str,
        batches: Iterable[pa.RecordBatch],
        *,
        max_text_chars: int,
        max_items: int,
    ) -> DatasetEntry:
        """Validate and store an upload; an existing name now points at the new content.

        Batches are checked as they come, so an upload past ``max_items`` stops at the
        batch that crosses the limit instead of being held whole first.
        """
        check_name(name)
        rows = 0
        checked = []
        for batch in batches:
            if rows + batch.num_rows > max_items:
                raise InputRuleError(
                    max_items,
                    None,
                    f"dataset has more than the limit of {max_items} rows (HEMMA_MAX_ITEMS)",
                )
            batch = batch.select(INPUT_SCHEMA.names)
            check_input_batch(batch, max_text_chars=max_text_chars, first_row=rows)
            checked.append(batch)
            rows += batch.num_rows
        if rows == 0:
            raise InputRuleError(None, None, "dataset is empty; upload at least one essay")
        table = pa.Table.from_batches(checked).cast(INPUT_SCHEMA)
        _reject_duplicate_ids(table)
        sink = pa.BufferOutputStream()
        with ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        data = sink.getvalue().to_pybytes()
        digest = hashlib.sha256(data).hexdigest()
        self.names.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{digest}.arrow"
        if not path.is_file():  # the bytes that were hashed are the bytes stored
            write_bytes_atomically(path, data)
        self._write_keys(digest, table)
        entry = DatasetEntry(name=name, sha256=digest, rows=rows)
        write_bytes_atomically(self.names / f"{name}.json", msgspec.json.encode(entry))
        return entry

    def entry(self, name: str) -> DatasetEntry:
        """The dataset a name points at."""
        path = self.names / f"{name}.json"
        if not _NAME.fullmatch(name) or not path.is_file():
            raise DatasetNotFoundError(
                f"no dataset named {name!r}; upload it with do_put([{name!r}]) or list_flights"
            )
        return msgspec.json.decode(path.read_bytes(), type=DatasetEntry)

    def entries(self) -> list[DatasetEntry]:
        """Every named dataset, by name."""
        if not self.names.is_dir():
            return []
        return [
            msgspec.json.decode(p.read_bytes(), type=DatasetEntry)
            for p in sorted(self.names.glob("*.json"))
        ]

    def _write_keys(self, sha256: str, table: pa.Table) -> pa.Array:
        keys = content_key_array(table)
        sink = pa.BufferOutputStream()
        keyed = pa.table({KEY_COLUMN: keys})
        with ipc.new_file(sink, keyed.schema) as writer:
            writer.write_table(keyed)
        write_bytes_atomically(self.root / f"{sha256}.keys.arrow", sink.getvalue().to_pybytes())
        return keys

    def _table(self, sha256: str) -> pa.Table:
        """A dataset by content hash, memory-mapped; the last few opened are kept open
        (datasets never change: their name is their hash)."""
        with self._lock:
            table = self._open.get(sha256)
        if table is not None:
            return table
        path = self.root / f"{sha256}.arrow"
        if not re.fullmatch(r"[0-9a-f]{64}", sha256) or not path.is_file():
            raise DatasetNotFoundError(f"no dataset with content hash {sha256!r} on this server")
        with pa.memory_map(str(path)) as source:
            table = ipc.open_file(source).read_all()
        with self._lock:
            self._open[sha256] = table
            while len(self._open) > OPEN_DATASETS:
                self._open.pop(next(iter(self._open)))
        return table

    def keys(self, sha256: str, start: int, stop: int) -> pa.Array:
        """Content keys of rows [start, stop) (kept since upload; made now if missing)."""
        path = self.root / f"{sha256}.keys.arrow"
        keys: pa.Array | pa.ChunkedArray
        try:
            with pa.memory_map(str(path)) as source:
                keys = ipc.open_file(source).read_all().column(KEY_COLUMN)
        except (FileNotFoundError, pa.ArrowInvalid, KeyError):
            keys = self._write_keys(sha256, self._table(sha256))
        if len(keys) < stop:
            raise InputRuleError(
                None, None, f"shard [{start}, {stop}) is outside the dataset's {len(keys)} rows"
            )
        part = keys.slice(start, stop - start)
        return part.combine_chunks() if isinstance(part, pa.ChunkedArray) else part

    def read(self, sha256: str, start: int, stop: int) -> pa.Table:
        """Rows [start, stop) of a dataset by content hash (memory-mapped)."""
        table = self._table(sha256)
        if not 0 <= start <= stop <= table.num_rows:
            raise InputRuleError(
                None,
                None,
                f"shard [{start}, {stop}) is outside the dataset's {table.num_rows} rows",
            )
        return table.slice(start, stop - start)


def _reject_duplicate_ids(table: pa.Table) -> None:
    ids = table.column(ID_COLUMN)
    if pc.count_distinct(ids).as_py() == table.num_rows:
        return
    seen: set[str] = set()
    for row, essay_id in enumerate(ids.to_pylist()):
        if essay_id in seen:
            raise InputRuleError(row, essay_id, "duplicate essay_id in the dataset")
        seen.add(essay_id)
