"""Benchmark (issue 10b, 10c): a 100k-row server store served by do_get and by extract.

    .venv/bin/python benchmarks/store_serve.py --rows 100000

One server process (offline default models, no LanguageTool) with a feature store. The
benchmark uploads ``--rows`` synthetic essays (do_put), then fills the store through the
store's own API (``FeatureStore.add``) with synthetic rows of each feature set
(``combined`` and ``embeddings`` by default) under the server's real fingerprint of that
set, keyed by the essays' content keys: every row is a store hit.

(b) Reads the dataset with plain ``pyarrow.flight``: get_flight_info, then every endpoint's
do_get, one reader and four in parallel, next to a bare ``pyarrow.flight.FlightServerBase``
in this process serving the same table (same record batches) in the same run. GB/s of
Arrow data received (best of three; the first read is also shown: it loads the store's
index and checks every file's checksum once).

(c) Runs ``hemma-features extract`` on the same essays (a Parquet file) into an empty cache,
as a user would: rows/s over the command's wall time, and the run report's own seconds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hemma_features import FeatureClient  # noqa: E402
from hemma_features.client.server_process import ServerProcess  # noqa: E402
from hemma_features.contract import EMBEDDING_COLUMN, ID_COLUMN, KEY_COLUMN, content_keys  # noqa: E402
from hemma_features.engine.feature_store import FeatureStore  # noqa: E402

WORDS = (
    "students learn better when they can choose how to study and teachers should give them "
    "time to practise writing every day because it helps them think clearly about ideas"
).split()


def essays(rows: int) -> pa.Table:
    rng = np.random.default_rng(7)
    texts = []
    for i in range(rows):
        picks = rng.integers(0, len(WORDS), size=int(rng.integers(120, 400)))
        texts.append(f"Essay {i}. " + " ".join(WORDS[j] for j in picks) + ".")
    return pa.table(
        {
            "essay_id": pa.array([f"e{i:06d}" for i in range(rows)], pa.string()),
            "text": pa.array(texts, pa.string()),
            "prompt": pa.array(["Distance learning"] * rows, pa.string()),
        }
    )


def fill_store(store_dir: str, schema: pa.Schema, table: pa.Table, feature_set: str) -> float:
    """Synthetic rows of ``feature_set`` for every essay, through FeatureStore.add, under
    the fingerprint of ``schema`` (the server's, from get_flight_info); seconds spent."""
    fingerprint = (schema.metadata or {})[b"hemma.fingerprint"].decode()
    keys = content_keys(table.column("text").to_pylist(), table.column("prompt").to_pylist())
    store = FeatureStore(store_dir, 10**12)
    rng = np.random.default_rng(3)
    dim = schema.field(EMBEDDING_COLUMN).type.list_size
    pool = rng.standard_normal((4096 + dim, dim), dtype=np.float32)
    started = time.perf_counter()
    for start in range(0, table.num_rows, 4096):
        count = min(4096, table.num_rows - start)
        columns: list[pa.Array] = [
            pa.array(keys[start : start + count], pa.string()),
            table.column(ID_COLUMN).slice(start, count).combine_chunks(),
        ]
        for field in schema:
            if field.name == ID_COLUMN:
                continue
            if field.name == EMBEDDING_COLUMN:
                columns.append(
                    pa.FixedSizeListArray.from_arrays(pa.array(pool[:count].ravel()), dim)
                )
            else:
                columns.append(pa.array(rng.random(count, dtype=np.float32)))
        stored_schema = pa.schema(
            [pa.field(KEY_COLUMN, pa.string()), *schema], metadata=schema.metadata
        )
        store.add(fingerprint, feature_set, pa.Table.from_arrays(columns, schema=stored_schema))
    return time.perf_counter() - started


class BareServer(fl.FlightServerBase):
    """Serves one table; ticket b"i/n" is the i-th of n equal parts."""

    def __init__(self, table: pa.Table) -> None:
        super().__init__("grpc://127.0.0.1:0")
        self.table = table

    def do_get(self, context, ticket):
        part, parts = (int(x) for x in ticket.ticket.decode().split("/"))
        step = -(-self.table.num_rows // parts)
        return fl.RecordBatchStream(self.table.slice(part * step, step))


def read_ours(
    location: str, name: str, feature_set: str, parallel: int
) -> tuple[float, int, pa.Table]:
    client = fl.connect(location)
    started = time.perf_counter()
    info = client.get_flight_info(fl.FlightDescriptor.for_path(name, feature_set))

    def read(endpoint: fl.FlightEndpoint) -> pa.Table:
        return client.do_get(endpoint.ticket).read_all()

    with ThreadPoolExecutor(parallel) as pool:
        tables = list(pool.map(read, info.endpoints))
    seconds = time.perf_counter() - started
    table = pa.concat_tables(tables)
    return seconds, table.nbytes, table


def read_bare(location: str, parallel: int) -> tuple[float, int]:
    client = fl.connect(location)
    started = time.perf_counter()

    def read(part: int) -> pa.Table:
        return client.do_get(fl.Ticket(f"{part}/{parallel}".encode())).read_all()

    with ThreadPoolExecutor(parallel) as pool:
        tables = list(pool.map(read, range(parallel)))
    return time.perf_counter() - started, sum(t.nbytes for t in tables)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--feature-set", action="append", choices=("combined", "embeddings", "handcrafted"),
        help="feature set(s) to store and read (repeat) [combined and embeddings]",
    )  # fmt: skip
    parser.add_argument(
        "--fill", action="append", choices=("combined", "embeddings", "handcrafted"),
        help="feature set(s) whose rows the store is filled with (repeat) [those read]; "
        "--fill combined --feature-set embeddings reads embeddings from a combined store",
    )  # fmt: skip
    parser.add_argument("--no-extract", action="store_true", help="skip (c)")
    args = parser.parse_args()
    feature_sets = args.feature_set or ["combined", "embeddings"]
    table = essays(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        store_dir = str(Path(tmp) / "store")
        env = {"HEMMA_STORE_DIR": store_dir, "HEMMA_MAX_ITEMS": str(max(args.rows, 4096))}
        with ServerProcess(env, startup_timeout=600) as server:
            with FeatureClient(server.http_url) as client:
                started = time.perf_counter()
                client.upload("corpus", table)
                print(f"upload of {args.rows:,} essays: {time.perf_counter() - started:.1f} s")
            flight = fl.connect(server.flight_url)
            for feature_set in args.fill or feature_sets:
                schema = flight.get_flight_info(
                    fl.FlightDescriptor.for_path("corpus", feature_set)
                ).schema
                filled = fill_store(store_dir, schema, table, feature_set)
                print(f"{feature_set} store filled through FeatureStore.add: {filled:.1f} s")

            print("\n(b) do_get of every endpoint (GB/s of Arrow data received)")
            print("Rounds alternate between the two servers, so both see the same load.")
            print("| feature set | server | readers | first read | best of 3 | rows |")
            print("|---|---|---|---|---|---|")
            for feature_set in feature_sets:
                read_both(server.flight_url, feature_set, args.rows)

            if args.no_extract:
                return 0
            print("\n(c) hemma-features extract of the stored essays into an empty cache")
            essays_path = Path(tmp) / "essays.parquet"
            pq.write_table(table, essays_path)
            for feature_set in feature_sets:
                cache = Path(tmp) / f"cache-{feature_set}"
                report = Path(tmp) / f"report-{feature_set}.json"
                command = [
                    sys.executable, "-m", "hemma_features.cli", "extract", str(essays_path),
                    "--server", server.http_url, "--cache", str(cache), "--feature-set",
                    feature_set, "--quiet", "--report", str(report),
                ]  # fmt: skip
                started = time.perf_counter()
                subprocess.run(command, check=True, cwd=REPO, timeout=1800)
                wall = time.perf_counter() - started
                body = json.loads(report.read_text())
                print(
                    f"{feature_set}: {args.rows:,} rows in {wall:.1f} s wall "
                    f"({args.rows / wall:,.0f} rows/s; the run itself {body['seconds']:.1f} s, "
                    f"{args.rows / body['seconds']:,.0f} rows/s)"
                )
    return 0


def read_both(location: str, feature_set: str, rows: int) -> None:
    """do_get of ``feature_set``, one reader and four, beside a bare server of the same
    table, rounds alternating; one table row per server and reader count."""
    first_read = read_ours(location, "corpus", feature_set, 1)
    served = first_read[2]
    assert served.num_rows == rows
    bare = BareServer(served)
    try:
        bare_location = f"grpc://127.0.0.1:{bare.port}"
        for parallel in (1, 4):
            ours, theirs = [], []
            for _ in range(3):
                ours.append(read_ours(location, "corpus", feature_set, parallel)[:2])
                theirs.append(read_bare(bare_location, parallel))
            first = first_read[1] / first_read[0] / 1e9 if parallel == 1 else None
            for label, runs in (("hemma do_get", ours), ("bare FlightServerBase", theirs)):
                best = min(runs, key=lambda r: r[0])
                shown = f"{first:.2f}" if first is not None and label.startswith("h") else ""
                print(
                    f"| {feature_set} | {label} | {parallel} | {shown} | "
                    f"{best[1] / best[0] / 1e9:.2f} | {served.num_rows:,} |",
                    flush=True,
                )
    finally:
        bare.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
