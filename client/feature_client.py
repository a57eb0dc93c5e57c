"""``FeatureClient``: ask the control plane, stream essays over Flight, fill the cache.

The client never parses, embeds or grammar-checks: it sends only what its cache lacks
and returns the server's rows aligned with the input order.
"""

from __future__ import annotations

import os
import re
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import pyarrow as pa
import pyarrow.flight as fl

from hemma_features.arrowfiles.segments import COMMIT_SECONDS
from hemma_features.client._exchange import Exchange
from hemma_features.client._wire import flight_call
from hemma_features.client.cache import CacheFormat
from hemma_features.client.cache_fill import Progress
from hemma_features.client.errors import (
    HemmaClientError,
    LocationError,
    ProtocolError,
    ServerRejectedError,
    ServerUnavailableError,
)
from hemma_features.client.extraction import (
    ExtractResult,
    OnPartial,
    extract_options,
)
from hemma_features.client.extraction import (
    extract as run_extract,
)
from hemma_features.client.flight_fetch import FlightFetcher
from hemma_features.client.flight_route import FlightRoutes, Route
from hemma_features.client.inputs import Columns, input_batches, read_table
from hemma_features.client.report import ExtractReport, RunStats
from hemma_features.contract import (
    FEATURE_SETS,
    INPUT_SCHEMA,
    DatasetEntry,
    ExtractCommand,
    FeatureSet,
    FingerprintInfo,
    ServerConfig,
    encode_command,
)
from hemma_features.logs import library_logger

log = library_logger(__name__)  # debug lines stay quiet in a notebook unless asked for

_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
FLIGHT_URL_ENV = "HEMMA_FLIGHT_URL"
DEFAULT_CHUNK_ROWS = 1024
"""Most essays per Flight batch; the server answers in micro-batches as they are computed,
so a larger batch costs no latency and amortises per-batch work when rows are stored."""
TOKEN_ENV = "HEMMA_TOKEN"


def check_server_url(url: str, name: str = "server") -> str:
    """The control-plane URL, or a ``LocationError`` saying the form it takes.

    Args:
        url: What was given.
        name: How the caller calls it in the message (``--server`` on the command line).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LocationError(
            f"{name} takes the control plane's URL, like http://127.0.0.1:9000 "
            f"(or https:// with TLS); got {url!r}"
        )
    return url


def check_flight_url(url: str, name: str = "flight") -> str:
    """The Flight location, or a ``LocationError`` saying the form it takes.

    Args:
        url: What was given.
        name: How the caller calls it in the message (``--flight``, ``$HEMMA_FLIGHT_URL``).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("grpc", "grpc+tcp", "grpc+tls") or not parts.hostname:
        raise LocationError(
            f"{name} takes a Flight location, like grpc://127.0.0.1:9001 "
            f"(or grpc+tls:// with TLS); got {url!r}"
        )
    return url


