"""Errors raised by the server side: the engine and the two planes over it.

Hierarchy::

    HemmaServiceError
    ├── SettingsError          a setting has a bad value (startup)
    ├── ModelLoadError         a model could not be loaded from local files (startup)
    ├── PortInUseError         a port cannot be bound (startup, before the models load)
    ├── InputError             a request breaks a rule (-> Flight InvalidArgument)
    │   └── ParseDeadlineError essays whose parse passed the deadline alone; the others kept
    ├── NotFoundError          a named thing does not exist (-> Flight NotFound)
    │   └── DatasetNotFoundError  no uploaded dataset by that name or content hash
    ├── FingerprintMismatchError  the request pins another fingerprint (-> Flight Failed)
    ├── PermissionDeniedError  the admin token is missing or wrong (-> Flight Unauthorized)
    ├── BusyError              no compute slot within the queue wait (-> Unavailable, busy)
    ├── ShuttingDownError      the server is stopping (-> Unavailable, shutting_down)
    ├── WorkerLostError        a parse worker died under the request (-> Unavailable)
    ├── ReloadRefusedError     a hot reload cannot start (one is running, or a restart-only
    │                          setting changed); the running runtime keeps serving
    └── DependencyError        a dependency (LanguageTool) failed (-> Flight Unavailable, HTTP 503)

No class here subclasses a builtin lookup error: callers catch these by name, never as a
bare ``KeyError``.

Any other exception reaching a Flight verb is a bug: it becomes Flight Internal carrying the
correlation id, and its traceback goes to the server log only.

Wire-contract errors (``hemma_features.contract.errors``: ``InputRuleError``,
``CommandError``) are raised by both sides and map to Flight InvalidArgument. The one
place that maps server errors to Flight statuses is ``hemma_features.flight.errors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hemma_features.redaction import redact_value


class HemmaServiceError(Exception):
    """Base class of every server-side error."""


class SettingsError(HemmaServiceError):
    """A setting has a value outside what is allowed."""

    def __init__(self, name: str, value: Any, allowed: str) -> None:
        self.name = name
        self.value = redact_value(value)
        self.allowed = allowed
        super().__init__(f"{name}={self.value!r} is not valid: expected {allowed}")


class PortInUseError(HemmaServiceError):
    """A port the server must listen on cannot be bound (in use, or not allowed)."""

    def __init__(self, variable: str, host: str, port: int, reason: str) -> None:
        super().__init__(
            f"cannot listen on {host}:{port} ({variable}): {reason}; stop whatever uses it or "
            f"choose another port (--{variable.removeprefix('HEMMA_').lower().replace('_', '-')})"
        )


class ModelLoadError(HemmaServiceError):
    """A model named in the settings could not be loaded."""


class InputError(HemmaServiceError):
    """A request row breaks an input rule; the message names the row and the rule."""


class NotFoundError(HemmaServiceError):
    """Something a request names does not exist; the message says what and how to make it."""


class DatasetNotFoundError(NotFoundError):
    """No uploaded dataset with that name or content hash."""


class ParseDeadlineError(InputError):
    """Some essays took longer to parse than ``parse_deadline`` (seconds per ``nlp.pipe``
    batch), alone, in a fresh worker: they were refused and their workers replaced.

    ``indices``: their positions in the texts handed to the parser, ascending. ``partial``:
    what was computed for every other text, filled in by each layer the error passes on
    its way out, so a caller can keep those rows instead of computing them again: the
    parser's rows (one per text, None at ``indices``), then the pipeline's (embeddings or
    None, named columns) of the others, then the runtime's feature batch of the others.
    """

    def __init__(self, indices: Sequence[int], deadline: float, partial: Any = None) -> None:
        self.indices = sorted(indices)
        self.deadline = deadline
        self.partial = partial
        which = ", ".join(str(i) for i in self.indices)
        super().__init__(
            f"text(s) {which} took longer to parse than the deadline of {deadline:g} s "
            "(parse_deadline, per parse batch), also alone in a fresh worker: not parsed"
        )

    def with_partial(self, partial: Any) -> ParseDeadlineError:
        """The same refusal, carrying ``partial`` (the next layer's form of the others)."""
        return ParseDeadlineError(self.indices, self.deadline, partial)


class FingerprintMismatchError(HemmaServiceError):
    """The request expects a fingerprint this server does not compute."""


class PermissionDeniedError(HemmaServiceError):
    """The call needs a credential it did not carry (the admin token)."""


class BusyError(HemmaServiceError):
    """Every compute slot stayed taken for the whole queue wait, or the queue was full."""

    def __init__(self, message: str, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class ShuttingDownError(HemmaServiceError):
    """The server is stopping and takes no more work."""

    def __init__(self) -> None:
        super().__init__("the feature server is shutting down; retry against the new instance")


class WorkerLostError(HemmaServiceError):
    """A parse worker died (killed, out of memory) while it held the request's texts."""


class ReloadRefusedError(HemmaServiceError):
    """A hot reload that cannot start: another is running, or a restart-only setting changed."""


class DependencyError(HemmaServiceError):
    """A dependency the features need failed; the message names it and why."""

    def __init__(self, dependency: str, reason: str, retry_after: float | None = None) -> None:
        self.dependency = dependency
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(f"{dependency} unavailable: {reason}")
