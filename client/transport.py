"""``FlightTransport``: the client's data plane: where calls go, how they connect, and the
Flight verbs it uses (``do_exchange``, ``do_put``, ``get_flight_info`` + ``do_get``).

A ``FeatureClient`` holds one and hands it to each run's fetcher (``flight_fetch``), as an
httpx ``Client`` holds its transport; nothing here knows who holds it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager as ContextManager
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.flight as fl

from hemma_features.client._exchange import Exchange
from hemma_features.client._wire import flight_call
from hemma_features.client.errors import ProtocolError
from hemma_features.client.flight_route import FlightRoutes, Route
from hemma_features.client.inputs import input_batches
from hemma_features.client.run_report import RunStats
from hemma_features.contract import (
    INPUT_SCHEMA,
    DatasetEntry,
    ExtractCommand,
    FeatureSet,
    ServerConfig,
    encode_command,
)


class FlightTransport:
    """Flight calls to one feature server's data plane.

    Args:
        server: The control-plane URL the user gave (a wildcard advertised host is
            replaced by its host).
        flight: The Flight location the user gave, or None (the advertised one is used).
        token: Bearer token sent with every call, or None.
        tls_root_certs: PEM bytes of the CA that signed the server's certificate, or None.
        chunk_rows: Most essays per Flight batch.
    """

    def __init__(
        self,
        server: str,
        flight: str | None,
        *,
        token: str | None = None,
        tls_root_certs: bytes | None = None,
        chunk_rows: int,
    ) -> None:
        self.routes = FlightRoutes(server, flight)
        self.chunk_rows = chunk_rows
        self._token = token
        self._ca = tls_root_certs
        self._hints: dict[str, str | None] = {}
        self._flight_port: int | None = None  # the server's, once a config was seen

    # -- where and how ----------------------------------------------------------------
    def location(self, config: ServerConfig) -> str:
        """Where the data plane of the server answering ``config`` is reached from here."""
        self._flight_port = config.flight_port
        return self._route(self.routes.main(config))

    def _route(self, route: Route) -> str:
        """Remember what to tell the user if ``route`` cannot be reached; its location."""
        self._hints[route.location] = route.hint()
        return route.location

    def call(self, location: str, what: str) -> ContextManager[None]:
        """Translate a Flight failure of a call to ``location`` into the client's errors."""
        return flight_call(location, what, self._hints.get(location), flight_port=self._flight_port)

    def connect(self, location: str) -> fl.FlightClient:
        """A Flight client connected to ``location`` (with the CA when given)."""
        options: dict[str, Any] = {}
        if self._ca is not None:
            options["tls_root_certs"] = self._ca
        return fl.connect(location, **options)

    def call_options(self) -> fl.FlightCallOptions:
        """Headers of one call: a fresh correlation id and the token, when there is one."""
        headers = [(b"x-correlation-id", uuid.uuid4().hex.encode())]
        if self._token:
            headers.append((b"authorization", f"Bearer {self._token}".encode()))
        return fl.FlightCallOptions(headers=headers)

    # -- verbs ------------------------------------------------------------------------
    def stream(
        self,
        essays: pa.Table,
        feature_set: FeatureSet,
        location: str,
        *,
        fingerprint: str | None = None,
        stats: RunStats | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Send essays over one ``do_exchange`` and yield feature batches as they arrive.

        The answer batches, concatenated, are the input rows in input order: the server
        sends each micro-batch as it finishes (stored rows at once). The next input batch
        is sent before its predecessor's answers are read, so the server never waits. A
        worker thread drives the call (``client._exchange``), so Ctrl-C lands at once and
        cancels it.
        """
        command = ExtractCommand(feature_set=feature_set, fingerprint=fingerprint)
        batches = input_batches(essays.select(INPUT_SCHEMA.names), self.chunk_rows)
        with self.call(location, feature_set):
            flight_client = self.connect(location)
            exchange: Exchange | None = None
            try:
                writer, reader = flight_client.do_exchange(
                    fl.FlightDescriptor.for_command(encode_command(command)), self.call_options()
                )
                exchange = Exchange(writer, reader, batches, INPUT_SCHEMA, stats)
                yield from exchange
            finally:  # also on Ctrl-C or an abandoned generator: the call is cancelled
                if exchange is not None:
                    exchange.close()
                if exchange is None or exchange.finished:  # never close a call in use
                    flight_client.close()

    def put(self, location: str, name: str, essays: pa.Table) -> DatasetEntry:
        """Upload ``essays`` as the dataset ``name`` (``do_put``); the server's entry."""
        with self.call(location, "dataset"), self.connect(location) as flight_client:
            descriptor = fl.FlightDescriptor.for_path(name)
            writer, metadata = flight_client.do_put(descriptor, essays.schema, self.call_options())
            with writer:
                for batch in input_batches(essays, self.chunk_rows):
                    writer.write_batch(batch)
                writer.done_writing()
                answer = metadata.read()
        if answer is None:
            raise ProtocolError(f"the server answered do_put({name!r}) without its entry")
        return msgspec.json.decode(answer.to_pybytes(), type=DatasetEntry)

    def read(
        self, config: ServerConfig, name: str, feature_set: FeatureSet, *, parallel: int = 4
    ) -> pa.Table:
        """Features of an uploaded dataset: ``get_flight_info`` then every endpoint read in
        parallel, concatenated in shard order. Each endpoint is read from the location it
        names, or, when the user gave a Flight location, from that one."""
        main = self.routes.main(config)
        location = self._route(main)
        with self.call(location, feature_set), self.connect(location) as flight_client:
            info = flight_client.get_flight_info(
                fl.FlightDescriptor.for_path(name, feature_set), self.call_options()
            )

        def read(endpoint: fl.FlightEndpoint) -> pa.Table:
            where = self._route(self.routes.endpoint(endpoint, main))
            with self.call(where, feature_set), self.connect(where) as flight_client:
                return flight_client.do_get(endpoint.ticket, self.call_options()).read_all()

        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            shards = list(pool.map(read, info.endpoints))
        if not shards:
            return info.schema.empty_table()
        return pa.concat_tables(shards)
