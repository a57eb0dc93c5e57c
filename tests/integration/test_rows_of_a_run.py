"""The rows of a run, whole or not at all: `cache path`, open_features, labels, `cache export`."""

from __future__ import annotations

import os
import shutil
import warnings

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hemma_features import FeatureClient, open_features
from hemma_features.arrowfiles.layout import partition_dir
from hemma_features.cli import main
from hemma_features.client.errors import CacheError
from hemma_features.client.labels import UnmatchedIdsWarning
from tests.conftest import SAMPLES

OLD = "0" * 64  # a second, older combined fingerprint


@pytest.fixture(scope="module")
def two_runs(live_server, runtime, tmp_path_factory):
    """A cache whose combined rows sit in several files, plus an older copy of them under
    another fingerprint (as after a server upgrade)."""
    cache = tmp_path_factory.mktemp("rows") / "cache"
    with FeatureClient(live_server.http_url, chunk_rows=2, commit_seconds=0) as client:
        client.extract(SAMPLES, feature_set="combined", cache=cache)
    fingerprint = runtime.fingerprint_for("combined")
    current = partition_dir(cache, fingerprint, "combined")
    assert len(list(current.glob("part-*.arrow"))) > 1  # the point: several files
    old = partition_dir(cache, OLD, "combined")
    shutil.copytree(current, old)
    (old / next(iter(sorted(p.name for p in old.glob("part-*.arrow"))))).unlink()
    for path in old.glob("part-*.arrow"):
        os.utime(path, (1_700_000_000, 1_700_000_000))  # 2023-11-14
    return cache, fingerprint


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cache_path_refuses_to_guess_between_fingerprints(two_runs, capsys):
    """Two combined fingerprints and none named: one line listing both with rows and dates."""
    cache, fingerprint = two_runs
    code, out, err = cli(capsys, "cache", "path", str(cache), "--feature-set", "combined")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert f"{fingerprint} (8 rows, " in err
    assert f"{OLD} (" in err and "2023-11-14" in err
    assert "--fingerprint FP" in err and "--latest" in err and "latest=True" not in err


