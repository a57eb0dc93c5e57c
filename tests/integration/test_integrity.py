"""Checksums end to end: damaged cache and store files are named, moved aside, refetched."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from hemma_features import FeatureClient
from hemma_features.arrowfiles.checksums import verify_file
from hemma_features.arrowfiles.layout import DAMAGED, partition_dir
from hemma_features.client import cache_admin
from hemma_features.client.cache import FeatureCache
from hemma_features.engine.feature_store import FeatureStore
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.settings_env import settings_of
from tests.conftest import SAMPLES
from tests.damage import damage, flip_bit, truncate
from tests.servers import LiveServer, counter


def rows_of(path: Path) -> int:
    with pa.memory_map(str(path)) as source:
        return ipc.open_file(source).read_all().num_rows


def moved_aside(root: Path, path: Path) -> Path:
    fs_dir, fp_dir = path.parent, path.parent.parent
    return root / DAMAGED / fp_dir.name / fs_dir.name / path.name


def test_cache_files_are_named_by_their_checksum(live_server, runtime, tmp_path):
    """sha256 of every cache file's bytes is the hex in its name."""
    cache = tmp_path / "c"
    with FeatureClient(live_server.http_url, chunk_rows=3, commit_seconds=0) as client:
        client.extract(SAMPLES, feature_set="combined", cache=cache)
    files = sorted(cache.rglob("part-*.arrow"))
    assert len(files) >= 3 * 3  # three feature sets, several chunks each
    for path in files:
        assert path.name == f"part-{hashlib.sha256(path.read_bytes()).hexdigest()}.arrow"


def test_cache_verify_names_exactly_the_flipped_or_truncated_file(live_server, runtime,
                                                                  tmp_path):  # fmt: skip
    """Single-bit flips at seeded random positions, and truncations, of any file: verify
    names that file and no other, and moves nothing; the CLI exits 1."""
    from hemma_features.cli import main

    cache = tmp_path / "c"
    with FeatureClient(live_server.http_url, chunk_rows=2, commit_seconds=0) as client:
        client.extract(SAMPLES, feature_set="handcrafted", cache=cache)
    part = partition_dir(cache, runtime.fingerprint_for("handcrafted"), "handcrafted")
    files = sorted(part.glob("part-*.arrow"))
    assert len(files) == 4 and cache_admin.verify(cache) == []
    rng = random.Random(20240917)
    for path in files:
        original = path.read_bytes()
        damages = [flip_bit(rng.randrange(len(original)), rng.randrange(8)) for _ in range(6)]
        for change in [*damages, truncate]:
            path.write_bytes(change(original))
            problems = cache_admin.verify(cache)
            assert [p.path for p in problems] == [str(path)], problems
            assert problems[0].problem.startswith(("checksum mismatch", "unreadable"))
            assert sorted(part.glob("part-*.arrow")) == files  # verify moves nothing
        assert main(["cache", "verify", str(cache)]) == 1
        path.write_bytes(original)
    assert cache_admin.verify(cache) == []


@pytest.mark.parametrize(
    ("feature_set", "change"),
    [
        ("embeddings", flip_bit(700, 2)),
        ("handcrafted", flip_bit(-20, 5)),
        ("handcrafted", truncate),
    ],
    ids=["embeddings-flip", "handcrafted-flip", "handcrafted-truncated"],
)
def test_extract_moves_a_damaged_file_aside_and_refetches_its_rows(
    live_server, runtime, tmp_path, feature_set, change
):
    """After a flip or a truncation extract returns the very same values, with exit 0 and
    no traceback: the damaged file is moved aside and only its rows are fetched again."""
    cache = tmp_path / "c"
    with FeatureClient(live_server.http_url, chunk_rows=4, commit_seconds=0) as client:
        before = client.extract(SAMPLES, feature_set=feature_set, cache=cache)
        part = partition_dir(cache, runtime.fingerprint.for_set(feature_set), feature_set)
        damaged = sorted(part.glob("part-*.arrow"))[0]
        lost = rows_of(damaged)
        original = damaged.read_bytes()
        damage(damaged, change)
        assert damaged.read_bytes() != original
        after, report = client.extract_with_report(SAMPLES, feature_set=feature_set, cache=cache)
        assert report.rows_fetched == lost
        assert report.cache_hits == 8 - lost
    assert after.equals(before)  # bit-identical
    assert moved_aside(cache, damaged).read_bytes() == change(original)
    assert cache_admin.verify(cache) == []
    fingerprint = runtime.fingerprint.for_set(feature_set)
    assert len(FeatureCache(cache).known_keys(fingerprint, feature_set)) == 8


