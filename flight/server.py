"""The data plane: a stateless, streaming Arrow Flight service over the shared runtime.

- ``do_exchange`` (``extract.v1`` command): essays stream in, one feature batch goes out
  per input batch as soon as it is computed.
- ``do_put`` (path ``[name]``): upload a named dataset of essays (validated, stored by
  content hash).
- ``list_flights`` / ``get_flight_info`` (path ``[name, feature_set]``): the real schema,
  row count and one endpoint per shard, spread over this server and its peers.
- ``get_schema``: the schema of an ``extract.v1`` command's answer, or of a dataset's
  ``[name, feature_set]``.
- ``do_get`` (a ``shard.v1`` ticket): streams a shard, serving stored rows and computing the
  rest batch by batch; stops within one micro-batch when the client cancels.
- ``do_action``: ``health``, ``fingerprint``, ``catalogue``, and ``reload`` (hot reload,
  admin token).

Every verb answers errors as Flight statuses with a structured ``ErrorInfo``
(``hemma_features.flight.errors``; ``get_schema`` names the code in the message, which is
all pyarrow lets it send); no reply carries a traceback: every ``FlightServerBase`` verb is
defined here, since pyarrow answers one left undefined with its own traceback. Computing
holds a slot per micro-batch (``hemma_features.flight.admission``), so idle streams cost no
capacity.
"""

from __future__ import annotations

import contextlib
import hmac
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.flight as fl
import structlog

from hemma_features.contract import (
    FEATURE_SETS,
    DatasetEntry,
    ExtractCommand,
    FeatureSet,
    ReloadRequest,
    ReloadStatus,
    ShardTicket,
    check_input_schema,
    decode_command,
    decode_ticket,
    encode_ticket,
)
from hemma_features.contract.locations import flight_url, is_wildcard
from hemma_features.engine.composition import Engine
from hemma_features.engine.datasets import DatasetStore
from hemma_features.engine.errors import (
    BusyError,
    InputError,
    PermissionDeniedError,
    ReloadRefusedError,
    ShuttingDownError,
)
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.runtime_slot import RuntimeSlot
from hemma_features.engine.step_loop import InputBatch, StoreBackedFeatures
from hemma_features.flight.admission import Admission
from hemma_features.flight.errors import flight_errors, schema_errors
from hemma_features.flight.middleware import (
    BearerAuthMiddlewareFactory,
    CorrelationMiddlewareFactory,
    correlation_id_of,
)
from hemma_features.flight.streams import (
    MicroBatchCompute,
    input_batches,
    input_schema,
    served,
)

log = structlog.get_logger(__name__)

_ACTIONS = {
    "health": "Liveness: {'status': 'ok'} while the server runs.",
    "fingerprint": "The fingerprint, its components, schema_version and per-set fingerprints.",
    "catalogue": "The handcrafted feature catalogue (JSON list).",
    "reload": 'Hot reload: body {"token": ADMIN_TOKEN, "settings": {...}} (settings optional: '
    "they win over the environment and the env file until the next reload that names "
    "others); answers the outcome once the new runtime serves or the reload failed.",
}


