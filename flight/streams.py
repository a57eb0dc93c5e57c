"""What every Flight stream shares: its log line and metrics, reading the client's input,
and computing features micro-batch by micro-batch under the admission slots.

Knows gRPC only through the ``ServerCallContext`` it polls for cancellation.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.flight as fl
import structlog

from hemma_features.contract import as_input_batch, decode_error_info
from hemma_features.engine.errors import InputError, ShuttingDownError
from hemma_features.engine.step_loop import InputBatch, StoreBackedFeatures
from hemma_features.flight.admission import Admission
from hemma_features.flight.errors import to_flight_error
from hemma_features.flight.middleware import correlation_id_of

log = structlog.get_logger(__name__)


class Cancelled(Exception):
    """The client went away or cancelled; the stream ends without an answer."""


class StreamState:
    """Rows done and the outcome of one stream, for its log line and metrics."""

    def __init__(self, correlation_id: str) -> None:
        self.correlation_id = correlation_id
        self.rows = 0
        self.outcome = "ok"


def _outcome(exc: BaseException) -> str:
    """The outcome label of a stream that ended with the (mapped) Flight error ``exc``."""
    match exc:
        case pa.ArrowInvalid():
            return "invalid"
        case pa.ArrowKeyError():
            return "not_found"
        case fl.FlightError():
            info = decode_error_info(exc.extra_info)
            return info.code if info is not None else type(exc).__name__
    return "error"


@contextlib.contextmanager
def served(
    verb: str,
    context: fl.ServerCallContext,
    features: StoreBackedFeatures,
    **fields: Any,
) -> Iterator[StreamState]:
    """One stream: errors mapped to Flight statuses, one log line, metrics by outcome."""
    runtime = features.runtime
    state = StreamState(correlation_id_of(context))
    metrics = runtime.metrics
    metrics.flight_streams.inc()
    started = time.perf_counter()
    try:
        try:
            yield state
            if context.is_cancelled():  # the input "ended" because the client cancelled it
                state.outcome = "cancelled"
        except Cancelled:
            state.outcome = "cancelled"
        except Exception as exc:  # leaves as a Flight status, never as a traceback
            if context.is_cancelled():
                # The client cancelled (Ctrl-C) or went away: what failed after that (a write
                # to the closed stream, a read of it) is the cancel, not a server error, and
                # nobody is left to answer.
                state.outcome = "cancelled"
                return
            mapped = to_flight_error(exc, state.correlation_id)
            state.outcome = _outcome(mapped)
            raise mapped from None
    except GeneratorExit:  # the client went away in the middle of a do_get
        state.outcome = "cancelled"
        raise
    finally:
        metrics.flight_streams.dec()
        if "feature_set" in fields:
            metrics.extract_requests.labels(fields["feature_set"], state.outcome).inc()
        log.info(
            f"flight.{verb}",
            correlation_id=state.correlation_id,
            fingerprint=runtime.fingerprint.fingerprint,
            outcome=state.outcome,
            rows=state.rows,
            seconds=round(time.perf_counter() - started, 3),
            **fields,
        )


def input_schema(reader: fl.MetadataRecordBatchReader) -> pa.Schema:
    """The schema the client declared; a stream that ended before declaring one is the
    client's error."""
    try:
        return reader.schema
    except (OSError, pa.ArrowException) as exc:
        raise InputError(
            "the stream ended before it declared a schema: call writer.begin(schema) before "
            f"writing or done_writing() ({exc})"
        ) from exc


def input_batches(
    reader: fl.MetadataRecordBatchReader, idle_timeout: float
) -> Iterator[pa.RecordBatch]:
    """The client's non-empty batches in the input schema (``large_string`` cast).

    A stream the client left silent for longer than ``idle_timeout`` is ended when it next
    speaks; a stream that cannot be read as Arrow is the client's error, named as such.
    """
    while True:
        waited_from = time.monotonic()
        try:
            chunk = reader.read_chunk()
        except StopIteration:
            return
        except pa.ArrowException as exc:
            raise InputError(f"the uploaded stream could not be read as Arrow: {exc}") from exc
        idle = time.monotonic() - waited_from
        if idle > idle_timeout:
            raise InputError(
                f"the stream was idle for {idle:.0f} s, longer than the limit of "
                f"{idle_timeout:g} s (stream_idle_timeout); open a new one"
            )
        if chunk.data is not None and chunk.data.num_rows:
            yield as_input_batch(chunk.data)


class MicroBatchCompute:
    """Feature batches for one input batch, as they become ready, in input order.

    The engine's step loop (``StoreBackedFeatures.answers``) plans and steps; this adapts it
    to a stream: stored stretches are sent at once (no compute slot), each micro-batch is
    computed under a slot and sent in order as it finishes. Between batches it stops if the
    client cancelled or went away (``Cancelled``) or the server is shutting down
    (``ShuttingDownError``); the micro-batches already running finish and are stored, none
    starts after.
    """

    def __init__(self, admission: Admission, stopping: threading.Event) -> None:
        self.admission = admission
        self.stopping = stopping

    def __call__(
        self,
        verb: str,
        features: StoreBackedFeatures,
        context: fl.ServerCallContext,
        state: StreamState,
        batch: InputBatch,
    ) -> Iterator[pa.RecordBatch]:
        """``batch``'s feature batches from the engine's step loop, with this stream's stop
        checks and compute slots (``verb``: the Flight verb, for admission metrics)."""

        def check() -> None:
            if context.is_cancelled():
                raise Cancelled
            if self.stopping.is_set():
                raise ShuttingDownError()

        # Answers are sent outside the slots: a slow reader holds no compute.
        yield from features.answers(
            batch, slot=lambda: self.admission.slot(verb, state.correlation_id), check=check
        )
