"""Benchmark: reading a cache partition of N rows with D-dim embeddings, IPC vs Parquet.

    .venv/bin/python benchmarks/cache_read.py --rows 100000 --dim 768

Synthetic rows in the cache's own layout (written by FeatureCache); prints GB/s for a
full read with pyarrow.dataset, for a memory-mapped IPC read, and the file sizes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.ipc as ipc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hemma_features.arrowfiles.layout import partition_dir  # noqa: E402
from hemma_features.client.cache import FeatureCache  # noqa: E402


def synthetic(rows: int, dim: int, hand: int) -> pa.Table:
    rng = np.random.default_rng(0)
    flat = pa.array(rng.standard_normal(rows * dim, dtype=np.float32))
    columns = {
        "key": pa.array([f"{i:064x}" for i in range(rows)]),
        "essay_id": pa.array([f"e{i}" for i in range(rows)]),
        "embedding": pa.FixedSizeListArray.from_arrays(flat, dim),
    }
    for j in range(hand):
        columns[f"f{j}"] = pa.array(rng.standard_normal(rows, dtype=np.float32))
    return pa.table(columns)


def best_of(runs: int, read) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        read()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--handcrafted", type=int, default=48)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    table = synthetic(args.rows, args.dim, args.handcrafted)
    print(f"rows {args.rows}, dim {args.dim}, {table.nbytes / 1e9:.2f} GB in memory")
    with tempfile.TemporaryDirectory() as tmp:
        for file_format in ("ipc", "parquet"):
            root = Path(tmp) / file_format
            started = time.perf_counter()
            FeatureCache(root, file_format).write("fp", "combined", table)
            wrote = time.perf_counter() - started
            part = partition_dir(root, "fp", "combined")
            size = sum(p.stat().st_size for p in part.glob("part-*"))
            dataset = ds.dataset(part, format=file_format)
            seconds = best_of(args.runs, dataset.to_table)
            print(
                f"{file_format:8s} write {wrote:6.2f} s | file {size / 1e9:5.2f} GB | "
                f"pyarrow.dataset read {seconds:6.3f} s = {table.nbytes / seconds / 1e9:6.2f} GB/s"
            )
            if file_format == "ipc":
                [path] = part.glob("part-*.arrow")

                def mapped(path: Path = path) -> None:
                    with pa.memory_map(str(path)) as source:
                        ipc.open_file(source).read_all()

                seconds = best_of(args.runs, mapped)
                print(
                    f"ipc mmap read_all {seconds:6.3f} s = "
                    f"{table.nbytes / seconds / 1e9:6.2f} GB/s (zero-copy)"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
