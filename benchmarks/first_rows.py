"""Benchmark (issue 10d): how soon the first rows of a large combined request arrive.

    .venv/bin/python benchmarks/first_rows.py --essays 2000

A fresh server process (offline default models, no store, no LanguageTool). First one
request of ``micro_batch_rows`` essays alone: the time to compute one micro-batch, the
floor for any first answer. Then one ``combined`` request of ``--essays`` ELLIPSE essays
(synthetic essays when ../shared is absent) through ``FeatureClient.stream``: seconds
from the call to the first answered rows, to the tenth answer, and the rows per answer;
the stream is then closed (the server stops within a micro-batch).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.extract import ELLIPSE  # noqa: E402
from benchmarks.store_serve import essays as synthetic  # noqa: E402
from hemma_features import FeatureClient  # noqa: E402
from hemma_features.client.server_process import ServerProcess  # noqa: E402


def corpus(rows: int) -> pa.Table:
    if not ELLIPSE.is_file():
        return synthetic(rows)
    table = pacsv.read_csv(ELLIPSE, parse_options=pacsv.ParseOptions(newlines_in_values=True))
    table = table.select(["essay_id", "text", "prompt"]).slice(0, rows)
    return pa.table({name: table.column(name).cast(pa.string()) for name in table.column_names})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--essays", type=int, default=2000)
    parser.add_argument("--answers", type=int, default=10, help="answers to wait for [10]")
    args = parser.parse_args()
    table = corpus(args.essays)
    source = "ELLIPSE" if ELLIPSE.is_file() else "synthetic"
    with (
        ServerProcess(
            {"HEMMA_MAX_ITEMS": str(max(args.essays, 4096))}, startup_timeout=600
        ) as server,
        FeatureClient(server.http_url) as client,
    ):
        micro = client.config().runtime.micro_batch_rows
        started = time.perf_counter()
        list(client.stream(table.slice(args.essays - micro, micro), "combined"))
        one_micro = time.perf_counter() - started
        print(f"one micro-batch of {micro} {source} essays alone: {one_micro:.1f} s")
        started = time.perf_counter()
        stream = client.stream(table, "combined")
        arrivals = []
        for batch in stream:
            arrivals.append((time.perf_counter() - started, batch.num_rows))
            if len(arrivals) >= args.answers:
                break
        stream.close()
    print(f"combined request of {args.essays:,} {source} essays:")
    print(f"  first rows after {arrivals[0][0]:.1f} s ({arrivals[0][1]} rows)")
    print(f"  answer {len(arrivals)} after {arrivals[-1][0]:.1f} s")
    print(f"  rows per answer: {[rows for _, rows in arrivals]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
