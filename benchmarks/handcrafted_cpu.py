"""Benchmark: CPU-seconds per essay of the handcrafted features (parse + values), in-process.

    .venv/bin/python benchmarks/handcrafted_cpu.py --essays 300 --rounds 3

Parses ELLIPSE essays with the server's own ``TextAnalyzer`` (one process, no workers,
so process time is the whole cost) and prints CPU-s per essay for the parse and for the
feature values, per round and the median. To compare two versions of the code, run it
from each checkout in turn (``PYTHONPATH=<other checkout>/src`` picks that one's package),
alternating rounds so a busy machine weighs on both alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ellipse import read_ellipse  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--essays", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    table = read_ellipse(args.essays)
    if table is None:
        return 0
    import hemma_features

    try:
        from hemma_features.engine.features.api import doc_features
        from hemma_features.engine.models.spacy_model import TextAnalyzer
    except ImportError:  # a checkout from before issue 35's rooms
        from hemma_features.engine.features.nlp import (  # type: ignore[no-redef,attr-defined]
            TextAnalyzer,
            doc_features,
        )
    from hemma_features.engine.settings import DEFAULT_SPACY_MODEL

    texts = table.column("text").to_pylist()
    analyzer = TextAnalyzer.load(DEFAULT_SPACY_MODEL)
    analyzer.features(texts[:5])  # warm-up
    parse, values = [], []
    for _ in range(args.rounds):
        started = time.process_time()
        docs = analyzer.parse(texts)
        parsed = time.process_time()
        for doc in docs:
            doc_features(doc)
        parse.append((parsed - started) / len(texts))
        values.append((time.process_time() - parsed) / len(texts))
    print(f"code: {Path(hemma_features.__file__).parent}; essays: {len(texts)}")
    for name, series in (("parse", parse), ("values", values)):
        rounds = " ".join(f"{x:.4f}" for x in series)
        print(f"{name}: {rounds} CPU-s/essay (median {statistics.median(series):.4f})")
    total = statistics.median(p + v for p, v in zip(parse, values, strict=True))
    print(f"total: median {total:.4f} CPU-s/essay")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
