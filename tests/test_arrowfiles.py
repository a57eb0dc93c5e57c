"""The Arrow file layer on its own: atomic writes, portable locks, one row per key, checksums."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.ipc
import pytest

from hemma_features.arrowfiles import checksums
from hemma_features.arrowfiles.atomic import (
    FileFormat,
    StagedFile,
    write_bytes_atomically,
    write_table_atomically,
)
from hemma_features.arrowfiles.checksums import verify_file
from hemma_features.arrowfiles.journal import Journal, replace_files
from hemma_features.arrowfiles.layout import JOURNAL, part_files, partition_dir, recorded_digest
from hemma_features.arrowfiles.partitions import PartitionedDataset
from tests.conftest import REPO
from tests.damage import damage, flip_bit


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    """A write that fails half-way leaves the previous bytes and no hidden temp file."""
    target = tmp_path / "data.json"
    write_bytes_atomically(target, b"old")

    class Unwritable:
        schema = pa.schema([("x", pa.int64())])

    with pytest.raises((TypeError, AttributeError)):
        write_table_atomically(target, Unwritable(), "ipc")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_concurrent_writers_in_threads_store_each_key_once(tmp_path):
    """Eight threads adding overlapping keys to one partition leave one row per key."""
    store = PartitionedDataset(tmp_path)
    table = pa.table({"key": [f"k{i}" for i in range(40)], "essay_id": [str(i) for i in range(40)]})
    threads = [
        threading.Thread(target=store.write, args=("fp", "embeddings", table.slice(i * 4, 20)))
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    dataset = store.dataset("fp", "embeddings")
    assert dataset is not None
    stored = dataset.to_table().column("key").to_pylist()
    assert sorted(stored) == sorted(table.column("key").to_pylist())  # each key once
    assert len(part_files(partition_dir(tmp_path, "fp", "embeddings"), "ipc")) <= 8


def test_cache_works_where_fcntl_does_not_exist(tmp_path):
    """With fcntl unavailable (as on Windows) the client cache imports, locks and writes."""
    code = f"""
import sys
class NoFcntl:
    def find_spec(self, name, path=None, target=None):
        if name == "fcntl":
            raise ImportError("no fcntl here")
sys.meta_path.insert(0, NoFcntl())
sys.modules.pop("fcntl", None)
import warnings
warnings.simplefilter("ignore")
import pyarrow as pa
import hemma_features.client.cache as cache
c = cache.FeatureCache({str(tmp_path)!r})
print(c.write("fp", "handcrafted", pa.table({{"key": ["a"], "essay_id": ["1"]}})),
      sorted(c.known_keys("fp", "handcrafted")), "fcntl" in sys.modules)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["1", "['a']", "False"]


def two_files(root: Path, file_format: FileFormat = "ipc") -> tuple[PartitionedDataset, list]:
    """A dataset with keys k0..k9 in two files: (k0..k4, k5..k9), in that order."""
    store = PartitionedDataset(root, file_format)
    table = pa.table({"key": [f"k{i}" for i in range(10)], "x": [float(i) for i in range(10)]})
    directory = partition_dir(root, "fp", "handcrafted")
    files = []
    for start in (0, 5):
        before = set(part_files(directory, file_format))
        store.write("fp", "handcrafted", table.slice(start, 5))
        files += set(part_files(directory, file_format)) - before
    return store, files


@pytest.mark.parametrize("file_format", ["ipc", "parquet"])
def test_file_names_are_the_sha256_of_their_bytes(tmp_path, file_format):
    """Every written file is named part-<sha256 of its bytes>; the table writer returns it."""
    _, files = two_files(tmp_path, file_format)
    assert len(files) == 2
    for path in files:
        assert path.name == f"part-{hashlib.sha256(path.read_bytes()).hexdigest()}{path.suffix}"
        assert recorded_digest(path) == path.name[5:69]
    target = tmp_path / "t.arrow"
    digest = write_table_atomically(target, pa.table({"x": [1]}), "ipc")
    assert digest == hashlib.sha256(target.read_bytes()).hexdigest()
    assert recorded_digest(tmp_path / "part-0123abcd.arrow") is None  # legacy name


