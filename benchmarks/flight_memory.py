"""Benchmark: server memory while streaming a stored dataset, at two dataset sizes.

    .venv/bin/python benchmarks/flight_memory.py --sizes 200,1000,2000 --feature-set embeddings

For each size a fresh server process (own store) gets the first N ELLIPSE essays with
do_put, then the client reads the dataset back with get_flight_info + do_get on every
endpoint (8 shards, 4 read in parallel). Prints essays/s, the server's peak RSS before
and after, and a warm re-read served from the store.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.csv as pacsv

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.extract import ELLIPSE, peak_rss_mib  # noqa: E402
from hemma_features import FeatureClient  # noqa: E402
from hemma_features.client.server_process import ServerProcess  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="200,1000,2000", help="dataset sizes [200,1000,2000]")
    parser.add_argument("--feature-set", default="embeddings", help="[embeddings]")
    args = parser.parse_args()
    if not ELLIPSE.is_file():
        print(f"skipped: {ELLIPSE} is absent")
        return 0
    essays = pacsv.read_csv(ELLIPSE, parse_options=pacsv.ParseOptions(newlines_in_values=True))
    for size in (int(s) for s in args.sizes.split(",")):
        subset = essays.slice(0, size)
        with tempfile.TemporaryDirectory() as store:
            # Eight shards at every size, read four at a time: the same concurrency, so
            # any growth in peak memory comes from the dataset size alone.
            env = {
                "HEMMA_STORE_DIR": store,
                "HEMMA_MAX_ITEMS": "100000",
                "HEMMA_SHARD_ROWS": str(-(-size // 8)),
            }
            with ServerProcess(env, startup_timeout=600) as server:
                assert server.info is not None
                pid = server.info.pid
                before = peak_rss_mib(pid)
                with FeatureClient(server.http_url) as client:
                    client.upload(f"ellipse-{size}", subset)
                    started = time.perf_counter()
                    table = client.read_dataset(f"ellipse-{size}", args.feature_set, parallel=4)
                    cold = time.perf_counter() - started
                    started = time.perf_counter()
                    client.read_dataset(f"ellipse-{size}", args.feature_set, parallel=4)
                    warm = time.perf_counter() - started
                assert table.num_rows == size
                print(
                    f"{size:5d} essays {args.feature_set}: cold {size / cold:6.2f} essays/s "
                    f"({cold:6.1f} s), warm from store {warm:5.2f} s | server peak RSS "
                    f"{before:.0f} MiB after start-up, {peak_rss_mib(pid):.0f} MiB after reads "
                    f"| result {table.nbytes / 1e6:.1f} MB",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
