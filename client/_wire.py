"""Flight wire helpers of the client: reading one batch's answer, cleaning server messages."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.flight as fl

from hemma_features.client.errors import (
    DependencyUnavailableError,
    FingerprintChangedError,
    LocationError,
    ProtocolError,
    RetryableError,
    ServerBusyError,
    ServerInternalError,
    ServerRejectedError,
    ServerUnavailableError,
)
from hemma_features.client.run_report import RunStats
from hemma_features.contract import (
    ID_COLUMN,
    FlightInvalidArgumentError,
    FlightNotFoundError,
    decode_error_info,
)


def answers(
    reader: fl.FlightStreamReader, sent: pa.RecordBatch, sent_at: float, stats: RunStats | None
) -> Iterator[pa.RecordBatch]:
    """The server's answer to one sent batch: one or more batches (micro-batches as they
    finish) whose rows are the sent rows, in order. Anything else is a ``ProtocolError``.

    Each answered micro-batch adds one latency to ``stats``: from the later of the batch's
    sending and the previous answer to its arrival (the wait for that micro-batch alone),
    so a run under one ``--chunk-rows`` batch still has a latency per micro-batch."""
    offset = 0
    ids = sent.column(ID_COLUMN)
    while offset < sent.num_rows:
        try:
            batch = reader.read_chunk().data
        except StopIteration:
            batch = None
        if batch is None or batch.num_rows == 0 or offset + batch.num_rows > sent.num_rows:
            got = offset + (0 if batch is None else batch.num_rows)
            raise ProtocolError(f"server answered {got} rows for a batch of {sent.num_rows}")
        if not batch.column(ID_COLUMN).equals(ids.slice(offset, batch.num_rows)):
            raise ProtocolError("server answered rows in a different order than sent")
        offset += batch.num_rows
        if stats is not None:
            now = time.perf_counter()
            if stats.first_rows_at is None:
                stats.first_rows_at = now
            since = sent_at if stats.last_answer_at is None else max(sent_at, stats.last_answer_at)
            stats.latencies.append(now - since)
            stats.last_answer_at = now
        yield batch


def server_message(exc: Exception) -> str:
    """The server's message without gRPC's decoration."""
    text = str(exc)
    for marker in (". Detail:", "gRPC client debug context"):
        text = text.split(marker)[0]
    return text.strip()


@contextlib.contextmanager
def flight_call(
    location: str, what: str, hint: str | None = None, *, flight_port: int | None = None
) -> Iterator[None]:
    """Translate a Flight failure into the client's errors, once, at the boundary.

    The server's structured ``ErrorInfo`` decides, not its message text: ``busy`` and the
    like are ``ServerBusyError``, a failed dependency ``DependencyUnavailableError``, a
    stale fingerprint ``FingerprintChangedError``, an internal error
    ``ServerInternalError``. Unavailable without ``ErrorInfo`` never reached the server:
    ``ServerUnavailableError``, with ``hint`` (what to do about a location the user did
    not type) instead of the generic tunnel check. An HTTP server at ``location`` (the
    control plane's port given for Flight) is a ``LocationError`` at once, naming the
    server's ``flight_port`` when known, never retried. Only ``RetryableError`` is retried.
    Nothing else is caught: only pyarrow's Flight errors and its classes for
    INVALID_ARGUMENT and NOT_FOUND (``contract.errors``) are translated.
    """
    try:
        yield
    except (fl.FlightUnauthenticatedError, fl.FlightUnauthorizedError) as exc:
        raise ServerRejectedError(f"{location} refused the token: {server_message(exc)}") from exc
    except fl.FlightUnavailableError as exc:
        if any(sign in str(exc) for sign in _HTTP_SIGNS):
            raise LocationError(_http_port_message(location, flight_port)) from exc
        raise _unavailable(location, exc, hint) from exc
    except (fl.FlightTimedOutError, fl.FlightCancelledError) as exc:
        raise ServerRejectedError(f"the call ended early: {server_message(exc)}") from exc
    except (fl.FlightInternalError, fl.FlightServerError) as exc:
        info = decode_error_info(exc.extra_info)
        message = server_message(exc)
        if info is not None and info.code == "fingerprint_mismatch":
            raise FingerprintChangedError(
                f"the server's {what} fingerprint changed during the run (it was redeployed?): "
                f"{message}"
            ) from exc
        raise ServerInternalError(f"the server at {location} failed: {message}") from exc
    except (FlightInvalidArgumentError, FlightNotFoundError) as exc:
        # pyarrow's own classes for INVALID_ARGUMENT and NOT_FOUND, caught by name: a bare
        # KeyError would also swallow a bug's lookup error as the server's refusal
        raise ServerRejectedError(server_message(exc)) from exc
    except fl.FlightError as exc:
        raise ServerUnavailableError(location, server_message(exc), hint=hint) from exc


_HTTP_SIGNS = ("Failed parsing HTTP/2", "http1.x server")
"""What gRPC says when the other end speaks HTTP/1 (uvicorn: the control plane)."""


def _http_port_message(location: str, flight_port: int | None) -> str:
    where = (
        f"the server's Flight plane is on port {flight_port} (through an SSH tunnel, the "
        "local end of that port's forward)"
        if flight_port is not None
        else "the Flight plane is on the server's other port (9001 by default)"
    )
    return (
        f"{location} answers HTTP/1, not Arrow Flight: that is the HTTP (control-plane) "
        f"port; {where}"
    )


def _unavailable(location: str, exc: fl.FlightUnavailableError, hint: str | None) -> RetryableError:
    info = decode_error_info(exc.extra_info)
    message = server_message(exc)
    if info is None:
        return ServerUnavailableError(location, message, hint=hint)
    if info.code == "dependency_unavailable":
        return DependencyUnavailableError(
            info.dependency or "dependency", message, retry_after=info.retry_after
        )
    return ServerBusyError(f"{message} ({location})", retry_after=info.retry_after)
