"""What a user of --engine ray meets before any cluster computes: a cluster that cannot be
joined named in one line within the bound, one embedding decision for every host, refusals
that name the host, the environment actors get, Ray's own output kept off the terminal,
and a rerun whose rows are all cached answered without joining. No Ray cluster runs here."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgspec
import pytest

from tests.conftest import REPO, SAMPLES, settings_for_tests

os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
pytest.importorskip("ray", reason="needs hemma-features[ray]")
import ray  # noqa: E402

from hemma_features.contract import EncoderChoice, RuntimeInfo  # noqa: E402
from hemma_features.engine.settings_env import replace_settings  # noqa: E402
from hemma_features.ray_engine import (  # noqa: E402
    EngineInfo,
    HemmaFeatures,
    RayClusterError,
    RayEngine,
    decided_settings,
    forwarded_env,
)
from hemma_features.ray_engine.connect import Target, join, resolve  # noqa: E402
from hemma_features.ray_engine.log_relay import LEVELS, level_of  # noqa: E402
from hemma_features.ray_engine.memory import RunMemory, key_material  # noqa: E402

BOUND = 30.0
"""Seconds a refusal may take here (a hang bound on busy cores, never a speed check)."""


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def silent_listener():
    """A TCP port on every local address that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("0.0.0.0", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


def refused(target: Target, timeout: float = 5.0) -> tuple[str, float]:
    """The message ``join`` refuses ``target`` with, and the seconds it took."""
    started = time.monotonic()
    with pytest.raises(RayClusterError) as raised:
        join(target, timeout=timeout)
    assert not ray.is_initialized()
    return str(raised.value), time.monotonic() - started


def test_nothing_listening_is_named_at_once():
    """An address where nothing listens is refused in one line naming it and the fix."""
    port = closed_port()
    message, seconds = refused(resolve(f"127.0.0.1:{port}"))
    assert f"nothing listens at 127.0.0.1:{port} (--ray-address" in message
    assert "Ray head is down" in message and "ray start --head" in message
    assert seconds < BOUND


def test_a_stale_ray_start_record_says_how_to_forget_it(monkeypatch, tmp_path):
    """No address, and the last `ray start` here recorded a head that is down: the message
    names the record and `ray stop`."""
    port = closed_port()
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{port}")
    target = resolve(None)
    assert target.recorded and "the last `ray start` on this machine" in target.source
    message, _ = refused(target)
    assert "nothing listens" in message and "`ray stop`" in message
    assert str(tmp_path / "ray" / "ray_current_cluster") in message


def test_a_port_that_is_no_ray_head_is_refused_within_the_timeout(silent_listener):
    """Something that accepts connections but is no Ray GCS: refused after the timeout,
    not after Ray's minutes of retries."""
    message, seconds = refused(resolve(f"127.0.0.1:{silent_listener}"), timeout=2.0)
    assert "no Ray GCS answered there within 2 s (--ray-connect-timeout)" in message
    assert seconds < 2.0 + BOUND


def test_auto_without_a_cluster_says_what_to_do(monkeypatch, tmp_path):
    """--ray-address auto with nothing running here names the three ways out."""
    from ray._private import services

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: frozenset())
    with pytest.raises(RayClusterError, match="auto found no running Ray cluster") as raised:
        resolve("auto")
    assert "ray start --head" in str(raised.value) and "leave --ray-address out" in str(
        raised.value
    )


@pytest.mark.parametrize("where", ["flag", "env"])
def test_ray_client_is_refused_with_what_to_use(monkeypatch, where):
    """ray:// (Ray Client, which the ray extra does not install) is refused naming the
    address form to use instead, whether from the flag or RAY_ADDRESS."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    if where == "env":
        monkeypatch.setenv("RAY_ADDRESS", "ray://127.0.0.1:10001")
    with pytest.raises(RayClusterError, match="is Ray Client") as raised:
        resolve("ray://127.0.0.1:10001" if where == "flag" else None)
    assert ("--ray-address=" if where == "flag" else "RAY_ADDRESS=") in str(raised.value)
    assert "--ray-address HEAD:6379" in str(raised.value)


def test_the_cli_answers_a_dead_address_in_one_line_with_status_2(tmp_path):
    """The command prints one line on stderr, nothing on stdout, exit status 2, within the
    bound, and keeps Ray's own lines in its log."""
    port = closed_port()
    log = tmp_path / "ray.log"
    command = [
        sys.executable, "-m", "hemma_features.cli", "extract", str(SAMPLES), "--engine", "ray",
        "--ray-address", f"127.0.0.1:{port}", "--cache", str(tmp_path / "cache"),
        "--ray-connect-timeout", "5", "--ray-log", str(log),
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert time.monotonic() - started < 120
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: nothing listens at 127.0.0.1:{port}")
    assert not (tmp_path / "cache").exists()


def test_a_silent_cluster_interrupts_only_the_wait_for_it():
    """The watch interrupts the main thread while it waits for the cluster, once an
    address has been silent for the bound, and says which; before that, and outside the
    wait, it never does."""
    from hemma_features.ray_engine.watch import ClusterWatch

    listener = socket.create_server(("127.0.0.1", 0))
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    watch = ClusterWatch({address: "the Ray head (GCS)"}, lost_after=1.0).start()
    try:
        time.sleep(2.5)  # answering: nothing happens
        assert watch.lost is None
        listener.close()
        time.sleep(3.5)  # silent, but the main thread is not waiting for the cluster
        assert watch.lost is not None
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt), watch.waiting():
            time.sleep(BOUND)
        assert time.monotonic() - started < BOUND
    finally:
        watch.close()
    assert watch.lost.startswith(f"the Ray head (GCS) at {address} has not answered for ")


