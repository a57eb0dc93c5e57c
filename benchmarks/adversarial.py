"""Benchmark: parse cost of adversarial essays at the full text limit (bounded cost).

    .venv/bin/python benchmarks/adversarial.py [--chars 50000]

Times the parse step (spaCy + the feature read-outs, as one worker runs it)
for texts built to defeat a tokenizer or a depth walk, next to a real-looking essay of the
same length. Prints one line per text: characters, tokens, seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hemma_features.engine.models.spacy_model import TextAnalyzer  # noqa: E402
from hemma_features.engine.settings import DEFAULT_SPACY_MODEL  # noqa: E402


def texts(chars: int) -> dict[str, str]:
    """Adversarial texts of about ``chars`` characters, and an ordinary one."""
    sentence = "Students learn more when they can choose the topics they study. "
    return {
        "dollar signs, no space": "$" * chars,
        "emoji, no space": "\U0001f600" * chars,
        "one sentence, no full stop": " ".join(["word"] * (chars // 5)),
        "ordinary essay": (sentence * (chars // len(sentence) + 1))[:chars],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=50_000, help="characters per text")
    args = parser.parse_args()
    analyzer = TextAnalyzer.load(DEFAULT_SPACY_MODEL)
    analyzer.features(["Warm up."])
    for name, text in texts(args.chars).items():
        started = time.perf_counter()
        [row] = analyzer.features([text])
        seconds = time.perf_counter() - started
        print(f"{name:28s} {len(text):7d} chars {int(row['n_words']):6d} words {seconds:6.2f} s")


if __name__ == "__main__":
    main()
