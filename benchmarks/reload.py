"""Benchmark (issue 13): a hot reload under load costs no request and no readiness.

    .venv/bin/python benchmarks/reload.py --seconds 40

A fresh server process (offline default models, store off, no LanguageTool) with an env
file. A client thread sends one small ``combined`` request after another (each 4 ELLIPSE
essays, synthetic when ../shared is absent) and a second thread polls ``/readyz`` every
0.1 s. After a quiet phase the env file changes ``HEMMA_EMBEDDING_MAX_LENGTH`` and the
process gets SIGHUP. Printed: the reload's own seconds (from ``/v1/config``), requests
before / during / after the reload with their failures and latency (median, max), the
readiness answers that were not 200, and which fingerprint each request was served under.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.first_rows import corpus  # noqa: E402
from hemma_features import FeatureClient  # noqa: E402
from hemma_features.client.server_process import ServerProcess  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=40.0, help="load phase length [40]")
    args = parser.parse_args()
    table = corpus(200)
    workdir = Path(tempfile.mkdtemp(prefix="hemma-reload-"))
    env_file = workdir / "hemma.env"
    env_file.write_text("HEMMA_EMBEDDING_MAX_LENGTH=512\n")
    env = {"HEMMA_ENV_FILE": str(env_file), "HEMMA_STORE": "false"}
    with ServerProcess(env, startup_timeout=600) as server:
        requests: list[tuple[float, float, str | None, str | None]] = []  # start, s, fp, error
        ready_failures: list[tuple[float, int]] = []
        stop = threading.Event()

        def load() -> None:
            with FeatureClient(server.http_url) as client:
                i = 0
                while not stop.is_set():
                    rows = table.slice((4 * i) % 196, 4)
                    started = time.perf_counter()
                    try:
                        out = client.extract(rows, feature_set="combined")
                        fingerprint = out.schema.metadata[b"hemma.fingerprint"].decode()
                        requests.append((started, time.perf_counter() - started, fingerprint, None))
                    except Exception as exc:  # counted, never hidden
                        requests.append((started, time.perf_counter() - started, None, str(exc)))
                    i += 1

        def readiness() -> None:
            while not stop.is_set():
                code = httpx.get(f"{server.http_url}/readyz", timeout=30).status_code
                if code != 200:
                    ready_failures.append((time.perf_counter(), code))
                time.sleep(0.1)

        threads = [threading.Thread(target=load), threading.Thread(target=readiness)]
        for thread in threads:
            thread.start()
        time.sleep(args.seconds / 2)
        env_file.write_text("HEMMA_EMBEDDING_MAX_LENGTH=256\n")
        assert server.proc is not None
        asked = time.perf_counter()
        server.proc.send_signal(signal.SIGHUP)
        status: dict = {}
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            status = httpx.get(f"{server.http_url}/v1/config", timeout=30).json()["reload"]
            if status.get("state") in ("ok", "failed"):
                break
            time.sleep(0.2)
        switched = time.perf_counter()
        time.sleep(args.seconds / 2)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    print(f"reload: {status.get('state')} in {status.get('seconds')} s (trigger sighup), "
          f"changed {status.get('changed')}")  # fmt: skip
    phases = {
        "before": [r for r in requests if r[0] < asked],
        "during": [r for r in requests if asked <= r[0] < switched],
        "after": [r for r in requests if r[0] >= switched],
    }
    for name, rows in phases.items():
        seconds = [r[1] for r in rows]
        failed = [r[3] for r in rows if r[3]]
        fingerprints = sorted({(r[2] or "")[:12] for r in rows if r[2]})
        print(
            f"{name:>6}: {len(rows):4d} requests, {len(failed)} failed, "
            f"median {statistics.median(seconds) if seconds else 0:.2f} s, "
            f"max {max(seconds, default=0):.2f} s, fingerprints {fingerprints}"
        )
        for error in failed[:3]:
            print(f"        error: {error[:200]}")
    print(f"readiness answers other than 200: {len(ready_failures)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
