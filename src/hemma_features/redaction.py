"""Secrets never leave the process: URL credentials and configured tokens are masked in
every log line, error message and response body that goes through here.

``register_secret`` is called once per secret at start-up (the bearer token, the
password in ``HEMMA_LANGUAGETOOL_URL``); ``redact_text`` masks those and any
``scheme://user:password@`` userinfo it finds.
"""

from __future__ import annotations

import re
import threading

MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever ``redact_text`` sees it (values under 4 characters are not
    registered: they would mask ordinary text)."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact_url(url: str) -> str:
    """``scheme://user:pass@host/...`` -> ``scheme://***@host/...``."""
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", url)


def redact_text(text: str) -> str:
    """``text`` with URL userinfo and every registered secret masked."""
    text = redact_url(text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_value(value: object) -> object:
    """Strings redacted; dicts, lists and tuples walked; anything else unchanged."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(item) for item in value)
    return value
