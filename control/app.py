"""The control plane: ``create_app(runtime, flight_port) -> Litestar``.

Health, readiness, effective config, fingerprint, feature catalogue, Prometheus metrics
and OpenAPI (``/schema``). Every response carries ``x-correlation-id``; non-2xx bodies are
``{error, detail, correlation_id}``.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import msgspec
import structlog
from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import Message, Receive, Scope, Send

from hemma_features.contract import (
    ErrorBody,
    FeatureEntry,
    FingerprintInfo,
    Health,
    ServerConfig,
)
from hemma_features.contract.auth import UNAUTHORIZED_DETAIL, BearerToken
from hemma_features.engine.composition import Engine
from hemma_features.engine.config_views import feature_entries
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.runtime_slot import RuntimeSlot
from hemma_features.redaction import redact_text

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
        try:
            given = _given_correlation_id(scope)
            bad_header = False
        except ValueError:
            given, bad_header = None, True
        correlation_id = given or uuid.uuid4().hex
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
            if bad_header:
                detail = f"the {CORRELATION_HEADER} header must be printable ASCII"
                body = ErrorBody(error="bad_header", detail=detail, correlation_id=correlation_id)
                await _send_error(send_with_id, 400, body)
            elif self._unknown_schema_page(scope["path"]):
                # Litestar's OpenAPI catch-all would answer an HTML page; keep errors JSON.
                page = scope["path"][:200]
                detail = f"no page {page!r}; the OpenAPI JSON is /schema/openapi.json"
                body = ErrorBody(error="not_found", detail=detail, correlation_id=correlation_id)
                await _send_error(send_with_id, 404, body)
            elif self._authorized(scope):
                await super().__call__(scope, receive, send_with_id)
            else:
                body = ErrorBody(
                    error="unauthorized", detail=UNAUTHORIZED_DETAIL, correlation_id=correlation_id
                )
                await _send_error(send_with_id, 401, body, ((b"www-authenticate", b"Bearer"),))
        finally:
            elapsed = time.perf_counter() - started
            path = scope["path"]
            route = path if path in _ROUTES or path.startswith("/schema") else "other"
            runtime = _runtime(self.state)
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

    def _unknown_schema_page(self, path: str) -> bool:
        if not path.startswith("/schema/"):
            return False
        known = {route.path for route in self.routes if "{" not in route.path}
        return path.rstrip("/") not in known

    def _authorized(self, scope: Scope) -> bool:
        """With a token configured, every route but /healthz needs ``Bearer <token>``."""
        token = _runtime(self.state).settings.auth.token
        if token is None or scope["path"] == "/healthz":
            return True
        return BearerToken(token).accepts(dict(scope.get("headers") or []).get(b"authorization"))


async def _send_error(
    send: Send,
    status: int,
    body: ErrorBody,
    extra_headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    """An error answered before routing (no token, a bad header)."""
    data = msgspec.json.encode(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *extra_headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data, "more_body": False})


def _given_correlation_id(scope: Scope) -> str | None:
    """The caller's ``x-correlation-id``; None when absent; ValueError when not printable
    ASCII (it is echoed in a header and written to logs)."""
    raw = dict(scope.get("headers") or []).get(CORRELATION_HEADER.encode())
    if raw is None:
        return None
    text = raw.decode("ascii")  # UnicodeDecodeError is a ValueError
    if not text.isprintable():
        raise ValueError("control characters")
    return text[:128]


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
        error=error,
        detail=redact_text(detail),
        correlation_id=_correlation_id(request),
        reasons=[redact_text(reason) for reason in reasons] if reasons else None,
    )
    return Response(content=body, status_code=status, media_type="application/json")


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", type(exc).__name__.removesuffix("Exception"))
    name = words.lower() if words and words != "HTTP" else "http_error"  # e.g. not_found
    return _error_response(request, exc.status_code, name, str(exc.detail))


def _unhandled(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    correlation_id = _correlation_id(request)
    log.exception("http.unhandled", correlation_id=correlation_id)  # the traceback stays here
    detail = f"internal server error (correlation id {correlation_id}); the server log has it"
    return _error_response(request, HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", detail)


@get("/healthz", summary="Liveness")
async def healthz(state: State) -> Health:
    """The process is up and serving HTTP."""
    return Health(status="ok", fingerprint=_runtime(state).fingerprint.fingerprint)


@get(
    "/readyz",
    summary="Readiness",
    responses={
        503: ResponseSpec(
            data_container=ErrorBody,
            description="Not ready: the reasons (LanguageTool unreachable, no parse worker)",
        )
    },
)
async def readyz(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """200 (``ready`` or ``degraded``) when every feature set can be computed, else 503 with
    the reasons. Reads state the server keeps up to date; never waits on a dependency."""
    engine: Engine = state.engine
    runtime = engine.runtime
    readiness = engine.readiness()
    degraded = readiness.degraded
    if readiness.problems:
        return _error_response(
            request,
            HTTP_503_SERVICE_UNAVAILABLE,
            "not_ready",
            "; ".join(readiness.problems),
            readiness.problems,
        )
    return Response(
        Health(
            status="degraded" if degraded else "ready",
            fingerprint=runtime.fingerprint.fingerprint,
            degraded=degraded,
        )
    )


@get("/v1/config", summary="Effective settings")
async def config(state: State) -> ServerConfig:
    """Effective settings (secrets redacted), the Flight port and the request limits."""
    engine: Engine = state.engine
    return engine.server_config(state.flight_port, state.flight_location)


@get("/v1/fingerprint", summary="Server fingerprint")
async def fingerprint(state: State) -> FingerprintInfo:
    """The fingerprint, its components and the schema version."""
    return _runtime(state).fingerprint


@get("/v1/features", summary="Feature catalogue")
async def features(state: State) -> list[FeatureEntry]:
    """Every named feature in catalogue order, with tier, group, definition, unit, source,
    undefined case and the version of its computation (group ``semantic``: computed from
    the embedding pass, part of the embeddings set)."""
    return feature_entries(_runtime(state))


@get("/metrics", summary="Prometheus metrics", include_in_schema=True)
async def metrics(state: State) -> Response[bytes]:
    """Prometheus text exposition."""
    runtime = _runtime(state)
    return Response(runtime.metrics.render(), media_type=runtime.metrics.content_type)


def _runtime(state: State) -> Runtime:
    """The runtime serving now (a hot reload may switch it between requests)."""
    engine: Engine = state.engine
    return engine.runtime


def create_app(
    engine: Engine | Runtime | RuntimeSlot,
    *,
    flight_port: int,
    flight_location: str | None = None,
) -> Litestar:
    """Build the control-plane app over a server's engine.

    Args:
        engine: The server's runtime slot, stores and reloader (a runtime alone: no reload,
            stores opened from its settings).
        flight_port: Port the Flight server listens on, advertised on ``/v1/config``.
        flight_location: The Flight location clients should dial (never a wildcard
            address), advertised on ``/v1/config``; None when unknown.
    """
    engine = Engine.of(engine)
    return HemmaApp(
        route_handlers=[healthz, readyz, config, fingerprint, features, metrics],
        state=State(
            {
                "engine": engine,
                "flight_port": flight_port,
                "flight_location": flight_location,
            }
        ),
        exception_handlers={HTTPException: _http_exception, Exception: _unhandled},
        openapi_config=OpenAPIConfig(
            title="hemma-features",
            version=engine.runtime.fingerprint.schema_version,
            path="/schema",
            # JSON at /schema itself: the HTML viewers load JavaScript from a CDN, which a
            # laptop behind an SSH tunnel to an offline server cannot reach.
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"])],
        ),
        # Logging is configured once by hemma_features.logs (JSON or console for every
        # logger, uvicorn and httpx included); Litestar's default would add a plain-text
        # handler to the root logger.
        logging_config=None,
    )
