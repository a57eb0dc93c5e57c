"""LanguageTool over its real HTTP API (``/v2/info``, ``/v2/languages``, ``/v2/check``)."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from service.errors import DependencyError

LANGUAGE = "en-US"
LEVEL = "default"
_DEPENDENCY = "LanguageTool"


class _Software(msgspec.Struct):
    name: str = ""
    version: str = ""
    buildDate: str | None = None  # noqa: N815 - LanguageTool's field name


class _Info(msgspec.Struct):
    software: _Software


class _Language(msgspec.Struct):
    name: str
    code: str
    longCode: str | None = None  # noqa: N815 - LanguageTool's field name


class LanguageToolInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What the fingerprint records about the LanguageTool server."""

    version: str
    """``software.version`` from ``/v2/info``."""
    language: str
    """Language requested on every check."""
    level: str
    """Rule level requested on every check."""


def _timeout(read_seconds: float) -> httpx.Timeout:
    return httpx.Timeout(connect=2.0, read=read_seconds, write=read_seconds, pool=read_seconds)


def probe(base_url: str, *, read_seconds: float = 10.0) -> LanguageToolInfo:
    """Check that LanguageTool answers and supports en-US; return its version.

    Raises:
        DependencyError: unreachable, an error status, or en-US missing.
    """
    base = base_url.rstrip("/")
    try:
        with httpx.Client(timeout=_timeout(read_seconds)) as client:
            info = _get(client, f"{base}/v2/info", _Info)
            languages = _get(client, f"{base}/v2/languages", list[_Language])
    except httpx.HTTPError as exc:
        raise DependencyError(_DEPENDENCY, f"{base_url} did not answer ({exc!r})") from exc
    codes = {lang.longCode or lang.code for lang in languages}
    if LANGUAGE not in codes:
        raise DependencyError(_DEPENDENCY, f"{base_url} does not offer {LANGUAGE}")
    return LanguageToolInfo(version=info.software.version, language=LANGUAGE, level=LEVEL)


def _get(client: httpx.Client, url: str, kind: Any) -> Any:
    response = client.get(url)
    if response.status_code != 200:
        raise DependencyError(
            _DEPENDENCY, f"GET {url} returned {response.status_code}: {response.text[:200]}"
        )
    try:
        return msgspec.json.decode(response.content, type=kind)
    except msgspec.DecodeError as exc:
        raise DependencyError(_DEPENDENCY, f"GET {url} gave an unexpected body ({exc})") from exc
