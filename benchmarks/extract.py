"""Benchmark: essays/s per feature set, warm-cache reruns, server memory, cache read speed.

    .venv/bin/python benchmarks/extract.py --essays 200

Starts a real server process on 127.0.0.1 (free ports), feeds ELLIPSE essays from
../shared/data/ellipse/essays.csv through the client, and prints one line per figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.dataset as ds

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.procs import status_mib  # noqa: E402
from hemma_features import FeatureClient, open_features  # noqa: E402
from hemma_features.client.server_process import ServerProcess  # noqa: E402

ELLIPSE = REPO.parent / "shared" / "data" / "ellipse" / "essays.csv"


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), in MiB."""
    return status_mib(pid, "VmHWM").get("VmHWM", float("nan"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--essays", type=int, default=200, help="ELLIPSE essays to use [200]")
    parser.add_argument("--chunk-rows", type=int, default=32, help="essays per Flight batch [32]")
    parser.add_argument(
        "--feature-sets", default="handcrafted,embeddings,combined", help="comma-separated"
    )
    args = parser.parse_args()
    if not ELLIPSE.is_file():
        print(f"skipped: {ELLIPSE} is absent")
        return 0
    essays = pacsv.read_csv(
        ELLIPSE, parse_options=pacsv.ParseOptions(newlines_in_values=True)
    ).slice(0, args.essays)
    words = sum(len(t.split()) for t in essays.column("text").to_pylist())
    print(f"essays: {essays.num_rows} ({words} whitespace words)")
    with ServerProcess(startup_timeout=600) as server, tempfile.TemporaryDirectory() as tmp:
        assert server.info is not None
        print(f"server start-up RSS: {peak_rss_mib(server.info.pid):.0f} MiB")
        with FeatureClient(server.http_url, chunk_rows=args.chunk_rows) as client:
            for feature_set in args.feature_sets.split(","):
                cache = Path(tmp) / feature_set
                started = time.perf_counter()
                client.extract(essays, feature_set=feature_set, cache=cache)
                cold = time.perf_counter() - started
                started = time.perf_counter()
                _, report = client.extract_with_report(essays, feature_set=feature_set, cache=cache)
                warm = time.perf_counter() - started
                assert report is not None and report.rows_fetched == 0
                dataset = open_features(cache, report.fingerprint, feature_set)
                started = time.perf_counter()
                table = dataset.to_table()
                read = time.perf_counter() - started
                rate = essays.num_rows / cold
                print(
                    f"{feature_set:12s} cold {rate:7.2f} essays/s ({cold:6.1f} s) | "
                    f"warm rerun {warm:5.2f} s, 0 rows fetched | "
                    f"cache read {table.nbytes / read / 1e9:5.2f} GB/s "
                    f"({table.nbytes / 1e6:.1f} MB) | "
                    f"server peak RSS {peak_rss_mib(server.info.pid):.0f} MiB"
                )
            # combined over a cache that already holds both components: joined locally
            reuse = Path(tmp) / "handcrafted"
            client.extract(essays, feature_set="embeddings", cache=reuse)
            started = time.perf_counter()
            _, report = client.extract_with_report(essays, feature_set="combined", cache=reuse)
            assert report is not None
            print(
                f"combined from cached components: {time.perf_counter() - started:5.2f} s, "
                f"{report.reused_components} rows joined locally, {report.rows_fetched} fetched"
            )
            whole = ds.dataset(reuse, format="ipc", partitioning="hive")
            print(f"cache files in that cache: {len(whole.files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