class FeatureFlightServer(fl.FlightServerBase):
    """Flight server over an ``Engine`` (its runtime slot, stores and reloader).

    Every call uses the runtime current when it starts; a stream keeps its runtime to the
    end even if a hot reload switches in between.
    """

    def __init__(
        self, engine: Engine | Runtime | RuntimeSlot, location: str, **kwargs: Any
    ) -> None:
        super().__init__(location, **kwargs)
        self.engine = Engine.of(engine)
        runtime = self.engine.runtime
        scheme, _, address = location.partition("://")
        listening = f"{scheme}://{address.rsplit(':', 1)[0]}:{self.port}"
        # Never a wildcard: None means "this service" (endpoints then carry no location,
        # which Flight defines as: redeem the ticket where you got it).
        self.location: str | None = runtime.settings.server.advertise_flight or (
            None if is_wildcard(listening) else listening
        )
        # Set on shutdown: running streams stop at the next micro-batch instead of finishing.
        self.stopping = threading.Event()
        settings = runtime.settings
        self.admission = Admission(
            slots=settings.streams.max_streams,
            queue_limit=settings.streams.queue,
            queue_timeout=settings.streams.queue_timeout,
            metrics=runtime.metrics,
            stopping=self.stopping,
        )
        self._compute = MicroBatchCompute(self.admission, self.stopping)

    @property
    def runtime(self) -> Runtime:
        """The runtime a call starting now uses."""
        return self.engine.runtime

    def _leased(self) -> contextlib.AbstractContextManager[StoreBackedFeatures]:
        """The stores with the current runtime, which stays open until the block ends (the
        server itself holds no runtime, so a replaced one is freed after its streams)."""
        return self.engine.features()

    def _check_running(self) -> None:
        if self.stopping.is_set():
            raise ShuttingDownError()

    # -- exchange -------------------------------------------------------------------
    def do_exchange(
        self,
        context: fl.ServerCallContext,
        descriptor: fl.FlightDescriptor,
        reader: fl.MetadataRecordBatchReader,
        writer: fl.MetadataRecordBatchWriter,
    ) -> None:
        with flight_errors(correlation_id_of(context)):
            command = self._command(descriptor)
        with (
            self._leased() as features,
            served("exchange", context, features, feature_set=command.feature_set) as state,
        ):
            runtime = features.runtime
            settings = runtime.settings
            self._check_running()
            runtime.check_fingerprint(command.feature_set, command.fingerprint)
            check_input_schema(input_schema(reader))
            writer.begin(runtime.schema(command.feature_set))
            for batch in input_batches(reader, settings.streams.idle_timeout):
                if state.rows + batch.num_rows > settings.limits.max_items:
                    raise InputError(
                        f"row {settings.limits.max_items}: request has more than the limit of "
                        f"{settings.limits.max_items} rows (HEMMA_MAX_ITEMS); split it into "
                        "several requests"
                    )
                job = InputBatch(rows=batch, feature_set=command.feature_set, first_row=state.rows)
                for out in self._compute("exchange", features, context, state, job):
                    writer.write_batch(out)
                state.rows += batch.num_rows

    @staticmethod
    def _command(descriptor: fl.FlightDescriptor) -> ExtractCommand:
        if descriptor.descriptor_type != fl.DescriptorType.CMD:
            raise InputError(
                "do_exchange needs a command descriptor (FlightDescriptor.for_command) "
                'such as {"type": "extract.v1", "feature_set": "combined"}'
            )
        return decode_command(descriptor.command)

    # -- datasets -------------------------------------------------------------------
    def _datasets(self) -> DatasetStore:
        if self.engine.stores.datasets is None:
            raise InputError(
                "this server keeps no datasets: it was started with HEMMA_STORE=false; "
                "start it without that (the store is on by default)"
            )
        return self.engine.stores.datasets

    def do_put(
        self,
        context: fl.ServerCallContext,
        descriptor: fl.FlightDescriptor,
        reader: fl.MetadataRecordBatchReader,
        writer: fl.FlightMetadataWriter,
    ) -> None:
        with flight_errors(correlation_id_of(context)):
            name = _path(descriptor, 1, "do_put needs a path descriptor [name]")[0]
        with self._leased() as features, served("put", context, features, dataset=name) as state:
            datasets = self._datasets()
            settings = features.runtime.settings
            self._check_running()
            check_input_schema(input_schema(reader))

            def uploaded() -> Iterator[pa.RecordBatch]:
                for batch in input_batches(reader, settings.streams.idle_timeout):
                    self._check_running()
                    yield batch

            # put() checks each batch as it arrives, so an upload over max_items stops there.
            entry = datasets.put(
                name,
                uploaded(),
                max_text_chars=settings.limits.max_text_chars,
                max_items=settings.limits.max_items,
            )
            state.rows = entry.rows
            writer.write(pa.py_buffer(msgspec.json.encode(entry)))

    def list_flights(
        self, context: fl.ServerCallContext, criteria: bytes
    ) -> Iterator[fl.FlightInfo]:
        with flight_errors(correlation_id_of(context)):
            if self.engine.stores.datasets is None:
                return
            runtime = self.runtime
            infos = [
                self._flight_info(runtime, entry, feature_set)
                for entry in self.engine.stores.datasets.entries()
                for feature_set in runtime.available_feature_sets()
            ]
        yield from infos

    def get_flight_info(
        self, context: fl.ServerCallContext, descriptor: fl.FlightDescriptor
    ) -> fl.FlightInfo:
        with flight_errors(correlation_id_of(context)):
            name, feature_set = _path(
                descriptor, 2, "get_flight_info needs a path descriptor [name, feature_set]"
            )
            if feature_set not in FEATURE_SETS:
                raise InputError(
                    f"unknown feature set {feature_set!r}; use one of {', '.join(FEATURE_SETS)}"
                )
            entry = self._datasets().entry(name)
            return self._flight_info(self.runtime, entry, feature_set)  # type: ignore[arg-type]

    def get_schema(
        self, context: fl.ServerCallContext, descriptor: fl.FlightDescriptor
    ) -> fl.SchemaResult:
        """The schema of what a descriptor yields: an ``extract.v1`` command's answer (what
        ``do_exchange`` streams), or a dataset's ``[name, feature_set]`` (what
        ``get_flight_info``'s endpoints stream)."""
        with schema_errors(correlation_id_of(context)):
            runtime = self.runtime
            if descriptor.descriptor_type == fl.DescriptorType.CMD:
                command = decode_command(descriptor.command)
                runtime.check_fingerprint(command.feature_set, command.fingerprint)
                return fl.SchemaResult(runtime.schema(command.feature_set))
            name, feature_set = _path(
                descriptor,
                2,
                "get_schema needs a path descriptor [name, feature_set] or an extract.v1 "
                'command descriptor such as {"type": "extract.v1", "feature_set": "combined"}',
            )
            if feature_set not in FEATURE_SETS:
                raise InputError(
                    f"unknown feature set {feature_set!r}; use one of {', '.join(FEATURE_SETS)}"
                )
            self._datasets().entry(name)  # NOT_FOUND names it when there is no such dataset
            return fl.SchemaResult(runtime.schema(feature_set))  # type: ignore[arg-type]

    def _flight_info(
        self, runtime: Runtime, entry: DatasetEntry, feature_set: FeatureSet
    ) -> fl.FlightInfo:
        settings = runtime.settings
        mine = [self.location] if self.location else []
        locations = [mine, *([peer] for peer in settings.server.peer_locations)]
        fingerprint = runtime.fingerprint_for(feature_set)
        endpoints = []
        for shard, start in enumerate(range(0, entry.rows, settings.limits.shard_rows)):
            ticket = ShardTicket(
                dataset=entry.sha256,
                name=entry.name,
                start=start,
                stop=min(start + settings.limits.shard_rows, entry.rows),
                feature_set=feature_set,
                fingerprint=fingerprint,
            )
            where = locations[shard % len(locations)]
            endpoints.append(fl.FlightEndpoint(encode_ticket(ticket), where))
        return fl.FlightInfo(
            runtime.schema(feature_set),
            fl.FlightDescriptor.for_path(entry.name, feature_set),
            endpoints,
            entry.rows,
            -1,
        )

    def do_get(self, context: fl.ServerCallContext, ticket: fl.Ticket) -> fl.FlightDataStream:
        with flight_errors(correlation_id_of(context)):
            shard = decode_ticket(ticket.ticket)
            self.runtime.check_fingerprint(shard.feature_set, shard.fingerprint)
            datasets = self._datasets()
            rows = datasets.read(shard.dataset, shard.start, shard.stop)
            keys = datasets.keys(shard.dataset, shard.start, shard.stop)
            schema = self.runtime.schema(shard.feature_set)
        return fl.GeneratorStream(schema, self._shard_batches(context, shard, rows, keys))

    def _shard_batches(
        self, context: fl.ServerCallContext, shard: ShardTicket, rows: pa.Table, keys: pa.Array
    ) -> Iterator[pa.RecordBatch]:
        """The shard's feature batches: stored stretches at once, the rest computed in
        micro-batches (rows were checked at upload; their keys were kept then)."""
        fields = {"feature_set": shard.feature_set, "dataset": shard.name, "start": shard.start}
        with self._leased() as features, served("get", context, features, **fields) as state:
            # a reload between the ticket check and this first batch: never mix fingerprints
            features.runtime.check_fingerprint(shard.feature_set, shard.fingerprint)
            step = features.runtime.settings.limits.batch_rows
            for offset in range(0, rows.num_rows, step):
                batch = rows.slice(offset, step)  # texts are copied only for rows computed
                job = InputBatch(
                    rows=batch, feature_set=shard.feature_set, first_row=shard.start + offset,
                    keys=keys.slice(offset, step), checked=True,
                )  # fmt: skip
                yield from self._compute("get", features, context, state, job)
                state.rows += batch.num_rows

    # -- actions ----------------------------------------------------------------------
    def list_actions(self, context: fl.ServerCallContext) -> list[tuple[str, str]]:
        return list(_ACTIONS.items())

    def do_action(self, context: fl.ServerCallContext, action: fl.Action) -> Any:
        with flight_errors(correlation_id_of(context)):
            match action.type:
                case "health":
                    body = msgspec.json.encode({"status": "ok"})
                case "fingerprint":
                    body = msgspec.json.encode(self.runtime.fingerprint)
                case "catalogue":
                    body = msgspec.json.encode(list(self.runtime.catalogue))
                case "reload":
                    body = msgspec.json.encode(self._reload(action.body.to_pybytes()))
                case other:
                    raise InputError(f"unknown action {other!r}; available: {', '.join(_ACTIONS)}")
            return [fl.Result(pa.py_buffer(body))]

    def _reload(self, body: bytes) -> ReloadStatus:
        """The ``reload`` action: check the admin token, reload, answer the outcome."""
        token = self.runtime.settings.auth.admin_token
        reloader = self.engine.reloader
        if reloader is None or token is None:
            raise PermissionDeniedError(
                "the reload action is off on this server: start it with HEMMA_ADMIN_TOKEN "
                "set (or send it SIGHUP)"
            )
        try:
            request = msgspec.json.decode(body or b"{}", type=ReloadRequest)
        except msgspec.DecodeError as exc:
            raise InputError(
                f'the reload action takes JSON {{"token": ..., "settings": {{...}}}}: {exc}'
            ) from None
        if not hmac.compare_digest(request.token.encode(), token.encode()):
            raise PermissionDeniedError(
                "the reload action needs the admin token (HEMMA_ADMIN_TOKEN)"
            )
        try:
            return reloader.reload("action", request.settings)
        except ReloadRefusedError as exc:
            raise BusyError(str(exc), retry_after=5.0) from None


