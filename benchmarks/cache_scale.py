"""Benchmark (issue 10a): cache write then read at 10k, 100k and 1M rows.

    .venv/bin/python benchmarks/cache_scale.py --sizes 10000,100000,1000000

Synthetic rows shaped like combined features (key, essay_id, a 384-d float32 embedding,
50 float32 columns) go through the client's own write path: a ``WriteSession`` (segments
of 64 MiB committed at least every 5 s, tiered compaction) fed 256 rows at a time, as
answered batches arrive. Then every row is read back by key through the key index (what
``extract`` does at the end of a run) and scanned whole with ``open_features`` (what
training does). Prints seconds, microseconds per row and files per size: the per-row
times should stay flat as the cache grows.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hemma_features import open_features  # noqa: E402
from hemma_features.arrowfiles.layout import part_files, partition_dir  # noqa: E402
from hemma_features.arrowfiles.segments import write_session  # noqa: E402
from hemma_features.client.cache import FeatureCache  # noqa: E402

DIM = 384
HANDCRAFTED = 50
BATCH = 256
FINGERPRINT = "0" * 64


def synthetic_batches(rows: int, seed: int = 0):
    """Batches of ``BATCH`` rows with unique sha256 keys; values cycle through a pool."""
    rng = np.random.default_rng(seed)
    pool = rng.standard_normal((4096, DIM), dtype=np.float32)
    hand = rng.standard_normal((4096, HANDCRAFTED), dtype=np.float32)
    for start in range(0, rows, BATCH):
        count = min(BATCH, rows - start)
        at = start % (4096 - BATCH)
        keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(start, start + count)]
        columns = {
            "key": pa.array(keys, pa.string()),
            "essay_id": pa.array([f"e{i}" for i in range(start, start + count)], pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(
                pa.array(pool[at : at + count].ravel()), DIM
            ),
        }
        for j in range(HANDCRAFTED):
            columns[f"f{j:02d}"] = pa.array(hand[at : at + count, j])
        yield keys, pa.table(columns)


def run(rows: int, root: Path) -> dict[str, float]:
    cache = FeatureCache(root)
    all_keys: list[str] = []
    spent = 0.0
    with write_session(cache) as session:
        for keys, table in synthetic_batches(rows):
            all_keys.extend(keys)
            started = time.perf_counter()
            session.add(FINGERPRINT, "combined", table)
            spent += time.perf_counter() - started
        started = time.perf_counter()
    spent += time.perf_counter() - started  # the final commit
    files = part_files(partition_dir(root, FINGERPRINT, "combined"), "ipc")
    size = sum(f.stat().st_size for f in files)
    started = time.perf_counter()
    fresh = FeatureCache(root)  # a new process's view: checksums and index loaded once
    found = fresh.read(FINGERPRINT, "combined", pa.array(all_keys, pa.string()))
    by_key = time.perf_counter() - started
    assert found is not None and found.num_rows == rows
    started = time.perf_counter()
    scanned = open_features(root, FINGERPRINT, "combined").to_table()
    scan = time.perf_counter() - started
    assert scanned.num_rows == rows
    return {
        "rows": rows,
        "write_s": spent,
        "write_us_per_row": spent / rows * 1e6,
        "read_by_key_s": by_key,
        "read_by_key_us_per_row": by_key / rows * 1e6,
        "scan_s": scan,
        "scan_us_per_row": scan / rows * 1e6,
        "files": len(files),
        "gib": size / 1024**3,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    args = parser.parse_args()
    print(
        "| rows | write s | write us/row | read by key s | us/row | scan s | us/row | files | GiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for rows in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            r = run(rows, Path(tmp) / "cache")
        print(
            f"| {rows:,} | {r['write_s']:.1f} | {r['write_us_per_row']:.1f} | "
            f"{r['read_by_key_s']:.2f} | {r['read_by_key_us_per_row']:.1f} | {r['scan_s']:.2f} | "
            f"{r['scan_us_per_row']:.1f} | {r['files']} | {r['gib']:.2f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
