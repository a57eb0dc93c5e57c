"""Readability formulas computed from the service's own counts.

Words are the word tokens every other feature counts (a letter or digit in the text), so
runs of spaces and paragraph breaks, which spaCy keeps as whitespace tokens, change no
value (TextDescriptives counted them as words: 285-grade Coleman-Liau on essays with runs
of spaces). Sentences are the sentences with at least one word. Syllables come from pyphen's
``en_US`` hyphenation, as TextDescriptives counted them: hyphenation points + 1, at least 1.

Every formula is defined for any text with a word: SMOG uses its sentence-normalised form
(McLaughlin's 30-sentence sample scaled, ``30 / sentences``) for any number of sentences
instead of leaving fewer than three undefined. A text without words (punctuation only) has
no readability: every value is 0 there, as the catalogue says.

Run-on text: learners often write a paragraph, or a whole essay, as one sentence (a
spaCy sentence of 500 words, a Flesch-Kincaid grade of 198). For the formulas, the
sentence-length values and every count per sentence (nlp.py, complexity.py, which splits
T-units the same way) a counted sentence of more than MAX_SENTENCE_WORDS words is taken as
ceil(n / MAX_SENTENCE_WORDS) sentences of near-equal length (``formula_sentences``), so no
value is absurd; ``run_on_sentence_ratio`` keeps the signal that the split removes.

The grades are the formulas' values, never clipped: the split bounds their sentence term
(at 40 words a sentence, 16 of Gunning fog and 20 of ARI before its constant), not their
word terms, so long sentences of long words still pass 16 (19.5 at most on the 2,000
ELLIPSE essays, docs/features.md); a clip would tie the hardest essays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

from hemma_features.engine.features._specs import NO_WORDS
from hemma_features.engine.features.document import Document
from hemma_features.engine.features.registry import REGISTRY
from hemma_features.engine.features.stats import ratio

NAMES = (
    "flesch_reading_ease",
    "flesch_kincaid_grade",
    "smog",
    "gunning_fog",
    "automated_readability_index",
    "coleman_liau_index",
    "lix",
    "rix",
)
LONG_WORD_CHARS = 6
"""LIX and RIX count words longer than this."""
POLYSYLLABLE = 3
"""SMOG and Gunning fog count words with at least this many syllables."""


@lru_cache(maxsize=1)
def _hyphenator():  # type: ignore[no-untyped-def]
    import pyphen

    return pyphen.Pyphen(lang="en_US")


@lru_cache(maxsize=100_000)
def syllables(word: str) -> int:
    """Syllables of one word: pyphen en_US hyphenation points + 1 (at least 1)."""
    return max(1, _hyphenator().inserted(word.lower()).count("-") + 1)


def readability(words: Sequence[str], sentences: int) -> dict[str, float]:
    """The eight readability values of a text from its word texts and sentence count."""
    n = len(words)
    if n == 0 or sentences == 0:
        return dict.fromkeys(NAMES, 0.0)
    counts = [syllables(word) for word in words]
    per_sentence = n / sentences
    per_word = sum(counts) / n
    poly = sum(1 for c in counts if c >= POLYSYLLABLE)
    chars = sum(len(word) for word in words) / n
    long_words = sum(1 for word in words if len(word) > LONG_WORD_CHARS)
    return {
        "flesch_reading_ease": 206.835 - 1.015 * per_sentence - 84.6 * per_word,
        "flesch_kincaid_grade": 0.39 * per_sentence + 11.8 * per_word - 15.59,
        "smog": 1.043 * math.sqrt(poly * 30.0 / sentences) + 3.1291,
        "gunning_fog": 0.4 * (per_sentence + 100.0 * poly / n),
        "automated_readability_index": 4.71 * chars + 0.5 * per_sentence - 21.43,
        "coleman_liau_index": 0.0588 * chars * 100.0 - 0.296 * sentences / n * 100.0 - 15.8,
        "lix": per_sentence + 100.0 * long_words / n,
        "rix": long_words / sentences,
    }


def syllables_per_word(words: Sequence[str]) -> float:
    """Mean syllables per word; 0 without words."""
    return ratio(sum(syllables(word) for word in words), len(words))


# -- registrations ------------------------------------------------------------------------

_COUNTS = (
    "; W words, S sentences with a word (a run-on of n > 40 words counts as ceil(n / 40) "
    "sentences), Y pyphen en_US syllables, C characters of the "
    "words, P words of 3+ syllables, L words of 7+ characters (whitespace and punctuation "
    "never count)"
)


@REGISTRY.family("readability")
def readability_family(doc: Document) -> dict[str, float]:
    """The eight formulas of the document's words and counted sentences (run-ons split)."""
    return readability(doc.word_texts, doc.n_segments)


def _formula(name: str, formula: str, unit: str, low: float | None = None) -> None:
    """Register one formula; ``low``: its least value where the formula bounds it (a sum
    of non-negative terms), else unbounded."""
    REGISTRY.value(
        name,
        family="readability",
        tier=1,
        group="readability",
        definition=formula + _COUNTS,
        unit=unit,
        source="pyphen",
        undefined=NO_WORDS,
        range=(low, None),
        version=3,
        reference="the syllable-free formulas checked against TextDescriptives' readability "
        "(tests/engine/features/test_nlp.py)",
    )


_formula("flesch_reading_ease", "Flesch reading ease: 206.835 - 1.015 W/S - 84.6 Y/W", "score")
_formula("flesch_kincaid_grade", "Flesch-Kincaid grade: 0.39 W/S + 11.8 Y/W - 15.59", "grade")
_formula(
    "smog",
    "SMOG grade, sentence-normalised for any number of sentences: 1.043 sqrt(30 P/S) + 3.1291",
    "grade",
    0.0,
)
_formula("gunning_fog", "Gunning fog index: 0.4 (W/S + 100 P/W)", "grade", 0.0)
_formula(
    "automated_readability_index",
    "automated readability index: 4.71 C/W + 0.5 W/S - 21.43",
    "grade",
)
_formula("coleman_liau_index", "Coleman-Liau index: 5.88 C/W - 29.6 S/W - 15.8", "grade")
_formula("lix", "LIX: W/S + 100 L/W", "score", 0.0)
_formula("rix", "RIX: L/S", "score", 0.0)
