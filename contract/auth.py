"""The bearer token both planes require when ``HEMMA_AUTH_TOKEN`` is set."""

from __future__ import annotations

import hmac

UNAUTHORIZED_DETAIL = "this server requires 'Authorization: Bearer <token>' (HEMMA_TOKEN)"


class BearerToken:
    """Checks ``Authorization`` header values in constant time.

    Args:
        token: The configured token.
    """

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    def accepts(self, header: bytes | str | None) -> bool:
        """True when the header value is exactly ``Bearer <token>``."""
        if header is None:
            return False
        given = header.encode() if isinstance(header, str) else header
        return hmac.compare_digest(given, self._expected)