def test_a_join_that_hangs_after_the_checks_ends_in_one_line():
    """Should ray.init still hang once the head answered, the command gives up on it with
    one line and status 2."""
    script = (
        "import time\n"
        "from hemma_features.ray_engine.command import join_watchdog\n"
        "with join_watchdog(0.5, '10.0.0.1:6379'):\n"
        "    time.sleep(60)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(
        "error: joining the Ray cluster at 10.0.0.1:6379 did not finish within 0.5 s"
    )


def test_help_lists_the_forwarded_variables_and_offers_no_ray_client(capsys):
    """--help names every variable actors get and no longer suggests ray://."""
    from hemma_features.cli import main
    from hemma_features.client.cli_options import RAY_FORWARDED_ENV

    with pytest.raises(SystemExit):
        main(["extract", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in RAY_FORWARDED_ENV)
    assert "ray://" not in text.replace("(Ray Client, ray://, is not used)", "")
    assert "--ray-connect-timeout" in text and "--ray-log-level" in text


def test_custom_resources_are_parsed_and_bad_ones_named():
    """--ray-resource NAME=AMOUNT, with AMOUNT above 0."""
    import argparse

    from hemma_features.client.cli_options import resource_amount

    assert resource_amount("avx512=1") == ("avx512", 1.0)
    assert resource_amount("a100=0.5") == ("a100", 0.5)
    for bad in ("avx512", "=1", "avx512=0", "avx512=x"):
        with pytest.raises(argparse.ArgumentTypeError, match="NAME=AMOUNT"):
            resource_amount(bad)


def test_actors_get_the_documented_environment(monkeypatch):
    """Models offline as under serve unless set, the driver's forwarded variables, and
    --ray-env NAME or NAME=VALUE; a NAME the driver lacks is named."""
    env = {"HF_HOME": "/models/hf", "OMP_NUM_THREADS": "4", "EXTRA": "x", "HOME": "/root"}
    forwarded = forwarded_env(["EXTRA", "OTHER=y"], environ=env)
    assert forwarded == {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": "/models/hf",
        "OMP_NUM_THREADS": "4",
        "EXTRA": "x",
        "OTHER": "y",
    }
    assert forwarded_env(environ={"HF_HUB_OFFLINE": "0"})["HF_HUB_OFFLINE"] == "0"
    with pytest.raises(ValueError, match="--ray-env MISSING: MISSING is not set here"):
        forwarded_env(["MISSING"], environ=env)


def with_embedding(info: EngineInfo, chosen: dict[str, object]) -> EngineInfo:
    runtime = RuntimeInfo(embedding=msgspec.convert(chosen, EncoderChoice))
    config = msgspec.structs.replace(info.config, runtime=runtime)
    return msgspec.structs.replace(info, config=config)


def test_the_cluster_decision_is_pinned_where_settings_left_it_open(runtime):
    """What `auto` chose (backend, precision, device; torch's CPU threads) is pinned for
    every actor; what the settings named stays."""
    info = EngineInfo.of(runtime)
    open_ = settings_for_tests(embedding_backend="auto", embedding_dtype="auto", device="auto")
    openvino = {"backend": "openvino", "precision": "float32", "device": "cpu", "threads": 2}
    pinned = decided_settings(open_, with_embedding(info, openvino))
    assert (pinned.embedding.backend, pinned.embedding.dtype, pinned.embedding.device) == (
        "openvino",
        "float32",
        "cpu",
    )
    assert pinned.embedding.threads == 0  # OpenVINO's bits do not depend on threads
    torch_cpu = {**openvino, "backend": "torch"}
    assert decided_settings(open_, with_embedding(info, torch_cpu)).embedding.threads == 2
    cuda = {"backend": "torch", "precision": "bfloat16", "device": "cuda", "threads": 2}
    on_gpu = decided_settings(open_, with_embedding(info, cuda))
    assert (on_gpu.embedding.dtype, on_gpu.embedding.device, on_gpu.embedding.threads) == (
        "bfloat16",
        "cuda",
        0,
    )
    named = settings_for_tests(embedding_threads=3)  # onnx, float32, 3 threads, as asked
    assert decided_settings(named, with_embedding(info, torch_cpu)) == replace_settings(
        named, device="cpu"
    )


def test_one_decision_gives_hosts_that_time_differently_one_fingerprint(
    runtime, monkeypatch, tmp_path
):
    """Two hosts whose timing of the backends differs (one finds OpenVINO fastest, the
    other ONNX Runtime, the settings' `auto` on each) would compute two fingerprints; with
    the first host's decision pinned, the second computes the first's."""
    from hemma_features.engine.models import backend_timing
    from hemma_features.engine.models.embed import Embedder
    from hemma_features.engine.options import embedding_components

    cache = Path(os.environ["HEMMA_MODEL_CACHE_DIR"])
    settings = settings_for_tests(embedding_backend="auto", embedding_dtype="auto")

    def host(fastest: str, host_settings):
        def timing(encoders, probes, **_):
            return {name: (0.1 if name == fastest else 0.9, 1.0) for name in encoders}

        monkeypatch.setattr(backend_timing, "time_candidates", timing)
        monkeypatch.setattr(backend_timing, "decision_path", lambda d, k: tmp_path / fastest)
        return Embedder.load(host_settings.embedding, cache)

    first = host("openvino", settings)
    assert (first.report.backend, first.report.decided) == ("openvino", "measured")
    info = with_embedding(EngineInfo.of(runtime), msgspec.to_builtins(first.report))
    pinned = decided_settings(settings, info)
    second = host("onnx", pinned)  # would choose onnx under auto, like the session runtime
    assert second.report.decided == "asked"
    assert embedding_components(second, pinned) == embedding_components(first, settings)
    assert embedding_components(runtime.embedder, settings) != embedding_components(first, settings)


def test_an_actor_with_another_fingerprint_names_host_and_differences(runtime):
    """The refusal says which host, which components differ from the run's, and how."""
    from hemma_features.engine.errors import FingerprintMismatchError

    expected = msgspec.to_builtins(runtime.fingerprint.components)
    expected["embedding"] = {**expected["embedding"], "kernels": "avx2", "backend": "openvino"}
    here = runtime.fingerprint.components["embedding"]
    with pytest.raises(FingerprintMismatchError) as raised:
        HemmaFeatures.on_runtime(
            runtime, "embeddings", fingerprint="0" * 64, expected_components=expected
        )
    message = str(raised.value)
    current = runtime.fingerprint_for("embeddings")
    assert message.startswith(
        f"fingerprint mismatch: the request expects {'0' * 64}, host {socket.gethostname()} "
        f"computes {current} for embeddings: "
    )
    assert "embedding.backend is onnx here, openvino in the run" in message
    assert f"embedding.kernels is {here['kernels']} here, avx2 in the run" in message
    assert message.endswith("pin each the same on every host (docs/scale-out.md)")


def test_a_host_that_cannot_load_the_decision_names_itself(monkeypatch):
    """A model or backend an actor cannot load is refused naming the host and what the run
    asked it to run."""
    from hemma_features.engine.errors import ModelLoadError
    from hemma_features.ray_engine import stage

    def cannot(settings):
        raise ModelLoadError("HEMMA_EMBEDDING_BACKEND=openvino needs openvino and onnxruntime")

    monkeypatch.setattr(stage.Runtime, "load", cannot)
    pinned = settings_for_tests(embedding_backend="openvino")
    with pytest.raises(ModelLoadError) as raised:
        HemmaFeatures("embeddings", pinned)
    assert str(raised.value).startswith(
        f"host {socket.gethostname()} cannot load what the run computes with (embedding "
        "backend openvino, dtype float32, device auto): HEMMA_EMBEDDING_BACKEND=openvino needs"
    )


@pytest.mark.parametrize(
    ("line", "level"),
    [
        (b"[2026-12-04 21:52:31,255 E 1 2] core_worker.cc:2465: Actor with class name: "
         b"'MapWorker(MapBatches(A))' has constructor arguments in the object store and "
         b"max_restarts > 0. If ...\n", "info"),
        (b"[2026-12-04 21:50:03,821 W 27820 27820] rpc_client.h:153: Failed to connect\n",
         "warning"),
        (b"[2026-12-04 22:00:07,111 E 1870 1921] task_manager.cc:1: a task failed\n", "error"),
        (b"[2026-12-04 22:00:07,111 F 1870 1921] rpc_client.h:204: fatal\n", "fatal"),
        (b"[2026-12-04 22:37:45,712 E 31675 31708] task_manager.cc:1545: Failed to push error "
         b"to driver for task 716029df\n", "warning"),
        (b"2026-12-04 22:19:42,771\tWARNING __init__.py:28 -- Progress bars disabled.\n",
         "warning"),
        (b"2026-12-04 22:19:42,771\tINFO worker.py:1841 -- Connecting to existing Ray\n",
         "info"),
        (b"(raylet) A worker died or was killed while executing a task\n", "warning"),
        (b"\x1b[33m(raylet)\x1b[0m Task MapWorker.submit failed; it will be retried\n", "warning"),
        (b"Traceback (most recent call last):\n", "error"),
    ],
)  # fmt: skip
def test_ray_lines_are_filed_by_level(line, level):
    """Each kind of line Ray writes gets its level; the constructor-arguments notice of
    ray#53727 is no error; what is not Ray's own format shows."""
    assert level_of(line, LEVELS["debug"]) == LEVELS[level]
    assert level_of(b"    @ 0x7fd8 (unknown)\n", LEVELS[level]) == LEVELS[level]


def test_ray_output_reaches_the_log_and_only_errors_the_terminal(tmp_path):
    """A driver's Ray output (its core's lines on descriptor 2, Ray Data's logger, the
    cluster's notices) lands in the log file; the terminal gets the command's own output
    and Ray's errors; stdout holds nothing of Ray's."""
    log = tmp_path / "ray.log"
    script = f"""
import logging, os, sys
from pathlib import Path
from hemma_features.ray_engine.ray_log import RayLog
RayLog(Path({str(log)!r}), "error").start()
os.write(2, b"[2026-12-04 21:52:31,255 E 1 2] core_worker.cc:2465: has constructor "
            b"arguments in the object store and max_restarts > 0.\\n")
os.write(2, b"[2026-12-04 21:50:03,821 W 1 2] rpc_client.h:153: GCS not answering\\n")
os.write(2, b"[2026-12-04 22:00:07,111 E 1 2] task_manager.cc:1: a task failed\\n")
from ray._private import worker
worker.print_to_stdstream({{"lines": ["A worker died"], "pid": "raylet", "is_err": False}}, False)
logging.getLogger("ray.data").warning("Progress bars disabled")
print("error: ours", file=sys.stderr)
print("rows: 8")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "rows: 8\n"
    assert "error: ours" in done.stderr and "a task failed" in done.stderr
    for quiet in ("constructor arguments", "GCS not answering", "A worker died", "Progress"):
        assert quiet not in done.stderr
    kept = log.read_text()
    for line in ("constructor arguments", "GCS not answering", "a task failed"):
        assert line in kept
    assert "(raylet) A worker died" in kept and "Progress bars disabled" in kept


def test_a_rerun_whose_rows_are_cached_does_not_join(runtime, live_server, sample_essays, tmp_path):
    """With the cluster's answer remembered in the cache and every row there, the engine
    answers from the cache without joining (the address here answers nothing at all)."""
    from hemma_features import FeatureClient

    essays = sample_essays.select(["essay_id", "text", "prompt"])
    cache = tmp_path / "cache"
    with FeatureClient(live_server.http_url, flight=live_server.flight_url) as client:
        flight = client.extract(essays, feature_set="combined", cache=cache)
    settings = settings_for_tests()
    engine = RayEngine(settings, address=f"127.0.0.1:{closed_port()}")
    material = key_material(settings, engine.target.address, 0, ray.__version__)
    RunMemory(cache, material).write(EngineInfo.of(runtime))
    table, report = engine.extract_with_report(essays, feature_set="combined", cache=cache)
    assert not ray.is_initialized()
    assert engine.remembered and report.rows_fetched == 0
    assert "not joined, as every row was in the cache" in report.location
    assert table.equals(flight, check_metadata=True)
    other = key_material(settings_for_tests(embedding_max_length=128), None, 0, ray.__version__)
    assert RunMemory(cache, other).read() is None  # other settings: asked again
