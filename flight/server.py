"""The data plane: a stateless, streaming Arrow Flight service over the shared runtime.

- ``do_exchange`` (``extract.v1`` command): essays stream in, one feature batch goes out
  per input batch as soon as it is computed.
- ``do_put`` (path ``[name]``): upload a named dataset of essays (validated, stored by
  content hash).
- ``list_flights`` / ``get_flight_info`` (path ``[name, feature_set]``): the real schema,
  row count and one endpoint per shard, spread over this server and its peers.
- ``do_get`` (a ``shard.v1`` ticket): streams a shard, serving stored rows and computing the
  rest batch by batch; stops within one batch when the client cancels.
- ``do_action``: ``health``, ``fingerprint``, ``catalogue``.

Errors: invalid input or a limit -> InvalidArgument (``pyarrow.ArrowInvalid``); unknown dataset
-> NotFound (``KeyError``); a dependency down or the stream limit -> Unavailable.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.flight as fl
import structlog
from hemma_features.flight.datasets import DatasetEntry, DatasetStore
from hemma_features.flight.errors import flight_errors
from hemma_features.flight.middleware import (
    BearerAuthMiddlewareFactory,
    CorrelationMiddlewareFactory,
    correlation_id_of,
)
from hemma_features.flight.store_backed import StoreBackedFeatures
from hemma_features.service.errors import InputError
from hemma_features.service.runtime import Runtime

from hemma_features.contract import (
    FEATURE_SETS,
    FINGERPRINT_MISMATCH,
    ExtractCommand,
    FlightInvalidArgumentError,
    FlightNotFoundError,
    ShardTicket,
    check_input_schema,
    decode_command,
    decode_ticket,
    encode_ticket,
)
from hemma_features.contract.locations import flight_url

log = structlog.get_logger(__name__)

_ACTIONS = {
    "health": "Liveness: {'status': 'ok'} while the server runs.",
    "fingerprint": "The fingerprint, its components, schema_version and per-set fingerprints.",
    "catalogue": "The handcrafted feature catalogue (JSON list).",
}


class FeatureFlightServer(fl.FlightServerBase):
    """Flight server computing features with a loaded ``Runtime``."""

    def __init__(self, runtime: Runtime, location: str, **kwargs: Any) -> None:
        super().__init__(location, **kwargs)
        self.service = StoreBackedFeatures(runtime)
        scheme, _, address = location.partition("://")
        listening = f"{scheme}://{address.rsplit(':', 1)[0]}:{self.port}"
        self.location = runtime.settings.advertise_flight or listening
        # Set on shutdown: running streams stop at the next batch instead of finishing.
        self.stopping = threading.Event()
        self._streams = threading.BoundedSemaphore(runtime.settings.max_streams)

    @property
    def runtime(self) -> Runtime:
        return self.service.runtime

    @runtime.setter
    def runtime(self, runtime: Runtime) -> None:
        self.service.runtime = runtime

    @contextlib.contextmanager
    def _stream(self, verb: str, context: fl.ServerCallContext, **fields: Any) -> Iterator[dict]:
        """Stream slot (bounded), metrics and one log line per stream."""
        limit = self.runtime.settings.max_streams
        if not self._streams.acquire(blocking=False):
            raise fl.FlightUnavailableError(
                f"the server is already serving its limit of {limit} streams (max_streams); "
                "retry shortly"
            )
        metrics = self.runtime.metrics
        metrics.flight_streams.inc()
        state: dict[str, Any] = {"rows": 0, "outcome": "ok"}
        started = time.perf_counter()
        try:
            with flight_errors():
                yield state
        except FlightInvalidArgumentError:
            state["outcome"] = "invalid"
            raise
        except FlightNotFoundError:
            state["outcome"] = "not_found"
            raise
        except fl.FlightUnavailableError:
            state["outcome"] = "unavailable"
            raise
        except GeneratorExit:  # the client went away in the middle of a do_get
            state["outcome"] = "cancelled"
            raise
        except BaseException:
            state["outcome"] = "error"
            raise
        finally:
            self._streams.release()
            metrics.flight_streams.dec()
            if "feature_set" in fields:
                metrics.extract_requests.labels(fields["feature_set"], state["outcome"]).inc()
            log.info(
                f"flight.{verb}",
                correlation_id=correlation_id_of(context),
                fingerprint=self.runtime.fingerprint.fingerprint,
                outcome=state["outcome"],
                rows=state["rows"],
                seconds=round(time.perf_counter() - started, 3),
                **fields,
            )

    def _check_running(self) -> None:
        if self.stopping.is_set():
            raise fl.FlightUnavailableError(
                "the feature server is shutting down; retry against the new instance"
            )

    def _check_fingerprint(self, feature_set: str, expected: str | None) -> None:
        current = self.runtime.fingerprint.for_set(feature_set)
        if expected is not None and expected != current:
            raise InputError(
                f"{FINGERPRINT_MISMATCH}: the request expects {expected}, this server computes "
                f"{current} for {feature_set}; refetch the fingerprint (or flight info) and "
                "start a new run"
            )

    # -- exchange -------------------------------------------------------------------
    def do_exchange(
        self,
        context: fl.ServerCallContext,
        descriptor: fl.FlightDescriptor,
        reader: fl.MetadataRecordBatchReader,
        writer: fl.MetadataRecordBatchWriter,
    ) -> None:
        command = self._command(descriptor)
        with self._stream("exchange", context, feature_set=command.feature_set) as state:
            self._exchange(context, command, reader, writer, state)

    def _exchange(
        self,
        context: fl.ServerCallContext,
        command: ExtractCommand,
        reader: fl.MetadataRecordBatchReader,
        writer: fl.MetadataRecordBatchWriter,
        state: dict[str, Any],
    ) -> None:
        max_items = self.runtime.settings.max_items
        self._check_fingerprint(command.feature_set, command.fingerprint)
        check_input_schema(reader.schema)
        writer.begin(self.runtime.schema(command.feature_set))
        for chunk in reader:
            if context.is_cancelled():
                state["outcome"] = "cancelled"
                return
            self._check_running()
            batch = chunk.data
            if batch is None or batch.num_rows == 0:
                continue
            if state["rows"] + batch.num_rows > max_items:
                raise InputError(
                    f"row {max_items}: request has more than the limit of {max_items} rows "
                    "(max_items); split it into several requests"
                )
            out = self.service.features(batch, command.feature_set, state["rows"])
            writer.write_batch(out)
            state["rows"] += batch.num_rows

    @staticmethod
    def _command(descriptor: fl.FlightDescriptor) -> ExtractCommand:
        if descriptor.descriptor_type != fl.DescriptorType.CMD:
            raise FlightInvalidArgumentError(
                "do_exchange needs a command descriptor (FlightDescriptor.for_command) "
                'such as {"type": "extract.v1", "feature_set": "combined"}'
            )
        with flight_errors():
            return decode_command(descriptor.command)

    # -- datasets -------------------------------------------------------------------
    def _datasets(self) -> DatasetStore:
        if self.service.datasets is None:
            raise FlightInvalidArgumentError(
                "this server keeps no datasets: start it with HEMMA_STORE_DIR set"
            )
        return self.service.datasets

    def do_put(
        self,
        context: fl.ServerCallContext,
        descriptor: fl.FlightDescriptor,
        reader: fl.MetadataRecordBatchReader,
        writer: fl.FlightMetadataWriter,
    ) -> None:
        name = _path(descriptor, 1, "do_put needs a path descriptor [name]")[0]
        datasets = self._datasets()
        settings = self.runtime.settings
        with self._stream("put", context, dataset=name) as state:
            check_input_schema(reader.schema)

            def uploaded() -> Iterator[pa.RecordBatch]:
                for chunk in reader:
                    self._check_running()
                    if chunk.data is not None and chunk.data.num_rows:
                        yield chunk.data

            # put() checks each batch as it arrives, so an upload over max_items stops there.
            entry = datasets.put(
                name,
                uploaded(),
                max_text_chars=settings.max_text_chars,
                max_items=settings.max_items,
            )
            state["rows"] = entry.rows
            writer.write(pa.py_buffer(msgspec.json.encode(entry)))

    def list_flights(
        self, context: fl.ServerCallContext, criteria: bytes
    ) -> Iterator[fl.FlightInfo]:
        if self.service.datasets is None:
            return
        for entry in self.service.datasets.entries():
            for feature_set in FEATURE_SETS:
                yield self._flight_info(entry, feature_set)

    def get_flight_info(
        self, context: fl.ServerCallContext, descriptor: fl.FlightDescriptor
    ) -> fl.FlightInfo:
        name, feature_set = _path(
            descriptor, 2, "get_flight_info needs a path descriptor [name, feature_set]"
        )
        if feature_set not in FEATURE_SETS:
            raise FlightInvalidArgumentError(
                f"unknown feature set {feature_set!r}; use one of {', '.join(FEATURE_SETS)}"
            )
        with flight_errors():
            entry = self._datasets().entry(name)
        return self._flight_info(entry, feature_set)

    def _flight_info(self, entry: DatasetEntry, feature_set: Any) -> fl.FlightInfo:
        settings = self.runtime.settings
        locations = [self.location, *settings.peer_locations]
        fingerprint = self.runtime.fingerprint.for_set(feature_set)
        endpoints = []
        for shard, start in enumerate(range(0, entry.rows, settings.shard_rows)):
            ticket = ShardTicket(
                dataset=entry.sha256,
                name=entry.name,
                start=start,
                stop=min(start + settings.shard_rows, entry.rows),
                feature_set=feature_set,
                fingerprint=fingerprint,
            )
            where = locations[shard % len(locations)]
            endpoints.append(fl.FlightEndpoint(encode_ticket(ticket), [where]))
        return fl.FlightInfo(
            self.runtime.schema(feature_set),
            fl.FlightDescriptor.for_path(entry.name, feature_set),
            endpoints,
            entry.rows,
            -1,
        )

    def do_get(self, context: fl.ServerCallContext, ticket: fl.Ticket) -> fl.FlightDataStream:
        with flight_errors():
            shard = decode_ticket(ticket.ticket)
            self._check_fingerprint(shard.feature_set, shard.fingerprint)
            rows = self._datasets().read(shard.dataset, shard.start, shard.stop)
        schema = self.runtime.schema(shard.feature_set)
        return fl.GeneratorStream(schema, self._shard_batches(context, shard, rows))

    def _shard_batches(
        self, context: fl.ServerCallContext, shard: ShardTicket, rows: pa.Table
    ) -> Iterator[pa.RecordBatch]:
        fields = {"feature_set": shard.feature_set, "dataset": shard.name, "start": shard.start}
        with self._stream("get", context, **fields) as state:
            step = self.runtime.settings.batch_rows
            for offset in range(0, rows.num_rows, step):
                if context.is_cancelled():
                    state["outcome"] = "cancelled"
                    log.info("flight.cancelled", rows=state["rows"], dataset=shard.name)
                    return
                self._check_running()
                batch = rows.slice(offset, step).combine_chunks().to_batches()[0]
                yield self.service.features(batch, shard.feature_set, shard.start + offset)
                state["rows"] += batch.num_rows

    # -- actions ----------------------------------------------------------------------
    def list_actions(self, context: fl.ServerCallContext) -> list[tuple[str, str]]:
        return list(_ACTIONS.items())

    def do_action(self, context: fl.ServerCallContext, action: fl.Action) -> Any:
        match action.type:
            case "health":
                body = msgspec.json.encode({"status": "ok"})
            case "fingerprint":
                body = msgspec.json.encode(self.runtime.fingerprint)
            case "catalogue":
                body = msgspec.json.encode(list(self.runtime.catalogue))
            case other:
                raise FlightInvalidArgumentError(
                    f"unknown action {other!r}; available: {', '.join(_ACTIONS)}"
                )
        return [fl.Result(pa.py_buffer(body))]


def _path(descriptor: fl.FlightDescriptor, parts: int, message: str) -> list[str]:
    if descriptor.descriptor_type != fl.DescriptorType.PATH or len(descriptor.path) != parts:
        raise FlightInvalidArgumentError(message)
    return [p.decode() if isinstance(p, bytes) else str(p) for p in descriptor.path]


def create_flight_server(runtime: Runtime, host: str, port: int) -> FeatureFlightServer:
    """Start a Flight server on ``grpc://host:port`` (``grpc+tls`` with a certificate;
    port 0 picks a free one), requiring the bearer token when one is configured."""
    settings = runtime.settings
    middleware: dict[str, fl.ServerMiddlewareFactory] = {
        "correlation": CorrelationMiddlewareFactory()
    }
    if settings.auth_token:
        middleware["auth"] = BearerAuthMiddlewareFactory(settings.auth_token)
    options: dict[str, Any] = {}
    if settings.tls_cert_file and settings.tls_key_file:
        options["tls_certificates"] = [
            (Path(settings.tls_cert_file).read_bytes(), Path(settings.tls_key_file).read_bytes())
        ]
    return FeatureFlightServer(
        runtime, flight_url(host, port, tls=settings.tls), middleware=middleware, **options
    )
