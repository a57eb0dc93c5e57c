"""Corpus scale in counts, not seconds: what a write reads, how files grow, what segments
keep, and that the key index finds exactly what is stored."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pytest

from hemma_features.arrowfiles.compaction import merge_plan, tier
from hemma_features.arrowfiles.keyindex import FileKeys, fixed_width
from hemma_features.arrowfiles.layout import part_files, partition_dir
from hemma_features.arrowfiles.partitions import PartitionedDataset
from hemma_features.arrowfiles.segments import SegmentWriter, write_session
from tests.conftest import wait_for


def rows(start: int, count: int, width: int = 16) -> pa.Table:
    """``count`` rows with keys k00000.. and a float vector whose first value is the row."""
    keys = [f"k{i:05d}" for i in range(start, start + count)]
    values = np.arange(start, start + count, dtype=np.float32).repeat(width).reshape(-1, width)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), width)
    return pa.table({"key": keys, "essay_id": [f"e{i}" for i in range(start, start + count)],
                     "v": vectors})  # fmt: skip


def test_fixed_width_keys_are_a_view_when_keys_have_one_length():
    keys = pa.array(["ab", "cd", "ef"])
    view = fixed_width(keys.slice(1))
    assert view.tolist() == [b"cd", b"ef"] and view.dtype == np.dtype("S2")
    assert not view.flags.owndata  # no copy
    assert fixed_width(pa.array(["a", "bcd"])).tolist() == [b"a", b"bcd"]
    with pytest.raises(ValueError, match="nulls"):
        fixed_width(pa.array(["a", None]))


def test_a_file_binary_search_uses_a_sort_order_made_on_first_need(tmp_path):
    """A file's binary search (the fallback for shared prefixes) uses a sort order computed
    once, on first need."""
    table = pa.table({"key": ["c", "a", "bb"], "essay_id": ["3", "1", "2"]})
    path = tmp_path / "part-x.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    keys = FileKeys.load(path, "ipc")
    assert keys.sorted_keys()[1].tolist() == [1, 2, 0]  # a, bb, c
    # "bb" is at row 2, "a" at row 1, "zzz" (longer than any stored key) and "b" absent.
    found = keys.rows_of(fixed_width(pa.array(["bb", "zzz", "a", "b", "c"])))
    assert found.tolist() == [2, -1, 1, -1, 0]


def test_read_returns_one_row_per_stored_key_and_locate_keeps_the_asked_order(tmp_path):
    store = PartitionedDataset(tmp_path)
    store.write("fp", "fs", rows(0, 5))
    store.write("fp", "fs", rows(5, 5))
    got = store.read("fp", "fs", ["k00007", "k00001", "nope", "k00007", "k00004"])
    assert got is not None
    assert sorted(got.column("key").to_pylist()) == ["k00001", "k00004", "k00007"]
    values = dict(zip(got.column("key").to_pylist(), got.column("v").to_pylist(), strict=True))
    assert values["k00007"][0] == 7.0 and values["k00001"][0] == 1.0
    located = store.locate("fp", "fs", ["k00007", "nope", "k00001", "k00009"])
    assert located.present.tolist() == [True, False, True, True]
    ordered = located.take(np.array([3, 0, 1, 2]))
    assert ordered.column("key").to_pylist() == ["k00009", "k00007", "k00001"]
    assert store.contains("fp", "fs", ["k00009", "x"]).tolist() == [True, False]


def test_files_keep_arrival_order_and_runs_come_back_as_zero_copy_slices(tmp_path):
    """Rows are stored in the order they came (repeats dropped); asking for a run of them
    in that order returns slices of the memory-mapped file, not copies."""
    store = PartitionedDataset(tmp_path)
    shuffled = rows(0, 100).take(pa.array(np.random.default_rng(1).permutation(100)))
    store.write("fp", "fs", pa.concat_tables([shuffled, shuffled.slice(0, 10)]))
    [path] = part_files(partition_dir(tmp_path, "fp", "fs"), "ipc")
    stored = pa.ipc.open_file(path).read_all()
    assert stored.column("key").to_pylist() == shuffled.column("key").to_pylist()
    wanted = shuffled.column("key").slice(20, 70)  # one run of 70 stored rows
    located = store.locate("fp", "fs", wanted)
    [piece] = located.pieces(np.arange(70))
    assert piece.column("key").equals(wanted)
    source = store.index("fp", "fs").files()[0].table().column("v").chunk(0)
    assert piece.column("v").chunk(0).buffers()[-1].address == source.buffers()[-1].address
    # Scattered rows: gathered into one table, in the asked order.
    scattered = store.locate("fp", "fs", ["k00003", "k00077", "k00001"])
    [gathered] = scattered.pieces(np.arange(3))
    assert gathered.column("key").to_pylist() == ["k00003", "k00077", "k00001"]
    assert [v[0] for v in gathered.column("v").to_pylist()] == [3.0, 77.0, 1.0]


def test_size_tiers_and_merge_plan():
    """base = target / 8**3; tier 0 below it, tier k below base * 8**k, final at target."""
    target = 512 * 1024  # base = 1 KiB
    assert tier(100, target) == 0 and tier(1023, target) == 0
    assert tier(1024, target) == 1 and tier(8 * 1024 - 1, target) == 1
    assert tier(8 * 1024, target) == 2 and tier(64 * 1024, target) == 3
    assert tier(target - 1, target) == 3 and tier(target, target) is None
    from pathlib import Path

    small = {Path(f"s{i}"): 10 for i in range(7)}
    assert merge_plan(small, target) == []  # seven of a tier: not yet
    small[Path("s7")] = 20
    assert merge_plan(small, target) == sorted(small)  # eight: merge them
    assert merge_plan({**{Path(f"b{i}"): target for i in range(20)}}, target) == []


def test_a_single_writer_reads_nothing_back_and_rewrites_each_row_a_bounded_number_of_times(
    tmp_path,
):
    """300 commits: the index never re-reads the partition (0 rows loaded from disk after
    the first look), files stay few, and compaction rewrites each row at most a few times,
    the same late as early (cost per write does not grow with the partition)."""
    store = PartitionedDataset(tmp_path, target_bytes=256 * 1024, fanout=4)
    index = store.index("fp", "fs")
    merged_per_window = []
    files_seen = []
    for window in range(3):
        before = store.stats.rows_merged
        for commit in range(100):
            start = (window * 100 + commit) * 20
            assert store.write("fp", "fs", rows(start, 20)) == 20
            files_seen.append(len(index.files()))
        merged_per_window.append(store.stats.rows_merged - before)
    assert index.stats.rows_loaded == 0  # its own commits are indexed as they are written
    assert store.stats.rows_committed == 6000
    assert store.stats.rows_merged <= 4 * 6000
    assert max(merged_per_window) <= 2 * min(merged_per_window) + 2000
    assert max(files_seen) <= 4 * 4 + 6000 * 100 // (256 * 1024) + 2  # tiers x fanout + finals
    assert store.contains("fp", "fs", [f"k{i:05d}" for i in range(6000)]).all()
    assert PartitionedDataset(tmp_path).dataset("fp", "fs").count_rows() == 6000


def test_a_second_writer_reads_only_what_is_new_since_its_last_look(tmp_path):
    """Two writers (two processes' objects) alternate: each write loads only the files the
    other wrote or merged since, never the whole partition again."""
    first = PartitionedDataset(tmp_path, target_bytes=256 * 1024, fanout=4)
    second = PartitionedDataset(tmp_path, target_bytes=256 * 1024, fanout=4)
    written = {id(first): 0, id(second): 0}
    for step in range(120):
        writer, other = (first, second) if step % 2 == 0 else (second, first)
        loaded_before = writer.index("fp", "fs", refresh=False).stats.rows_loaded
        other_before = other.stats.rows_committed + other.stats.rows_merged
        writer.write("fp", "fs", rows(step * 10, 10))
        loaded = writer.index("fp", "fs", refresh=False).stats.rows_loaded - loaded_before
        # At most what the other wrote and merged in its last write (plus merge output).
        assert loaded <= 2 * (other_before - written[id(other)]) + 10, step
        written[id(other)] = other_before
    table = PartitionedDataset(tmp_path).dataset("fp", "fs").to_table()
    assert table.num_rows == 1200 and len(set(table.column("key").to_pylist())) == 1200


def test_concurrent_segment_writers_end_with_one_row_per_key(tmp_path):
    """Four threads write overlapping keys through their own writers: one row per key."""
    store = PartitionedDataset(tmp_path)
    errors = []

    def work(offset: int) -> None:
        try:
            writer = SegmentWriter(store, "fp", "fs", commit_seconds=0.0)
            for start in range(offset, offset + 200, 25):
                writer.add(rows(start, 25))
            writer.flush()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(offset,)) for offset in (0, 50, 100, 150)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    table = PartitionedDataset(tmp_path).dataset("fp", "fs").to_table()
    assert sorted(table.column("key").to_pylist()) == [f"k{i:05d}" for i in range(350)]


def test_a_segment_commits_when_full_or_old_and_drops_known_keys(tmp_path):
    """Size: a segment past segment_bytes commits at once. Time: with no further rows the
    background flusher commits the buffer within commit_seconds."""
    store = PartitionedDataset(tmp_path)
    directory = partition_dir(tmp_path, "fp", "fs")
    clock = [0.0]
    writer = SegmentWriter(store, "fp", "fs", segment_bytes=10**9, commit_seconds=5.0,
                           clock=lambda: clock[0])  # fmt: skip
    assert writer.add(rows(0, 10)) == 10
    assert writer.add(rows(5, 10)) == 10  # k5..k9 are buffered twice: written once
    assert not directory.exists() or not part_files(directory, "ipc")
    clock[0] = 5.0
    assert writer.add(rows(100, 1)) == 1  # the oldest row has waited 5 s: commit
    assert writer.committed == 16  # k0..k14 and k100
    assert store.contains("fp", "fs", ["k00000", "k00014", "k00100"]).all()
    assert writer.add(rows(0, 3)) == 0  # stored already
    big = SegmentWriter(store, "fp", "big", segment_bytes=1000)
    big.add(rows(0, 100))  # 100 x 16 floats > 1000 bytes
    assert store.contains("fp", "big", ["k00099"]).all()
    with write_session(store, commit_seconds=0.1) as session:
        session.add("fp", "timed", rows(0, 3))
        wait_for(lambda: store.contains("fp", "timed", ["k00000"])[0], 30, interval=0.02)
        assert store.contains("fp", "timed", ["k00002"]).all()  # committed while open


def test_input_batches_stop_at_the_row_or_the_text_byte_bound():
    """Five 3 MiB texts under an 8 MiB bound: batches of 2, 2 and 1 rows; a 9 MiB text
    goes alone; 5 short texts with max_rows 2: 2, 2, 1."""
    from hemma_features.client.inputs import input_batches

    def essays(sizes: list[int]) -> pa.Table:
        ids = [str(i) for i in range(len(sizes))]
        texts = ["x" * size for size in sizes]
        columns = {"essay_id": ids, "text": texts, "prompt": [""] * len(sizes)}
        return pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})

    mib = 1024**2
    assert [b.num_rows for b in input_batches(essays([3 * mib] * 5), 1024)] == [2, 2, 1]
    assert [b.num_rows for b in input_batches(essays([9 * mib, 10]), 1024)] == [1, 1]
    assert [b.num_rows for b in input_batches(essays([10] * 5), 2)] == [2, 2, 1]
    assert input_batches(essays([]), 4) == []


def test_keys_sharing_their_first_eight_bytes_are_told_apart(tmp_path):
    """The index searches 8-byte prefixes first; keys that share one are still found."""
    store = PartitionedDataset(tmp_path)
    table = pa.table(
        {"key": ["aaaaaaaa3", "aaaaaaaa1", "b", "aaaaaaaa2"], "essay_id": list("3124")}
    )
    store.write("fp", "fs", table)
    asked = ["aaaaaaaa2", "aaaaaaaa9", "aaaaaaaa1", "b", "a", "aaaaaaaa3"]
    assert store.contains("fp", "fs", asked).tolist() == [True, False, True, True, False, True]
    got = store.locate("fp", "fs", asked).take()
    assert got.column("essay_id").to_pylist() == ["4", "1", "2", "3"]
    # Shared across files too, and after the first file is merged away.
    store.write("fp", "fs", pa.table({"key": ["aaaaaaaa5"], "essay_id": ["5"]}))
    assert store.contains("fp", "fs", ["aaaaaaaa5", "aaaaaaaa1", "aaaaaaaa6"]).tolist() == [
        True, True, False,
    ]  # fmt: skip


def test_runs_are_followed_across_files_and_the_rest_probed_key_by_key(tmp_path):
    """Keys asked in stored order (crossing from one file into the next) are followed as
    runs; an absent key and scattered ones after them are still found exactly."""
    store = PartitionedDataset(tmp_path)
    store.write("fp", "fs", rows(0, 100))
    store.write("fp", "fs", rows(100, 100))
    asked = [f"k{i:05d}" for i in range(50, 150)] + ["absent", "k00007", "k00190", "k00003"]
    located = store.locate("fp", "fs", asked)
    assert located.present.tolist() == [True] * 100 + [False, True, True, True]
    got = located.take(np.arange(len(asked)))
    assert got.column("key").to_pylist() == [k for k in asked if k != "absent"]
    assert [v[0] for v in got.column("v").to_pylist()][-3:] == [7.0, 190.0, 3.0]
    assert len(located.pieces(np.arange(100))) == 2  # one slice from each file
