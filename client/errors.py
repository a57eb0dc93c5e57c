"""Errors raised by the client.

Hierarchy::

    HemmaClientError
    ├── RetryableError              worth another try (``fetch`` retries these, bounded)
    │   ├── ServerUnavailableError  the server can't be reached (tunnel down, wrong port)
    │   ├── ServerBusyError         the server is busy, restarting a worker, or stopping
    │   └── DependencyUnavailableError  a dependency of the server (LanguageTool) failed
    ├── ServerRejectedError         the server refused the request (bad input, over a limit)
    ├── ServerInternalError         the server failed unexpectedly (its log has the details)
    ├── FingerprintChangedError     the server's fingerprint changed during a run
    ├── ProtocolError               the server answered something the contract forbids
    ├── LocationError               a server or Flight location given is not a dialable URL
    ├── InputFileError              the input file can't be read or lacks a column
    ├── CacheError                  the cache directory is inconsistent, misused or unwritable
    ├── LabelsError                 labels can't be joined to feature rows (ids, score columns)
    ├── ScopeError                  an ids file (--ids-from) can't be read or matches no row
    └── EvaluationError             an evaluation can't be run as asked (targets, folds, groups)

Row-level input problems raise ``hemma_features.contract.InputRuleError`` (a
``ValueError``), before anything is sent. ``hemma_features.client._wire.flight_call`` is the
one place that turns Flight failures into these (``ray_engine.translate.translated`` does the
same for Ray's). No class here subclasses a builtin lookup error.
"""

from __future__ import annotations

TUNNEL_HINT = (
    "Check that the server runs (`hemma-features health --server URL`) and, through SSH, "
    "that the tunnel forwards both ports (e.g. ssh -N -L 19000:127.0.0.1:9000 "
    "-L 19001:127.0.0.1:9001 hemma)."
)


class HemmaClientError(Exception):
    """Base class of every client error."""


class RetryableError(HemmaClientError):
    """A failure another attempt may not meet; ``retry_after`` when the server said."""

    retry_after: float | None = None


class ServerUnavailableError(RetryableError):
    """The control or data plane did not answer."""

    def __init__(
        self, url: str, reason: str, *, attempts: int = 1, hint: str | None = None
    ) -> None:
        self.url = url
        self.reason = reason
        self.attempts = attempts
        self.hint = hint
        tried = f" (tried {attempts} times)" if attempts > 1 else ""
        super().__init__(
            f"feature server at {url} is unavailable{tried}: {reason}. {hint or TUNNEL_HINT}"
        )


class ServerBusyError(RetryableError):
    """The server answered but cannot take the work now (all slots busy, stopping)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class DependencyUnavailableError(RetryableError):
    """The server is reachable, but a dependency it needs (LanguageTool) failed."""

    def __init__(self, dependency: str, message: str, retry_after: float | None = None) -> None:
        self.dependency = dependency
        self.retry_after = retry_after
        super().__init__(
            f"the server is reachable, but its {dependency} is not: {message} (ask the "
            f"server's operator to check {dependency}; embeddings-only runs still work)"
        )


class ServerRejectedError(HemmaClientError):
    """The server refused the request; the message is the server's."""


class ServerInternalError(HemmaClientError):
    """The server failed unexpectedly; the message carries its correlation id."""


class FingerprintChangedError(HemmaClientError):
    """The server now computes a different fingerprint than the run started with."""


class ProtocolError(HemmaClientError):
    """The server's answer broke the contract (row count, ids, schema, fingerprint)."""


class LocationError(HemmaClientError, ValueError):
    """A server or Flight location the user gave is not a URL the client can dial."""


class InputFileError(HemmaClientError):
    """The input can't be read as essays."""


class CacheError(HemmaClientError):
    """The cache directory is inconsistent, was asked for something it can't do, or can't
    be written (disk full, read-only, no permission)."""


class LabelsError(HemmaClientError):
    """Labels can't be joined to feature rows: no id column, repeated ids, a score column
    holding text."""


class ScopeError(HemmaClientError):
    """The essays a read is limited to (``--ids-from``, ``ids=``) can't be read, or none of
    them is in the cache."""


class EvaluationError(HemmaClientError):
    """An evaluation can't be run as asked: no target, too few essays or groups for the
    folds, a target or group column that is not there."""