@pytest.mark.parametrize("file_format", ["ipc", "parquet"])
def test_every_bit_flip_and_every_truncation_is_caught(tmp_path, file_format):
    """A single flipped bit anywhere (seeded positions) or a cut file fails verification."""
    _, files = two_files(tmp_path, file_format)
    path = files[0]
    original = path.read_bytes()
    rng = random.Random(9)
    for position in rng.sample(range(len(original)), 40):
        path.write_bytes(flip_bit(position, rng.randrange(8))(original))
        problem = verify_file(path, memo=False)
        assert problem is not None, f"flip at byte {position} not caught"
        assert problem.split(":")[0] in ("checksum mismatch", "unreadable")
    for keep in (0, 1, len(original) // 2, len(original) - 1):
        path.write_bytes(original[:keep])
        problem = verify_file(path, memo=False)
        assert problem is not None and problem.startswith("unreadable: truncated"), keep
    path.write_bytes(original)
    assert verify_file(path, memo=False) is None
    assert verify_file(files[1], memo=False) is None


def test_a_damaged_file_is_moved_aside_and_its_rows_count_as_missing(tmp_path):
    """Reads never use a damaged file: it goes to _damaged/, its keys are missing, and
    writing those rows again restores the partition (under the lock the write holds)."""
    store, (damaged, intact) = two_files(tmp_path)
    damaged_keys = set(pa.ipc.open_file(damaged).read_all().column("key").to_pylist())
    before = store.read("fp", "handcrafted", [f"k{i}" for i in range(10)])
    assert before is not None
    damage(damaged, flip_bit(len(damaged.read_bytes()) // 2, 3))
    all_keys = {f"k{i}" for i in range(10)}
    assert store.known_keys("fp", "handcrafted") == all_keys - damaged_keys
    aside = tmp_path / "_damaged" / "fingerprint=fp" / "feature_set=handcrafted" / damaged.name
    assert aside.is_file() and not damaged.exists() and intact.exists()
    # Nor does a plain hive-partitioned read of the whole root see it.
    whole = ds.dataset(tmp_path, format="ipc", partitioning="hive")
    assert set(whole.to_table().column("key").to_pylist()) == all_keys - damaged_keys
    assert store.write("fp", "handcrafted", before) == len(damaged_keys)
    after = store.read("fp", "handcrafted", sorted(all_keys))
    assert after is not None and after.sort_by("key").equals(before.sort_by("key"))
    assert aside.is_file()  # kept for inspection


def test_a_write_moves_aside_a_file_damaged_since_the_last_read(tmp_path):
    """A write reads the keys under its lock; a damaged file found then is moved aside
    without waiting for the lock the write itself holds."""
    store, (damaged, _) = two_files(tmp_path)
    damage(damaged, lambda data: data[: len(data) // 3])
    fresh = pa.table({"key": ["k0", "new"], "x": [0.0, 1.0]})
    assert store.write("fp", "handcrafted", fresh) == 2  # k0 was in the damaged file
    assert not damaged.exists()
    assert "new" in store.known_keys("fp", "handcrafted")


def test_legacy_files_are_checked_by_reading_them(tmp_path):
    """A file named before checksums is fine while it reads in full, unreadable once cut."""
    _, (path, _) = two_files(tmp_path)
    legacy = path.with_name("part-0f1e2d3c4b5a69788796a5b4c3d2e1f0.arrow")
    path.rename(legacy)
    assert verify_file(legacy, memo=False) is None
    legacy.write_bytes(legacy.read_bytes()[:-40])
    problem = verify_file(legacy, memo=False)
    assert problem is not None and problem.startswith("unreadable")


def test_a_file_is_hashed_once_per_process_until_it_changes(tmp_path, monkeypatch):
    """The verdict is memoised by size and mtime; touch (LRU) keeps it; a change re-hashes."""
    _, (path, _) = two_files(tmp_path)
    hashed = []
    real = checksums.file_sha256
    monkeypatch.setattr(checksums, "file_sha256", lambda p: hashed.append(p) or real(p))
    checksums.forget(path)  # the second write verified it already
    assert verify_file(path) is None and verify_file(path) is None
    time.sleep(0.05)
    checksums.touch(path)
    assert verify_file(path) is None
    assert len(hashed) == 1
    damage(path, flip_bit(10, 0))
    assert verify_file(path) == "checksum mismatch"
    assert len(hashed) == 2


def test_compaction_names_the_new_file_by_its_checksum_and_survives_a_crash(tmp_path):
    """A crash between the journal and the rename leaves the old files; a finished
    compaction leaves one file named by its checksum; the journal names that file."""
    store, files = two_files(tmp_path)
    directory = files[0].parent
    merged = pa.concat_tables(pa.ipc.open_file(path).read_all() for path in files)

    class Crash(Exception):
        pass

    def crash(self, path):
        raise Crash

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(StagedFile, "commit", crash)
        with store.locked("fp", "handcrafted"), pytest.raises(Crash):
            replace_files(directory, merged.schema, merged.to_batches(), files, "ipc")
    journal = msgspec.json.decode((directory / JOURNAL).read_bytes(), type=Journal)
    assert sorted(journal.old) == sorted(path.name for path in files)
    with store.locked("fp", "handcrafted"):  # recovery: the new file never landed
        pass
    assert part_files(directory, "ipc") == sorted(files) and not (directory / JOURNAL).exists()
    with store.locked("fp", "handcrafted"):
        new = replace_files(directory, merged.schema, merged.to_batches(), files, "ipc")
    assert part_files(directory, "ipc") == [new] and new.name == journal.new
    assert new.name == f"part-{hashlib.sha256(new.read_bytes()).hexdigest()}.arrow"
    assert list(directory.glob(".*.tmp")) == []
