"""Whole processes: the client without heavy libraries, serve + SIGTERM, the demo, --help."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hemma_features.cli import build_parser, main
from hemma_features.client.server_process import ServerProcess
from hemma_features.contract import FEATURE_SETS
from tests.conftest import REPO, SAMPLES, wait_for

HEAVY = ("torch", "transformers", "spacy", "textdescriptives", "litestar", "uvicorn")

BLOCKER = """
import sys
HEAVY = {heavy!r}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise ImportError(f"blocked heavy import: {{name}}")
        return None
sys.meta_path.insert(0, Block())
"""


def run_python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_client_runs_with_heavy_imports_blocked(live_server, tmp_path):
    """The client package imports and extracts through the CLI with torch/spaCy/etc. blocked."""
    code = (
        BLOCKER.format(heavy=HEAVY)
        + """
import hemma_features, hemma_features.cli, hemma_features.contract
code = hemma_features.cli.main(["extract", sys.argv[1], "--server", sys.argv[2], "--cache",
                               sys.argv[3], "--feature-set", "handcrafted", "--quiet",
                               "--report", sys.argv[4]])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
print(code, loaded)
"""
    )
    report = tmp_path / "report.json"
    result = run_python(code, str(SAMPLES), live_server.http_url, str(tmp_path / "c"), str(report))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0 []"
    assert json.loads(report.read_text())["rows_requested"] == 8


def test_blocker_really_blocks():
    """The import blocker used above does stop a heavy import (the test can fail)."""
    result = run_python(BLOCKER.format(heavy=HEAVY) + "import hemma_features.control.app")
    assert result.returncode != 0
    assert "blocked heavy import" in result.stderr


def test_serve_answers_reloads_on_sighup_and_stops_cleanly_on_sigterm(tmp_path):
    """A served process answers both planes, reloads its env file on SIGHUP (new
    fingerprint, no restart), logs JSON lines, and exits 0 within seconds of SIGTERM."""
    from hemma_features import FeatureClient

    env_file = tmp_path / "hemma.env"
    env_file.write_text("# settings a reload re-reads\nHEMMA_EMBEDDING_MAX_LENGTH=512\n")
    server = ServerProcess({"HEMMA_ENV_FILE": str(env_file)}, startup_timeout=300)
    info = server.start()
    try:
        assert httpx.get(f"{server.http_url}/healthz", timeout=10).status_code == 200
        # the store is on by default, in the per-user data directory (the session's here)
        store = httpx.get(f"{server.http_url}/v1/config", timeout=10).json()["runtime"]["store"]
        data_home = Path(os.environ["XDG_DATA_HOME"])
        assert store["enabled"] and store["path"] == str(data_home / "hemma-features" / "store")
        with FeatureClient(server.http_url) as client:
            table = client.extract(SAMPLES, feature_set="handcrafted", cache=tmp_path / "c")
        assert table.num_rows == 8
        env_file.write_text("export HEMMA_EMBEDDING_MAX_LENGTH='128'\n")
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        reload = wait_for_reload(server.http_url)
        assert reload["state"] == "ok" and reload["trigger"] == "sighup", reload
        assert reload["fingerprint_before"] == info.fingerprint != reload["fingerprint_after"]
        config = httpx.get(f"{server.http_url}/v1/config", timeout=10).json()
        assert config["settings"]["embedding_max_length"] == 128
        with FeatureClient(server.http_url) as client:
            assert client.fingerprint().fingerprint == reload["fingerprint_after"]
    finally:
        started = time.monotonic()
        code = server.stop(timeout=20)
        elapsed = time.monotonic() - started
    assert code == 0
    assert elapsed < 60  # a hang bound only: SIGTERM must not be ignored
    # every line is JSON, uvicorn's and the per-stage start-up lines included
    lines = [json.loads(line) for line in server.log_text().splitlines() if line.strip()]
    events = {line["event"] for line in lines}
    assert {"serve.started", "http.request", "flight.exchange", "serve.stopped"} <= events
    stages = [line["stage"] for line in lines if line["event"] == "runtime.stage"]
    assert stages == ["spacy", "embedding", "parse_workers"] * 2  # at start and on reload
    assert "Application startup complete." in events  # uvicorn, through the same renderer
    exchange = next(line for line in lines if line["event"] == "flight.exchange")
    assert exchange["fingerprint"] == info.fingerprint and exchange["correlation_id"]
    assert next(line for line in lines if line["event"] == "serve.stopped")["flight_clean"]
    assert {"reload.started", "reload.switched", "reload.retired", "runtime.closed"} <= events


def wait_for_reload(http: str, seconds: float = 300.0) -> dict:
    """/v1/config's reload block once the reload has ended (a hang bound, not a speed)."""

    def ended() -> dict | None:
        reload = httpx.get(f"{http}/v1/config", timeout=10).json()["reload"]
        return reload if reload.get("state") in ("ok", "failed") else None

    reload = wait_for(ended, seconds, interval=0.5)
    assert reload is not None, f"no reload ended within {seconds:.0f} s"
    return reload


