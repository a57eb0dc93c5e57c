"""The one place where server errors become Flight statuses.

    raised on the server                          Flight status (client sees)
    InputRuleError, CommandError, InputError      INVALID_ARGUMENT (pyarrow.ArrowInvalid)
    NotFoundError                                 NOT_FOUND (pyarrow.ArrowKeyError)
    DependencyError                               UNAVAILABLE (FlightUnavailableError)

Errors already raised as Flight errors pass through unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pyarrow.flight as fl
from hemma_features.service.errors import DependencyError, InputError, NotFoundError

from hemma_features.contract import (
    ContractError,
    FlightInvalidArgumentError,
    FlightNotFoundError,
)


@contextlib.contextmanager
def flight_errors() -> Iterator[None]:
    """Translate our errors into the Flight status a client can act on."""
    try:
        yield
    except (ContractError, InputError) as exc:
        raise FlightInvalidArgumentError(str(exc)) from exc
    except NotFoundError as exc:
        raise FlightNotFoundError(str(exc)) from exc
    except DependencyError as exc:
        raise fl.FlightUnavailableError(str(exc)) from exc