def _path(descriptor: fl.FlightDescriptor, parts: int, message: str) -> list[str]:
    if descriptor.descriptor_type != fl.DescriptorType.PATH or len(descriptor.path) != parts:
        raise InputError(message)
    names = []
    for part in descriptor.path:
        try:
            names.append(part.decode() if isinstance(part, bytes) else str(part))
        except UnicodeDecodeError:
            raise InputError(f"{message}: a path element is not valid UTF-8") from None
    return names


def create_flight_server(
    engine: Engine | Runtime | RuntimeSlot, host: str, port: int
) -> FeatureFlightServer:
    """Start a Flight server on ``grpc://host:port`` (``grpc+tls`` with a certificate;
    port 0 picks a free one), requiring the bearer token when one is configured."""
    engine = Engine.of(engine)
    settings = engine.runtime.settings
    middleware: dict[str, fl.ServerMiddlewareFactory] = {
        "correlation": CorrelationMiddlewareFactory()
    }
    if settings.auth.token:
        middleware["auth"] = BearerAuthMiddlewareFactory(settings.auth.token)
    options: dict[str, Any] = {}
    if settings.server.tls_cert_file and settings.server.tls_key_file:
        options["tls_certificates"] = [
            (
                Path(settings.server.tls_cert_file).read_bytes(),
                Path(settings.server.tls_key_file).read_bytes(),
            )
        ]
    return FeatureFlightServer(
        engine, flight_url(host, port, tls=settings.server.tls), middleware=middleware, **options
    )
