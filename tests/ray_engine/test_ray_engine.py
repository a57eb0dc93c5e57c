"""The Ray engine on a local Ray instance (2 CPUs): same rows as Flight, same cache, a
killed driver resumed without a row lost or duplicated, refusals named. (A node lost
mid-run, on a cluster of several nodes: ``test_ray_cluster``.)"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pytest

from tests.conftest import REPO, settings_for_tests, wait_for

# The test Ray instance's token comes from the environment (the CLI subprocesses inherit
# it), so Ray writes none to ~/.ray; Ray reads these once, when it is first imported.
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
pytest.importorskip("ray", reason="needs hemma-features[ray]")
import ray  # noqa: E402
import ray.data  # noqa: E402

from hemma_features.arrowfiles.layout import partition_dir  # noqa: E402
from hemma_features.client.cache_admin import verify  # noqa: E402
from hemma_features.client.feature_client import FeatureClient  # noqa: E402
from hemma_features.contract import ContractError, content_key_array  # noqa: E402
from hemma_features.ray_engine import (  # noqa: E402
    EngineInfo,
    HemmaFeatures,
    RayEngine,
    restore_schema,
    settings_mapping,
)


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray instance for the module, with this machine's 2 CPUs, on 127.0.0.1."""
    env = {
        name: os.environ[name]
        for name in ("HEMMA_MODEL_CACHE_DIR", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
        if name in os.environ
    }
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": env},
        _node_ip_address="127.0.0.1",
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def many_essays(sample_essays: pa.Table, copies: int) -> pa.Table:
    """``copies`` distinct variants of each sample essay (new ids, a sentence appended)."""
    parts = []
    for copy in range(copies):
        suffix = pa.scalar(f" Copy {copy} ends here.")
        parts.append(
            pa.table(
                {
                    "essay_id": pc.binary_join_element_wise(
                        sample_essays.column("essay_id").cast(pa.string()), f"c{copy}", "-"
                    ),
                    "text": pc.binary_join_element_wise(sample_essays.column("text"), suffix, ""),
                    "prompt": sample_essays.column("prompt"),
                }
            )
        )
    return pa.concat_tables(parts)


def stored_rows(cache: Path, fingerprint: str, feature_set: str) -> pa.Table:
    """Every row of every file of one partition, as stored (nothing deduplicated)."""
    return ds.dataset(partition_dir(cache, fingerprint, feature_set), format="ipc").to_table()


def test_same_table_as_flight(ray_cluster, live_server, sample_essays):
    """The same essays through Flight and through Ray give equal tables, metadata included."""
    essays = sample_essays.select(["essay_id", "text", "prompt"])
    with FeatureClient(live_server.http_url, flight=live_server.flight_url) as client:
        flight = pa.Table.from_batches(list(client.stream(essays, "combined")))
    dataset = ray.data.from_arrow(essays).map_batches(
        HemmaFeatures,
        fn_constructor_kwargs={
            "feature_set": "combined",
            "settings": settings_mapping(settings_for_tests()),
        },
        batch_format="pyarrow",
        batch_size=3,
        compute=ray.data.ActorPoolStrategy(size=1),
    )
    through_ray = pa.concat_tables(ray.get(dataset.to_arrow_refs()))
    # Blocks come back in the order they finish: compare in the input's order.
    order = pc.index_in(essays.column("essay_id"), through_ray.column("essay_id"))
    through_ray = through_ray.take(order)
    # Ray keeps each block's schema metadata here; restore_schema is the documented step for
    # when it does not, and must leave an intact table unchanged.
    schema = live_server.runtime.schema("combined")
    assert through_ray.schema.equals(schema, check_metadata=True)
    assert through_ray.equals(flight, check_metadata=True)
    assert restore_schema(through_ray.replace_schema_metadata(None), schema).equals(
        flight, check_metadata=True
    )


def test_bad_row_is_named(runtime, sample_essays):
    """A row that breaks an input rule is refused naming the row and the limit."""
    stage = HemmaFeatures.on_runtime(runtime, "handcrafted")
    too_long = "word " * (runtime.settings.limits.max_text_chars // 5 + 1)
    rows = pa.table(
        {"essay_id": ["ok", "long"], "text": ["Fine text.", too_long], "prompt": ["p", "p"]}
    )
    with pytest.raises(ContractError, match=r"row 1 \(essay_id='long'\): text has \d+ characters"):
        stage(rows)
    empty = pa.table({"essay_id": ["e"], "text": ["   "], "prompt": ["p"]})
    with pytest.raises(ContractError, match="row 0 .*text is empty or only whitespace"):
        stage(empty)


def test_bad_row_is_named_before_ray_computes(ray_cluster, runtime, sample_essays, tmp_path):
    """--engine ray checks every row on the driver as the Flight client does, naming the
    input row, before an actor starts; nothing is written."""
    essays = sample_essays.select(["essay_id", "text", "prompt"])
    bad = pa.concat_tables(
        [essays, pa.table({"essay_id": ["blank"], "text": [" "], "prompt": ["p"]})]
    )
    engine = RayEngine(settings_for_tests(), info=EngineInfo.of(runtime))
    row = essays.num_rows
    with pytest.raises(ContractError, match=rf"row {row} \(essay_id='blank'\): text is empty"):
        engine.extract(bad, feature_set="embeddings", cache=tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("fingerprint=*/feature_set=*/part-*"))


def test_actor_with_another_fingerprint_refuses(ray_cluster, sample_essays):
    """An actor that computes another fingerprint than the run expects refuses to start,
    and the run stops with that reason (Ray Data does not retry a failed constructor)."""
    from hemma_features.engine.errors import FingerprintMismatchError
    from hemma_features.ray_engine.engine import cause

    dataset = ray.data.from_arrow(sample_essays.select(["essay_id", "text", "prompt"]))
    dataset = dataset.map_batches(
        HemmaFeatures,
        fn_constructor_kwargs={
            "feature_set": "embeddings",
            "settings": settings_mapping(settings_for_tests(parse_workers=0)),
            "fingerprint": "0" * 64,
        },
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=1),
    )
    with pytest.raises(Exception) as raised:
        dataset.materialize()
    found = cause(raised.value)
    assert isinstance(found, FingerprintMismatchError), repr(raised.value)
    assert "the request expects " + "0" * 64 in str(found)


def test_a_remembered_answer_the_cluster_no_longer_gives_is_forgotten(
    ray_cluster, runtime, sample_essays, tmp_path
):
    """The cache remembers what the cluster computed, but its hosts changed since: the
    actors refuse the remembered fingerprint, the run stops saying so, and the memory is
    gone, so the rerun asks the cluster again."""
    from hemma_features.engine.errors import FingerprintMismatchError
    from hemma_features.ray_engine.memory import RunMemory, key_material

    class ChangedHost(HemmaFeatures):  # computes another fingerprint, without loading one
        def __init__(self, *args, fingerprint=None, **kwargs):
            raise FingerprintMismatchError(
                f"fingerprint mismatch: the request expects {fingerprint}, this server "
                f"computes {'1' * 64} for embeddings"
            )

    settings = settings_for_tests()
    cache = tmp_path / "cache"
    engine = RayEngine(settings, stage=ChangedHost)
    memory = RunMemory(cache, key_material(settings, engine.target.address, 0, ray.__version__))
    memory.write(EngineInfo.of(runtime))
    with pytest.raises(FingerprintMismatchError) as raised:
        engine.extract(sample_essays, feature_set="embeddings", cache=cache)
    assert engine.remembered
    assert "forgotten now: rerun the same command" in " ".join(raised.value.__notes__)
    assert memory.read() is None


def ray_extract(essays: Path, cache: Path, address: str, report: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "hemma_features.cli", "extract", str(essays), "--engine", "ray",
        "--ray-address", address, "--feature-set", "embeddings", "--cache", str(cache),
        "--ray-batch-rows", "1", "--commit-seconds", "0", "--report", str(report), "--quiet",
        "--ray-log", str(report.with_suffix(".log")),
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_killed_driver_resumes(ray_cluster, runtime, sample_essays, tmp_path):
    """A driver killed with SIGKILL after some rows landed keeps them; the rerun computes
    only the rest, and every essay ends in the cache exactly once."""
    essays = many_essays(sample_essays, 5)
    source = tmp_path / "essays.csv"
    pacsv.write_csv(essays, source)
    cache = tmp_path / "cache"
    fingerprint = runtime.fingerprint_for("embeddings")
    directory = partition_dir(cache, fingerprint, "embeddings")
    first = ray_extract(source, cache, ray_cluster, tmp_path / "first.json")
    try:
        landed = wait_for(lambda: directory.is_dir() and any(directory.glob("part-*")), 300)
        assert landed, first.stderr.read() if first.poll() is not None else "no rows in 300 s"
        first.send_signal(signal.SIGKILL)
        first.wait(60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(60)
    kept = stored_rows(cache, fingerprint, "embeddings").num_rows
    assert 0 < kept < essays.num_rows
    second = ray_extract(source, cache, ray_cluster, tmp_path / "second.json")
    out, err = second.communicate(timeout=400)
    assert second.returncode == 0, err
    report = json.loads((tmp_path / "second.json").read_text())
    assert report["cache_hits"] >= kept
    assert report["cache_hits"] + report["rows_fetched"] == essays.num_rows
    counts = Counter(stored_rows(cache, fingerprint, "embeddings").column("key").to_pylist())
    assert counts == Counter(content_key_array(essays).to_pylist())
    assert verify(cache) == []


def test_a_cluster_without_a_node_for_an_actor_is_noticed(ray_cluster):
    """What an actor asks is checked against every alive node: none fitting is said, with
    the most any node has (here one node of 2 CPUs and no custom resources)."""
    from hemma_features.ray_engine.connect import largest_node

    assert largest_node({"CPU": 1, "GPU": 0}) is None
    assert largest_node({"CPU": 64}) == "1 alive node(s), the most any has: CPU 2"
    assert largest_node({"CPU": 1, "avx512": 1}) == (
        "1 alive node(s), the most any has: CPU 2, avx512 0"
    )


def test_missing_ray_is_one_line(monkeypatch, tmp_path, capsys):
    """--engine ray without the ray extra answers with one line naming the extra."""
    from hemma_features.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.delitem(sys.modules, "hemma_features.ray_engine.command", raising=False)
    code = main(["extract", str(tmp_path / "x.csv"), "--engine", "ray", "--cache", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "hemma-features[server,ray]" in err


def test_actors_keep_no_server_store_unless_one_is_named(runtime, tmp_path):
    """The run's sink is the driver's cache: with default settings (store on, no directory)
    an actor's stage keeps no store; HEMMA_STORE_DIR names one it then uses."""
    from hemma_features.engine.runtime import Runtime

    default = Runtime.from_models(
        settings_for_tests(store=True), runtime.analyzer, runtime.embedder
    )
    named = Runtime.from_models(
        settings_for_tests(store_dir=str(tmp_path)), runtime.analyzer, runtime.embedder
    )
    try:
        assert HemmaFeatures.on_runtime(default).features.store is None
        assert HemmaFeatures.on_runtime(named).features.store.root == tmp_path
    finally:
        default.close()
        named.close()
