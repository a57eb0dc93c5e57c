"""Hardening: adversarial essays, dead workers, shutdown, fairness, errors, secrets, LT faults.

Every bound here only catches a hang; no test asserts a speed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from structlog.testing import capture_logs

from hemma_features import FeatureClient
from hemma_features.client.errors import (
    DependencyUnavailableError,
    ProtocolError,
    ServerBusyError,
    ServerUnavailableError,
)
from hemma_features.client.retry import RetryPolicy
from hemma_features.client.server_process import ServerProcess
from hemma_features.contract import (
    ExtractCommand,
    FlightInvalidArgumentError,
    decode_error_info,
    encode_command,
)
from hemma_features.engine.errors import BusyError
from hemma_features.engine.features.nlp import MAX_RUN_CHARS, normalize_for_parsing
from hemma_features.engine.metrics import Metrics
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.settings_env import settings_of
from hemma_features.flight.admission import Admission
from tests.conftest import SAMPLES, essays_table, settings_for_tests, wait_for
from tests.servers import LiveServer

# -- bounded cost per essay -------------------------------------------------------------


def test_long_runs_are_split_every_max_run_chars():
    """A 150-character run becomes 64 + 64 + 22; ordinary words are untouched."""
    text = "short words " + "x" * 150 + " end"
    normalized = normalize_for_parsing(text)
    assert normalized == "short words " + " ".join(["x" * 64, "x" * 64, "x" * 22]) + " end"
    assert normalize_for_parsing("An ordinary essay.\n\nTwo paragraphs.") == (
        "An ordinary essay.\n\nTwo paragraphs."
    )
    assert MAX_RUN_CHARS == 64


def test_adversarial_essays_at_the_full_limit_parse_in_bounded_time(runtime):
    """50,000 '$', 49,000 emoji and one 8,000-word sentence parse (hang bound: 10 minutes)."""
    limit = runtime.settings.limits.max_text_chars
    texts = ["$" * limit, "\U0001f600" * (limit - 1000), " ".join(["word"] * 8000)]
    rows = runtime.parser.submit(texts).result(timeout=600)
    assert len(rows) == 3
    assert rows[2]["n_words"] == 8000 and rows[2]["n_sentences"] >= 1
    assert all(np.isfinite(list(row.values())).all() for row in rows)


# -- supervised workers -----------------------------------------------------------------


def test_a_killed_parse_worker_is_replaced_and_counted(live_server, runtime):
    """kill -9 of the worker: a new one starts, the restart is counted, extraction works."""
    [pid] = runtime.parser.worker_pids()
    before = _metric(live_server.http_url, "hemma_parse_worker_restarts_total", 'reason="died"')
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: runtime.parser.worker_pids() not in ([], [pid]))
    after = _metric(live_server.http_url, "hemma_parse_worker_restarts_total", 'reason="died"')
    assert after == before + 1
    with FeatureClient(live_server.http_url) as client:
        assert client.extract(SAMPLES, feature_set="handcrafted").num_rows == 8
    assert httpx.get(f"{live_server.http_url}/readyz", timeout=30).status_code == 200


def _metric(http_url: str, name: str, labels: str) -> float:
    text = httpx.get(f"{http_url}/metrics", timeout=30).text
    for line in text.splitlines():
        if line.startswith(name) and labels in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_no_child_outlives_a_killed_server(tmp_path):
    """SIGKILL of the server: its parse workers are gone within 5 seconds."""
    server = ServerProcess({"HEMMA_PARSE_WORKERS": "2"}, startup_timeout=300)
    server.start()
    try:
        assert server.proc is not None
        children = _children(server.proc.pid)
        assert len(children) >= 2
        server.proc.kill()
        server.proc.wait(timeout=30)
        assert wait_for(lambda: not any(_alive(pid) for pid in children), seconds=5)
    finally:
        server.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_with_a_parse_running_and_an_idle_exchange_exits_within_the_grace(tmp_path):
    """A parse is running and an idle client holds an exchange open; SIGTERM still ends the
    server in its grace, and its parse workers with it."""
    server = ServerProcess({"HEMMA_SHUTDOWN_GRACE": "2"}, startup_timeout=300)
    server.start()
    try:
        client = fl.connect(server.flight_url)
        command = encode_command(ExtractCommand(feature_set="embeddings"))
        writer, _ = client.do_exchange(fl.FlightDescriptor.for_command(command))
        writer.begin(essays_table([]).schema)  # then nothing: an idle stream
        heavy = essays_table(
            [(f"h{i}", " ".join(["Long essays take a while to parse."] * 1200), "p")
             for i in range(16)]
        )  # fmt: skip

        def parse_heavily() -> None:
            with contextlib.suppress(Exception), FeatureClient(server.http_url) as hemma:
                hemma.extract(heavy, feature_set="handcrafted")

        worker = threading.Thread(target=parse_heavily, daemon=True)
        worker.start()
        assert wait_for(lambda: _gauge(server.http_url, "hemma_flight_active_streams") >= 2)
        assert server.proc is not None
        children = _children(server.proc.pid)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=60) == 0  # grace 2 s; 60 s only catches a hang
        assert wait_for(lambda: not any(_alive(pid) for pid in children), seconds=10)
        assert '"serve.stopped"' in server.log_text()
        worker.join(timeout=60)
    finally:
        server.stop()


def _gauge(http_url: str, name: str) -> float:
    try:
        text = httpx.get(f"{http_url}/metrics", timeout=10).text
    except httpx.HTTPError:
        return 0.0
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return 0.0


# -- fairness ---------------------------------------------------------------------------


def test_idle_streams_hold_no_compute_slot(runtime):
    """With one compute slot, three idle exchanges leave room for a real request."""
    server = LiveServer(
        Runtime.from_models(settings_for_tests(max_streams=1), runtime.analyzer, runtime.embedder)
    )
    try:
        idle = []
        for _ in range(3):
            client = fl.connect(server.flight_url)
            command = encode_command(ExtractCommand(feature_set="embeddings"))
            writer, reader = client.do_exchange(fl.FlightDescriptor.for_command(command))
            writer.begin(essays_table([]).schema)
            idle.append((client, writer))
        with FeatureClient(server.http_url) as hemma:
            assert hemma.extract(SAMPLES, feature_set="embeddings").num_rows == 8
        for client, writer in idle:
            writer.done_writing()
            client.close()
    finally:
        server.close()


def test_a_full_queue_is_refused_as_busy_and_counted():
    """One slot, a queue of one: the waiter gets the slot, the next caller is refused."""
    metrics = Metrics()
    admission = Admission(
        slots=1, queue_limit=1, queue_timeout=5.0, metrics=metrics, stopping=threading.Event()
    )
    release = threading.Event()
    holding = threading.Event()
    waited = threading.Event()

    def hold() -> None:
        with admission.slot("exchange", "first"):
            holding.set()
            release.wait(30)

    def wait() -> None:
        with admission.slot("exchange", "second"):
            waited.set()

    first = threading.Thread(target=hold)
    first.start()
    assert holding.wait(30)
    second = threading.Thread(target=wait)
    second.start()
    assert wait_for(lambda: admission.waiting == 1, seconds=30)
    with (
        capture_logs() as logs,
        pytest.raises(BusyError, match="wait queue is full") as refused,
        admission.slot("exchange", "third"),
    ):
        pass
    assert refused.value.retry_after >= 1
    assert any(entry["event"] == "flight.refused" for entry in logs)
    release.set()
    first.join(30)
    second.join(30)
    assert waited.is_set()
    text = metrics.render().decode()
    assert 'hemma_flight_refusals_total{verb="exchange"} 1.0' in text
    assert 'hemma_flight_queue_seconds_count{verb="exchange"} 1.0' in text


def test_busy_is_retried_with_jitter_within_the_budget_only():
    """ServerBusyError waits at least retry_after, jittered, and stops when the budget ends."""
    policy = RetryPolicy(retries=3, backoff=0.5, busy_budget=60.0)
    delays = [policy.next_delay(ServerBusyError("busy", retry_after=2.0)) for _ in range(5)]
    assert all(2.0 <= d <= 15.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 1  # jittered, not in step
    spent = RetryPolicy(retries=3, backoff=0.5, busy_budget=0.0)
    with pytest.raises(ServerBusyError):
        spent.next_delay(ServerBusyError("busy"))
    other = RetryPolicy(retries=1, backoff=0.01, busy_budget=60.0)
    other.next_delay(ServerUnavailableError("grpc://x", "down"))
    with pytest.raises(ServerUnavailableError, match="tried 2 times"):
        other.next_delay(ServerUnavailableError("grpc://x", "down"))


# -- errors -----------------------------------------------------------------------------


def test_an_unexpected_server_error_is_internal_with_a_correlation_id(runtime, monkeypatch):
    """A bug in a verb: Flight Internal naming the correlation id; the traceback is logged."""
    server = LiveServer(
        Runtime.from_models(settings_for_tests(), runtime.analyzer, runtime.embedder)
    )
    try:

        def broken(batch, feature_set):
            raise RuntimeError("a bug at /secret/install/path.py")

        monkeypatch.setitem(vars(server.runtime), "extract", broken)  # a built runtime is frozen
        client = fl.connect(server.flight_url)
        command = encode_command(ExtractCommand(feature_set="embeddings"))
        options = fl.FlightCallOptions(headers=[(b"x-correlation-id", b"corr-42")])
        with capture_logs() as logs, pytest.raises(fl.FlightInternalError) as caught:
            writer, reader = client.do_exchange(fl.FlightDescriptor.for_command(command), options)
            table = essays_table([("a", "One essay.", "p")])
            writer.begin(table.schema)
            writer.write_table(table)
            writer.done_writing()
            reader.read_all()
        message = str(caught.value)
        assert "corr-42" in message
        assert "Traceback" not in message and "/secret" not in message and ".py" not in message
        info = decode_error_info(caught.value.extra_info)
        assert info is not None and info.code == "internal" and info.correlation_id == "corr-42"
        assert any(e["event"] == "flight.internal_error" and e.get("exc_info") for e in logs)
    finally:
        server.close()


def test_invalid_utf8_and_large_strings_over_flight(live_server):
    """Invalid UTF-8 names row and column; large_string columns are accepted."""
    offsets = pa.py_buffer(np.array([0, 2, 4], np.int32))
    bad = pa.Array.from_buffers(pa.string(), 2, [None, offsets, pa.py_buffer(b"ok\xff\xfe")])
    table = pa.table({"essay_id": bad, "text": ["Fine text.", "More."], "prompt": ["p", "p"]})
    client = fl.connect(live_server.flight_url)
    command = encode_command(ExtractCommand(feature_set="embeddings"))
    not_utf8 = r"row 1: column 'essay_id' is not valid UTF-8"
    with pytest.raises(FlightInvalidArgumentError, match=not_utf8) as e:
        writer, reader = client.do_exchange(fl.FlightDescriptor.for_command(command))
        writer.begin(table.schema)
        writer.write_table(table)
        writer.done_writing()
        reader.read_all()
    assert "Traceback" not in str(e.value)
    large = essays_table([("a", "A fine essay.", "p")]).cast(
        pa.schema([(n, pa.large_string()) for n in ("essay_id", "text", "prompt")])
    )
    writer, reader = client.do_exchange(fl.FlightDescriptor.for_command(command))
    writer.begin(large.schema)
    writer.write_table(large)
    writer.done_writing()
    assert reader.read_all().num_rows == 1


def test_a_non_ascii_correlation_header_is_a_400(live_server):
    """A correlation id that is not printable ASCII gets 400 with a body, not a 500."""
    response = httpx.get(
        f"{live_server.http_url}/healthz", headers=[(b"x-correlation-id", b"\xff\xfe")]
    )
    assert response.status_code == 400
    assert response.json()["error"] == "bad_header"


# -- client-side safety -----------------------------------------------------------------


def test_a_hostile_fingerprint_is_refused_and_nothing_is_written(live_server, tmp_path):
    """A server answering fingerprint '../../../x' gets ProtocolError; no directory appears."""
    with FeatureClient(live_server.http_url) as client:
        real_get = client.control.get

        def hostile_get(path: str, kind: object) -> object:
            answer = real_get(path, kind)
            if path == "/v1/fingerprint":
                sets = {**answer.feature_sets, "combined": "../../../x"}
                return msgspec.structs.replace(answer, feature_sets=sets)
            return answer

        client.control.get = hostile_get  # type: ignore[method-assign]
        with pytest.raises(ProtocolError, match="64 hex digits"):
            client.extract(SAMPLES, feature_set="combined", cache=tmp_path / "cache")
    assert not (tmp_path / "x").exists()
    assert not any(tmp_path.rglob("fingerprint=*"))


def test_a_full_disk_gives_one_line_and_exit_2(live_server, tmp_path, monkeypatch, capsys):
    """ENOSPC while writing the cache: one line naming the cache and the cause, exit 2."""
    from hemma_features.arrowfiles import atomic
    from hemma_features.cli import main

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(atomic.os, "replace", full)
    cache = tmp_path / "cache"
    code = main(["extract", str(SAMPLES), "--server", live_server.http_url, "--cache", str(cache),
                 "--feature-set", "embeddings", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and str(cache) in err[0] and "No space left on device" in err[0]
    assert not list(cache.rglob("part-*"))  # nothing half-written


# -- LanguageTool, secrets and exposure -------------------------------------------------


def test_server_starts_with_languagetool_down_and_keeps_secrets(tmp_path):
    """LT down at start: ready 503 naming LT, embeddings served, handcrafted fails naming LT;
    the LT password and the token appear in no log line, body or error."""
    password, token = "s3cret-pass-word", "tok-" + "z" * 28
    env = {
        "HEMMA_LANGUAGETOOL_URL": f"http://user:{password}@127.0.0.1:9/",
        "HEMMA_AUTH_TOKEN": token,
        "HEMMA_LANGUAGETOOL_PROBE_INTERVAL": "0.5",
    }
    with ServerProcess(env, startup_timeout=300) as server:
        headers = {"authorization": f"Bearer {token}"}
        ready = httpx.get(f"{server.http_url}/readyz", headers=headers, timeout=30)
        assert ready.status_code == 503 and "LanguageTool" in ready.json()["detail"]
        bodies = [ready.text]
        for path in ("/v1/config", "/v1/fingerprint", "/healthz"):
            bodies.append(httpx.get(f"{server.http_url}{path}", headers=headers, timeout=30).text)
        fingerprint = json.loads(bodies[2])
        assert set(fingerprint["feature_sets"]) == {"embeddings"}
        assert set(fingerprint["unavailable"]) == {"handcrafted", "combined"}
        with FeatureClient(server.http_url, token=token) as client:
            assert client.extract(SAMPLES, feature_set="embeddings").num_rows == 8
            with pytest.raises(DependencyUnavailableError, match="LanguageTool") as lt_error:
                client.extract(SAMPLES, feature_set="handcrafted")
        assert "tunnel" not in str(lt_error.value)
        flight = fl.connect(server.flight_url)
        options = fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
        command = encode_command(ExtractCommand(feature_set="handcrafted"))
        with pytest.raises(fl.FlightUnavailableError) as flight_error:
            writer, reader = flight.do_exchange(fl.FlightDescriptor.for_command(command), options)
            writer.begin(essays_table([]).schema)
            writer.done_writing()
            reader.read_all()
        info = decode_error_info(flight_error.value.extra_info)
        assert info is not None and info.code == "dependency_unavailable"
        bodies += [str(lt_error.value), str(flight_error.value)]
        server.stop()
        logs = server.log_text()
    for text in [*bodies, logs]:
        assert password not in text and token not in text
    assert "LanguageTool" in logs


def test_binding_beyond_loopback_without_token_or_tls_warns():
    """0.0.0.0 without a token or TLS logs a warning naming what is missing; loopback does not."""
    from hemma_features.serve import warn_if_exposed

    with capture_logs() as logs:
        warn_if_exposed(settings_of(host="0.0.0.0"))
        warn_if_exposed(settings_of(host="127.0.0.1"))
    [warning] = [e for e in logs if e["event"] == "serve.exposed"]
    assert warning["log_level"] == "warning" and len(warning["missing"]) == 2


def test_a_store_that_cannot_write_never_fails_a_request(runtime, tmp_path, monkeypatch):
    """The store raises ENOSPC: rows still come back, the failure is counted, readiness is
    degraded naming the store directory."""
    server = LiveServer(
        Runtime.from_models(
            settings_for_tests(store_dir=str(tmp_path)), runtime.analyzer, runtime.embedder
        )
    )
    try:
        store = server.flight.engine.stores.store
        assert store is not None

        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(store, "add", full)
        with FeatureClient(server.http_url) as client:
            assert client.extract(SAMPLES, feature_set="embeddings").num_rows == 8
        ready = httpx.get(f"{server.http_url}/readyz", timeout=30)
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "degraded" and str(tmp_path) in body["degraded"][0]
        assert _metric(server.http_url, "hemma_store_write_errors_total", "") >= 1
    finally:
        server.close()


def test_a_parse_past_the_deadline_fails_over_flight_naming_the_essay(runtime):
    """parse_deadline 0.3 s: the long essay's row and id are named; the server keeps serving."""
    from hemma_features.engine.execution.parallel import SupervisedParser

    parser = SupervisedParser(runtime.settings.parsing.spacy_model, 1, 0.3)
    server = LiveServer(
        Runtime.from_models(
            settings_for_tests(parse_deadline=0.3),
            runtime.analyzer,
            runtime.embedder,
            parser=parser,
        )
    )
    try:
        client = fl.connect(server.flight_url)
        command = encode_command(ExtractCommand(feature_set="handcrafted"))
        long_text = " ".join(["A sentence that goes on and on"] * 1500)
        table = essays_table([("short", "Fine.", "p"), ("long", long_text, "p")])
        deadline = (
            r"row 1 \(essay_id='long'\): this essay took longer to parse than the deadline of "
            r"0.3 s .*the other essay of its micro-batch was computed but not kept"
        )
        with pytest.raises(FlightInvalidArgumentError, match=deadline):
            writer, reader = client.do_exchange(fl.FlightDescriptor.for_command(command))
            writer.begin(table.schema)
            writer.write_table(table)
            writer.done_writing()
            reader.read_all()
        assert wait_for(lambda: parser.alive_workers() == 1)
        with FeatureClient(server.http_url) as hemma:
            assert hemma.extract(SAMPLES.parent / "essays.csv", feature_set="embeddings").num_rows
    finally:
        server.close()
        parser.close()


def test_readiness_is_503_while_no_parse_worker_is_alive(runtime):
    """A parser reporting no live worker makes readiness name the parse workers."""

    class NoWorkers:
        def alive_workers(self) -> int:
            return 0

        def submit(self, texts):  # not called here
            raise AssertionError

        def close(self) -> None:
            pass

    configured = Runtime.from_models(
        settings_for_tests(),
        runtime.analyzer,
        runtime.embedder,
        parser=NoWorkers(),  # type: ignore[arg-type]
    )
    [problem] = configured.readiness().problems
    assert "no parse worker is alive" in problem


def test_a_port_in_use_fails_before_the_models_load(tmp_path):
    """`serve` on a taken port exits 2 at once, naming the port and its setting."""
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        result = subprocess.run(
            [sys.executable, "-m", "hemma_features.cli", "serve", "--http-port", str(port),
             "--flight-port", "0"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        taken.close()
    assert result.returncode == 2
    assert f"127.0.0.1:{port} (HEMMA_HTTP_PORT)" in result.stderr
    assert "runtime.loaded" not in result.stderr
