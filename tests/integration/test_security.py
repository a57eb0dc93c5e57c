"""Bearer token and TLS on both planes, with a self-signed certificate for 127.0.0.1."""

from __future__ import annotations

import ssl
import subprocess

import httpx
import pyarrow.flight as fl
import pytest

from hemma_features import FeatureClient
from hemma_features.client.errors import ServerRejectedError, ServerUnavailableError
from hemma_features.engine.errors import SettingsError
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.settings_env import settings_of
from tests.conftest import SAMPLES, settings_for_tests
from tests.servers import LiveServer

TOKEN = "s3cret-token-for-tests-0123456789"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate valid for 127.0.0.1 (made with the openssl CLI)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def secure_server(runtime, certificate):
    cert, key = certificate
    settings = settings_for_tests(auth_token=TOKEN, tls_cert_file=str(cert), tls_key_file=str(key))
    server = LiveServer(Runtime.from_models(settings, runtime.analyzer, runtime.embedder))
    yield server
    server.close()


def test_extract_over_tls_with_the_token(secure_server, certificate, tmp_path):
    """https + grpc+tls with the right CA and token: a full extract works."""
    assert secure_server.http_url.startswith("https://")
    with FeatureClient(secure_server.http_url, token=TOKEN, tls_root_certs=certificate[0]) as c:
        assert c.flight_location().startswith("grpc+tls://")
        table = c.extract(SAMPLES, feature_set="handcrafted", cache=tmp_path / "c")
    assert table.num_rows == 8


def test_http_requires_the_token_except_healthz(secure_server, certificate):
    """401 JSON with the correlation id without a token; /healthz stays open."""
    verify = ssl.create_default_context(cafile=str(certificate[0]))
    assert httpx.get(f"{secure_server.http_url}/healthz", verify=verify).status_code == 200
    response = httpx.get(f"{secure_server.http_url}/v1/config", verify=verify)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "unauthorized" and body["correlation_id"]
    ok = httpx.get(f"{secure_server.http_url}/v1/config", verify=verify,
                   headers={"authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert ok.status_code == 200
    assert ok.json()["settings"]["auth_token"] == "***"


def test_flight_requires_the_token(secure_server, certificate):
    """A Flight call without the token is Unauthenticated; with it, it answers."""
    client = fl.connect(secure_server.flight_url, tls_root_certs=certificate[0].read_bytes())
    with pytest.raises(fl.FlightUnauthenticatedError, match="Bearer"):
        list(client.list_actions())
    options = fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {TOKEN}".encode())])
    assert {a.type for a in client.list_actions(options)} >= {"health"}
    client.close()


def test_wrong_token_and_untrusted_certificate_are_clear_errors(secure_server, certificate):
    """A wrong token is rejected; without the CA the TLS handshake fails as unavailable."""
    wrong = FeatureClient(
        secure_server.http_url, token="wrong-token-0123456789", tls_root_certs=certificate[0]
    )
    with wrong, pytest.raises(ServerRejectedError, match="401"):
        wrong.fingerprint()
    untrusted = FeatureClient(secure_server.http_url, token=TOKEN)
    with untrusted, pytest.raises(ServerUnavailableError, match="CERTIFICATE_VERIFY_FAILED"):
        untrusted.fingerprint()


def test_tls_settings_need_both_files(certificate):
    """A certificate without its key fails at startup naming the variable."""
    with pytest.raises(SettingsError, match="HEMMA_TLS_KEY_FILE"):
        settings_of(tls_cert_file=str(certificate[0]))
    with pytest.raises(SettingsError, match="HEMMA_AUTH_TOKEN"):
        settings_of(auth_token="short")
