"""The one place where server errors become Flight statuses.

    raised on the server                          Flight status (client sees)
    InputRuleError, CommandError, InputError      INVALID_ARGUMENT (pyarrow.ArrowInvalid)
    NotFoundError                                 NOT_FOUND (pyarrow.ArrowKeyError)
    BusyError                                     UNAVAILABLE, code busy, retry_after
    ShuttingDownError                             UNAVAILABLE, code shutting_down
    WorkerLostError                               UNAVAILABLE, code worker_lost
    DependencyError                               UNAVAILABLE, code dependency_unavailable
    FingerprintMismatchError                      Failed (FlightServerError), fingerprint_mismatch
    anything else (a bug)                         INTERNAL, code internal; traceback in the log

Flight errors carry an ``ErrorInfo`` (JSON) in ``extra_info``: a code a client acts on
without reading the message. No reply carries a traceback or a server path: pyarrow
formats other Python exceptions into the reply with ``traceback.format_exception``; the
exceptions below decline to be formatted, so pyarrow sends only their class name.

``get_schema`` is the exception: pyarrow's handler for it (``_get_schema`` in
``pyarrow/_flight.pyx``, unlike every other verb's) does not turn a ``FlightError`` into
its status, so there the Flight statuses above leave as UNKNOWN with the ``ErrorInfo``'s
code and correlation id in the message (``schema_errors``), never with a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.flight as fl
import structlog

from hemma_features.contract import (
    ContractError,
    ErrorInfo,
    decode_error_info,
    encode_error_info,
)
from hemma_features.engine.errors import (
    BusyError,
    DependencyError,
    FingerprintMismatchError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    ShuttingDownError,
    WorkerLostError,
)
from hemma_features.redaction import redact_text

log = structlog.get_logger(__name__)


class _NoTraceback:
    """Mixin: ``traceback.format_exception`` fails on these, so pyarrow puts only the class
    name, not the traceback with its file paths, into the reply's detail."""

    @property
    def __notes__(self) -> list[str]:
        raise RuntimeError("not formatted: the reply carries no traceback")


class InvalidArgument(_NoTraceback, pa.ArrowInvalid):
    """INVALID_ARGUMENT with the message only."""


class NotFound(_NoTraceback, pa.ArrowKeyError):
    """NOT_FOUND with the message only (not quoted as a KeyError would be).

    A wire stand-in, raised only here, at the boundary: pyarrow turns an exception into
    NOT_FOUND only when it is a ``KeyError`` (any other class leaves as UNKNOWN), so this
    one must be ``pyarrow.ArrowKeyError``. The project's own error is ``NotFoundError``
    (``engine.errors``), no lookup error; clients catch pyarrow's class by name
    (``contract.FlightNotFoundError``), never a bare ``KeyError``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Unknown(_NoTraceback, pa.ArrowException):
    """UNKNOWN with the message only (``get_schema``'s stand-in for a Flight status)."""


def _info(code: str, correlation_id: str, **fields: object) -> bytes:
    return encode_error_info(ErrorInfo(code=code, correlation_id=correlation_id, **fields))  # type: ignore[arg-type]


MAX_MESSAGE_BYTES = 1000
"""Longest message sent back, in UTF-8 bytes: gRPC carries it twice in the reply's metadata
and percent-encodes every non-ASCII byte, and a client refuses metadata past 8-16 KiB, so a
message echoing a huge input would otherwise arrive as some other error."""


def _bounded(message: str) -> str:
    data = message.encode()
    if len(data) <= MAX_MESSAGE_BYTES:
        return message
    kept = data[:MAX_MESSAGE_BYTES].decode(errors="ignore")  # never split a character
    return f"{kept}... ({len(message) - len(kept)} more characters)"


def to_flight_error(exc: BaseException, correlation_id: str) -> BaseException:
    """The Flight exception that tells the client what ``exc`` means."""
    message = _bounded(redact_text(str(exc)))
    match exc:
        case fl.FlightError():
            return exc if _bounded(str(exc)) == str(exc) else type(exc)(message, exc.extra_info)
        case ContractError() | InputError():
            return InvalidArgument(message)
        case NotFoundError():
            return NotFound(message)
        case BusyError():
            return fl.FlightUnavailableError(
                message, _info("busy", correlation_id, retry_after=exc.retry_after)
            )
        case ShuttingDownError():
            return fl.FlightUnavailableError(message, _info("shutting_down", correlation_id))
        case WorkerLostError():
            return fl.FlightUnavailableError(message, _info("worker_lost", correlation_id))
        case DependencyError():
            extra = _info(
                "dependency_unavailable",
                correlation_id,
                dependency=exc.dependency,
                retry_after=exc.retry_after,
            )
            return fl.FlightUnavailableError(message, extra)
        case PermissionDeniedError():
            return fl.FlightUnauthorizedError(message, _info("permission_denied", correlation_id))
        case FingerprintMismatchError():
            return fl.FlightServerError(message, _info("fingerprint_mismatch", correlation_id))
    log.error(
        "flight.internal_error",
        correlation_id=correlation_id,
        error=type(exc).__name__,
        exc_info=exc,
    )
    return fl.FlightInternalError(
        f"internal server error (correlation id {correlation_id}); the server log has the details",
        _info("internal", correlation_id),
    )


@contextlib.contextmanager
def flight_errors(correlation_id: str) -> Iterator[None]:
    """Translate anything raised in the block into the Flight status a client can act on."""
    try:
        yield
    except Exception as exc:  # every error leaves as a Flight status, none as a traceback
        raise to_flight_error(exc, correlation_id) from None


@contextlib.contextmanager
def schema_errors(correlation_id: str) -> Iterator[None]:
    """``flight_errors`` for ``get_schema``: INVALID_ARGUMENT and NOT_FOUND as everywhere, any
    other status as ``Unknown`` naming its ``ErrorInfo`` code in the message."""
    try:
        yield
    except Exception as exc:  # every error leaves as a status, none as a traceback
        mapped = to_flight_error(exc, correlation_id)
        if not isinstance(mapped, fl.FlightError):
            raise mapped from None
        info = decode_error_info(mapped.extra_info)
        code = info.code if info is not None else type(mapped).__name__
        raise Unknown(f"{mapped} ({code}; correlation id {correlation_id})") from None
