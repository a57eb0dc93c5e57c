"""Nothing lost, nobody blamed wrongly (issue 32): every partition a damaged file leaves short
is filled again by the next run that can produce it, and otherwise named with the command
that fills it."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from hemma_features import FeatureClient, open_features
from hemma_features.arrowfiles.layout import partition_dir
from hemma_features.client import cache_admin
from hemma_features.client.cache import FeatureCache
from hemma_features.client.losses import RowsLostWarning
from tests.conftest import SAMPLES
from tests.damage import damage, data_offset, flip_bit, truncate

SETS = ("embeddings", "handcrafted", "combined")
ESSAYS = 8


def rows_of(path: Path) -> int:
    with pa.memory_map(str(path)) as source:
        return ipc.open_file(source).read_all().num_rows


def keys_of(path: Path) -> set[str]:
    with pa.memory_map(str(path)) as source:
        return set(ipc.open_file(source).read_all().column("key").to_pylist())


def files(cache: Path, runtime, feature_set: str) -> list[Path]:
    part = partition_dir(cache, runtime.fingerprint.for_set(feature_set), feature_set)
    return sorted(part.glob("part-*.arrow"))


def held(cache: Path, runtime) -> dict[str, int]:
    """Rows each partition of the run's fingerprints holds."""
    store = FeatureCache(cache)
    return {
        s: len(store.known_keys(runtime.fingerprint.for_set(s), s)) for s in SETS
    }  # fmt: skip


def flip_middle(path: Path) -> None:
    """One bit flipped in a feature value of the record batch, so the file still reads (the
    checksum catches it) and its keys can be named."""
    damage(path, flip_bit(data_offset(path), 3))


@pytest.fixture
def filled(live_server, tmp_path):
    """A cache filled by one combined run: four files per partition."""
    cache = tmp_path / "c"
    with FeatureClient(live_server.http_url, chunk_rows=2, commit_seconds=0) as client:
        before = client.extract(SAMPLES, feature_set="combined", cache=cache)
    return cache, before


def test_a_combined_rerun_restores_every_partition_the_issue_damaged(live_server, runtime, filled):
    """Two embeddings files and one combined file flipped (the issue's case): the combined
    rerun moves all three aside, cuts the embeddings rows back from the combined rows,
    refetches only the combined rows it lacks, and every partition holds every essay."""
    cache, before = filled
    damaged = [*files(cache, runtime, "embeddings")[:2], files(cache, runtime, "combined")[0]]
    lost_embeddings = keys_of(damaged[0]) | keys_of(damaged[1])
    lost_combined = keys_of(damaged[2])
    for path in damaged:
        flip_middle(path)
    assert {p.path for p in cache_admin.verify(cache)} == {str(p) for p in damaged}
    with FeatureClient(live_server.http_url, chunk_rows=2, commit_seconds=0) as client:
        after, report = client.extract_with_report(SAMPLES, feature_set="combined", cache=cache)
    assert after.equals(before)
    assert held(cache, runtime) == dict.fromkeys(SETS, ESSAYS)
    assert cache_admin.check(cache) == cache_admin.Verdict(problems=[], notes=[])
    # The combined rows of the flipped combined file were joined from cached components
    # (or fetched where a component was lost too); the lost embeddings rows that combined
    # still held were cut from it.
    assert report.rows_fetched + report.reused_components == len(lost_combined)
    assert report.cut_from_combined == len(lost_embeddings - lost_combined)
    assert sorted(m.path for m in report.moved_aside) == sorted(
        str(moved(cache, p)) for p in damaged
    )
    assert all(m.missing == 0 for m in report.moved_aside)


def moved(cache: Path, path: Path) -> Path:
    return cache / "_damaged" / path.parent.parent.name / path.parent.name / path.name


@pytest.mark.parametrize("damaged_set", SETS)
def test_a_flip_in_any_partition_is_mended_by_the_next_combined_run(
    live_server, runtime, filled, damaged_set
):
    """A flipped file in embeddings, handcrafted or combined: after the combined rerun every
    partition holds all eight essays, verify is clean and the values are the same."""
    cache, before = filled
    path = files(cache, runtime, damaged_set)[1]
    flip_middle(path)
    with FeatureClient(live_server.http_url, chunk_rows=2, commit_seconds=0) as client:
        after, report = client.extract_with_report(SAMPLES, feature_set="combined", cache=cache)
    assert after.equals(before)
    assert held(cache, runtime) == dict.fromkeys(SETS, ESSAYS)
    assert cache_admin.verify(cache) == []
    assert [m.missing for m in report.moved_aside] == [0]
    if damaged_set != "combined":  # nothing to fetch: the component rows come from combined
        assert report.rows_fetched == 0 and report.cut_from_combined == rows_of(moved(cache, path))


