"""What a run prints and reports: latencies per micro-batch, an honest cached rerun, a
Flight location on the HTTP port, `cache verify` per partition."""

from __future__ import annotations

import json
import time

import pyarrow.csv as pacsv
import pytest

from hemma_features.cli import main
from tests.conftest import SAMPLES, essays_table

HANG_BOUND = 60.0  # a hang bound only


def test_report_latencies_are_per_micro_batch_under_one_chunk(live_server, tmp_path, capsys):
    """40 essays in one Flight batch (under --chunk-rows): the report's percentiles are over
    the server's micro-batches of 16, i.e. 3 answers, not one number."""
    rows = [(f"l{i}", f"Essay {i} is short.\n\nIt has {i} ideas.", "Topic") for i in range(40)]
    essays = tmp_path / "essays.csv"
    pacsv.write_csv(essays_table(rows), essays)
    report = tmp_path / "run.json"
    assert main([
        "extract", str(essays), "--server", live_server.http_url, "--cache", str(tmp_path / "c"),
        "--feature-set", "handcrafted", "--report", str(report), "--quiet",
    ]) == 0  # fmt: skip
    body = json.loads(report.read_text())
    assert body["latency_count"] == 3  # ceil(40 / 16): one latency per answered micro-batch
    assert 0 < body["latency_p50"] <= body["latency_p90"] <= body["latency_p99"]
    assert body["latency_p99"] <= body["seconds"]


def test_a_fully_cached_rerun_says_so_instead_of_zero_essays_per_second(
    live_server, tmp_path, capsys
):
    """The rerun's summary says every row came from the cache; the first states a rate."""
    argv = ["extract", str(SAMPLES), "--server", live_server.http_url, "--cache",
            str(tmp_path / "c"), "--feature-set", "handcrafted"]  # fmt: skip
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "essays/s: " in first and "(8 fetched in " in first
    assert main(argv) == 0
    rerun = capsys.readouterr().out
    assert "fetched: nothing, all 8 rows from the cache" in rerun
    assert "essays/s" not in rerun


def test_flight_at_the_http_port_fails_at_once_naming_both_ports(live_server, tmp_path, capsys):
    """--flight pointed at the control plane: one line, no retries, the Flight port named."""
    started = time.monotonic()
    code = main([
        "extract", str(SAMPLES), "--server", live_server.http_url, "--cache", str(tmp_path / "c"),
        "--flight", f"grpc://127.0.0.1:{live_server.http_port}", "--feature-set", "handcrafted",
    ])  # fmt: skip
    took = time.monotonic() - started
    # the server runs in this process: its own log lines (uvicorn's "Invalid HTTP request")
    # may share stderr; the client's is the one error line
    [err] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2
    assert "that is the HTTP (control-plane) port" in err
    assert f"the server's Flight plane is on port {live_server.flight.port}" in err
    assert "tried" not in err  # not retried
    assert took < HANG_BOUND


def test_cache_verify_prints_files_rows_and_bytes_per_partition(live_server, tmp_path, capsys):
    """One line per partition with its counts and ok, then the whole cache's."""
    cache = tmp_path / "c"
    assert main(["extract", str(SAMPLES), "--server", live_server.http_url, "--cache",
                 str(cache), "--feature-set", "embeddings", "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["cache", "verify", str(cache)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    [partition] = [line for line in lines if " embeddings " in line]
    assert " 8 rows " in partition and " files " in partition and partition.endswith("bytes  ok")
    assert lines[-1].startswith(f"{cache}: ok (1 partitions, ") and " 8 rows, " in lines[-1]


def test_limit_extracts_the_first_essays_and_the_full_run_fetches_only_the_rest(
    live_server, tmp_path, capsys
):
    """--limit 3 fetches the input's first 3 essays; the run without it then finds those 3
    in the cache and fetches the other 5, and its essays/s counts those 5 only."""
    cache = str(tmp_path / "c")
    argv = ["extract", str(SAMPLES), "--server", live_server.http_url, "--cache", cache,
            "--feature-set", "handcrafted"]  # fmt: skip
    assert main([*argv, "--limit", "3"]) == 0
    first = capsys.readouterr().out
    assert "rows: 3 (cache hits 0, fetched 3," in first
    report = tmp_path / "run.json"
    assert main([*argv, "--report", str(report)]) == 0
    rest = capsys.readouterr().out
    assert "rows: 8 (cache hits 3, fetched 5," in rest
    body = json.loads(report.read_text())
    line = next(x for x in rest.splitlines() if x.startswith("essays/s: "))
    assert line.startswith(f"essays/s: {body['essays_per_second']:g} computed (5 fetched in ")
    assert line.endswith("; 3 cache hits counted apart)")
    assert body["essays_per_second"] == pytest.approx(5 / body["seconds"], rel=1e-2)
    with pytest.raises(SystemExit) as refused:
        main([*argv, "--limit", "0"])  # a limit is at least 1
    assert refused.value.code == 2
    assert "--limit" in capsys.readouterr().err


def test_a_header_only_input_holds_no_essays(live_server, tmp_path, capsys):
    """A CSV with a header and no row is bad input, said as such: exit 2, one line."""
    essays = tmp_path / "empty.csv"
    essays.write_text("essay_id,text,prompt\n")
    code = main(["extract", str(essays), "--server", live_server.http_url, "--cache",
                 str(tmp_path / "c")])  # fmt: skip
    assert code == 2
    [err] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert "holds no essays" in err and "empty.csv" in err
    assert not (tmp_path / "c").exists()  # nothing was started


def test_the_progress_bar_shows_the_summary_s_essays_per_second():
    """The bar's essays/s counts computed essays, not cache hits, per second since the
    start (the summary's figure); cache hits are counted apart; tqdm's own rate is off."""
    import io

    from hemma_features.client.extract_command import ProgressBar

    now = [100.0]
    screen = io.StringIO()
    bar = ProgressBar(screen, clock=lambda: now[0])
    bar.update(0, 0, 20)
    now[0] += 2.0
    bar.update(10, 10, 20)  # ten rows from the cache at once
    now[0] += 2.0
    bar.update(6, 0, 20)  # six computed in four seconds: 1.5 essays/s
    bar._bar.refresh()
    shown = screen.getvalue().splitlines()[-1] if "\n" in screen.getvalue() else screen.getvalue()
    last = shown.split("\r")[-1]
    assert "16/20" in last and "1.5 essays/s computed, 10 cache hits apart" in last, last
    assert "essay/s" not in last and "it/s" not in last
    bar.close()
