"""Errors raised by the client.

Hierarchy::

    HemmaClientError
    ├── ServerUnavailableError    the server can't be reached (tunnel down, wrong port)
    ├── ServerRejectedError       the server refused the request (bad input, over a limit)
    ├── FingerprintChangedError   the server's fingerprint changed during a run
    ├── ProtocolError             the server answered something the contract forbids
    ├── InputFileError            the input file can't be read or lacks a column
    └── CacheError                the cache directory is inconsistent or misused

Row-level input problems raise ``flight.contract.InputRuleError`` (a ``ValueError``),
before anything is sent.
"""

from __future__ import annotations


class HemmaClientError(Exception):
    """Base class of every client error."""


class ServerUnavailableError(HemmaClientError):
    """The control or data plane did not answer."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(
            f"feature server at {url} is unavailable: {reason}. Check that the server runs "
            "(`hemma-features health --server URL`) and, through SSH, that the tunnel forwards "
            "both ports (e.g. ssh -N -L 19000:127.0.0.1:9000 -L 19001:127.0.0.1:9001 hemma)."
        )


class ServerRejectedError(HemmaClientError):
    """The server refused the request; the message is the server's."""


class FingerprintChangedError(HemmaClientError):
    """The server now computes a different fingerprint than the run started with."""


class ProtocolError(HemmaClientError):
    """The server's answer broke the contract (row count, ids, schema)."""


class InputFileError(HemmaClientError):
    """The input can't be read as essays."""


class CacheError(HemmaClientError):
    """The cache directory is inconsistent or was asked for something it can't do."""
