"""Readiness and fingerprint with a LanguageTool-compatible server on 127.0.0.1."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from hemma_features.control.app import create_app
from hemma_features.engine.errors import DependencyError
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.runtime_slot import RuntimeSlot
from tests.conftest import essays_table, settings_for_tests, wait_for


def with_languagetool(runtime: Runtime, url: str) -> Runtime:
    return Runtime.from_models(
        settings_for_tests(languagetool_url=url), runtime.analyzer, runtime.embedder
    )


def test_languagetool_version_is_in_the_fingerprint(runtime, lt_server):
    """A configured LanguageTool's version, build and request options enter the fingerprint
    (handcrafted's and combined's, not embeddings'); another build gives another one."""
    configured = with_languagetool(runtime, lt_server.url)
    lt = configured.fingerprint.components["languagetool"]
    assert lt == {
        "enabled": True,
        "version": "6.6",
        "language": "en-US",
        "level": "default",
        "max_chars": 20_000,
        "build": "2024-01-01",
        "commit": "",
        "premium": False,
        "rules": {"language": "en-US", "level": "default"},
    }
    assert configured.fingerprint.fingerprint != runtime.fingerprint.fingerprint
    lt_server.build_date = "2024-06-30"
    rebuilt = with_languagetool(runtime, lt_server.url).fingerprint.feature_sets
    assert rebuilt["handcrafted"] != configured.fingerprint.feature_sets["handcrafted"]
    assert rebuilt["embeddings"] == configured.fingerprint.feature_sets["embeddings"]
    assert ("GET", "/v2/info", {}) in lt_server.requests
    assert ("GET", "/v2/languages", {}) in lt_server.requests


def test_readyz_reports_languagetool_failures(runtime, lt_server):
    """/readyz is 200 while LanguageTool answers and 503 with the reason once the background
    probe sees it fail; it never waits on LanguageTool itself."""
    configured = Runtime.from_models(
        settings_for_tests(languagetool_url=lt_server.url, languagetool_probe_interval=0.1),
        runtime.analyzer,
        runtime.embedder,
    )
    try:
        with TestClient(app=create_app(configured, flight_port=1)) as client:
            assert client.get("/readyz").status_code == 200
            lt_server.mode = "overloaded"
            assert wait_for(lambda: client.get("/readyz").status_code == 503)
            body = client.get("/readyz").json()
            assert body["error"] == "not_ready"
            assert "LanguageTool unavailable" in body["detail"] and "503" in body["detail"]
            assert body["reasons"] and body["correlation_id"]
            assert client.get("/healthz").status_code == 200
            lt_server.mode = "ok"
            assert wait_for(lambda: client.get("/readyz").status_code == 200)
    finally:
        configured.close()


def test_unreachable_languagetool_at_start_serves_embeddings_only(runtime):
    """A configured but dead LanguageTool: the runtime starts, embeddings are computed,
    handcrafted fails fast naming LanguageTool, and readiness says why."""
    configured = with_languagetool(runtime, "http://127.0.0.1:9")
    try:
        assert configured.available_feature_sets() == ["embeddings"]
        assert set(configured.fingerprint.unavailable) == {"handcrafted", "combined"}
        assert "LanguageTool" in configured.fingerprint.unavailable["handcrafted"]
        assert configured.fingerprint.for_set("embeddings") == runtime.fingerprint.for_set(
            "embeddings"
        )
        batch = essays_table([("a", "One essay.", "p")]).to_batches()[0]
        assert configured.extract(batch, "embeddings").num_rows == 1
        with pytest.raises(DependencyError, match=r"LanguageTool unavailable.*127\.0\.0\.1:9"):
            configured.extract(batch, "handcrafted")
        [problem] = configured.readiness().problems
        assert "LanguageTool" in problem
    finally:
        configured.close()


def test_languagetool_answering_later_completes_the_fingerprint(runtime, lt_server):
    """Down at start, up later: the first answer swaps in a runtime with the LT features and
    fingerprint, over the same loaded models."""
    lt_server.mode = "overloaded"
    configured = Runtime.from_models(
        settings_for_tests(languagetool_url=lt_server.url, languagetool_probe_interval=0.1),
        runtime.analyzer,
        runtime.embedder,
    )
    slot = RuntimeSlot(configured)
    try:
        assert "handcrafted" in slot.current.fingerprint.unavailable
        lt_server.mode = "ok"
        assert wait_for(lambda: not slot.current.fingerprint.unavailable)
        arrived = slot.current
        assert arrived is not configured and arrived.models is configured.models
        assert arrived.fingerprint.components["languagetool"]["version"] == "6.6"
        assert "lt_cat_typos" in arrived.schema("handcrafted").names
        batch = essays_table([("a", "I dont know.", "p")]).to_batches()[0]
        assert arrived.extract(batch, "handcrafted").num_rows == 1
        assert arrived.readiness().problems == []
    finally:
        slot.close()


def test_a_stream_leased_before_languagetool_arrives_keeps_its_fingerprint(runtime, lt_server):
    """LanguageTool's arrival changes no runtime in place: a stream leased before it keeps
    the pending runtime and its fingerprint to its end (then that runtime closes), while
    leases after it get the new runtime and fingerprint; the loaded models serve both."""
    lt_server.mode = "overloaded"
    pending = Runtime.from_models(
        settings_for_tests(languagetool_url=lt_server.url, languagetool_probe_interval=0.1),
        runtime.analyzer,
        runtime.embedder,
    )
    before = pending.fingerprint
    slot = RuntimeSlot(pending)
    batch = essays_table([("a", "I dont know.", "p")]).to_batches()[0]
    try:
        with slot.lease() as streaming:
            lt_server.mode = "ok"
            assert wait_for(lambda: slot.current is not pending)
            assert streaming is pending and streaming.fingerprint is before
            assert "handcrafted" in streaming.fingerprint.unavailable
            assert streaming.fingerprint_for("embeddings") == before.for_set("embeddings")
            with pytest.raises(DependencyError, match="LanguageTool"):
                streaming.fingerprint_for("handcrafted")
            with slot.lease() as later:
                assert later is slot.current and not later.fingerprint.unavailable
                assert later.fingerprint.fingerprint != before.fingerprint
                assert later.extract(batch, "handcrafted").num_rows == 1
            assert streaming.extract(batch, "embeddings").num_rows == 1  # still computes
            assert slot.retired == 1
        assert slot.retired == 0
        assert slot.current.extract(batch, "combined").num_rows == 1  # models outlive it
    finally:
        slot.close()
