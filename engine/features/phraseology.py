"""Phraseology: how conventional the essay's word pairs are, against a reference list of
English bigrams (TAALES-style n-gram frequency and association; Kyle & Crossley 2015,
Bestgen & Granger 2014 on collocation strength in learner writing).

The reference is what symspellpy ships: ``frequency_bigramdictionary_en_243_342.txt``
(lower-case word pairs of Google Books Ngram, each seen at least 6.4 million times; the
file holds 242,342 lines, not the 243,342 of its name) and
``frequency_dictionary_en_82_765.txt`` (82,834 words with their counts, as read). The two
lists come from different extractions (the pair counts sum to 1.24e13, the word counts to
5.4e11), so each probability is taken against its own list's total: PMI = log2(P(ab) /
(P(a) P(b))) with P(ab) = c(ab) / total pairs and P(a) = c(a) / total words. That shifts
every PMI by the same constant, which leaves rankings, correlations and models unchanged;
the threshold below is on this scale.

A pair is two adjacent tokens of one counted sentence, both letters-only (``str.isalpha``),
lower-cased; whitespace tokens are skipped, any other token (punctuation, a number, the
"n't" of "don't", a Generic_Name placeholder) breaks the run. Pure functions of the
pairs; tested on pairs whose values are worked out by hand.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

import msgspec

from hemma_features.contract import Undefined
from hemma_features.engine.features._specs import unmeasured
from hemma_features.engine.features._view import DocView
from hemma_features.engine.features.registry import REGISTRY
from hemma_features.engine.features.stats import mean_std, ratio

if TYPE_CHECKING:
    from hemma_features.engine.features.document import Document

BIGRAM_LIST = "frequency_bigramdictionary_en_243_342.txt"
WORD_LIST = "frequency_dictionary_en_82_765.txt"
STRONG_PMI = 3.0
"""PMI at or above which an attested pair counts as a strong collocation (the usual cut
since Church & Hanks 1990)."""
NAMES = (
    "bigram_coverage",
    "known_word_bigram_coverage",
    "bigram_pmi_mean",
    "bigram_pmi_std",
    "strong_collocation_ratio",
    "bigram_log_frequency_mean",
)


class Reference(msgspec.Struct, frozen=True):
    """Counts of the reference pairs (``"a b"``) and words, with the lists' totals."""

    pairs: dict[str, int]
    words: dict[str, int]
    pair_total: int
    word_total: int


def _read_counts(name: str) -> dict[str, int]:
    """``key -> count`` from a symspellpy list: lines of space-separated terms, count last."""
    counts: dict[str, int] = {}
    text = (resources.files("symspellpy") / name).read_text(encoding="utf-8")
    for line in text.splitlines():
        key, _, count = line.rpartition(" ")
        if key:
            counts[key] = int(count)
    return counts


@lru_cache(maxsize=1)
def reference() -> Reference:
    """The shipped reference lists, read once per process."""
    pairs, words = _read_counts(BIGRAM_LIST), _read_counts(WORD_LIST)
    return Reference(pairs, words, sum(pairs.values()), sum(words.values()))


def sentence_pairs(view: DocView, sentences: Iterable[tuple[int, int]]) -> list[tuple[str, str]]:
    """Adjacent letters-only lower-cased token pairs within each sentence ((start, end)
    token offsets into ``view``), in text order."""
    pairs: list[tuple[str, str]] = []
    for start, end in sentences:
        previous: str | None = None
        for i in range(start, end):
            if view.space[i]:
                continue
            current = view.lower[i] if view.text[i].isalpha() else None
            if previous is not None and current is not None:
                pairs.append((previous, current))
            previous = current
    return pairs


def pmi(first: str, second: str, count: int, ref: Reference) -> float | None:
    """PMI of an attested pair (scale in the module docstring); None when a word of it is
    missing from the word list."""
    a, b = ref.words.get(first), ref.words.get(second)
    if not a or not b:
        return None
    joint = count / ref.pair_total
    return math.log2(joint / ((a / ref.word_total) * (b / ref.word_total)))


