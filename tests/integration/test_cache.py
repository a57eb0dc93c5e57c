"""The local cache: component reuse, formats, admin commands, concurrency and crashes."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from hemma_features import FeatureClient, embedding_matrix, handcrafted_matrix, open_features
from hemma_features.arrowfiles.layout import partition_dir
from hemma_features.client import cache_admin
from hemma_features.client.cache import FeatureCache
from hemma_features.client.errors import CacheError, FingerprintChangedError, ServerUnavailableError
from hemma_features.contract import specs_for
from hemma_features.engine.composition import Engine
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.runtime_slot import RuntimeSlot
from tests.conftest import REPO, SAMPLES, essays_table, settings_for_tests, wait_for
from tests.servers import LiveServer, counter


def many_essays(n: int) -> pa.Table:
    rows = [(f"m{i}", f"Essay {i} says {i * 13} things.\n\nA second paragraph {i}.", "Topic")
            for i in range(n)]  # fmt: skip
    return essays_table(rows)


def test_combined_reuses_cached_components(live_server, tmp_path):
    """After embeddings and handcrafted runs, combined is joined locally: no server rows."""
    cache = tmp_path / "c"
    with FeatureClient(live_server.http_url) as client:
        client.extract(SAMPLES, feature_set="embeddings", cache=cache)
        client.extract(SAMPLES, feature_set="handcrafted", cache=cache)
        before = counter(live_server.http_url, "hemma_extract_rows_total", "combined")
        joined, report = client.extract_with_report(SAMPLES, feature_set="combined", cache=cache)
        assert report.rows_fetched == 0
        assert report.reused_components == 8
        assert counter(live_server.http_url, "hemma_extract_rows_total", "combined") == before
        direct = client.extract(SAMPLES, feature_set="combined")
    assert joined.equals(direct)  # bit-identical to asking the server for combined
    assert joined.schema.metadata[b"hemma.feature_set"] == b"combined"


def test_a_handcrafted_only_change_refetches_only_handcrafted(live_server, runtime, lt_server,
                                                              tmp_path):  # fmt: skip
    """A new LanguageTool version changes handcrafted; cached embeddings are reused."""
    cache = tmp_path / "c"
    with FeatureClient(live_server.http_url) as client:
        client.extract(SAMPLES, feature_set="combined", cache=cache)
    with_lt = Runtime.from_models(
        settings_for_tests(languagetool_url=lt_server.url), runtime.analyzer, runtime.embedder
    )
    assert with_lt.fingerprint.for_set("embeddings") == runtime.fingerprint.for_set("embeddings")
    assert with_lt.fingerprint.fingerprint != runtime.fingerprint.fingerprint
    second = LiveServer(with_lt)
    try:
        with FeatureClient(second.http_url) as client:
            table = client.extract(SAMPLES, feature_set="combined", cache=cache)
        assert counter(second.http_url, "hemma_extract_rows_total", "handcrafted") == 8
        assert counter(second.http_url, "hemma_extract_rows_total", "embeddings") == 0
        assert counter(second.http_url, "hemma_extract_rows_total", "combined") == 0
    finally:
        second.close()
    assert "spelling_errors_per_100_words" in table.column_names
    assert table.num_rows == 8


def test_parquet_cache_export_and_plain_readers(live_server, runtime, tmp_path):
    """A Parquet cache and an IPC export read the same rows in pyarrow, pandas, polars, DuckDB."""
    pq_cache, ipc_copy = tmp_path / "pq", tmp_path / "ipc"
    with FeatureClient(live_server.http_url) as client:
        client.extract(SAMPLES, feature_set="combined", cache=pq_cache, cache_format="parquet")
        with pytest.raises(CacheError, match="stores parquet files"):
            client.extract(SAMPLES, feature_set="combined", cache=pq_cache, cache_format="ipc")
    fp = runtime.fingerprint.fingerprint
    part = partition_dir(pq_cache, fp, "combined")
    assert [p.suffix for p in part.glob("part-*")] == [".parquet"]
    from_parquet = ds.dataset(part, format="parquet").to_table().sort_by("key")
    assert cache_admin.export(pq_cache, ipc_copy, "ipc") == 8 * 3  # three partitions
    from_ipc = open_features(ipc_copy, fp, "combined").to_table().sort_by("key")
    assert from_ipc.equals(from_parquet)
    import duckdb
    import pandas
    import polars

    frame = pandas.read_parquet(part)
    assert len(frame) == 8 and "embedding" in frame
    lazy = polars.scan_ipc(str(partition_dir(ipc_copy, fp, "combined") / "*.arrow"))
    assert lazy.select(polars.len()).collect().item() == 8
    dataset = ds.dataset(partition_dir(ipc_copy, fp, "combined"), format="ipc")  # noqa: F841
    # DuckDB finds the pyarrow dataset by its variable name (a replacement scan).
    assert duckdb.sql("select count(*) from dataset").fetchall() == [(8,)]


def test_numpy_helpers_give_matrices_in_column_order(live_server, runtime, tmp_path):
    """[N, D] embeddings and [N, H] handcrafted matrices with their names."""
    with FeatureClient(live_server.http_url) as client:
        table = client.extract(SAMPLES, feature_set="combined", cache=tmp_path / "c")
    emb = embedding_matrix(table)
    hand, names = handcrafted_matrix(table)
    assert emb.shape == (8, 384) and emb.dtype == np.float32
    combined_names = [spec.name for spec in specs_for("combined", runtime.catalogue)]
    assert names == combined_names and hand.shape == (8, len(names))
    assert hand[3, names.index("n_words")] == table.column("n_words")[3].as_py()
    assert np.array_equal(emb[5], np.asarray(table.column("embedding")[5].as_py(), np.float32))


def test_ls_verify_compact_gc(live_server, runtime, tmp_path):
    """ls counts rows; compact merges files keeping rows; gc keeps one fingerprint."""
    cache = tmp_path / "c"
    with FeatureClient(live_server.http_url, chunk_rows=2) as client:
        client.extract(SAMPLES, feature_set="handcrafted", cache=cache)
    fp = runtime.fingerprint_for("handcrafted")
    [info] = cache_admin.list_partitions(cache)
    # One run of 8 essays within a few seconds: one segment, one file.
    assert (info.fingerprint, info.feature_set, info.rows, info.files) == (fp, "handcrafted", 8, 1)
    before = open_features(cache, fp, "handcrafted").to_table().sort_by("key")
    shutil.rmtree(partition_dir(cache, fp, "handcrafted"))
    for start in range(0, 8, 2):  # four small files, as four short runs would leave
        FeatureCache(cache).write(fp, "handcrafted", before.slice(start, 2))
    assert cache_admin.list_partitions(cache)[0].files == 4
    assert cache_admin.verify(cache) == []
    assert cache_admin.compact(cache) == 3
    after = open_features(cache, fp, "handcrafted").to_table().sort_by("key")
    assert after.equals(before)
    assert cache_admin.list_partitions(cache)[0].files == 1
    stale = cache / "fingerprint=old" / "feature_set=handcrafted"
    stale.mkdir(parents=True)
    assert cache_admin.gc(cache, [fp]).remove == ["old"]
    assert [p.fingerprint for p in cache_admin.list_partitions(cache)] == [fp]


def test_verify_names_corrupt_and_duplicated_files(live_server, runtime, tmp_path):
    """A truncated file and a copied file are reported by name; the CLI exits 1."""
    from hemma_features.cli import main

    cache = tmp_path / "c"
    with FeatureClient(live_server.http_url, chunk_rows=4, commit_seconds=0) as client:
        client.extract(SAMPLES, feature_set="handcrafted", cache=cache)
    part = partition_dir(cache, runtime.fingerprint_for("handcrafted"), "handcrafted")
    first, second = sorted(part.glob("part-*.arrow"))
    shutil.copy(first, part / "part-copy.arrow")
    second.write_bytes(second.read_bytes()[:100])
    problems = {
        (os.path.basename(p.path), p.problem.split(":")[0]) for p in cache_admin.verify(cache)
    }
    assert (second.name, "unreadable") in problems
    assert any(name in (first.name, "part-copy.arrow") and "also in" in problem
               for name, problem in problems)  # fmt: skip
    assert main(["cache", "verify", str(cache)]) == 1


def test_compact_journal_finishes_after_a_crash(tmp_path):
    """A journal left by a crash after the new file landed removes the old files."""
    import msgspec

    from hemma_features.arrowfiles.atomic import write_table_atomically
    from hemma_features.arrowfiles.journal import Journal
    from hemma_features.arrowfiles.layout import JOURNAL

    store = FeatureCache(tmp_path)
    table = pa.table({"key": ["a", "b"], "essay_id": ["1", "2"]})
    store.write("fp", "handcrafted", table.slice(0, 1))
    store.write("fp", "handcrafted", table.slice(1, 1))
    part = partition_dir(tmp_path, "fp", "handcrafted")
    old = sorted(p.name for p in part.glob("part-*"))
    write_table_atomically(part / "part-new.arrow", table, "ipc")  # then the crash
    (part / JOURNAL).write_bytes(msgspec.json.encode(Journal(new="part-new.arrow", old=old)))
    assert store.known_keys("fp", "handcrafted") == {"a", "b"}
    with store.locked("fp", "handcrafted"):
        pass
    assert sorted(p.name for p in part.glob("part-*")) == ["part-new.arrow"]


def client_process(
    http_url: str, cache, essays_path, chunk_rows: int = 1, commit_seconds: float = 0.2
) -> subprocess.Popen:
    code = (
        "import sys; from hemma_features.cli import main; "
        "sys.exit(main(['extract', sys.argv[1], '--server', sys.argv[2], '--cache', sys.argv[3], "
        "'--feature-set', 'handcrafted', '--quiet', '--chunk-rows', sys.argv[4], "
        "'--commit-seconds', sys.argv[5]]))"
    )
    args = [str(essays_path), http_url, str(cache), str(chunk_rows), str(commit_seconds)]
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigkill_mid_run_loses_nothing_and_resumes(live_server, runtime, tmp_path):
    """A client killed mid-segment leaves a valid cache holding every committed row once;
    the rerun fetches exactly the rows that were not committed."""
    # Enough rows that the kill lands mid-run even when the server's store answers them
    # all (40 stored rows came back before the kill on an idle machine).
    ROWS = 400  # noqa: N806
    essays_path = tmp_path / "essays.parquet"
    import pyarrow.parquet as pq

    pq.write_table(many_essays(ROWS), essays_path)
    cache = tmp_path / "c"
    fingerprint = runtime.fingerprint_for("handcrafted")

    def committed() -> int:
        try:
            return open_features(cache, fingerprint, "handcrafted").count_rows()
        except (FileNotFoundError, OSError, pa.ArrowInvalid):
            return 0

    proc = client_process(live_server.http_url, cache, essays_path, commit_seconds=0.2)
    wait_for(lambda: committed() >= 3 or proc.poll() is not None, interval=0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    kept = FeatureCache(cache).known_keys(runtime.fingerprint_for("handcrafted"), "handcrafted")
    assert 3 <= len(kept) < ROWS
    assert cache_admin.verify(cache) == []
    with FeatureClient(live_server.http_url) as client:
        table, report = client.extract_with_report(
            essays_path, feature_set="handcrafted", cache=cache
        )
        assert report.rows_fetched == ROWS - len(kept)
    assert table.num_rows == ROWS
    fp = runtime.fingerprint_for("handcrafted")
    assert open_features(cache, fp, "handcrafted").count_rows() == ROWS
    assert cache_admin.verify(cache) == []


def test_two_processes_on_one_cache_do_not_duplicate_rows(live_server, runtime, tmp_path):
    """Two clients filling the same cache at once end with each essay exactly once."""
    import pyarrow.parquet as pq

    essays_path = tmp_path / "essays.parquet"
    pq.write_table(many_essays(24), essays_path)
    cache = tmp_path / "c"
    procs = [client_process(live_server.http_url, cache, essays_path, 3) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
    table = open_features(cache, runtime.fingerprint_for("handcrafted"), "handcrafted").to_table()
    assert table.num_rows == 24
    assert len(set(table.column("key").to_pylist())) == 24
    assert cache_admin.verify(cache) == []


def test_fingerprint_change_during_a_run_stops_the_client(live_server, runtime, lt_server,
                                                          monkeypatch, tmp_path):  # fmt: skip
    """If the Flight server now computes another fingerprint, the run stops, naming it."""
    redeployed = Runtime.from_models(
        settings_for_tests(languagetool_url=lt_server.url), runtime.analyzer, runtime.embedder
    )
    flight_only = Engine(RuntimeSlot(redeployed), live_server.engine.stores)  # HTTP: the old
    monkeypatch.setattr(live_server.flight, "engine", flight_only)
    with (
        FeatureClient(live_server.http_url) as client,
        pytest.raises(FingerprintChangedError, match="fingerprint changed"),
    ):
        client.extract(SAMPLES, feature_set="handcrafted", cache=tmp_path / "c")
    assert not list((tmp_path / "c").rglob("part-*"))


class FlakyOnce:
    """Wraps a Flight server's do_exchange to fail the first N calls with Unavailable."""

    def __init__(self, server, failures: int) -> None:
        import pyarrow.flight as fl

        self.calls = 0
        original = server.do_exchange

        def flaky(context, descriptor, reader, writer):
            self.calls += 1
            if self.calls <= failures:
                raise fl.FlightUnavailableError("simulated transport failure")
            return original(context, descriptor, reader, writer)

        server.do_exchange = flaky


