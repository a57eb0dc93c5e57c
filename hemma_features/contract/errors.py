"""Errors of the wire contract, shared by both sides, and how Flight carries a status.

Hierarchy::

    ContractError (ValueError)    a message breaks the wire contract
    ├── InputRuleError            a row or the input schema breaks an input rule
    └── CommandError              a command descriptor or a ticket cannot be decoded

The server maps these to Flight INVALID_ARGUMENT (``hemma_features.flight.errors``); the
client raises ``InputRuleError`` itself before anything is sent.

pyarrow has no ``FlightInvalidArgumentError`` class: gRPC INVALID_ARGUMENT is raised and
received as ``pyarrow.ArrowInvalid``, NOT_FOUND as ``pyarrow.ArrowKeyError`` (a KeyError),
UNAVAILABLE as ``pyarrow.flight.FlightUnavailableError``. The aliases below name the status.

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

# Prefix of the error a server gives when a request pins another fingerprint.
FINGERPRINT_MISMATCH = "fingerprint mismatch"


class ContractError(ValueError):
    """Base class of every wire-contract error."""


class InputRuleError(ContractError):
    """A row breaks an input rule. The message names the row, the essay id and the rule."""

    def __init__(self, row: int | None, essay_id: str | None, rule: str) -> None:
        self.row = row
        self.essay_id = essay_id
        self.rule = rule
        where = "input" if row is None else f"row {row}"
        if essay_id is not None:
            where += f" (essay_id={essay_id!r})"
        super().__init__(f"{where}: {rule}")


class CommandError(ContractError):
    """A Flight command descriptor or ticket could not be decoded."""
