"""Benchmark: the same essays through the Flight path and through ``--engine ray``.

    .venv/bin/python benchmarks/ray_engine.py --essays 2000 --rounds 2

Per round, on the same ELLIPSE essays, each into an empty cache (every essay computed):

- **flight**: a real ``serve`` process with its default settings on 127.0.0.1, fed by
  ``FeatureClient.extract`` (started and warmed before the first round).
- **ray**: ``RayEngine.extract`` on a local Ray instance with this machine's cores, one
  ``HemmaFeatures`` actor with the same default settings (``--actors`` for more). Each
  run starts its actor (a runtime load), as every ``extract --engine ray`` does; the
  fingerprint probe is done once, before the rounds.

Rounds alternate which path goes first. Prints essays/s per run, the Ray run's seconds to
its first rows (the actor's start-up), and its essays/s after them (steady state).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ellipse import essay_inputs, read_ellipse  # noqa: E402
from hemma_features import FeatureClient  # noqa: E402
from hemma_features.client.server_process import ServerProcess  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--essays", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--feature-set", default="combined")
    parser.add_argument("--actors", type=int, default=1)
    parser.add_argument("--batch-rows", type=int, default=64)
    args = parser.parse_args()
    table = read_ellipse(args.essays)
    if table is None:
        return 0
    essays = essay_inputs(table)
    # Both paths use the checkout's exported model (as the tests do), not the user's cache.
    os.environ.setdefault("HEMMA_MODEL_CACHE_DIR", str(REPO / ".hemma-cache" / "models"))

    import ray

    from hemma_features.engine.settings_env import load_settings
    from hemma_features.ray_engine import RayEngine

    settings = load_settings()
    rates: dict[str, list[float]] = {"flight": [], "ray": []}
    startup: list[float] = []
    steady: list[float] = []
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    with ServerProcess(startup_timeout=900) as server, tempfile.TemporaryDirectory() as tmp:
        engine = RayEngine(
            settings,
            concurrency=args.actors,
            batch_rows=args.batch_rows,
        )
        started = time.perf_counter()
        engine.info  # noqa: B018 - the fingerprint probe, once, outside the timed runs
        print(f"ray fingerprint probe: {time.perf_counter() - started:.1f} s")
        with FeatureClient(server.http_url) as client:
            client.extract(essays.slice(0, 4), feature_set=args.feature_set, cache=f"{tmp}/w")
            for round_ in range(args.rounds):
                order = ("flight", "ray") if round_ % 2 == 0 else ("ray", "flight")
                for name in order:
                    cache = Path(tmp) / f"{name}-{round_}"
                    runner = client if name == "flight" else engine
                    wall = time.perf_counter()
                    _, report = runner.extract_with_report(
                        essays, feature_set=args.feature_set, cache=cache
                    )
                    seconds = time.perf_counter() - wall
                    rates[name].append(essays.num_rows / seconds)
                    line = f"round {round_} {name}: {rates[name][-1]:.2f} essays/s "
                    line += f"({seconds:.1f} s)"
                    if name == "ray":
                        first = report.first_rows_seconds
                        startup.append(first)
                        after = (essays.num_rows - args.batch_rows) / max(1e-9, seconds - first)
                        steady.append(after)
                        line += f", first rows at {first:.1f} s, {after:.2f} essays/s after them"
                    print(line, flush=True)
    ray.shutdown()
    print(
        f"median of {args.rounds} rounds, {essays.num_rows} essays, {args.feature_set}: "
        f"flight {statistics.median(rates['flight']):.2f} essays/s; "
        f"ray {statistics.median(rates['ray']):.2f} essays/s "
        f"(actor start {statistics.median(startup):.1f} s, "
        f"{statistics.median(steady):.2f} essays/s after it)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