def test_unavailable_is_retried_with_backoff(live_server, monkeypatch, tmp_path):
    """One Unavailable failure is retried by a new stream; persistent ones give a clear error."""
    flaky = FlakyOnce(live_server.flight, failures=1)
    try:
        with FeatureClient(live_server.http_url, backoff=0.01) as client:
            table, report = client.extract_with_report(
                SAMPLES, feature_set="handcrafted", cache=tmp_path / "c"
            )
            assert report.retries == 1
        assert table.num_rows == 8 and flaky.calls == 2
        FlakyOnce(live_server.flight, failures=10)
        with (
            FeatureClient(live_server.http_url, retries=2, backoff=0.01) as client,
            pytest.raises(ServerUnavailableError, match=r"\(tried 3 times\).*tunnel") as e,
        ):
            client.extract(SAMPLES, feature_set="embeddings")
        assert str(e.value).count("tunnel") == 1  # the hint once, not once per attempt
    finally:
        del live_server.flight.do_exchange  # back to the class method


def command_lines(err: str) -> list[str]:
    """The command's own stderr lines: the in-process server's threads log JSON records to
    the same stderr (one may land while the command runs in a busy suite)."""
    return [line for line in err.strip().splitlines() if not line.startswith("{")]


def test_gc_keeps_the_components_of_a_kept_combined_set_and_refuses_unknown_keeps(
    live_server, runtime, tmp_path, capsys
):
    """`--keep <combined fp>` keeps the embeddings and handcrafted rows it came from;
    `--dry-run` removes nothing; a --keep the cache does not hold removes nothing, exit 2."""
    from hemma_features.cli import main

    cache = tmp_path / "c"
    with FeatureClient(live_server.http_url) as client:
        client.extract(SAMPLES, feature_set="combined", cache=cache)
    info = runtime.fingerprint
    combined = info.for_set("combined")
    components = {info.for_set("embeddings"), info.for_set("handcrafted")}
    (cache / "fingerprint=old" / "feature_set=handcrafted").mkdir(parents=True)
    before = sorted(p.name for p in cache.glob("fingerprint=*"))

    assert main(["cache", "gc", str(cache), "--keep", "deadbeef"]) == 2
    [err] = command_lines(capsys.readouterr().err)
    assert "is or starts with deadbeef" in err and "nothing was removed" in err
    assert combined in err
    twins = ["abc1" + "0" * 60, "abc2" + "0" * 60]  # one prefix, two fingerprints
    for twin in twins:
        (cache / f"fingerprint={twin}" / "feature_set=handcrafted").mkdir(parents=True)
    assert main(["cache", "gc", str(cache), "--keep", "abc", "--dry-run"]) == 2
    [err] = command_lines(capsys.readouterr().err)
    assert "prefix abc is ambiguous: 2 fingerprints" in err and all(t in err for t in twins)
    for twin in twins:
        shutil.rmtree(cache / f"fingerprint={twin}")
    # a unique prefix is the fingerprint it starts
    assert main(["cache", "gc", str(cache), "--keep", combined[:12], "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("would remove 1 fingerprint(s): old")
    assert sorted(p.name for p in cache.glob("fingerprint=*")) == before

    assert main(["cache", "gc", str(cache), "--keep", combined[:12]]) == 0
    left = {p.name.split("=", 1)[1] for p in cache.glob("fingerprint=*")}
    assert left == {combined, *components}
    assert open_features(cache, info.for_set("embeddings"), "embeddings").count_rows() == 8


def test_cache_ls_shows_model_feature_set_rows_and_last_write(
    live_server, runtime, tmp_path, capsys
):
    """Per fingerprint: a unique prefix of it, the feature set, the model of its vectors
    (none for handcrafted rows), rows, files, bytes and when it was last written; --json
    has the fingerprint whole."""
    import json

    from hemma_features.cli import main

    cache = tmp_path / "c"
    with FeatureClient(live_server.http_url) as client:
        client.extract(SAMPLES, feature_set="combined", cache=cache)
    model = "sentence-transformers/all-MiniLM-L6-v2"
    assert main(["cache", "ls", str(cache)]) == 0
    header, *lines = capsys.readouterr().out.strip().splitlines()
    assert header.split() == [
        "fingerprint",
        "feature_set",
        "model",
        "rows",
        "files",
        "bytes",
        "last",
        "write",
    ]
    shown = {line.split()[1]: line.split() for line in lines}
    assert set(shown) == {"combined", "embeddings", "handcrafted"}
    combined = shown["combined"]
    assert runtime.fingerprint.for_set("combined").startswith(combined[0])
    assert len(combined[0]) >= 12 and combined[2] == model and combined[3] == "8"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", combined[6]) and combined[8] == "UTC"
    assert shown["handcrafted"][2] == "-" and shown["embeddings"][2] == model
    assert main(["cache", "ls", str(cache), "--json"]) == 0
    rows = {row["feature_set"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["combined"]["fingerprint"] == runtime.fingerprint.for_set("combined")
    assert rows["combined"]["embedding_model"] == model
    assert rows["handcrafted"]["embedding_model"] == "" and rows["handcrafted"]["written"]


def test_cache_ls_on_a_missing_directory_says_so(tmp_path, capsys):
    from hemma_features.cli import main

    assert main(["cache", "ls", str(tmp_path / "nowhere")]) == 2
    assert "no cache at" in capsys.readouterr().err


def test_an_interrupted_extract_keeps_what_it_fetched_and_says_how_to_resume(
    live_server, runtime, tmp_path, monkeypatch, capsys
):
    """Ctrl-C after the second answered batch: the rows answered so far are in the cache,
    the report says complete=false, and the CLI prints how many are saved and to rerun."""
    from hemma_features.cli import main
    from hemma_features.client import extract_command

    answered = []

    class Interrupting:
        def __init__(self) -> None:
            pass

        def update(self, rows: int, hits: int, total: int) -> None:
            answered.append(rows)
            if sum(answered) >= 4:
                raise KeyboardInterrupt

        def close(self) -> None:
            pass

    monkeypatch.setattr(extract_command, "ProgressBar", Interrupting)
    monkeypatch.setattr(extract_command.sys.stderr, "isatty", lambda: True)
    cache, report = tmp_path / "c", tmp_path / "run.json"
    args = ["extract", str(SAMPLES), "--server", live_server.http_url, "--cache", str(cache),
            "--feature-set", "handcrafted", "--chunk-rows", "2",
            "--report", str(report)]  # fmt: skip
    assert main(args) == 130
    err = capsys.readouterr().err
    assert "stopped: 4 of 8 essays are in" in err and "rerun the same command" in err
    import json

    body = json.loads(report.read_bytes())
    assert body["complete"] is False and body["essays_in_cache"] == 4
    fingerprint = runtime.fingerprint.for_set("handcrafted")
    assert open_features(cache, fingerprint, "handcrafted").count_rows() == 4
    monkeypatch.undo()  # no more Ctrl-C
    assert main(args[:-2]) == 0  # the rerun fetches the other 4
    assert open_features(cache, fingerprint, "handcrafted").count_rows() == 8
