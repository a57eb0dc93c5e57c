"""Benchmark (issue 24): ``hemma-features report`` over a synthetic 100k-essay cache.

    .venv/bin/python benchmarks/report_scale.py --rows 100000

Builds a combined cache in the real layout through the client's own writer (a
``WriteSession`` fed 1024 rows at a time, as answered batches arrive): ``key``,
``essay_id``, a 384-d float32 embedding and the 52 catalogue features (LanguageTool off),
with the schema metadata a server sends and the ``_fingerprint.json`` record an extract
keeps; plus a labels CSV of two scores that follow some features. Then it runs the report
with the labels in a fresh process and prints its seconds and peak RSS (the report
process's ``ru_maxrss``), and the HTML size. The synthetic values have each unit's range
(ratios in [0, 1], counts whole and non-negative) and a few planted faults (a constant
column, a column of heavy outliers) so every part of the report has something to show.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hemma_features import open_features  # noqa: E402
from hemma_features.arrowfiles.segments import write_session  # noqa: E402
from hemma_features.client.cache import FeatureCache  # noqa: E402
from hemma_features.client.fingerprint_record import write_records  # noqa: E402
from hemma_features.contract import FingerprintInfo, output_schema, specs_for  # noqa: E402
from hemma_features.engine.features.catalogue import (  # noqa: E402
    SCHEMA_VERSION,
    catalogue,
    feature_versions,
)

BATCH = 1024
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def fingerprint_info(seed: int = 0) -> FingerprintInfo:
    """A fingerprint answer shaped like the server's (components made up, but complete)."""
    specs = catalogue(languagetool=False)
    components = {
        "schema_version": SCHEMA_VERSION,
        "features": [s.name for s in specs],
        "feature_versions": feature_versions(specs),
        "embedding": {"model_id": MODEL, "dim": 384, "max_length": 256, "pooling": "mean",
                      "backend": "onnxruntime", "precision": "float32", "device": "cpu",
                      "weights_sha256": hashlib.sha256(b"synthetic").hexdigest()},
        "spacy_model": {"name": "en_core_web_sm", "version": "3.8.0"},
        "languagetool": {"enabled": False},
        "libraries": {"spacy": "3.8.7", "numpy": np.__version__, "pyarrow": pa.__version__},
    }  # fmt: skip
    digest = hashlib.sha256(f"synthetic-{seed}".encode()).hexdigest()
    return FingerprintInfo(
        fingerprint=digest,
        schema_version=SCHEMA_VERSION,
        components=components,
        feature_sets={"combined": digest},
    )


def _values(
    name: str, unit: str, rng: np.random.Generator, n: int, words: np.ndarray
) -> np.ndarray:
    if name == "n_words":
        return words
    if name == "embedded_paragraphs":
        return rng.integers(1, 6, n).astype(np.float32)
    if name == "pos_propn":  # planted: constant
        return np.zeros(n, np.float32)
    if name == "rix":  # planted: heavy outliers
        out = rng.gamma(2.0, 1.0, n)
        out[rng.random(n) < 0.03] *= 40
        return out.astype(np.float32)
    if unit == "ratio":
        return rng.beta(2, 8, n).astype(np.float32)
    if unit == "cosine":
        return np.clip(rng.normal(0.6, 0.15, n), -1, 1).astype(np.float32)
    if unit in ("sentences", "paragraphs", "characters", "edges"):
        return (words / rng.uniform(5, 25, n)).round().astype(np.float32)
    return (rng.normal(5, 2, n) + words / 100).astype(np.float32)


def synthetic_cache(root: Path, rows: int, *, dim: int = 384, seed: int = 0) -> FingerprintInfo:
    """Write ``rows`` synthetic combined rows under ``root``; returns the fingerprint answer
    recorded beside them (its ``fingerprint`` is the partition's)."""
    info = fingerprint_info(seed)
    specs = specs_for("combined", catalogue(languagetool=False))
    schema = output_schema(
        feature_set="combined", embedding_dim=dim, catalogue=specs,
        fingerprint=info.fingerprint, schema_version=SCHEMA_VERSION, embedding_model=MODEL,
    )  # fmt: skip
    schema = pa.schema([pa.field("key", pa.string(), nullable=False), *schema], schema.metadata)
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((2, dim)).astype(np.float32)
    with write_session(FeatureCache(root)) as session:
        for start in range(0, rows, BATCH):
            n = min(BATCH, rows - start)
            ids = [f"e{i:07d}" for i in range(start, start + n)]
            words = rng.gamma(4.0, 100.0, n).round().clip(1).astype(np.float32)
            mix = rng.standard_normal((n, 2)).astype(np.float32)
            mix[:, 0] += (words - 400) / 200
            vectors = mix @ directions + 0.5 * rng.standard_normal((n, dim), dtype=np.float32)
            columns: dict[str, pa.Array] = {
                "key": pa.array([hashlib.sha256(i.encode()).hexdigest() for i in ids]),
                "essay_id": pa.array(ids),
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim),
            }
            for spec in specs:
                columns[spec.name] = pa.array(_values(spec.name, spec.unit, rng, n, words))
            session.add(info.fingerprint, "combined", pa.table(columns, schema=schema))
    write_records(root, info)
    return info


def synthetic_labels(
    path: Path, root: Path, info: FingerprintInfo, *, seed: int = 0, every: int = 1
) -> Path:
    """A labels CSV (essay_id, holistic, language) for every ``every``-th cached essay:
    ``holistic`` rises with the essay's length, ``language`` is noise; half points, 1 to 5."""
    table = open_features(root, info.fingerprint, "combined").to_table(
        columns=["essay_id", "n_words"]
    )
    words = table.column("n_words").to_numpy().astype(np.float64)
    noise = np.random.default_rng(seed + 1).normal(0, 0.6, (2, len(words)))
    holistic = np.clip(np.round((2 + words / 250 + noise[0]) * 2) / 2, 1, 5)
    language = np.clip(np.round((3 + noise[1]) * 2) / 2, 1, 5)
    pacsv.write_csv(
        pa.table(
            {
                "essay_id": table.column("essay_id").to_numpy(zero_copy_only=False)[::every],
                "holistic": holistic[::every],
                "language": language[::every],
            }
        ),
        path,
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=None, help="[a temporary directory]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hemma-report-") as tmp:
        root = (args.dir or Path(tmp)) / "cache"
        started = time.perf_counter()
        info = synthetic_cache(root, args.rows)
        labels = synthetic_labels(root.parent / "labels.csv", root, info)
        built = time.perf_counter() - started
        out = root.parent / "report.html"
        started = time.perf_counter()
        # A fresh process, as from the CLI: its peak RSS is the report's alone.
        child = subprocess.run(
            [sys.executable, "-c",
             "import resource, sys; from hemma_features.cli import main; "
             "code = main(sys.argv[1:]); "
             "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
             "sys.exit(code)",
             "report", str(root), "--labels", str(labels), "--out", str(out)],
            capture_output=True, text=True, check=True, timeout=600,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        peak_mb = int(child.stderr.strip().splitlines()[-1]) / 1024
        size = sum(f.stat().st_size for f in root.rglob("part-*"))
        print(
            f"rows {args.rows}: cache built in {built:.1f}s ({size / 1e6:.0f} MB); report "
            f"{seconds:.1f}s wall (process start included), peak RSS {peak_mb:.0f} MB, "
            f"HTML {out.stat().st_size / 1e3:.0f} kB"
        )


if __name__ == "__main__":
    main()
