"""The Arrow file layer on its own: atomic writes, portable locks, one row per key."""

from __future__ import annotations

import subprocess
import sys
import threading

import pyarrow as pa
import pytest

from hemma_features.arrowfiles.atomic import write_bytes_atomically, write_table_atomically
from hemma_features.arrowfiles.layout import part_files, partition_dir
from hemma_features.arrowfiles.partitions import PartitionedDataset
from tests.conftest import REPO


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
