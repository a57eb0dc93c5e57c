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

from typing import Literal

import msgspec
import pyarrow as pa

FlightInvalidArgumentError = pa.ArrowInvalid
FlightNotFoundError = pa.ArrowKeyError

# Prefix of the error a server gives when a request pins another fingerprint.
FINGERPRINT_MISMATCH = "fingerprint mismatch"

ErrorCode = Literal[
    "busy",
    "shutting_down",
    "dependency_unavailable",
    "fingerprint_mismatch",
    "worker_lost",
    "permission_denied",
    "internal",
]
"""Structured reasons a Flight error carries in ``extra_info`` (``ErrorInfo``):

- ``busy``: every compute slot is taken and the wait queue is full or timed out; retry
  after a pause (Unavailable).
- ``shutting_down``: the server is stopping; retry against the new instance (Unavailable).
- ``dependency_unavailable``: a dependency (``dependency`` names it, e.g. LanguageTool)
  failed; ``retry_after`` when it said when to come back (Unavailable).
- ``fingerprint_mismatch``: the request pins a fingerprint the server no longer computes
  (Failed: start a new run).
- ``worker_lost``: a parse worker died under the request; it has been replaced (Unavailable).
- ``permission_denied``: the call needs a credential it lacked, e.g. the admin token of the
  ``reload`` action (Unauthorized).
- ``internal``: an unexpected server error; ``correlation_id`` finds it in the server log.
"""


class ErrorInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``extra_info`` of a Flight error from this server: a reason a program can act on."""

    code: ErrorCode
    """What went wrong (see ``ErrorCode``)."""
    correlation_id: str = ""
    """Id of the call in the server's log."""
    retry_after: float | None = None
    """Seconds to wait before retrying, when the server knows."""
    dependency: str | None = None
    """The dependency that failed (``dependency_unavailable``)."""


_ERROR_INFO = msgspec.json.Decoder(ErrorInfo)


def encode_error_info(info: ErrorInfo) -> bytes:
    """``extra_info`` bytes for a Flight error."""
    return msgspec.json.encode(info)


def decode_error_info(raw: bytes | None) -> ErrorInfo | None:
    """The ``ErrorInfo`` in a Flight error's ``extra_info``, or None (another server, or
    a transport failure that never reached one)."""
    if not raw:
        return None
    try:
        return _ERROR_INFO.decode(raw)
    except msgspec.DecodeError:
        return None


class ContractError(ValueError):
    """Base class of every wire-contract error."""


ROW_NUMBERS = "rows count from 0 in input order, like pandas .iloc; a CSV header is not a row"
"""How to read the row numbers in input errors."""
SHOWN_VIOLATIONS = 10
"""Most bad rows one error lists (it says how many more there are)."""


def _where(row: int | None, essay_id: str | None) -> str:
    where = "input" if row is None else f"row {row}"
    if essay_id is not None:
        where += f" (essay_id={essay_id!r})"
    return where


class InputRuleError(ContractError):
    """Rows break input rules. The message names every bad row (up to
    ``SHOWN_VIOLATIONS``), its essay id and the rule, and says how rows are numbered.

    ``row``, ``essay_id`` and ``rule`` describe the first violation; ``violations`` has
    them all as ``(row, essay_id, rule)``.
    """

    def __init__(
        self,
        row: int | None,
        essay_id: str | None,
        rule: str,
        *,
        more: list[tuple[int | None, str | None, str]] | None = None,
    ) -> None:
        self.row = row
        self.essay_id = essay_id
        self.rule = rule
        self.violations = [(row, essay_id, rule), *(more or [])]
        shown = "; ".join(
            f"{_where(r, e)}: {rule_}" for r, e, rule_ in self.violations[:SHOWN_VIOLATIONS]
        )
        hidden = len(self.violations) - SHOWN_VIOLATIONS
        if hidden > 0:
            shown += f"; and {hidden} more"
        if len(self.violations) > 1:
            shown = f"{len(self.violations)} rows break the input rules: {shown}"
        if any(r is not None for r, _, _ in self.violations):
            shown += f" ({ROW_NUMBERS})"
        super().__init__(shown)

    @classmethod
    def of(cls, violations: list[tuple[int | None, str | None, str]]) -> InputRuleError:
        """One error for every violation found (sorted by row)."""
        ordered = sorted(violations, key=lambda v: (v[0] is None, v[0] or 0))
        (row, essay_id, rule), *more = ordered
        return cls(row, essay_id, rule, more=more)


class CommandError(ContractError):
    """A Flight command descriptor or ticket could not be decoded."""