def run_cli(
    *args: str, cwd=REPO, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``hemma-features ARGS`` in a child interpreter (output captured as text)."""
    return subprocess.run(
        [sys.executable, "-m", "hemma_features.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_bad_setting_fails_at_startup_naming_the_variable():
    """HEMMA_MAX_ITEMS=abc stops `serve` before loading anything, naming the variable."""
    env = {**os.environ, "HEMMA_MAX_ITEMS": "abc"}
    result = run_cli("serve", "--http-port", "0", "--flight-port", "0", env=env)
    assert result.returncode == 2
    assert "HEMMA_MAX_ITEMS='abc'" in result.stderr


def test_demo_with_a_missing_essays_file_fails_before_starting_a_server(tmp_path):
    """A wrong --essays path is named at once (no 30-second model load first)."""
    result = run_cli("demo", "--essays", "nope.csv", cwd=tmp_path)
    assert result.returncode == 2
    assert "essays file nope.csv does not exist" in result.stderr
    assert "starting the feature server" not in result.stdout


def test_demo_runs_end_to_end_from_any_directory(tmp_path):
    """`hemma-features demo`, run outside the checkout, serves, extracts the shipped sample
    essays, reads the cache back and stops."""
    result = run_cli("demo", "--cache", str(tmp_path / "cache"), cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "rows: 8 (cache hits 0, fetched 8, reused components 0)" in out
    assert "read back with open_features: 8 rows" in out
    assert "server stopped" in out
    # the preview names handcrafted features, not only the embedding-derived ones
    header = next(line for line in out.splitlines() if line.lstrip().startswith("essay_id"))
    assert {"n_words", "flesch_kincaid_grade", "mtld", "clauses_per_sentence"} <= set(
        header.split()
    )
    # it ends with the three commands a researcher runs next
    tail = out.strip().splitlines()[-3:]
    assert [line.split()[:2] for line in tail] == [
        ["hemma-features", "serve"],
        ["hemma-features", "extract"],
        ["hemma-features", "report"],
    ]
    assert f"--cache {tmp_path / 'cache'}" in tail[1] and "--limit" in tail[1]


@pytest.mark.parametrize("command", ["serve", "extract", "health", "fingerprint", "demo"])
def test_every_option_has_help(command, capsys):
    """--help on each subcommand documents every option."""
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    if command == "serve":
        from hemma_features.serve import build_parser as serve_parser

        sub = serve_parser()
    else:
        parser = build_parser()
        sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"{command} {action.option_strings} has no help"
            assert action.option_strings[-1] in text
            if isinstance(action.default, str) and command != "serve":
                assert action.default in action.help, f"{action.dest} hides its default"


def test_health_and_fingerprint_commands(live_server, capsys):
    """`health` exits 0 when ready; `fingerprint` prints one line per feature set first and
    the models behind them, and every component with --json."""
    assert main(["health", "--server", live_server.http_url]) == 0
    assert json.loads(capsys.readouterr().out)["ready"] is True
    assert main(["fingerprint", "--server", live_server.http_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    sets = live_server.runtime.fingerprint.feature_sets
    assert lines[0].startswith("schema hemma.features.")
    assert lines[1:4] == [f"{name:<12} {sets[name]}" for name in FEATURE_SETS]
    assert len(set(sets.values())) == 3  # each set its own fingerprint
    assert "all-MiniLM-L6-v2, 384-d, max_length 512, onnx float32 on cpu" in lines[4]
    assert lines[-2] == "LanguageTool disabled" and len(lines) <= 8
    assert main(["fingerprint", "--server", live_server.http_url, "--json"]) == 0
    assert "schema_version" in json.loads(capsys.readouterr().out)


def test_extract_reports_unreachable_server(tmp_path, capsys):
    """A dead server gives exit 2 and a message naming the URL and the tunnel check."""
    code = main(
        [
            "extract",
            str(SAMPLES),
            "--server",
            "http://127.0.0.1:9",
            "--cache",
            str(tmp_path / "c"),
            "--quiet",
        ]
    )
    assert code == 2
    assert "http://127.0.0.1:9" in capsys.readouterr().err


def test_repo_ships_sample_essays():
    """The demo's sample essays are in the repository."""
    assert Path(SAMPLES).is_file()


def test_progress_bar_on_a_terminal_only(live_server, tmp_path):
    """Off a TTY nothing but the summary; the bar shows rows/total and cache hits."""
    import io

    from hemma_features.client.extract_command import ProgressBar

    command = [sys.executable, "-m", "hemma_features.cli", "extract", str(SAMPLES), "--server",
               live_server.http_url, "--cache", str(tmp_path / "c"), "--feature-set",
               "handcrafted"]  # fmt: skip
    piped = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0
    assert piped.stderr == "" and "rows: 8" in piped.stdout

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    ticks = iter([0.0, 1.0, 2.0])  # started, then one essay computed a second
    bar = ProgressBar(file=screen, clock=lambda: next(ticks))
    bar.update(5, 5, 8)
    bar.update(3, 0, 8)
    bar.close()
    shown = screen.getvalue()
    assert "8/8" in shown and "1.5 essays/s computed, 5 cache hits apart" in shown


def test_a_latin1_file_gets_a_conversion_hint(tmp_path, capsys):
    """A CSV saved as Latin-1 fails before any server call, saying what to do."""
    essays = tmp_path / "essays.csv"
    essays.write_bytes('essay_id,text,prompt\na,"Caf\u00e9 is nice.",p\n'.encode("latin-1"))
    code = main(
        ["extract", str(essays), "--server", "http://127.0.0.1:9", "--cache", str(tmp_path / "c")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "not UTF-8" in err and "iconv -f windows-1252 -t utf-8 essays.csv" in err
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").rglob("*.arrow"))


def test_a_utf16_essays_file_is_named_by_its_byte_order_mark(tmp_path, capsys):
    """A CSV saved as UTF-16 (a spreadsheet's "Unicode text"): one line naming UTF-16 and
    the conversion, not a column-count error; a directory is named as a directory."""
    essays = tmp_path / "essays.csv"
    essays.write_bytes('essay_id,text,prompt\na,"Phones help.",p\n'.encode("utf-16"))
    base = ["--server", "http://127.0.0.1:9", "--cache", str(tmp_path / "c")]
    assert main(["extract", str(essays), *base]) == 2
    err = capsys.readouterr().err
    assert "is UTF-16 (little-endian) by its byte-order mark, not UTF-8" in err
    assert "iconv -f UTF-16 -t utf-8 essays.csv > essays.utf8.csv" in err
    assert main(["extract", str(tmp_path), *base]) == 2
    assert "is a directory; give one file" in capsys.readouterr().err
