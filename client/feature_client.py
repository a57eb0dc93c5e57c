"""``FeatureClient``: ask the control plane, stream essays over Flight, fill the cache.

The client never parses, embeds or grammar-checks: it sends only what its cache lacks
and returns the server's rows aligned with the input order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa

from hemma_features.arrowfiles.segments import COMMIT_SECONDS
from hemma_features.client.control_plane import ControlPlane
from hemma_features.client.errors import HemmaClientError, LocationError
from hemma_features.client.extraction import ExtractFacade
from hemma_features.client.flight_fetch import FlightSource
from hemma_features.client.inputs import Columns, read_table
from hemma_features.client.retry import RetryPolicy
from hemma_features.client.run_report import ExtractReport, RunStats
from hemma_features.client.transport import FlightTransport
from hemma_features.contract import DatasetEntry, FeatureSet, FingerprintInfo, ServerConfig
from hemma_features.logs import library_logger

log = library_logger(__name__)  # debug lines stay quiet in a notebook unless asked for

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


class FeatureClient(ExtractFacade):
    """Client of one feature server (both planes): a ``ControlPlane`` (HTTP) and a
    ``FlightTransport`` it hands to each run's fetcher.

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
        token = token or os.environ.get(TOKEN_ENV) or None
        ca = Path(tls_root_certs).read_bytes() if tls_root_certs else None
        self.control = ControlPlane(
            self.server, timeout=timeout, token=token, tls_root_certs=tls_root_certs
        )
        self.transport = FlightTransport(
            self.server,
            flight or None,
            token=token,
            tls_root_certs=ca,
            chunk_rows=chunk_rows,
        )
        self.retries = retries
        self.backoff = backoff
        self.busy_budget = busy_budget
        self.commit_seconds = commit_seconds

    @property
    def chunk_rows(self) -> int:
        """Most essays per Flight batch."""
        return self.transport.chunk_rows

    @chunk_rows.setter
    def chunk_rows(self, value: int) -> None:
        self.transport.chunk_rows = value

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.control.close()

    def __enter__(self) -> FeatureClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- control plane ----------------------------------------------------------------
    def fingerprint(self) -> FingerprintInfo:
        """The server's fingerprint, its components and each feature set's fingerprint.

        Every fingerprint must be 64 lower-case hex digits: they name cache directories,
        so anything else from a broken or hostile server is a ``ProtocolError``.
        """
        return self.control.fingerprint()

    def config(self) -> ServerConfig:
        """The server's effective settings, Flight port and limits."""
        return self.control.config()

    def health(self) -> dict[str, Any]:
        """``/healthz`` and ``/readyz`` answers (readyz may hold the reasons it is not ready)."""
        return self.control.health()

    def flight_location(self, config: ServerConfig | None = None) -> str:
        """Where the data plane is reached from here (see ``client.flight_route``)."""
        return self.transport.location(config or self.config())

    # -- data plane -------------------------------------------------------------------
    def stream(
        self,
        essays: pa.Table,
        feature_set: FeatureSet,
        *,
        fingerprint: str | None = None,
        location: str | None = None,
        stats: RunStats | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Send essays over one ``do_exchange`` and yield feature batches as they arrive
        (``FlightTransport.stream``), to ``location`` or the server's Flight location."""
        location = location or self.flight_location()
        yield from self.transport.stream(
            essays, feature_set, location, fingerprint=fingerprint, stats=stats
        )

    def upload(self, name: str, data: Any, columns: Columns | None = None) -> DatasetEntry:
        """Upload essays as a named dataset on the server (``do_put``); returns its entry."""
        essays = read_table(data, columns or Columns())
        return self.transport.put(self.flight_location(), name, essays)

    def read_dataset(self, name: str, feature_set: FeatureSet, *, parallel: int = 4) -> pa.Table:
        """Features of an uploaded dataset: ``get_flight_info`` then every endpoint read in
        parallel, concatenated in shard order. Each endpoint is read from the location it
        names, or, when the user gave a Flight location, from that one."""
        return self.transport.read(self.config(), name, feature_set, parallel=parallel)

    def row_source(self, cache: str | None = None) -> FlightSource:
        """The server as one run's ``RowSource``: its control plane and this client's
        transport, retrying with this client's budget (``ExtractFacade``)."""
        return FlightSource(
            self.control,
            self.transport,
            lambda: RetryPolicy(self.retries, self.backoff, self.busy_budget),
        )


__all__ = ["ExtractReport", "FeatureClient", "HemmaClientError"]
