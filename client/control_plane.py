"""``ControlPlane``: the client's HTTP calls to a feature server (fingerprint, config, health).

Every answer is checked against the contract's types; a fingerprint that could not name a
cache directory is a ``ProtocolError``.
"""

from __future__ import annotations

import re
import ssl
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec

from hemma_features.client.errors import (
    ProtocolError,
    ServerRejectedError,
    ServerUnavailableError,
)
from hemma_features.contract import FEATURE_SETS, FingerprintInfo, ServerConfig

_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


class ControlPlane:
    """HTTP calls to one feature server's control plane.

    Args:
        server: Control-plane URL (checked by the caller).
        timeout: Seconds for each call.
        token: Bearer token, or None.
        tls_root_certs: PEM file of the CA that signed the server's certificate, or None.
    """

    def __init__(
        self,
        server: str,
        *,
        timeout: float,
        token: str | None = None,
        tls_root_certs: Path | str | None = None,
    ) -> None:
        self.server = server
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=server,
            timeout=httpx.Timeout(timeout, connect=5.0),
            headers=headers,
            verify=ssl.create_default_context(cafile=str(tls_root_certs))
            if tls_root_certs
            else True,
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def get(self, path: str, kind: Any) -> Any:
        """``GET path`` decoded as ``kind``; the client's errors otherwise."""
        try:
            response = self._http.get(path, headers={"x-correlation-id": uuid.uuid4().hex})
        except httpx.HTTPError as exc:
            raise ServerUnavailableError(self.server, repr(exc)) from exc
        if response.status_code != 200:
            raise ServerRejectedError(
                f"GET {self.server}{path} returned {response.status_code}: {response.text[:500]}"
            )
        try:
            return msgspec.json.decode(response.content, type=kind)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ProtocolError(
                f"GET {self.server}{path} answered something else than a hemma server: {exc}"
            ) from exc

    def fingerprint(self) -> FingerprintInfo:
        """``/v1/fingerprint``, every fingerprint 64 lower-case hex digits of a known set."""
        info: FingerprintInfo = self.get("/v1/fingerprint", FingerprintInfo)
        for name, value in [("fingerprint", info.fingerprint), *info.feature_sets.items()]:
            if not _FINGERPRINT.fullmatch(value) or name not in ("fingerprint", *FEATURE_SETS):
                raise ProtocolError(
                    f"{self.server}/v1/fingerprint gave {name}={value[:80]!r}; a fingerprint "
                    "is 64 hex digits and names one of the feature sets (is this a hemma server?)"
                )
        return info

    def config(self) -> ServerConfig:
        """``/v1/config``: the server's effective settings, Flight port and limits."""
        return self.get("/v1/config", ServerConfig)

    def health(self) -> dict[str, Any]:
        """``/healthz`` and ``/readyz`` answers (readyz may hold the reasons it is not ready)."""
        live = self.get("/healthz", dict[str, Any])
        try:
            response = self._http.get("/readyz")
        except httpx.HTTPError as exc:
            raise ServerUnavailableError(self.server, repr(exc)) from exc
        return {"live": live, "ready": response.status_code == 200, "readiness": response.json()}
