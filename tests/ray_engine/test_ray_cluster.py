"""The Ray engine on a simulated cluster of several nodes on this machine
(``ray.cluster_utils.Cluster``: a head without CPUs and two worker nodes of one CPU each,
token authentication on): rows equal to the Flight path's while a worker node is lost
mid-run, a driver with another token refused in one line, and a head lost mid-run ending
the run like Ctrl-C does, with what arrived in the cache and the report written."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from tests.conftest import REPO, settings_for_tests, wait_for

os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
pytest.importorskip("ray", reason="needs hemma-features[ray]")
import ray  # noqa: E402

from hemma_features.arrowfiles.layout import partition_dir  # noqa: E402
from hemma_features.client.cache_admin import verify  # noqa: E402
from hemma_features.client.feature_client import FeatureClient  # noqa: E402
from hemma_features.contract import content_key_array  # noqa: E402
from hemma_features.engine.settings_env import load_settings  # noqa: E402
from hemma_features.ray_engine import EngineInfo, HemmaFeatures, RayEngine  # noqa: E402
from hemma_features.ray_engine.connect import resolve  # noqa: E402
from hemma_features.ray_engine.memory import RunMemory, key_material  # noqa: E402
from tests.ray_engine.test_ray_engine import many_essays, stored_rows  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    """A head (0 CPUs) and two worker nodes (1 CPU each) for the module. Ray's files go to
    a short directory of its own (RAY_TMPDIR), so the address Cluster records is never
    the one other Ray runs on this machine read."""
    from ray.cluster_utils import Cluster

    directory = tempfile.mkdtemp(prefix="hr-", dir="/tmp")  # unix socket paths stay short
    before = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = directory
    simulated = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        for _ in range(2):
            simulated.add_node(num_cpus=1)
        yield simulated
    finally:
        if ray.is_initialized():
            ray.shutdown()
        simulated.shutdown()
        if before is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = before
        shutil.rmtree(directory, ignore_errors=True)


def recording_stage(directory: Path) -> type[HemmaFeatures]:
    """A stage whose every actor writes the id of the node it runs on into ``directory``."""

    class Recording(HemmaFeatures):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            node = ray.get_runtime_context().get_node_id()
            (directory / f"actor-{os.getpid()}").write_text(node)

    return Recording


def test_a_node_lost_mid_run_leaves_the_flight_rows_once(
    cluster, runtime, live_server, sample_essays, tmp_path
):
    """The worker node running the actor is killed after the first rows land: Ray restarts
    the actor on the other node, the run ends with every row equal to the Flight path's
    (schema metadata and fingerprint included), each essay once in each partition, the
    cache verified clean, the report counting the lost actor and its retried block, and a
    Flight run over the cache fetching nothing."""
    essays = many_essays(sample_essays, 2)
    cache, nodes = tmp_path / "cache", tmp_path / "nodes"
    nodes.mkdir()
    killed: list[str] = []

    def kill_the_actors_node(rows: int, hits: int, total: int) -> None:
        if rows and not killed:
            running = {path.read_text() for path in nodes.glob("actor-*")}
            for node in list(cluster.worker_nodes):
                if node.node_id in running:
                    cluster.remove_node(node, allow_graceful=False)
                    killed.append(node.node_id)

    engine = RayEngine(
        settings_for_tests(),
        address=cluster.address,
        batch_rows=2,
        commit_seconds=0,
        stage=recording_stage(nodes),
        info=EngineInfo.of(runtime),
        connect_timeout=10,
    )
    try:
        table, report = engine.extract_with_report(
            essays, feature_set="combined", cache=cache, progress=kill_the_actors_node
        )
    finally:
        ray.shutdown()
    assert killed, "no actor's node was found to kill"
    assert table.column("essay_id").to_pylist() == essays.column("essay_id").to_pylist()
    assert report.lost_actors >= 1 and report.retries >= 1, report
    keys = Counter(content_key_array(essays).to_pylist())
    for feature_set in ("combined", "embeddings", "handcrafted"):
        fingerprint = runtime.fingerprint_for(feature_set)
        stored = stored_rows(cache, fingerprint, feature_set).column("key").to_pylist()
        assert Counter(stored) == keys, feature_set
    assert verify(cache) == []
    with FeatureClient(live_server.http_url, flight=live_server.flight_url) as client:
        flight = client.extract(essays, feature_set="combined", cache=tmp_path / "flight")
        again, reread = client.extract_with_report(essays, feature_set="combined", cache=cache)
    assert table.equals(flight, check_metadata=True)
    assert reread.rows_fetched == 0 and again.equals(table, check_metadata=True)


def cli(essays: Path, cache: Path, address: str, *extra: str, env: dict[str, str]):
    command = [
        sys.executable, "-m", "hemma_features.cli", "extract", str(essays), "--engine", "ray",
        "--ray-address", address, "--cache", str(cache), "--ray-connect-timeout", "5",
        "--ray-log", str(cache.with_name("ray.log")), *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def test_a_driver_without_the_clusters_token_is_refused_in_one_line(
    cluster, sample_essays, tmp_path
):
    """Another token than the cluster's: one line naming the address and how to give the
    token, exit status 2, well within the bound."""
    source = tmp_path / "essays.csv"
    pacsv.write_csv(sample_essays.select(["essay_id", "text", "prompt"]), source)
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    run = cli(source, tmp_path / "cache", cluster.address, env=env)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 2, err
    assert out == "" and err.count("\n") == 1, err
    assert "refused this driver's token (RAY_AUTH_TOKEN here differs" in err
    assert "RAY_AUTH_TOKEN_PATH" in err and "docs/scale-out.md" in err


def test_the_head_lost_mid_run_stops_with_what_arrived(cluster, runtime, sample_essays, tmp_path):
    """The head is killed after the first rows landed: the driver stops within the bound
    with one line saying so and how many essays the cache holds, writes the report, and
    the cache verifies clean. (The cache remembers the cluster's answer, as a run before
    would have left it, so the driver loads no runtime to ask.)"""
    essays = many_essays(sample_essays, 5)
    source, cache, report = tmp_path / "essays.csv", tmp_path / "cache", tmp_path / "run.json"
    pacsv.write_csv(essays, source)
    env = {**os.environ, "HEMMA_STORE": "false"}
    settings = load_settings(env)
    assert settings == settings_for_tests()  # the actors compute the session runtime's rows
    address = resolve(cluster.address).address
    RunMemory(cache, key_material(settings, address, 0, ray.__version__)).write(
        EngineInfo.of(runtime)
    )
    extra = ("--feature-set", "embeddings", "--ray-batch-rows", "1", "--commit-seconds", "0")
    run = cli(source, cache, cluster.address, *extra, "--report", str(report), env=env)
    fingerprint = runtime.fingerprint_for("embeddings")
    directory = partition_dir(cache, fingerprint, "embeddings")
    try:
        landed = wait_for(lambda: any(directory.glob("part-*")) or run.poll() is not None, 300)
        assert landed and run.poll() is None, run.communicate(timeout=60)
        cluster.remove_node(cluster.head_node, allow_graceful=False)
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate(timeout=60)
    kept = stored_rows(cache, fingerprint, "embeddings").num_rows
    assert run.returncode == 2, err
    assert err.count("\n") == 1, err
    assert f"the Ray cluster at {address} was lost mid-run: the Ray head (GCS)" in err
    assert f"stopped: {kept} of {essays.num_rows} essays are in {cache}" in err
    assert "rerun the same command" in err
    assert 0 < kept < essays.num_rows
    written = json.loads(report.read_text())
    assert written["complete"] is False and written["essays_in_cache"] == kept
    assert verify(cache) == []
