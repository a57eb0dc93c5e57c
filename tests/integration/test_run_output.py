"""What a run prints and reports: latencies per micro-batch, an honest cached rerun, a
Flight location on the HTTP port, `cache verify` per partition."""

from __future__ import annotations

import json
import time

import pyarrow.csv as pacsv

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
