"""Through the tunnel: every client path honours the Flight override, and every location
the server advertises is dialable or explained."""

from __future__ import annotations

import httpx
import pytest

from hemma_features import FeatureClient
from hemma_features.client.errors import ServerUnavailableError
from hemma_features.client.flight_route import FlightRoutes
from hemma_features.client.server_process import ServerProcess
from hemma_features.contract import Limits, ServerConfig, SettingsView
from hemma_features.contract.locations import with_host
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.settings_env import settings_of
from tests.conftest import SAMPLES
from tests.servers import LiveServer
from tests.tunnel import Tunnel

UNREACHABLE = "grpc://127.0.0.1:9"  # discard port: nothing listens there


@pytest.fixture(scope="module")
def tunnelled(runtime, tmp_path_factory):
    """A server with a store whose advertised Flight location is not dialable from here,
    and a tunnel to each plane on other local ports."""
    store = tmp_path_factory.mktemp("store")
    server = LiveServer(
        Runtime.from_models(
            settings_of(store_dir=str(store), advertise_flight=UNREACHABLE, shard_rows=3),
            runtime.analyzer,
            runtime.embedder,
        )
    )
    http, flight = Tunnel(server.http_port), Tunnel(server.flight.port)
    yield server, http, flight
    http.close()
    flight.close()
    server.close()


def test_every_client_path_goes_through_the_given_flight_location(tunnelled, tmp_path):
    """With --flight, extract, upload, read_dataset, health and fingerprint all work through
    the tunnels, although the server advertises an address nobody can reach."""
    server, http, flight = tunnelled
    with FeatureClient(
        f"http://127.0.0.1:{http.port}", flight=f"grpc://127.0.0.1:{flight.port}"
    ) as client:
        assert client.config().flight_location == UNREACHABLE
        assert client.health()["ready"] is True
        assert client.fingerprint().feature_sets
        table = client.extract(SAMPLES, feature_set="embeddings", cache=tmp_path / "cache")
        assert table.num_rows == 8
        assert client.upload("tunnelled", SAMPLES).rows == 8
        features = client.read_dataset("tunnelled", "embeddings")
    ids = table.column("essay_id").to_pylist()
    assert features.num_rows == 8 and features.column("essay_id").to_pylist() == ids
    assert flight.connections >= 3 and http.connections >= 1


def test_the_cli_goes_through_the_given_flight_location(tunnelled, tmp_path):
    """`hemma-features extract --flight` through the tunnels exits 0."""
    from hemma_features.cli import main

    server, http, flight = tunnelled
    before = flight.connections
    code = main(["extract", str(SAMPLES), "--server", f"http://127.0.0.1:{http.port}",
                 "--flight", f"grpc://127.0.0.1:{flight.port}", "--cache", str(tmp_path / "c"),
                 "--feature-set", "embeddings", "--quiet"])  # fmt: skip
    assert code == 0 and flight.connections > before


def test_without_the_override_the_failure_names_the_advertised_location(tunnelled, tmp_path):
    """No --flight: the advertised location is dialed, and its failure says where it came
    from and that --flight fixes it."""
    server, http, flight = tunnelled
    with (
        FeatureClient(f"http://127.0.0.1:{http.port}", retries=0) as client,
        pytest.raises(ServerUnavailableError) as failure,
    ):
        client.extract(SAMPLES, feature_set="embeddings", cache=tmp_path / "c")
    message = str(failure.value)
    assert UNREACHABLE in message and "advertised on /v1/config" in message
    assert "--flight" in message and "HEMMA_FLIGHT_URL" in message


def test_a_server_on_0_0_0_0_through_tunnels(tmp_path):
    """A server process on 0.0.0.0 advertises no wildcard and warns that tunnels need
    --flight; with --flight every path works through the tunnels, without it the client
    dials the --server host with the advertised port."""
    with ServerProcess({"HEMMA_STORE_DIR": str(tmp_path / "store")}, host="0.0.0.0") as server:
        assert server.info is not None
        http, flight = Tunnel(server.info.http_port), Tunnel(server.info.flight_port)
        try:
            config = httpx.get(f"http://127.0.0.1:{http.port}/v1/config", timeout=30).json()
            assert config["flight_location"] is None
            with FeatureClient(
                f"http://127.0.0.1:{http.port}", flight=f"grpc://127.0.0.1:{flight.port}"
            ) as client:
                assert client.upload("wild", SAMPLES).rows == 8
                assert client.read_dataset("wild", "embeddings").num_rows == 8
                assert client.extract(SAMPLES, feature_set="embeddings").num_rows == 8
            assert flight.connections >= 3
            with FeatureClient(f"http://127.0.0.1:{http.port}") as direct:
                assert direct.flight_location() == server.flight_url
                assert direct.extract(SAMPLES, feature_set="embeddings").num_rows == 8
        finally:
            http.close()
            flight.close()
        server.stop()
        assert '"serve.flight_location_unadvertised"' in server.log_text()


def test_wildcard_endpoints_and_locations_are_dialed_on_the_http_host(runtime, tmp_path):
    """A server or endpoint advertising grpc://0.0.0.0:PORT is dialed on the --server host."""
    server = LiveServer(
        Runtime.from_models(
            settings_of(store_dir=str(tmp_path)), runtime.analyzer, runtime.embedder
        )
    )
    try:
        server.flight.location = f"grpc://0.0.0.0:{server.flight.port}"  # endpoints say this
        with FeatureClient(server.http_url) as client:
            assert client.upload("wild", SAMPLES).rows == 8
            assert client.read_dataset("wild", "embeddings").num_rows == 8
        routes = FlightRoutes("http://127.0.0.1:19000", None)
        config = ServerConfig(
            settings=SettingsView(), flight_port=5, limits=Limits(max_items=1, max_text_chars=1),
            flight_location="grpc://0.0.0.0:5",
        )  # fmt: skip
        assert routes.main(config).location == "grpc://127.0.0.1:5"
        assert FlightRoutes("http://h:1", "grpc://x:2").main(config).location == "grpc://x:2"
        assert with_host("grpc://[::]:5", "::1") == "grpc://[::1]:5"
    finally:
        server.close()
