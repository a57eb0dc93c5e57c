"""One ``extract`` facade for every engine, and a client that composes its transport."""

from __future__ import annotations

import inspect

from hemma_features.client.extraction import ExtractFacade
from hemma_features.client.feature_client import FeatureClient
from hemma_features.client.flight_fetch import FlightFetcher, FlightSource
from hemma_features.client.transport import FlightTransport
from hemma_features.ray_engine.cluster import RayCluster
from hemma_features.ray_engine.engine import RayEngine
from hemma_features.ray_engine.fetcher import RayFetcher, RaySource
from tests.conftest import settings_for_tests


def test_both_engines_share_one_extract_and_extract_with_report():
    """FeatureClient and RayEngine take extract / extract_with_report from ExtractFacade."""
    for engine in (FeatureClient, RayEngine):
        assert engine.extract is ExtractFacade.extract
        assert engine.extract_with_report is ExtractFacade.extract_with_report


def test_a_run_gets_a_source_built_of_the_clients_planes():
    """The client hands a run its control plane and transport, never itself."""
    with FeatureClient("http://127.0.0.1:9", flight="grpc://127.0.0.1:9", retries=2) as client:
        source = client.row_source()
        assert isinstance(source, FlightSource)
        assert source.control is client.control and source.transport is client.transport
        assert isinstance(client.transport, FlightTransport)
        assert source.retry().retries == 2


def test_the_fetcher_knows_the_transport_not_the_client():
    """FlightFetcher's constructor takes a FlightTransport (no Protocol over the client)."""
    annotations = inspect.signature(FlightFetcher).parameters
    assert annotations["transport"].annotation in (FlightTransport, "FlightTransport")


def test_a_ray_run_gets_a_source_built_of_the_engines_cluster():
    """RayEngine hands a run the RayCluster it holds, never itself; nothing joins yet."""
    engine = RayEngine(settings_for_tests(), address="127.0.0.1:1")
    source = engine.row_source(None)
    assert isinstance(source, RaySource) and source.cluster is engine.cluster
    assert engine.target is engine.cluster.target


def test_the_ray_fetcher_knows_the_cluster_not_the_engine():
    """RayFetcher's constructor takes a RayCluster (no Protocol over the engine)."""
    annotations = inspect.signature(RayFetcher).parameters
    assert annotations["cluster"].annotation in (RayCluster, "RayCluster")