def test_the_extract_command_survives_a_truncated_cache_file(live_server, runtime, tmp_path):
    """`hemma-features extract` over a cache with a cut file exits 0 and fetches its rows."""
    from hemma_features.cli import main

    cache = tmp_path / "c"
    args = ["extract", str(SAMPLES), "--server", live_server.http_url, "--cache", str(cache),
            "--feature-set", "handcrafted", "--quiet", "--chunk-rows", "4",
            "--commit-seconds", "0"]  # fmt: skip
    assert main(args) == 0
    part = partition_dir(cache, runtime.fingerprint.for_set("handcrafted"), "handcrafted")
    damaged = sorted(part.glob("part-*.arrow"))[-1]
    damage(damaged, truncate)
    report = tmp_path / "run.json"
    assert main([*args, "--report", str(report)]) == 0
    import json

    assert json.loads(report.read_bytes())["rows_fetched"] == 4
    assert moved_aside(cache, damaged).is_file()


def test_store_moves_a_damaged_file_aside_and_recomputes_its_rows(runtime, tmp_path):
    """A flipped bit in a server store file: the row is recomputed, not served changed."""
    store_dir = tmp_path / "store"
    server = LiveServer(
        Runtime.from_models(
            settings_of(store_dir=str(store_dir)), runtime.analyzer, runtime.embedder
        )
    )
    try:
        with FeatureClient(server.http_url, chunk_rows=4, commit_seconds=0) as client:
            first = client.extract(SAMPLES, feature_set="handcrafted")
            computed = counter(server.http_url, "hemma_extract_rows_total", "handcrafted")
            part = partition_dir(store_dir, runtime.fingerprint.for_set("handcrafted"),
                                 "handcrafted")  # fmt: skip
            files = sorted(part.glob("part-*.arrow"))
            for path in files:
                assert path.name == f"part-{hashlib.sha256(path.read_bytes()).hexdigest()}.arrow"
            damaged = files[0]
            lost = rows_of(damaged)
            damage(damaged, flip_bit(len(damaged.read_bytes()) // 2, 0))
            second = client.extract(SAMPLES, feature_set="handcrafted")
            recomputed = counter(server.http_url, "hemma_extract_rows_total", "handcrafted")
    finally:
        server.close()
    assert second.equals(first)
    assert recomputed == computed + lost
    assert moved_aside(store_dir, damaged).is_file()
    # The recomputed rows were stored again, in files that hash to their names (often the
    # very name of the damaged one: same rows, same bytes).
    assert all(verify_file(path, memo=False) is None for path in part.glob("part-*.arrow"))


def test_store_lookup_never_serves_a_damaged_or_truncated_file(tmp_path):
    """FeatureStore alone: lookups skip damaged files (moved aside); adds restore the rows."""
    store = FeatureStore(tmp_path, max_bytes=10**9)
    x = pa.array([1.0, 2.0], pa.float32())
    table = pa.table({"key": ["a", "b"], "essay_id": ["1", "2"], "x": x})
    store.add("fp", "handcrafted", table.slice(0, 1))
    store.add("fp", "handcrafted", table.slice(1, 1))
    found = store.lookup("fp", "handcrafted", ["a", "b"])
    assert found is not None and sorted(found.column("key").to_pylist()) == ["a", "b"]
    part = partition_dir(tmp_path, "fp", "handcrafted")
    with_a, with_b = sorted(part.glob("part-*.arrow"), key=first_key)
    damage(with_a, flip_bit(300, 1))
    damage(with_b, truncate)
    assert store.lookup("fp", "handcrafted", ["a", "b"]) is None
    assert list(part.glob("part-*.arrow")) == []
    assert store.add("fp", "handcrafted", table) == 2
    found = store.lookup("fp", "handcrafted", ["b", "a"])
    assert found is not None and found.sort_by("key").equals(table)


def first_key(path: Path) -> str:
    with pa.memory_map(str(path)) as source:
        return ipc.open_file(source).read_all().column("key")[0].as_py()
