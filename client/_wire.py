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
    ProtocolError,
    RetryableError,
    ServerBusyError,
    ServerInternalError,
    ServerRejectedError,
    ServerUnavailableError,
)
from hemma_features.client.report import RunStats
from hemma_features.contract import ID_COLUMN, FlightInvalidArgumentError, decode_error_info


def answers(
    reader: fl.FlightStreamReader, sent: pa.RecordBatch, sent_at: float, stats: RunStats | None
) -> Iterator[pa.RecordBatch]:
    """The server's answer to one sent batch: one or more batches (micro-batches as they
    finish) whose rows are the sent rows, in order. Anything else is a ``ProtocolError``."""
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
        if stats is not None and stats.first_rows_at is None:
            stats.first_rows_at = time.perf_counter()
        yield batch
    if stats is not None:
        stats.latencies.append(time.perf_counter() - sent_at)


def server_message(exc: Exception) -> str:
    """The server's message without gRPC's decoration."""
    text = str(exc)
    for marker in (". Detail:", "gRPC client debug context"):
        text = text.split(marker)[0]
    return text.strip()


@contextlib.contextmanager
def flight_call(location: str, what: str, hint: str | None = None) -> Iterator[None]:
    """Translate a Flight failure into the client's errors, once, at the boundary.

    The server's structured ``ErrorInfo`` decides, not its message text: ``busy`` and the
    like are ``ServerBusyError``, a failed dependency ``DependencyUnavailableError``, a
    stale fingerprint ``FingerprintChangedError``, an internal error
    ``ServerInternalError``. Unavailable without ``ErrorInfo`` never reached the server:
    ``ServerUnavailableError``, with ``hint`` (what to do about a location the user did
    not type) instead of the generic tunnel check. Only ``RetryableError`` is retried.
    """
    try:
        yield
    except (fl.FlightUnauthenticatedError, fl.FlightUnauthorizedError) as exc:
        raise ServerRejectedError(f"{location} refused the token: {server_message(exc)}") from exc
    except fl.FlightUnavailableError as exc:
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
    except (FlightInvalidArgumentError, KeyError) as exc:
        raise ServerRejectedError(server_message(exc)) from exc
    except fl.FlightError as exc:
        raise ServerUnavailableError(location, server_message(exc), hint=hint) from exc


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
