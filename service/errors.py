"""Errors raised by the server side.

Hierarchy::

    HemmaServiceError
    ├── SettingsError          a setting has a bad value (startup)
    ├── ModelLoadError         a model could not be loaded from local files (startup)
    ├── InputError             a request breaks a rule (-> Flight InvalidArgument)
    ├── NotFoundError          a named thing (a dataset) does not exist (-> Flight NotFound)
    └── DependencyError        a dependency (LanguageTool) failed (-> Flight Unavailable, HTTP 503)

Wire-contract errors (``hemma_features.contract.errors``: ``InputRuleError``,
``CommandError``) are raised by both sides and map to Flight InvalidArgument. The one
place that maps server errors to Flight statuses is ``hemma_features.flight.errors``.
"""

from __future__ import annotations

from typing import Any


class HemmaServiceError(Exception):
    """Base class of every server-side error."""


class SettingsError(HemmaServiceError):
    """A setting has a value outside what is allowed."""

    def __init__(self, name: str, value: Any, allowed: str) -> None:
        self.name = name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{name}={value!r} is not valid: expected {allowed}")


class ModelLoadError(HemmaServiceError):
    """A model named in the settings could not be loaded."""


class InputError(HemmaServiceError):
    """A request row breaks an input rule; the message names the row and the rule."""


class NotFoundError(HemmaServiceError, KeyError):
    """Something a request names does not exist; the message says what and how to make it."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DependencyError(HemmaServiceError):
    """A dependency the features need failed; the message names it and why."""

    def __init__(self, dependency: str, reason: str) -> None:
        self.dependency = dependency
        self.reason = reason
        super().__init__(f"{dependency} unavailable: {reason}")
