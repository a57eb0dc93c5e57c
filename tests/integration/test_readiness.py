"""Readiness and fingerprint with a LanguageTool-compatible server on 127.0.0.1."""

from __future__ import annotations

import pytest
from hemma_features.service.app import create_app
from hemma_features.service.errors import DependencyError
from hemma_features.service.runtime import Runtime
from hemma_features.service.settings import Settings
from litestar.testing import TestClient


def with_languagetool(runtime: Runtime, url: str) -> Runtime:
    return Runtime.assemble(Settings(languagetool_url=url), runtime.analyzer, runtime.embedder)


def test_languagetool_version_is_in_the_fingerprint(runtime, lt_server):
    """A configured LanguageTool's version and options enter the fingerprint."""
    configured = with_languagetool(runtime, lt_server.url)
    lt = configured.fingerprint.components["languagetool"]
    assert lt == {
        "enabled": True,
        "version": "6.6",
        "language": "en-US",
        "level": "default",
        "max_chars": 20_000,
    }
    assert configured.fingerprint.fingerprint != runtime.fingerprint.fingerprint
    assert ("GET", "/v2/info", {}) in lt_server.requests
    assert ("GET", "/v2/languages", {}) in lt_server.requests


def test_readyz_reports_languagetool_failures(runtime, lt_server):
    """/readyz is 200 while LanguageTool answers and 503 with the reason when it fails."""
    configured = with_languagetool(runtime, lt_server.url)
    with TestClient(app=create_app(configured, flight_port=1)) as client:
        assert client.get("/readyz").status_code == 200
        lt_server.mode = "overloaded"
        response = client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["error"] == "not_ready"
        assert "LanguageTool unavailable" in body["detail"] and "503" in body["detail"]
        assert body["reasons"] and body["correlation_id"]
        assert client.get("/healthz").status_code == 200


def test_unreachable_languagetool_fails_startup_naming_it(runtime):
    """A configured but dead LanguageTool stops startup with a clear reason."""
    with pytest.raises(DependencyError, match=r"LanguageTool unavailable: http://127\.0\.0\.1:9"):
        with_languagetool(runtime, "http://127.0.0.1:9")
