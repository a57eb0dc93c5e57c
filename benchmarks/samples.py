"""The repository's own sample essays, for benchmarks and tests that must run without
../shared: texts of mixed lengths cut from them, or the samples repeated as a corpus."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pyarrow as pa

SAMPLES = Path(__file__).resolve().parents[1] / "client" / "samples" / "essays.csv"


def sample_rows() -> list[dict[str, str]]:
    """The sample essays (``essay_id``, ``prompt``, ``text``)."""
    with SAMPLES.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def mixed_texts(count: int) -> list[str]:
    """``count`` texts of mixed lengths (1 to 12 sentences, one or two paragraphs) cut from
    the sample essays, the same on every call."""
    sentences = [
        s for row in sample_rows() for s in re.split(r"(?<=[.!?])\s+", row["text"]) if s.strip()
    ]
    texts = []
    for i in range(count):
        n = 1 + (i * 7) % 12
        picked = [sentences[(i * 5 + j) % len(sentences)] for j in range(n)]
        half = len(picked) // 2
        texts.append(" ".join(picked[:half]) + ("\n\n" if half else "") + " ".join(picked[half:]))
    return texts


def repeated_samples(count: int) -> pa.Table:
    """``count`` essays (``essay_id``, ``text``, ``prompt``): the samples again and again,
    each under its own id."""
    rows = sample_rows()
    picked = [rows[i % len(rows)] for i in range(count)]
    return pa.table(
        {
            "essay_id": [f"sample-{i}" for i in range(count)],
            "text": [row["text"] for row in picked],
            "prompt": [row["prompt"] for row in picked],
        }
    )
