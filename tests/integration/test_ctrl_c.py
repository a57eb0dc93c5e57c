"""Ctrl-C on a real `hemma-features extract`: acknowledged at once, saved, gone, resumable."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pyarrow.csv as pacsv

from hemma_features import FeatureClient
from hemma_features.cli import main
from hemma_features.contract import ID_COLUMN
from tests.conftest import REPO, essays_table, wait_for

HANG_BOUND = 30.0  # a hang bound only: the design is gone within 5 s (interrupts.GRACE_SECONDS)


def long_input(tmp_path, n: int = 400):
    """Essays enough that an extract runs for a while on the test server."""
    rows = [
        (f"c{i:04d}", f"Essay {i} argues {i * 7} points.\n\nIt ends with idea {i}.", "Topic")
        for i in range(n)
    ]
    path = tmp_path / "essays.csv"
    pacsv.write_csv(essays_table(rows), path)
    return path


def start_extract(live_server, essays, cache) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "hemma_features.cli", "extract", str(essays), "--server",
        live_server.http_url, "--cache", str(cache), "--feature-set", "handcrafted",
        "--commit-seconds", "0.5", "--quiet",
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def some_rows_committed(cache) -> bool:
    return any(cache.glob("fingerprint=*/feature_set=handcrafted/part-*.arrow"))


def test_ctrl_c_stops_within_seconds_keeps_a_valid_cache_and_the_rerun_is_exact(
    live_server, tmp_path, capsys, monkeypatch
):
    """SIGINT mid-stream: 'stopping: saving what arrived...' at once, exit 130 soon after,
    `cache verify` ok, and a rerun completes to exactly the uninterrupted run's rows."""
    essays = long_input(tmp_path)
    cache = tmp_path / "cache"
    # Each micro-batch takes a quarter of a second longer, so the run lasts seconds after
    # its first commit however fast the server is: the signal lands mid-run, never after it.
    runtime = live_server.runtime
    computed = runtime.extract
    monkeypatch.setitem(  # a built runtime is frozen: the test reaches past that
        vars(runtime), "extract", lambda batch, fs: time.sleep(0.25) or computed(batch, fs)
    )
    child = start_extract(live_server, essays, cache)
    try:
        assert wait_for(lambda: some_rows_committed(cache) or child.poll() is not None, 300)
        assert child.poll() is None, "the extract ended before it could be interrupted"
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=HANG_BOUND)
        took = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, err
    assert err.startswith("stopping: saving what arrived..."), err
    assert "rerun the same command to fetch the rest" in err
    assert "Traceback" not in err
    assert took < HANG_BOUND
    monkeypatch.undo()
    with capsys.disabled():
        print(f"\nexited {took:.1f} s after SIGINT")

    assert main(["cache", "verify", str(cache)]) == 0
    assert f"{cache}: ok (" in capsys.readouterr().out
    with FeatureClient(live_server.http_url) as client:
        rerun, report = client.extract_with_report(essays, feature_set="handcrafted", cache=cache)
        assert 0 < report.cache_hits < 400  # the interrupted run saved some, not all
        uninterrupted = client.extract(essays, feature_set="handcrafted")
    assert rerun.equals(uninterrupted)
    assert rerun.column(ID_COLUMN).to_pylist() == [f"c{i:04d}" for i in range(400)]


SLOW_SAVE = """
import sys, time
from hemma_features.client.interrupts import stop_on_ctrl_c
try:
    with stop_on_ctrl_c(grace=float(sys.argv[1])):
        print("ready", flush=True)
        time.sleep(60)
finally:
    time.sleep(60)  # a save that would take a minute
"""


def interrupted(grace: float, signals: int) -> tuple[int, str, float]:
    """Run a block whose save takes a minute, send ``signals`` SIGINTs; exit code, stderr
    and seconds from the first signal to the exit."""
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_SAVE, str(grace)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        sent = time.monotonic()
        for _ in range(signals):
            child.send_signal(signal.SIGINT)
            time.sleep(0.2)
        _, err = child.communicate(timeout=HANG_BOUND)
        return child.returncode, err, time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()


def test_a_second_ctrl_c_quits_at_once_while_saving():
    """The second SIGINT ends the process during a slow save, exit 130, saying so."""
    code, err, took = interrupted(grace=50, signals=2)
    assert code == 130
    assert err.splitlines()[0].startswith("stopping: saving what arrived...")
    assert err.splitlines()[1].startswith("stopped at once")
    assert took < HANG_BOUND  # far below the 50 s grace and the 60 s save


def test_a_save_past_the_grace_ends_the_process_anyway():
    """One SIGINT and a save that does not finish: the watchdog exits 130 after the grace."""
    code, err, took = interrupted(grace=1, signals=1)
    assert code == 130
    assert "stopping: not saved within 1 s; quitting" in err
    assert took < HANG_BOUND
