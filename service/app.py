"""The control plane: ``create_app(runtime, flight_port) -> Litestar``.

Health, readiness, effective config, fingerprint, feature catalogue, Prometheus metrics
and OpenAPI (``/schema``). Every response carries ``x-correlation-id``; non-2xx bodies are
``{error, detail, correlation_id}``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec
import structlog
from hemma_features.service.auth import UNAUTHORIZED_DETAIL, BearerToken
from hemma_features.service.runtime import Runtime
from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import Message, Receive, Scope, Send

from hemma_features.contract import (
    ErrorBody,
    FeatureSpec,
    FingerprintInfo,
    Health,
    Limits,
    ServerConfig,
)

log = structlog.get_logger(__name__)

CORRELATION_HEADER = "x-correlation-id"
_ROUTES = ("/healthz", "/readyz", "/v1/config", "/v1/fingerprint", "/v1/features", "/metrics")


class HemmaApp(Litestar):
    """Litestar app that correlates, times, logs and measures every HTTP request.

    Done in ``__call__`` rather than as route middleware so that unmatched routes
    (404, 405) get the correlation id, the log line and the metric too.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(CORRELATION_HEADER.encode())
        correlation_id = incoming.decode()[:128] if incoming else uuid.uuid4().hex
        scope.setdefault("state", {})["correlation_id"] = correlation_id  # type: ignore[typeddict-item]
        status = {"code": 500}
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((CORRELATION_HEADER.encode(), correlation_id.encode()))
                message["headers"] = headers  # type: ignore[typeddict-unknown-key]
            await send(message)

        try:
            if self._authorized(scope):
                await super().__call__(scope, receive, send_with_id)
            else:
                await _send_unauthorized(send_with_id, correlation_id)
        finally:
            elapsed = time.perf_counter() - started
            path = scope["path"]
            route = path if path in _ROUTES or path.startswith("/schema") else "other"
            runtime: Runtime = self.state.runtime
            method = str(scope.get("method", ""))
            runtime.metrics.http_request_seconds.labels(method, route, str(status["code"])).observe(
                elapsed
            )
            log.info(
                "http.request",
                method=method,
                path=path,
                status=status["code"],
                seconds=round(elapsed, 4),
                correlation_id=correlation_id,
                fingerprint=runtime.fingerprint.fingerprint,
            )

    def _authorized(self, scope: Scope) -> bool:
        """With a token configured, every route but /healthz needs ``Bearer <token>``."""
        token = self.state.runtime.settings.auth_token
        if token is None or scope["path"] == "/healthz":
            return True
        return BearerToken(token).accepts(dict(scope.get("headers") or []).get(b"authorization"))


async def _send_unauthorized(send: Send, correlation_id: str) -> None:
    body = msgspec.json.encode(
        ErrorBody(
            error="unauthorized",
            detail=UNAUTHORIZED_DETAIL,
            correlation_id=correlation_id,
        )
    )
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b"Bearer"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _correlation_id(request: Request[Any, Any, Any]) -> str:
    return str(request.scope.get("state", {}).get("correlation_id", ""))


def _error_response(
    request: Request[Any, Any, Any],
    status: int,
    error: str,
    detail: str,
    reasons: list[str] | None = None,
) -> Response[ErrorBody]:
    body = ErrorBody(
        error=error, detail=detail, correlation_id=_correlation_id(request), reasons=reasons
    )
    return Response(content=body, status_code=status, media_type="application/json")


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    name = type(exc).__name__.removesuffix("Exception").lower() or "http_error"
    return _error_response(request, exc.status_code, name, str(exc.detail))


def _unhandled(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.exception("http.unhandled", correlation_id=_correlation_id(request))
    return _error_response(request, HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", repr(exc))


@get("/healthz", summary="Liveness")
async def healthz(state: State) -> Health:
    """The process is up and serving HTTP."""
    return Health(status="ok", fingerprint=state.runtime.fingerprint.fingerprint)


@get("/readyz", summary="Readiness", sync_to_thread=True)
def readyz(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """200 when models are loaded and LanguageTool (if configured) answers; else 503."""
    runtime: Runtime = state.runtime
    problems = runtime.readiness_problems()
    if problems:
        return _error_response(
            request, HTTP_503_SERVICE_UNAVAILABLE, "not_ready", "; ".join(problems), problems
        )
    return Response(Health(status="ready", fingerprint=runtime.fingerprint.fingerprint))


@get("/v1/config", summary="Effective settings")
async def config(state: State) -> ServerConfig:
    """Effective settings (secrets redacted), the Flight port and the request limits."""
    runtime: Runtime = state.runtime
    settings = runtime.settings
    return ServerConfig(
        settings=settings.public_view(),
        flight_port=state.flight_port,
        limits=Limits(
            max_items=settings.max_items,
            max_text_chars=settings.max_text_chars,
            max_streams=settings.max_streams,
            shard_rows=settings.shard_rows,
            batch_rows=settings.batch_rows,
        ),
    )


@get("/v1/fingerprint", summary="Server fingerprint")
async def fingerprint(state: State) -> FingerprintInfo:
    """The fingerprint, its components and the schema version."""
    return state.runtime.fingerprint


@get("/v1/features", summary="Feature catalogue")
async def features(state: State) -> list[FeatureSpec]:
    """The handcrafted features in column order, with tier, definition, unit and source."""
    return list(state.runtime.catalogue)


@get("/metrics", summary="Prometheus metrics", include_in_schema=True)
async def metrics(state: State) -> Response[bytes]:
    """Prometheus text exposition."""
    runtime: Runtime = state.runtime
    return Response(runtime.metrics.render(), media_type=runtime.metrics.content_type)


def create_app(runtime: Runtime, *, flight_port: int) -> Litestar:
    """Build the control-plane app around a loaded runtime.

    Args:
        runtime: Loaded models, fingerprint and metrics.
        flight_port: Port the Flight server listens on, advertised on ``/v1/config``.
    """
    return HemmaApp(
        route_handlers=[healthz, readyz, config, fingerprint, features, metrics],
        state=State({"runtime": runtime, "flight_port": flight_port}),
        exception_handlers={HTTPException: _http_exception, Exception: _unhandled},
        openapi_config=OpenAPIConfig(
            title="hemma-features", version=runtime.fingerprint.schema_version, path="/schema"
        ),
    )
