"""Errors raised by the server side.

Hierarchy::

    HemmaServiceError
    ├── SettingsError          a setting has a bad value (startup)
    ├── ModelLoadError         a model could not be loaded from local files (startup)
    ├── InputError             a request row breaks a rule (-> Flight InvalidArgument, HTTP 400)
    └── DependencyError        a dependency (LanguageTool) failed (-> Flight Unavailable, HTTP 503)
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


class DependencyError(HemmaServiceError):
    """A dependency the features need failed; the message names it and why."""

    def __init__(self, dependency: str, reason: str) -> None:
        self.dependency = dependency
        self.reason = reason
        super().__init__(f"{dependency} unavailable: {reason}")