class FeatureClient:
    """Client of one feature server (both planes).

    Args:
        server: Control-plane URL, e.g. ``http://127.0.0.1:9000`` (or a tunnel's port).
        flight: Data-plane location (``grpc://host:port`` or ``grpc+tls://``) overriding the
            advertised one; defaults to ``$HEMMA_FLIGHT_URL``, else the server host with
            the advertised port (TLS when ``server`` is https).
        timeout: Seconds for control-plane calls.
        chunk_rows: Most essays per Flight batch (a batch also stops at 8 MiB of text).
        token: Bearer token for both planes; defaults to ``$HEMMA_TOKEN``.
        tls_root_certs: PEM file of the CA that signed the server's certificate.
        retries: Times a transport or dependency failure is retried with a new stream.
        backoff: First retry delay in seconds; doubles each retry.
        busy_budget: Seconds a busy server is waited for (jittered backoff, honouring the
            server's retry_after) before giving up.
        commit_seconds: Longest fetched rows wait in memory before they are committed to
            the cache (0: commit every answered batch as its own file).
    """

    def __init__(
        self,
        server: str = "http://127.0.0.1:9000",
        *,
        flight: str | None = None,
        timeout: float = 30.0,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        token: str | None = None,
        tls_root_certs: Path | str | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        busy_budget: float = 120.0,
        commit_seconds: float = COMMIT_SECONDS,
    ) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, given: {chunk_rows}")
        if not 0 <= retries <= 10:
            raise ValueError(f"retries must be between 0 and 10, given: {retries}")
        self.server = check_server_url(server).rstrip("/")
        if flight:
            check_flight_url(flight)
        elif os.environ.get(FLIGHT_URL_ENV):
            flight = check_flight_url(os.environ[FLIGHT_URL_ENV], f"${FLIGHT_URL_ENV}")
        self._routes = FlightRoutes(self.server, flight or None)
        self._hints: dict[str, str | None] = {}
        self._flight_port: int | None = None  # the server's, once /v1/config was read
        self._token = token or os.environ.get(TOKEN_ENV) or None
        self._ca = Path(tls_root_certs).read_bytes() if tls_root_certs else None
        headers = {"authorization": f"Bearer {self._token}"} if self._token else {}
        self._http = httpx.Client(
            base_url=self.server,
            timeout=httpx.Timeout(timeout, connect=5.0),
            headers=headers,
            verify=ssl.create_default_context(cafile=str(tls_root_certs))
            if tls_root_certs
            else True,
        )
        self.chunk_rows = chunk_rows
        self.retries = retries
        self.backoff = backoff
        self.busy_budget = busy_budget
        self.commit_seconds = commit_seconds

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
        try:
            return msgspec.json.decode(response.content, type=kind)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ProtocolError(
                f"GET {self.server}{path} answered something else than a hemma server: {exc}"
            ) from exc

    def fingerprint(self) -> FingerprintInfo:
        """The server's fingerprint, its components and each feature set's fingerprint.

        Every fingerprint must be 64 lower-case hex digits: they name cache directories,
        so anything else from a broken or hostile server is a ``ProtocolError``.
        """
        info: FingerprintInfo = self._get("/v1/fingerprint", FingerprintInfo)
        for name, value in [("fingerprint", info.fingerprint), *info.feature_sets.items()]:
            if not _FINGERPRINT.fullmatch(value) or name not in ("fingerprint", *FEATURE_SETS):
                raise ProtocolError(
                    f"{self.server}/v1/fingerprint gave {name}={value[:80]!r}; a fingerprint "
                    "is 64 hex digits and names one of the feature sets (is this a hemma server?)"
                )
        return info

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
        """Where the data plane is reached from here (see ``client.flight_route``)."""
        config = config or self.config()
        self._flight_port = config.flight_port
        return self._route(self._routes.main(config))

    def _route(self, route: Route) -> str:
        """Remember what to tell the user if ``route`` cannot be reached; its location."""
        self._hints[route.location] = route.hint()
        return route.location

    def _flight_call(self, location: str, what: str) -> Any:
        return flight_call(location, what, self._hints.get(location), flight_port=self._flight_port)

    # -- data plane -------------------------------------------------------------------
    def _connect(self, location: str) -> fl.FlightClient:
        options: dict[str, Any] = {}
        if self._ca is not None:
            options["tls_root_certs"] = self._ca
        return fl.connect(location, **options)

    def _call_options(self) -> fl.FlightCallOptions:
        headers = [(b"x-correlation-id", uuid.uuid4().hex.encode())]
        if self._token:
            headers.append((b"authorization", f"Bearer {self._token}".encode()))
        return fl.FlightCallOptions(headers=headers)

    def stream(
        self,
        essays: pa.Table,
        feature_set: FeatureSet,
        *,
        fingerprint: str | None = None,
        location: str | None = None,
        stats: RunStats | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Send essays over one ``do_exchange`` and yield feature batches as they arrive.

        The answer batches, concatenated, are the input rows in input order: the server
        sends each micro-batch as it finishes (stored rows at once). The next input batch
        is sent before its predecessor's answers are read, so the server never waits. A
        worker thread drives the call (``client._exchange``), so Ctrl-C lands at once and
        cancels it.
        """
        location = location or self.flight_location()
        command = ExtractCommand(feature_set=feature_set, fingerprint=fingerprint)
        batches = input_batches(essays.select(INPUT_SCHEMA.names), self.chunk_rows)
        with self._flight_call(location, feature_set):
            flight_client = self._connect(location)
            exchange: Exchange | None = None
            try:
                writer, reader = flight_client.do_exchange(
                    fl.FlightDescriptor.for_command(encode_command(command)), self._call_options()
                )
                exchange = Exchange(writer, reader, batches, INPUT_SCHEMA, stats)
                yield from exchange
            finally:  # also on Ctrl-C or an abandoned generator: the call is cancelled
                if exchange is not None:
                    exchange.close()
                if exchange is None or exchange.finished:  # never close a call in use
                    flight_client.close()

    def upload(self, name: str, data: Any, columns: Columns | None = None) -> DatasetEntry:
        """Upload essays as a named dataset on the server (``do_put``); returns its entry."""
        essays = read_table(data, columns or Columns())
        location = self.flight_location()
        with self._flight_call(location, "dataset"), self._connect(location) as flight_client:
            descriptor = fl.FlightDescriptor.for_path(name)
            writer, metadata = flight_client.do_put(descriptor, essays.schema, self._call_options())
            with writer:
                for batch in input_batches(essays, self.chunk_rows):
                    writer.write_batch(batch)
                writer.done_writing()
                answer = metadata.read()
        if answer is None:
            raise ProtocolError(f"the server answered do_put({name!r}) without its entry")
        return msgspec.json.decode(answer.to_pybytes(), type=DatasetEntry)

    def read_dataset(self, name: str, feature_set: FeatureSet, *, parallel: int = 4) -> pa.Table:
        """Features of an uploaded dataset: ``get_flight_info`` then every endpoint read in
        parallel, concatenated in shard order. Each endpoint is read from the location it
        names, or, when the user gave a Flight location, from that one."""
        from concurrent.futures import ThreadPoolExecutor

        main = self._routes.main(self.config())
        location = self._route(main)
        with self._flight_call(location, feature_set), self._connect(location) as flight_client:
            info = flight_client.get_flight_info(
                fl.FlightDescriptor.for_path(name, feature_set), self._call_options()
            )

        def read(endpoint: fl.FlightEndpoint) -> pa.Table:
            where = self._route(self._routes.endpoint(endpoint, main))
            with self._flight_call(where, feature_set), self._connect(where) as flight_client:
                return flight_client.do_get(endpoint.ticket, self._call_options()).read_all()

        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            shards = list(pool.map(read, info.endpoints))
        if not shards:
            return info.schema.empty_table()
        return pa.concat_tables(shards)

    def fetcher(self, config: ServerConfig, stats: RunStats) -> FlightFetcher:
        """A run's fetcher: streams to the Flight location of ``config`` (``RowSource``)."""
        return FlightFetcher(self, self.flight_location(config), config.limits.max_items, stats)

    def extract(
        self,
        data: Any,
        *,
        feature_set: FeatureSet = "combined",
        cache: Path | str | None = None,
        columns: Columns | None = None,
        progress: Progress | None = None,
        cache_format: CacheFormat | None = None,
    ) -> pa.Table:
        """Features for every input row, in input order.

        Args:
            data: A path (.csv/.parquet/.jsonl/.arrow), pandas DataFrame or pyarrow Table.
            feature_set: ``handcrafted``, ``embeddings`` or ``combined``.
            cache: Cache directory; only essays missing there are sent.
            columns: Names of the id, text and prompt columns in ``data``.
            progress: Called with (rows done, cache hits among them, total rows) as
                batches land.
            cache_format: ``ipc`` (default) or ``parquet`` for a new cache.

        Returns:
            ``key``, ``essay_id`` and the feature columns, one row per input row
            (``extract_with_report`` returns the run's report as well).
        """
        return self.extract_with_report(
            data, feature_set=feature_set, cache=cache, columns=columns, progress=progress,
            cache_format=cache_format,
        ).table  # fmt: skip

    def extract_with_report(
        self,
        data: Any,
        *,
        feature_set: FeatureSet = "combined",
        cache: Path | str | None = None,
        columns: Columns | None = None,
        progress: Progress | None = None,
        cache_format: CacheFormat | None = None,
        on_partial: OnPartial | None = None,
    ) -> ExtractResult:
        """As ``extract``, returning the rows and the run's report (``ExtractResult``);
        ``on_partial`` is told the report of a run that stops early before it re-raises."""
        options = extract_options(
            feature_set, cache, columns, cache_format, commit_seconds=self.commit_seconds
        )
        return run_extract(self, data, options, progress=progress, on_partial=on_partial)


__all__ = ["ExtractReport", "FeatureClient", "HemmaClientError"]
