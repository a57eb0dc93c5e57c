"""LanguageTool over its real HTTP API (``/v2/info``, ``/v2/languages``, ``/v2/check``).

Fail fast: a connect error, a timeout, a non-200 answer or ``incompleteResults`` raises
``DependencyError`` naming LanguageTool and the reason. No fallback, no partial rows.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
from collections.abc import Sequence
from typing import Any

import httpx
import msgspec

from hemma_features.engine.errors import DependencyError
from hemma_features.redaction import redact_url

LANGUAGE = "en-US"
LEVEL = "default"
CHECK_PARAMETERS = {"language": LANGUAGE, "level": LEVEL}
"""Sent with every check besides the text: no enabledRules/disabledRules, so the server's
default rule set for the language and level runs (its build decides which that is)."""
_DEPENDENCY = "LanguageTool"
RATE_LIMIT_RETRIES = 2
"""Times one piece is sent again after a 429, each after the Retry-After it named."""
MAX_RATE_LIMIT_WAIT = 10.0
"""Longest Retry-After waited for inside a request; longer ones go back to the caller."""


class _Software(msgspec.Struct):
    name: str = ""
    version: str = ""
    buildDate: str = ""  # noqa: N815 (the wire name)
    commit: str = ""
    premium: bool = False


class _Info(msgspec.Struct):
    software: _Software


class _Language(msgspec.Struct):
    name: str
    code: str
    longCode: str | None = None  # noqa: N815 - LanguageTool's field name


class Category(msgspec.Struct, frozen=True):
    """``rule.category`` of a match."""

    id: str
    name: str = ""


class Rule(msgspec.Struct, frozen=True):
    """``rule`` of a match."""

    id: str
    category: Category
    issueType: str = ""  # noqa: N815 - LanguageTool's field name


class Match(msgspec.Struct, frozen=True):
    """One match: where (UTF-16 offsets into the whole text) and which rule."""

    offset: int
    length: int
    rule: Rule


class _Warnings(msgspec.Struct):
    incompleteResults: bool = False  # noqa: N815 - LanguageTool's field name
    incompleteResultsReason: str | None = None  # noqa: N815


class _CheckResponse(msgspec.Struct):
    matches: list[Match]
    warnings: _Warnings | None = None


class LanguageToolInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What the fingerprint records about the LanguageTool server and the requests."""

    version: str
    """``software.version`` from ``/v2/info``."""
    language: str
    """Language requested on every check."""
    level: str
    """Rule level requested on every check."""
    max_chars: int
    """Longest piece sent in one check (long texts are split at paragraph boundaries)."""
    build: str = ""
    """``software.buildDate`` (two builds of one version may carry other rules)."""
    commit: str = ""
    """``software.commit``, where the server reports it."""
    premium: bool = False
    """``software.premium``: premium rules change what is flagged."""
    rules: dict[str, str] = {}
    """Every check parameter besides the text (which rules run is decided by these)."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: LanguageTool's offsets and limits count these."""
    return len(text.encode("utf-16-le")) // 2


def split_for_check(text: str, max_chars: int) -> list[tuple[int, str]]:
    """Split at paragraph (line) boundaries into pieces of at most ``max_chars`` UTF-16 units.

    Returns (UTF-16 offset of the piece in ``text``, piece). A single line longer than
    the limit is cut after the last sentence end (". ") or space before the limit.
    """
    if utf16_len(text) <= max_chars:
        return [(0, text)]
    pieces: list[tuple[int, str]] = []
    start = 0
    current = ""
    for line in text.splitlines(keepends=True):
        while utf16_len(line) > max_chars:
            head, line = _cut(line, max_chars)
            if current:
                pieces.append((start, current))
                start += utf16_len(current)
                current = ""
            pieces.append((start, head))
            start += utf16_len(head)
        if current and utf16_len(current) + utf16_len(line) > max_chars:
            pieces.append((start, current))
            start += utf16_len(current)
            current = ""
        current += line
    if current:
        pieces.append((start, current))
    return pieces


def _cut(line: str, max_chars: int) -> tuple[str, str]:
    limit = max_chars
    while utf16_len(line[:limit]) > max_chars:
        limit -= 1
    window = line[:limit]
    for marker in (". ", "? ", "! ", " "):
        position = window.rfind(marker)
        if position > 0:
            return line[: position + len(marker)], line[position + len(marker) :]
    return window, line[limit:]


def _timeout(read_seconds: float) -> httpx.Timeout:
    return httpx.Timeout(connect=2.0, read=read_seconds, write=read_seconds, pool=read_seconds)


