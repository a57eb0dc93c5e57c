"""The data plane: an Arrow Flight server over the shared runtime.

``do_exchange`` with an ``extract.v1`` command: the client streams batches of
``essay_id, text, prompt``; the server answers each input batch with one feature batch
(same rows, same order) as soon as it is computed, so nothing is held whole in memory.
"""

from __future__ import annotations

import hmac
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.flight as fl
import structlog

from flight.contract import (
    FINGERPRINT_MISMATCH,
    CommandError,
    ExtractCommand,
    InputRuleError,
    check_input_batch,
    check_input_schema,
    decode_command,
)
from flight.errors import FlightInvalidArgumentError
from service.errors import DependencyError, InputError
from service.runtime import Runtime

log = structlog.get_logger(__name__)

_ACTIONS = {
    "health": "Liveness: {'status': 'ok'} while the server runs.",
    "fingerprint": "The fingerprint, its components and schema_version (JSON).",
    "catalogue": "The handcrafted feature catalogue (JSON list).",
}


class FeatureFlightServer(fl.FlightServerBase):
    """Flight server computing features with a loaded ``Runtime``."""

    def __init__(self, runtime: Runtime, location: str, **kwargs: Any) -> None:
        super().__init__(location, **kwargs)
        self.runtime = runtime
        # Set on shutdown: running exchanges stop at the next batch instead of finishing.
        self.stopping = threading.Event()

    # -- exchange -------------------------------------------------------------------
    def do_exchange(
        self,
        context: fl.ServerCallContext,
        descriptor: fl.FlightDescriptor,
        reader: fl.MetadataRecordBatchReader,
        writer: fl.MetadataRecordBatchWriter,
    ) -> None:
        command = self._command(descriptor)
        feature_set = command.feature_set
        correlation_id = _correlation_id(context)
        bound = log.bind(
            correlation_id=correlation_id,
            fingerprint=self.runtime.fingerprint.fingerprint,
            feature_set=feature_set,
        )
        metrics = self.runtime.metrics
        started = time.perf_counter()
        rows = 0
        outcome = "ok"
        metrics.flight_streams.inc()
        try:
            rows = self._exchange(context, command, reader, writer)
        except fl.FlightError:
            outcome = "error"
            raise
        except InputRuleError as exc:
            outcome = "invalid"
            raise FlightInvalidArgumentError(str(exc)) from exc
        except InputError as exc:
            outcome = "invalid"
            raise FlightInvalidArgumentError(str(exc)) from exc
        except DependencyError as exc:
            outcome = "unavailable"
            raise fl.FlightUnavailableError(str(exc)) from exc
        finally:
            metrics.flight_streams.dec()
            metrics.extract_requests.labels(feature_set, outcome).inc()
            bound.info(
                "flight.exchange",
                outcome=outcome,
                rows=rows,
                seconds=round(time.perf_counter() - started, 3),
            )

    def _exchange(
        self,
        context: fl.ServerCallContext,
        command: ExtractCommand,
        reader: fl.MetadataRecordBatchReader,
        writer: fl.MetadataRecordBatchWriter,
    ) -> int:
        settings = self.runtime.settings
        expected = command.fingerprint
        current = self.runtime.fingerprint.for_set(command.feature_set)
        if expected is not None and expected != current:
            raise InputError(
                f"{FINGERPRINT_MISMATCH}: the request expects {expected}, this server computes "
                f"{current}; refetch /v1/fingerprint and start a new run"
            )
        check_input_schema(reader.schema)
        writer.begin(self.runtime.schema(command.feature_set))
        rows = 0
        for chunk in reader:
            if context.is_cancelled():
                log.info("flight.cancelled", rows=rows)
                break
            if self.stopping.is_set():
                raise fl.FlightUnavailableError(
                    "the feature server is shutting down; retry against the new instance"
                )
            batch = chunk.data
            if batch is None or batch.num_rows == 0:
                continue
            if rows + batch.num_rows > settings.max_items:
                raise InputError(
                    f"row {settings.max_items}: request has more than the limit of "
                    f"{settings.max_items} rows (max_items); split it into several requests"
                )
            check_input_batch(batch, max_text_chars=settings.max_text_chars, first_row=rows)
            writer.write_batch(self.runtime.extract(batch, command.feature_set))
            rows += batch.num_rows
        return rows

    @staticmethod
    def _command(descriptor: fl.FlightDescriptor) -> ExtractCommand:
        if descriptor.descriptor_type != fl.DescriptorType.CMD:
            raise FlightInvalidArgumentError(
                "do_exchange needs a command descriptor (FlightDescriptor.for_command) "
                'such as {"type": "extract.v1", "feature_set": "combined"}'
            )
        try:
            return decode_command(descriptor.command)
        except CommandError as exc:
            raise FlightInvalidArgumentError(str(exc)) from exc

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


def _correlation_id(context: fl.ServerCallContext) -> str:
    headers = context.get_middleware("correlation")
    if headers is not None:
        return headers.correlation_id
    return uuid.uuid4().hex


class CorrelationMiddleware(fl.ServerMiddleware):
    """Carries the caller's ``x-correlation-id`` (or a new one) and echoes it back."""

    def __init__(self, correlation_id: str) -> None:
        self.correlation_id = correlation_id

    def sending_headers(self) -> dict[str, str]:
        return {"x-correlation-id": self.correlation_id}


class CorrelationMiddlewareFactory(fl.ServerMiddlewareFactory):
    """Creates one ``CorrelationMiddleware`` per call."""

    def start_call(self, info: fl.CallInfo, headers: dict[str, list[str]]) -> CorrelationMiddleware:
        values = headers.get("x-correlation-id") or [uuid.uuid4().hex]
        return CorrelationMiddleware(values[0][:128])


class BearerAuthMiddlewareFactory(fl.ServerMiddlewareFactory):
    """Refuses calls without ``authorization: Bearer <token>`` (Unauthenticated)."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    def start_call(self, info: fl.CallInfo, headers: dict[str, list[str]]) -> None:
        given = (headers.get("authorization") or [""])[0].encode()
        if not hmac.compare_digest(given, self._expected):
            raise fl.FlightUnauthenticatedError(
                "this server requires 'authorization: Bearer <token>' (HEMMA_TOKEN)"
            )


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
    scheme = "grpc"
    if settings.tls_cert_file and settings.tls_key_file:
        scheme = "grpc+tls"
        options["tls_certificates"] = [
            (Path(settings.tls_cert_file).read_bytes(), Path(settings.tls_key_file).read_bytes())
        ]
    return FeatureFlightServer(
        runtime, f"{scheme}://{host}:{port}", middleware=middleware, **options
    )
