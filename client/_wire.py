"""Flight wire helpers of the client: reading one answer batch, cleaning server messages."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.flight as fl
from hemma_features.client.errors import (
    FingerprintChangedError,
    ProtocolError,
    ServerRejectedError,
    ServerUnavailableError,
)
from hemma_features.client.report import RunStats

from hemma_features.contract import FINGERPRINT_MISMATCH, ID_COLUMN, FlightInvalidArgumentError


def received(
    reader: fl.FlightStreamReader, sent: pa.RecordBatch, sent_at: float, stats: RunStats | None
) -> pa.RecordBatch:
    batch = reader.read_chunk().data
    if stats is not None:
        stats.latencies.append(time.perf_counter() - sent_at)
    if batch is None or batch.num_rows != sent.num_rows:
        got = 0 if batch is None else batch.num_rows
        raise ProtocolError(f"server answered {got} rows for a batch of {sent.num_rows}")
    if not batch.column(ID_COLUMN).equals(sent.column(ID_COLUMN)):
        raise ProtocolError("server answered rows in a different order than sent")
    return batch


def server_message(exc: Exception) -> str:
    """The server's message without gRPC's decoration."""
    text = str(exc)
    for marker in (". Detail:", "gRPC client debug context"):
        text = text.split(marker)[0]
    return text.strip()


@contextlib.contextmanager
def flight_call(location: str, what: str) -> Iterator[None]:
    """Translate a Flight failure into the client's errors, once, at the boundary.

    Unauthenticated, InvalidArgument, NotFound and server errors are rejections (a stale
    fingerprint is ``FingerprintChangedError``); any other transport failure is
    ``ServerUnavailableError``, the only kind the client retries.
    """
    try:
        yield
    except fl.FlightUnauthenticatedError as exc:
        raise ServerRejectedError(f"{location} refused the token: {server_message(exc)}") from exc
    except (FlightInvalidArgumentError, KeyError, fl.FlightServerError) as exc:
        message = server_message(exc)
        if message.startswith(FINGERPRINT_MISMATCH):
            raise FingerprintChangedError(
                f"the server's {what} fingerprint changed during the run (it was redeployed?): "
                f"{message}"
            ) from exc
        raise ServerRejectedError(message) from exc
    except fl.FlightError as exc:
        raise ServerUnavailableError(location, server_message(exc)) from exc
