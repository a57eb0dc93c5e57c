"""Flight server middleware: correlation ids and the bearer token."""

from __future__ import annotations

import uuid

import pyarrow.flight as fl

from hemma_features.contract.auth import UNAUTHORIZED_DETAIL, BearerToken


def correlation_id_of(context: fl.ServerCallContext) -> str:
    headers = context.get_middleware("correlation")
    if headers is not None:
        return headers.correlation_id
    return uuid.uuid4().hex


class CorrelationMiddleware(fl.ServerMiddleware):
    """Carries the caller's ``x-correlation-id`` (or a new one) and echoes it back."""

    def __init__(self, correlation_id: str) -> None:
        self.correlation_id = correlation_id

    def sending_headers(self) -> dict[str, str]:
        return {"x-correlation-id": self.correlation_id}


class CorrelationMiddlewareFactory(fl.ServerMiddlewareFactory):
    """Creates one ``CorrelationMiddleware`` per call."""

    def start_call(self, info: fl.CallInfo, headers: dict[str, list[str]]) -> CorrelationMiddleware:
        values = headers.get("x-correlation-id") or [uuid.uuid4().hex]
        return CorrelationMiddleware(values[0][:128])


class BearerAuthMiddlewareFactory(fl.ServerMiddlewareFactory):
    """Refuses calls without ``authorization: Bearer <token>`` (Unauthenticated)."""

    def __init__(self, token: str) -> None:
        self._token = BearerToken(token)

    def start_call(self, info: fl.CallInfo, headers: dict[str, list[str]]) -> None:
        given = headers.get("authorization") or []
        if not self._token.accepts(given[0] if given else None):
            raise fl.FlightUnauthenticatedError(UNAUTHORIZED_DETAIL)
