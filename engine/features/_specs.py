"""The shared wording and undefined cases of feature registrations."""

from __future__ import annotations

from hemma_features.contract import Undefined

__all__ = [
    "NO_PARAGRAPHS",
    "NO_SENTENCES",
    "NO_WORDS",
    "RUN_ON",
    "WORD",
    "unmeasured",
]

WORD = (
    "a spaCy token whose text contains at least one letter or digit (punctuation and "
    "whitespace tokens are not words), except a contraction part glued to the word before it "
    "('nt' of 'dont', 'n't' of 'don't', ''s', ''re', ''ll'...: one word, not two)"
)
RUN_ON = "a run-on of n > 40 words counting as ceil(n / 40) sentences (as in sentence_length_mean)"
"""The run-on policy of document.formula_sentences, for the per-sentence rates."""

NO_WORDS = Undefined(case="for a text without words", column="n_words")
NO_SENTENCES = Undefined(
    case="for a text without a counted sentence (a spaCy sentence with a word)",
    column="n_sentences",
)
NO_PARAGRAPHS = Undefined(case="for a text without a paragraph", column="n_paragraphs")


def unmeasured(case: str, column: str = "n_words", below: float = 1.0) -> Undefined:
    """A case no column records: ``column < below`` implies it, but it also arises in texts
    whose counted units (content words, clauses, pairs) are all missing."""
    return Undefined(case=case, column=column, below=below, exact=False)