def test_cache_path_prints_the_named_or_the_newest_partition(two_runs, capsys):
    """--fingerprint picks that one, --latest the one written last; both print its directory."""
    cache, fingerprint = two_runs
    code, out, _ = cli(capsys, "cache", "path", str(cache), "--feature-set", "combined", "--latest")
    assert code == 0 and out.strip() == str(partition_dir(cache, fingerprint, "combined"))
    code, out, _ = cli(
        capsys, "cache", "path", str(cache), "--feature-set", "combined", "--fingerprint", OLD
    )
    assert code == 0 and out.strip() == str(partition_dir(cache, OLD, "combined"))
    code, _, err = cli(
        capsys, "cache", "path", str(cache), "--feature-set", "combined", "--fingerprint", "f" * 64
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"holds no combined rows under fingerprint {'f' * 64}" in err and OLD in err


def test_a_unique_fingerprint_prefix_names_its_partition(two_runs, capsys, tmp_path):
    """`cache path --fingerprint`, `cache export --fingerprint` and open_features take a
    prefix only one fingerprint of the set starts with; a shared prefix is one line naming
    each fingerprint it starts, with rows and dates."""
    cache, fingerprint = two_runs
    code, out, _ = cli(
        capsys, "cache", "path", str(cache), "--feature-set", "combined", "--fingerprint", "000"
    )
    assert code == 0 and out.strip() == str(partition_dir(cache, OLD, "combined"))
    assert open_features(cache, "combined", fingerprint[:12]).num_rows == 8
    out_file = tmp_path / "rows.parquet"
    code, out, _ = cli(
        capsys, "cache", "export", str(cache), "--feature-set", "combined",
        "--fingerprint", fingerprint[:12], "--out", str(out_file),
    )  # fmt: skip
    assert code == 0 and pq.read_table(out_file).num_rows == 8 and fingerprint in out
    copy = tmp_path / "copy"
    shutil.copytree(cache, copy)
    twin = "0" * 63 + "1"
    shutil.copytree(partition_dir(copy, OLD, "combined"), partition_dir(copy, twin, "combined"))
    code, _, err = cli(
        capsys, "cache", "path", str(copy), "--feature-set", "combined", "--fingerprint", "000"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "fingerprint prefix 000 is ambiguous: 2 combined fingerprints" in err
    assert f"{OLD} (" in err and f"{twin} (" in err and fingerprint not in err


def test_open_features_reads_the_whole_partition_or_says_which_to_pick(two_runs):
    """Every row of every file; with two fingerprints, the error names the Python way."""
    cache, fingerprint = two_runs
    with pytest.raises(
        CacheError, match=r"holds 2 combined fingerprints.*fingerprint=FP.*latest=True"
    ):
        open_features(cache, "combined")
    table = open_features(cache, "combined", fingerprint)
    assert isinstance(table, pa.Table) and table.num_rows == 8
    assert sorted(table.column("essay_id").to_pylist()) == [f"S00{i}" for i in range(1, 9)]
    assert open_features(cache, latest=True).equals(table)
    assert open_features(cache, "combined", OLD).num_rows < 8
    # the older form, a fingerprint second, still returns the partition's dataset
    assert open_features(cache, fingerprint, "combined").count_rows() == 8
    with pytest.raises(CacheError, match="labels= takes the feature set second"):
        open_features(cache, fingerprint, "combined", labels="labels.csv")
    with pytest.raises(CacheError, match=r"feature_set must be one of .*given: 'combind'"):
        open_features(cache, "combind")


def labels_csv(tmp_path, rows: str):
    path = tmp_path / "labels.csv"
    path.write_text("essay_id,overall,split\n" + rows)
    return path


def test_open_features_joins_labels_and_names_the_unmatched_ids(two_runs, tmp_path):
    """labels= a CSV: an inner join on essay_id; unmatched ids on both sides named."""
    cache, fingerprint = two_runs
    labels = labels_csv(
        tmp_path, "".join(f"S00{i},{i / 2},train\n" for i in range(1, 8)) + "X999,5,test\n"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = open_features(cache, "combined", fingerprint, labels=labels)
    assert table.num_rows == 7 and "S008" not in table.column("essay_id").to_pylist()
    assert table.schema.field("overall").type == pa.float64()
    assert {r["essay_id"]: r["overall"] for r in table.select(["essay_id", "overall"]).to_pylist()}[
        "S003"
    ] == 1.5
    [warning] = [w for w in caught if issubclass(w.category, UnmatchedIdsWarning)]
    assert "1 feature rows without a label (S008)" in str(warning.message)
    assert "1 labels without feature rows (X999)" in str(warning.message)


def test_cache_export_writes_the_joined_rows_and_reports_the_match(two_runs, tmp_path, capsys):
    """`cache export --feature-set --labels --out`: one Parquet file, counts printed."""
    cache, fingerprint = two_runs
    labels = labels_csv(tmp_path, "".join(f"S00{i},{i},train\n" for i in range(1, 9)) + "Q1,1,x\n")
    out = tmp_path / "out" / "features.parquet"
    code, printed, err = cli(
        capsys, "cache", "export", str(cache), "--feature-set", "combined", "--latest",
        "--labels", str(labels), "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert "wrote 8 rows x " in printed and f"of combined {fingerprint} to {out}" in printed
    assert "labels: 8 rows matched on essay_id; 1 labels without feature rows (Q1)" in printed
    written = pq.read_table(out)
    assert written.num_rows == 8 and written.column("overall").to_pylist() != []
    assert sorted(written.column("overall").to_pylist()) == [float(i) for i in range(1, 9)]
    arrow = tmp_path / "features.arrow"
    code, _, _ = cli(
        capsys, "cache", "export", str(cache), "--feature-set", "combined", "--fingerprint",
        fingerprint, "--out", str(arrow),
    )  # fmt: skip
    assert code == 0 and pa.ipc.open_file(arrow).read_all().num_rows == 8


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,overall\nS001,1\n", "labels have no 'essay_id' column to join on"),
        ("essay_id,overall\nS001,1\nS001,2\n", "the labels repeat 1 id(s): S001"),
        ("essay_id,overall\nS001,1\nS002,two\n", "labels column 'overall' is not numeric: row 1"),
    ],
)
def test_cache_export_refuses_bad_labels_in_one_line(two_runs, tmp_path, capsys, content, message):
    """No id column, a repeated id, a score column holding text: exit 2, one line, no file."""
    cache, _ = two_runs
    labels = tmp_path / "labels.csv"
    labels.write_text(content)
    out = tmp_path / "features.parquet"
    code, _, err = cli(
        capsys, "cache", "export", str(cache), "--feature-set", "combined", "--latest",
        "--labels", str(labels), "--out", str(out),
    )  # fmt: skip
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