def phraseology_features(
    pairs: Sequence[tuple[str, str]], ref: Reference | None = None
) -> dict[str, float]:
    """The six values of ``NAMES`` for the essay's pairs; each is 0 when what it averages
    over is empty (no pair, no pair of listed words, no attested pair)."""
    if not pairs:  # every value undefined: 0, and the reference need not be loaded
        return dict.fromkeys(NAMES, 0.0)
    ref = ref or reference()
    attested: list[int] = []
    pmis: list[float] = []
    known = known_attested = 0
    for first, second in pairs:
        count = ref.pairs.get(f"{first} {second}")
        if first in ref.words and second in ref.words:
            known += 1
            known_attested += count is not None
        if count is None:
            continue
        attested.append(count)
        value = pmi(first, second, count, ref)
        if value is not None:
            pmis.append(value)
    pmi_mean, pmi_std = mean_std(pmis, exact=True)
    return {
        "bigram_coverage": ratio(len(attested), len(pairs)),
        "known_word_bigram_coverage": ratio(known_attested, known),
        "bigram_pmi_mean": pmi_mean,
        "bigram_pmi_std": pmi_std,
        "strong_collocation_ratio": ratio(sum(1 for v in pmis if v >= STRONG_PMI), len(pmis)),
        "bigram_log_frequency_mean": ratio(
            math.fsum(math.log10(c) for c in attested), len(attested)
        ),
    }


# -- registrations ------------------------------------------------------------------------

_PAIR = (
    "a pair is two adjacent tokens of one counted sentence, both letters-only, lower-cased "
    '(whitespace tokens skipped; punctuation, numbers, the "n\'t" of "don\'t" and '
    "placeholders break the run); the reference is symspellpy's list of 242,342 frequent "
    "frequent English word pairs of Google Books Ngram (frequency_bigramdictionary_en_243_342)"
)
_PMI = (
    "PMI = log2(P(ab) / (P(a) P(b))), P(ab) the pair's count over the pair list's total, "
    "P(a) and P(b) the words' counts over the total of symspellpy's word list "
    "(frequency_dictionary_en_82_765); pairs whose words the word list lacks are left out"
)
NO_PAIR = unmeasured("for a text without a pair", below=2)
NO_ATTESTED_PAIR = unmeasured(
    "for a text without an attested pair, one the reference holds", below=2
)


@REGISTRY.family("phraseology")
def phraseology_family(doc: Document) -> dict[str, float]:
    """The six values of the document's word pairs."""
    return phraseology_features(sentence_pairs(doc.view, doc.sentences))


def _phraseology(
    name: str,
    definition: str,
    unit: str,
    undefined: Undefined = NO_ATTESTED_PAIR,
    low: float | None = None,
) -> None:
    REGISTRY.value(
        name,
        family="phraseology",
        tier=1,
        group="phraseology",
        definition=f"{definition}; {_PAIR}",
        unit=unit,
        source="symspellpy",
        undefined=undefined,
        range=(low, None) if low is not None else None,
    )


_phraseology(
    "bigram_coverage", "share of the essay's pairs found in the reference", "ratio", NO_PAIR
)
_phraseology(
    "known_word_bigram_coverage",
    "share of the pairs whose two words are both in the word list that the reference "
    "holds (listed words combined in an unlisted way: odd collocations, agreement errors)",
    "ratio",
    unmeasured("for a text without a pair of two listed words", below=2),
)
_phraseology("bigram_pmi_mean", f"mean PMI of the attested pairs; {_PMI}", "bits")
_phraseology(
    "bigram_pmi_std", f"population std of the attested pairs' PMI; {_PMI}", "bits", low=0.0
)
_phraseology(
    "strong_collocation_ratio",
    f"share of the attested pairs with PMI >= 3 (Church & Hanks 1990); {_PMI}",
    "ratio",
)
_phraseology(
    "bigram_log_frequency_mean",
    "mean log10 of the reference count of the attested pairs (lower: rarer, more specific "
    "combinations)",
    "log10 count",
)
