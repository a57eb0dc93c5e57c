"""``FeatureClient``: ask the control plane, stream essays over Flight, fill the cache.

The client never parses, embeds or grammar-checks: it sends only what its cache lacks
and returns the server's rows aligned with the input order.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as fl
import structlog

from client.cache import FeatureCache
from client.errors import (
    FingerprintChangedError,
    HemmaClientError,
    ProtocolError,
    ServerRejectedError,
    ServerUnavailableError,
)
from client.inputs import Columns, check_duplicate_ids, read_table
from flight.contract import (
    ID_COLUMN,
    INPUT_SCHEMA,
    KEY_COLUMN,
    PROMPT_COLUMN,
    TEXT_COLUMN,
    ExtractCommand,
    FeatureSet,
    FingerprintInfo,
    ServerConfig,
    check_input_batch,
    content_keys,
    encode_command,
    schema_fingerprint,
)
from flight.errors import FlightInvalidArgumentError

log = structlog.get_logger(__name__)

FLIGHT_URL_ENV = "HEMMA_FLIGHT_URL"
Progress = Callable[[int], None]


class ExtractReport(msgspec.Struct, kw_only=True):
    """What one ``extract`` call did."""

    fingerprint: str
    """Server fingerprint the rows belong to."""
    feature_set: str
    """Feature set requested."""
    rows_requested: int
    """Input rows."""
    unique_essays: int
    """Distinct content keys among the input rows."""
    cache_hits: int
    """Distinct essays already in the cache."""
    rows_fetched: int
    """Distinct essays computed by the server in this call."""
    bytes_received: int
    """Arrow bytes received from the server."""
    seconds: float
    """Wall time of the call."""
    essays_per_second: float
    """rows_fetched / time spent talking to the server (0 when nothing was fetched)."""


class FeatureClient:
    """Client of one feature server (both planes).

    Args:
        server: Control-plane URL, e.g. ``http://127.0.0.1:9000`` (or a tunnel's port).
        flight: Data-plane location (``grpc://host:port``) overriding the advertised one;
            defaults to ``$HEMMA_FLIGHT_URL``, else the server host with the advertised port.
        timeout: Seconds for control-plane calls.
        chunk_rows: Essays per Flight batch.
    """

    def __init__(
        self,
        server: str = "http://127.0.0.1:9000",
        *,
        flight: str | None = None,
        timeout: float = 30.0,
        chunk_rows: int = 64,
    ) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, given: {chunk_rows}")
        self.server = server.rstrip("/")
        self._flight_override = flight or os.environ.get(FLIGHT_URL_ENV) or None
        self._http = httpx.Client(base_url=self.server, timeout=httpx.Timeout(timeout, connect=5.0))
        self.chunk_rows = chunk_rows
        self.last_report: ExtractReport | None = None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> FeatureClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- control plane ----------------------------------------------------------------
    def _get(self, path: str, kind: Any) -> Any:
        try:
            response = self._http.get(path, headers={"x-correlation-id": uuid.uuid4().hex})
        except httpx.HTTPError as exc:
            raise ServerUnavailableError(self.server, repr(exc)) from exc
        if response.status_code != 200:
            raise ServerRejectedError(
                f"GET {self.server}{path} returned {response.status_code}: {response.text[:500]}"
            )
        return msgspec.json.decode(response.content, type=kind)

    def fingerprint(self) -> FingerprintInfo:
        """The server's fingerprint and its components."""
        return self._get("/v1/fingerprint", FingerprintInfo)

    def config(self) -> ServerConfig:
        """The server's effective settings, Flight port and limits."""
        return self._get("/v1/config", ServerConfig)

    def health(self) -> dict[str, Any]:
        """``/healthz`` and ``/readyz`` answers (readyz may hold the reasons it is not ready)."""
        live = self._get("/healthz", dict[str, Any])
        try:
            response = self._http.get("/readyz")
        except httpx.HTTPError as exc:
            raise ServerUnavailableError(self.server, repr(exc)) from exc
        return {"live": live, "ready": response.status_code == 200, "readiness": response.json()}

    def flight_location(self, config: ServerConfig | None = None) -> str:
        """Where the data plane is reached from here."""
        if self._flight_override:
            return self._flight_override
        port = (config or self.config()).flight_port
        host = urlsplit(self.server).hostname or "127.0.0.1"
        return f"grpc://{host}:{port}"

    # -- data plane -------------------------------------------------------------------
    def stream(
        self,
        essays: pa.Table,
        feature_set: FeatureSet,
        *,
        fingerprint: str | None = None,
        location: str | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Send essays over one ``do_exchange`` and yield feature batches as they arrive.

        Each output batch answers the input batch of the same position (same rows,
        same order); the next input batch is sent before reading, so the server
        never waits for the network.
        """
        location = location or self.flight_location()
        command = ExtractCommand(feature_set=feature_set, fingerprint=fingerprint)
        options = fl.FlightCallOptions(headers=[(b"x-correlation-id", uuid.uuid4().hex.encode())])
        batches = essays.select(INPUT_SCHEMA.names).to_batches(max_chunksize=self.chunk_rows)
        try:
            with fl.connect(location) as flight_client:
                writer, reader = flight_client.do_exchange(
                    fl.FlightDescriptor.for_command(encode_command(command)), options
                )
                with writer:
                    writer.begin(batches[0].schema if batches else INPUT_SCHEMA)
                    pending: deque[pa.RecordBatch] = deque()
                    for batch in batches:
                        writer.write_batch(batch)
                        pending.append(batch)
                        if len(pending) > 1:
                            yield _checked(reader.read_chunk().data, pending.popleft())
                    writer.done_writing()
                    while pending:
                        yield _checked(reader.read_chunk().data, pending.popleft())
        except fl.FlightUnavailableError as exc:
            raise ServerUnavailableError(location, str(exc)) from exc
        except (FlightInvalidArgumentError, fl.FlightServerError) as exc:
            raise ServerRejectedError(_server_message(exc)) from exc
        except fl.FlightError as exc:
            raise ServerUnavailableError(location, str(exc)) from exc

    def extract(
        self,
        data: Any,
        *,
        feature_set: FeatureSet = "combined",
        cache: Path | str | None = None,
        columns: Columns | None = None,
        progress: Progress | None = None,
    ) -> pa.Table:
        """Features for every input row, in input order.

        Args:
            data: A path (.csv/.parquet/.jsonl/.arrow), pandas DataFrame or pyarrow Table.
            feature_set: ``handcrafted``, ``embeddings`` or ``combined``.
            cache: Cache directory; only essays missing there are sent.
            columns: Names of the id, text and prompt columns in ``data``.
            progress: Called with the number of rows each time a batch is done.

        Returns:
            ``essay_id``, ``key`` and the feature columns, one row per input row.
        """
        started = time.perf_counter()
        essays = read_table(data, columns or Columns())
        config = self.config()
        info = self.fingerprint()
        _check_essays(essays, config)
        keys = pa.array(
            content_keys(
                essays.column(TEXT_COLUMN).to_pylist(), essays.column(PROMPT_COLUMN).to_pylist()
            ),
            type=pa.string(),
        )
        store = FeatureCache(cache) if cache is not None else None
        known = store.known_keys(info.fingerprint, feature_set) if store else set()
        todo = _first_rows_of_missing(keys, known)
        fetched: list[pa.Table] = []
        bytes_received = 0
        talk_started = time.perf_counter()
        location = self.flight_location(config)
        if progress and len(known):
            progress(essays.num_rows - todo.size)
        for start in range(0, todo.size, config.limits.max_items):
            rows = todo[start : start + config.limits.max_items]
            request = essays.take(rows)
            offset = 0
            for batch in self.stream(
                request, feature_set, fingerprint=info.fingerprint, location=location
            ):
                if schema_fingerprint(batch.schema) != info.fingerprint:
                    raise FingerprintChangedError(
                        f"server fingerprint changed during the run (started with "
                        f"{info.fingerprint}, now {schema_fingerprint(batch.schema)}); rerun"
                    )
                batch_keys = keys.take(rows[offset : offset + batch.num_rows])
                table = pa.Table.from_batches([batch]).add_column(0, KEY_COLUMN, batch_keys)
                offset += batch.num_rows
                bytes_received += batch.nbytes
                if store:
                    store.write(info.fingerprint, feature_set, table)
                else:
                    fetched.append(table)
                if progress:
                    progress(batch.num_rows)
        talk_seconds = time.perf_counter() - talk_started
        if store:
            found = store.read(info.fingerprint, feature_set, keys.to_pylist()) if keys else None
        else:
            found = pa.concat_tables(fetched) if fetched else None
        result = _align(essays, keys, found)
        self.last_report = ExtractReport(
            fingerprint=info.fingerprint,
            feature_set=feature_set,
            rows_requested=essays.num_rows,
            unique_essays=len(set(keys.to_pylist())),
            cache_hits=len(known & set(keys.to_pylist())),
            rows_fetched=int(todo.size),
            bytes_received=bytes_received,
            seconds=round(time.perf_counter() - started, 4),
            essays_per_second=round(todo.size / talk_seconds, 2) if todo.size else 0.0,
        )
        log.info("client.extract", **msgspec.to_builtins(self.last_report))
        return result


def _check_essays(essays: pa.Table, config: ServerConfig) -> None:
    """Reject bad rows before anything is sent, with the server's own rules."""
    first_row = 0
    for batch in essays.to_batches():
        check_input_batch(batch, max_text_chars=config.limits.max_text_chars, first_row=first_row)
        first_row += batch.num_rows
    check_duplicate_ids(essays)


def _first_rows_of_missing(keys: pa.Array, known: set[str]) -> np.ndarray:
    """Row indices of the first occurrence of each key not already cached."""
    seen: set[str] = set()
    rows = []
    for row, key in enumerate(keys.to_pylist()):
        if key not in known and key not in seen:
            seen.add(key)
            rows.append(row)
    return np.asarray(rows, dtype=np.int64)


def _checked(batch: pa.RecordBatch | None, sent: pa.RecordBatch) -> pa.RecordBatch:
    if batch is None or batch.num_rows != sent.num_rows:
        got = 0 if batch is None else batch.num_rows
        raise ProtocolError(f"server answered {got} rows for a batch of {sent.num_rows}")
    if not batch.column(ID_COLUMN).equals(sent.column(ID_COLUMN)):
        raise ProtocolError("server answered rows in a different order than sent")
    return batch


def _align(essays: pa.Table, keys: pa.Array, found: pa.Table | None) -> pa.Table:
    """One output row per input row, in input order, carrying the input's essay_id."""
    if found is None:
        if essays.num_rows:
            raise ProtocolError("no features came back for a non-empty input")
        return pa.table(
            {ID_COLUMN: pa.array([], pa.string()), KEY_COLUMN: pa.array([], pa.string())}
        )
    index = pc.index_in(keys, value_set=found.column(KEY_COLUMN))
    if index.null_count:
        missing = int(np.flatnonzero(index.is_null().to_numpy(zero_copy_only=False))[0])
        raise ProtocolError(f"row {missing}: no features were returned or cached for this essay")
    aligned = found.take(index)
    position = aligned.schema.get_field_index(ID_COLUMN)
    return aligned.set_column(position, ID_COLUMN, essays.column(ID_COLUMN))


def _server_message(exc: fl.FlightError) -> str:
    """The server's message without gRPC's decoration."""
    text = str(exc)
    for marker in (". Detail:", "gRPC client debug context"):
        text = text.split(marker)[0]
    return text.strip()


__all__ = ["ExtractReport", "FeatureClient", "HemmaClientError"]