def test_verify_names_the_short_partition_and_the_run_that_fills_it(live_server, runtime, filled):
    """A read moved a flipped embeddings file aside (its rows gone, nothing refetched):
    verify exits 1 naming the partition, the rows, their ids and `--feature-set
    combined`; after that run it is clean."""
    from hemma_features.cli import main

    cache, _ = filled
    path = files(cache, runtime, "embeddings")[0]
    lost = rows_of(path)
    flip_middle(path)
    with pytest.warns(RowsLostWarning, match=f"{lost} of its {lost} rows are not in the cache"):
        assert open_features(cache, "embeddings").num_rows == ESSAYS - lost  # moved aside
    verdict = cache_admin.check(cache)
    short = partition_dir(cache, runtime.fingerprint.for_set("embeddings"), "embeddings")
    by_path = {p.path: p for p in verdict.problems}
    assert set(by_path) == {str(short), str(moved(cache, path))}
    assert by_path[str(short)].problem.startswith(f"lacks {lost} rows that the combined rows")
    assert "--feature-set combined" in by_path[str(short)].problem
    fate = by_path[str(moved(cache, path))].problem
    assert f"{lost} of its {lost} rows are not in the cache" in fate
    assert "--feature-set embeddings" in fate
    assert main(["cache", "verify", str(cache)]) == 1
    with FeatureClient(live_server.http_url, chunk_rows=2, commit_seconds=0) as client:
        report = client.extract_with_report(SAMPLES, feature_set="combined", cache=cache).report
    assert report.cut_from_combined == lost and report.rows_fetched == 0
    assert report.moved_aside == []  # moved by the read before, not by this run
    assert cache_admin.verify(cache) == []


def test_an_embeddings_run_cuts_lost_rows_from_cached_combined_rows(live_server, runtime, filled):
    """After a combined run, an embeddings file flipped: an embeddings run fetches nothing
    and returns the same rows, cut from the combined ones."""
    cache, _ = filled
    with FeatureClient(live_server.http_url, chunk_rows=2, commit_seconds=0) as client:
        first = client.extract(SAMPLES, feature_set="embeddings", cache=cache)
        path = files(cache, runtime, "embeddings")[2]
        lost = rows_of(path)
        flip_middle(path)
        again, report = client.extract_with_report(SAMPLES, feature_set="embeddings", cache=cache)
    assert again.equals(first)
    assert (report.rows_fetched, report.cut_from_combined) == (0, lost)
    assert held(cache, runtime)["embeddings"] == ESSAYS


def test_a_truncated_combined_file_is_named_and_its_rows_refetched(
    live_server, runtime, filled, tmp_path, capsys
):
    """A cut combined file cannot say which rows it held: the extract command still
    refetches them (exit 0), says so on a `damaged:` line, and verify notes the file
    without failing."""
    from hemma_features.cli import main

    cache, _ = filled
    path = files(cache, runtime, "combined")[3]
    damage(path, truncate)
    report = tmp_path / "run.json"
    args = ["extract", str(SAMPLES), "--server", live_server.http_url, "--cache", str(cache),
            "--feature-set", "combined", "--chunk-rows", "2", "--commit-seconds", "0",
            "--report", str(report)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    [line] = [x for x in out.splitlines() if x.startswith("damaged: ")]
    assert "feature_set=combined" in line and "its rows cannot be read" in line
    assert f"hemma-features extract {SAMPLES} --feature-set combined --cache {cache}" in line
    [moved_file] = json.loads(report.read_bytes())["moved_aside"]
    assert moved_file["rows"] is None and moved_file["feature_set"] == "combined"
    assert held(cache, runtime) == dict.fromkeys(SETS, ESSAYS)
    verdict = cache_admin.check(cache)
    assert verdict.problems == [] and len(verdict.notes) == 1
    assert "its rows cannot be read" in verdict.notes[0]


def test_a_read_that_leaves_rows_out_says_which_and_how_to_fetch_them(
    runtime, filled, tmp_path, capsys
):
    """`cache export` over a partition with a flipped file: the file is moved aside and the
    export (exit 0) says on a `warning:` line which essays it left out and the extract that
    fetches them; a second read says it again, the rows being still missing."""
    from hemma_features.cli import main

    cache, before = filled
    path = files(cache, runtime, "handcrafted")[1]
    lost = keys_of(path)
    keys, essay_ids = before.column("key").to_pylist(), before.column("essay_id").to_pylist()
    ids = {e for k, e in zip(keys, essay_ids, strict=True) if k in lost}
    flip_middle(path)
    args = ["cache", "export", str(cache), "--feature-set", "handcrafted",
            "--out", str(tmp_path / "h.parquet")]  # fmt: skip
    for _ in range(2):
        assert main(args) == 0
        [line] = [x for x in capsys.readouterr().err.splitlines() if x.startswith("warning: ")]
        assert "feature_set=handcrafted: damaged file moved aside" in line
        assert all(essay_id in line for essay_id in ids)
        assert f"--feature-set handcrafted --cache {cache}`" in line
