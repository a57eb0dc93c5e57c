"""How server errors travel over Flight (gRPC status -> pyarrow exception on the client).

pyarrow has no ``FlightInvalidArgumentError`` class: gRPC INVALID_ARGUMENT is raised and
received as ``pyarrow.ArrowInvalid``, NOT_FOUND as ``pyarrow.ArrowKeyError`` (a KeyError),
UNAVAILABLE as ``pyarrow.flight.FlightUnavailableError``. These aliases name the status.

    Status            server raises / client catches
    INVALID_ARGUMENT  FlightInvalidArgumentError (= pyarrow.ArrowInvalid)
    NOT_FOUND         FlightNotFoundError (= pyarrow.ArrowKeyError, a KeyError)
    UNAVAILABLE       pyarrow.flight.FlightUnavailableError
    INTERNAL          pyarrow.flight.FlightInternalError / FlightServerError
"""

from __future__ import annotations

import pyarrow as pa

FlightInvalidArgumentError = pa.ArrowInvalid
FlightNotFoundError = pa.ArrowKeyError

__all__ = ["FlightInvalidArgumentError", "FlightNotFoundError"]
