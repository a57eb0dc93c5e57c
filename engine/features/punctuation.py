"""Punctuation spacing, comma use and informal spellings: three mechanics counts and a
register count on the essay's text, without LanguageTool.

The spacing rules are the offline counterparts of LanguageTool's whitespace rules
(COMMA_PARENTHESIS_WHITESPACE: "word ," and "word,word"); they read the raw text, so they
see what the writer typed, not what the tokenizer made of it. Their exclusions (decimals,
ellipses, abbreviations, domain names) and where they still fail are in docs/features.md.
Pure functions; the definitions the catalogue gives are the ones coded here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from hemma_features.engine.features._view import DocView
from hemma_features.engine.features.registry import REGISTRY
from hemma_features.engine.features.spelling import (
    PER_100_WORDS,
    SURFACE_WORD,
    offline_error,
    surface_words,
)
from hemma_features.engine.features.stats import per_100

if TYPE_CHECKING:
    from hemma_features.engine.features.document import Document

SPACE_BEFORE = re.compile(r"[A-Za-z0-9][ \t]+[,.;:!?](?![.\d])")
"""A letter or digit, spaces or tabs, then , . ; : ! or ? that does not open a number
(" .5") or an ellipsis (" ...")."""
MISSING_SPACE_AFTER = re.compile(r"[a-z]{2}(?:[,;!?](?=[A-Za-z])|\.(?=[A-Z][a-z]))")
"""Two lower-case letters, then , ; ! or ? glued to a letter ("school,and"), or a full stop
glued to a capitalised word ("school.The"); "e.g.", "U.S.", "3,000", "google.com" and
"Mr.Smith" do not match (fewer than two lower-case letters before, or a lower-case
letter after the full stop)."""
INFORMAL = frozenset({
    "alot", "gonna", "wanna", "gotta", "kinda", "sorta", "cuz", "coz", "bc", "lol", "ok",
    "okay", "ur", "ya", "yeah", "yea", "dunno", "gimme", "lemme", "tho", "thru", "nope", "yep",
})  # fmt: skip
"""Spoken or texting spellings out of register in an essay (lower-cased surface words)."""


def punctuation_features(tokens: DocView, text: str, n_words: int) -> dict[str, float]:
    """Spacing errors around punctuation, commas and informal words, each per 100 words.

    Args:
        tokens: The Doc's ``DocView``.
        text: The Doc's text.
        n_words: Counted words (the denominator of every ``per_100_words`` feature).
    """
    informal = sum(1 for _, _, word in surface_words(tokens) if word.lower() in INFORMAL)
    return {
        "space_before_punctuation_per_100_words": per_100(len(SPACE_BEFORE.findall(text)), n_words),
        "missing_space_after_punctuation_per_100_words": per_100(
            len(MISSING_SPACE_AFTER.findall(text)), n_words
        ),
        "commas_per_100_words": per_100(tokens.text.count(","), n_words),
        "informal_words_per_100_words": per_100(informal, n_words),
    }


# -- registrations ------------------------------------------------------------------------


@REGISTRY.family("punctuation")
def punctuation_family(doc: Document) -> dict[str, float]:
    """Spacing, comma and informal-word rates of the document."""
    return punctuation_features(doc.view, doc.text, doc.n_words)


offline_error(
    "space_before_punctuation_per_100_words",
    "spaces or tabs between a letter or digit and a following , . ; : ! or ? in the text "
    "('school ,', 'it .'), the mark not opening a number (' .5') or an ellipsis (' ...'); "
    "each run of spaces counts once" + PER_100_WORDS,
    "per 100 words",
    family="punctuation",
)
offline_error(
    "missing_space_after_punctuation_per_100_words",
    "two lower-case letters, then , ; ! or ? glued to a letter ('school,and'), or a full "
    "stop glued to a capitalised word ('school.The'), in the text; not 'e.g.', 'U.S.', "
    "'3,000', 'google.com', 'Mr.Smith'" + PER_100_WORDS,
    "per 100 words",
    family="punctuation",
)
offline_error(
    "commas_per_100_words",
    "comma tokens (',' as spaCy splits it; not the comma inside '3,000')" + PER_100_WORDS,
    "per 100 words",
    family="punctuation",
)
offline_error(
    "informal_words_per_100_words",
    "surface words, lower-cased, in the list of spoken or texting spellings in "
    "engine/features/punctuation.py (alot, gonna, wanna, gotta, kinda, cuz, bc, lol, ok, "
    "okay, ur, yeah, dunno, tho, thru...)" + PER_100_WORDS + "; " + SURFACE_WORD,
    "per 100 words",
    family="punctuation",
)
