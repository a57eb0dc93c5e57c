"""Deployment files: compose validates against the Compose spec; loopback-only ports."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import REPO, SHARED

COMPOSE = REPO / "compose.hemma.yml"
CONTAINERFILE = REPO / "Containerfile"
SPEC = SHARED / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_validates_against_the_compose_spec(compose):
    """compose.hemma.yml is valid under the Compose Specification JSON Schema."""
    if not SPEC.is_file():
        pytest.skip("../shared/schemas/compose-spec.json is absent")
    import jsonschema

    jsonschema.Draft7Validator(json.loads(SPEC.read_text())).validate(compose)


def test_compose_rejects_an_invalid_file():
    """The validator used above does fail on a wrong file (the check can fail)."""
    if not SPEC.is_file():
        pytest.skip("../shared/schemas/compose-spec.json is absent")
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(json.loads(SPEC.read_text())).validate(
            {"services": {"x": {"image": "a", "unknown_key": 1}}}
        )


def test_ports_are_published_on_loopback_only(compose):
    """Every published port is bound to 127.0.0.1; LanguageTool publishes none."""
    features = compose["services"]["features"]
    assert features["ports"] == ["127.0.0.1:9000:9000", "127.0.0.1:9001:9001"]
    assert "ports" not in compose["services"]["languagetool"]
    for service in compose["services"].values():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), port


def test_server_waits_for_a_healthy_languagetool(compose):
    """depends_on service_healthy, LT health-checked, version required, HF cache mounted."""
    services = compose["services"]
    features, lt = services["features"], services["languagetool"]
    assert features["depends_on"]["languagetool"]["condition"] == "service_healthy"
    assert "/v2/healthcheck" in " ".join(lt["healthcheck"]["test"])
    assert re.search(r"\$\{LANGUAGETOOL_VERSION:\?[^}]+\}", lt["image"])
    assert any(v.endswith(":/models/hf:ro") for v in features["volumes"])
    assert features["environment"]["HEMMA_LANGUAGETOOL_URL"] == "http://languagetool:8010"


def test_containerfile_runs_as_non_root_with_a_healthcheck():
    """Non-root USER, HEALTHCHECK on /healthz, a model volume and pinned base image."""
    text = CONTAINERFILE.read_text()
    assert re.search(r"^USER hemma$", text, re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*?/healthz", text, re.M)
    assert 'VOLUME ["/models"]' in text
    assert re.search(r"^FROM \S+:3\.11\.\d+-slim-\w+$", text, re.M)
    assert "constraints.txt" in text


def test_containerfile_copies_every_source_directory():
    """The image build copies src/ and every folder src/hemma_features links to."""
    import os

    package = REPO / "src" / "hemma_features"
    linked = {os.readlink(p).removeprefix("../../") for p in package.iterdir() if p.is_symlink()}
    copied = set(re.findall(r"^COPY (\S+) \./\1$", CONTAINERFILE.read_text(), re.M))
    assert linked and linked | {"src"} <= copied


def test_compose_mounts_an_env_file_the_server_reads(compose):
    """The env file compose mounts for hot reload parses (comments only, by default) and
    is where HEMMA_ENV_FILE points."""
    from hemma_features.engine.settings_env import read_env_file

    service = compose["services"]["features"]
    assert service["environment"]["HEMMA_ENV_FILE"] == "/config/hemma.env"
    assert any(volume.endswith(":/config:ro") for volume in service["volumes"])
    assert read_env_file(REPO / "deploy" / "hemma.env") == {}
