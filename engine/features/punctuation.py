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

from hemma_features.engine.features._view import DocView
from hemma_features.engine.features.spelling import surface_words

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
    per_100 = 100.0 / n_words if n_words else 0.0
    informal = sum(1 for _, _, word in surface_words(tokens) if word.lower() in INFORMAL)
    return {
        "space_before_punctuation_per_100_words": len(SPACE_BEFORE.findall(text)) * per_100,
        "missing_space_after_punctuation_per_100_words": (
            len(MISSING_SPACE_AFTER.findall(text)) * per_100
        ),
        "commas_per_100_words": tokens.text.count(",") * per_100,
        "informal_words_per_100_words": informal * per_100,
    }