def probe(
    base_url: str, *, read_seconds: float = 10.0, max_chars: int = 20_000
) -> LanguageToolInfo:
    """Check that LanguageTool answers and offers en-US; return its version.

    Raises:
        DependencyError: unreachable, an error status, or en-US missing.
    """
    base = base_url.rstrip("/")
    try:
        with httpx.Client(timeout=_timeout(read_seconds)) as client:
            shown = redact_url(base)
            info = _decode(_get(client, f"{base}/v2/info"), _Info, f"{shown}/v2/info")
            languages = _decode(
                _get(client, f"{base}/v2/languages"), list[_Language], f"{shown}/v2/languages"
            )
    except httpx.HTTPError as exc:
        raise DependencyError(
            _DEPENDENCY, f"{redact_url(base_url)} did not answer ({type(exc).__name__})"
        ) from exc
    codes = {lang.longCode or lang.code for lang in languages}
    if LANGUAGE not in codes:
        raise DependencyError(_DEPENDENCY, f"{redact_url(base_url)} does not offer {LANGUAGE}")
    return LanguageToolInfo(
        version=info.software.version,
        language=LANGUAGE,
        level=LEVEL,
        max_chars=max_chars,
        build=info.software.buildDate,
        commit=info.software.commit,
        premium=info.software.premium,
        rules=dict(CHECK_PARAMETERS),
    )


def _get(client: httpx.Client, url: str) -> httpx.Response:
    response = client.get(url)
    _check_status(response, f"GET {redact_url(url)}")
    return response


def retry_after_seconds(response: httpx.Response) -> float:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); 1 when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return 1.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 1.0
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


def _check_status(response: httpx.Response, what: str) -> None:
    if response.status_code != 200:
        raise DependencyError(
            _DEPENDENCY, f"{what} returned {response.status_code}: {response.text[:200].strip()}"
        )


def _decode(response: httpx.Response, kind: Any, what: str) -> Any:
    try:
        return msgspec.json.decode(response.content, type=kind)
    except msgspec.DecodeError as exc:
        raise DependencyError(_DEPENDENCY, f"{what} gave an unexpected body ({exc})") from exc


class LanguageToolClient:
    """Checks texts on one LanguageTool server with bounded concurrency.

    Args:
        base_url: ``http://host:8010``.
        concurrency: Checks in flight at once (keep at or below the server's check threads).
        read_timeout: Seconds to wait for one check's answer.
        max_chars: Longest piece per check; longer texts are split at paragraph boundaries.
    """

    def __init__(
        self, base_url: str, *, concurrency: int, read_timeout: float, max_chars: int
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.concurrency = concurrency
        self.read_timeout = read_timeout
        self.max_chars = max_chars

    def check(self, texts: Sequence[str]) -> list[list[Match]]:
        """Matches per text, offsets relative to each whole text, in input order."""
        return asyncio.run(self._check_all(texts))

    async def _check_all(self, texts: Sequence[str]) -> list[list[Match]]:
        gate = asyncio.Semaphore(self.concurrency)
        async with httpx.AsyncClient(timeout=_timeout(self.read_timeout)) as client:
            jobs = [self._check_text(client, gate, text) for text in texts]
            return list(await asyncio.gather(*jobs))

    async def _check_text(
        self, client: httpx.AsyncClient, gate: asyncio.Semaphore, text: str
    ) -> list[Match]:
        merged: list[Match] = []
        for offset, piece in split_for_check(text, self.max_chars):
            if not piece.strip():
                continue
            async with gate:
                matches = await self._check_piece(client, piece)
            merged.extend(
                Match(offset=m.offset + offset, length=m.length, rule=m.rule) for m in matches
            )
        return merged

    async def _check_piece(self, client: httpx.AsyncClient, piece: str) -> list[Match]:
        url = f"{self.base_url}/v2/check"
        shown = redact_url(url)
        form = {"text": piece, **CHECK_PARAMETERS}
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            try:
                response = await client.post(url, data=form)
            except httpx.TimeoutException as exc:
                raise DependencyError(
                    _DEPENDENCY, f"POST {shown} timed out after {self.read_timeout}s"
                ) from exc
            except httpx.HTTPError as exc:
                raise DependencyError(
                    _DEPENDENCY, f"POST {shown} failed ({type(exc).__name__})"
                ) from exc
            if response.status_code != 429:
                break
            wait = retry_after_seconds(response)
            if attempt == RATE_LIMIT_RETRIES or wait > MAX_RATE_LIMIT_WAIT:
                raise DependencyError(
                    _DEPENDENCY,
                    f"POST {shown} is rate limited (429, Retry-After {wait:g} s)",
                    retry_after=wait,
                )
            await asyncio.sleep(wait)  # as LanguageTool asked, then try the piece again
        _check_status(response, f"POST {shown}")
        body = _decode(response, _CheckResponse, f"POST {url}")
        if body.warnings is not None and body.warnings.incompleteResults:
            reason = body.warnings.incompleteResultsReason or "no reason given"
            raise DependencyError(_DEPENDENCY, f"POST {url} reported incomplete results ({reason})")
        return body.matches
