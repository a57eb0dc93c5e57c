"""Benchmark: precision and recall of the spelling rule on the hand-labelled ELLIPSE words.

    .venv/bin/python benchmarks/spelling_rule.py

``benchmarks/data/spelling_labels.tsv`` lists, for 50 ELLIPSE essays drawn at random
(seed 22), every word the rule flags (flagged=1) and every letters-only word outside the
dictionary that the exclusions let through (flagged=0: capitalised mid-sentence words,
all-capital words), each labelled by hand: misspelled=1 for a non-word or a word form
that is no English word as written ("u", "dont", "childs", "ASAY"), 0 for a right word
(names, brands, "homeschooled"). Real-word errors ("there" for "their") are out of reach
of a dictionary and not labelled.

Parses those essays with the server's own analyzer and prints, for the rule as it is now:
precision over flagged words, recall over the labelled misspellings, and the flags or
exclusions the labels do not cover (a rule or dictionary change to label). Also prints
what each dictionary alone would give on the labelled words.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ellipse import read_ellipse  # noqa: E402
from hemma_features.engine.features import spelling  # noqa: E402
from hemma_features.engine.features._view import doc_view  # noqa: E402
from hemma_features.engine.features.document import paragraph_spans  # noqa: E402
from hemma_features.engine.models.spacy_model import TextAnalyzer  # noqa: E402
from hemma_features.engine.settings import DEFAULT_SPACY_MODEL  # noqa: E402

LABELS = REPO / "benchmarks" / "data" / "spelling_labels.tsv"


def main() -> int:
    essays = read_ellipse(10_000)
    if essays is None:
        return 0
    with LABELS.open(encoding="utf-8") as handle:
        labels = list(csv.DictReader(handle, delimiter="\t"))
    by_id = dict(
        zip(essays.column("essay_id").to_pylist(), essays.column("text").to_pylist(), strict=True)
    )
    ids = list(dict.fromkeys(row["essay_id"] for row in labels))
    analyzer = TextAnalyzer.load(DEFAULT_SPACY_MODEL)
    words = spelling.dictionary()
    flagged: set[tuple[str, int]] = set()
    outside: set[tuple[str, int]] = set()
    for essay_id, doc in zip(ids, analyzer.parse([by_id[i] for i in ids]), strict=True):
        tokens = doc_view(doc)
        paragraphs = frozenset(s for s, _ in paragraph_spans(doc.text))
        starts = spelling.sentence_starts(tokens, paragraphs)
        for first, last, text in spelling.surface_words(tokens):
            key = (essay_id, tokens.idx[first])
            if spelling.is_misspelled(tokens, first, last, text, first in starts, words):
                flagged.add(key)
            elif text.isalpha() and text.lower() not in words:
                outside.add(key)
    truth = {(row["essay_id"], int(row["offset"])): row["misspelled"] == "1" for row in labels}
    true_flags = sum(1 for key in flagged if truth.get(key))
    labelled_flags = sum(1 for key in flagged if key in truth)
    errors = sum(1 for wrong in truth.values() if wrong)
    print(f"essays: {len(ids)}, labelled words: {len(truth)}, misspelled: {errors}")
    print(f"flagged: {len(flagged)} ({labelled_flags} labelled)")
    print(f"precision: {true_flags / max(labelled_flags, 1):.3f}")
    print(f"recall (of labelled misspellings): {true_flags / max(errors, 1):.3f}")
    unlabelled = sorted((flagged | outside) - truth.keys())
    print(f"flags or exclusions without a label: {len(unlabelled)} {unlabelled[:10]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
