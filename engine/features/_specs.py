"""The shared wording and constructor of catalogue entries."""

from __future__ import annotations

from hemma_features.contract import FeatureSpec

WORD = (
    "a spaCy token whose text contains at least one letter or digit (punctuation and "
    "whitespace tokens are not words), except a contraction part glued to the word before it "
    "('nt' of 'dont', 'n't' of 'don't', ''s', ''re', ''ll'...: one word, not two)"
)
ZERO = "; 0 when undefined"
RUN_ON = "a run-on of n > 40 words counting as ceil(n / 40) sentences (as in sentence_length_mean)"
"""The run-on policy of readability.formula_sentences, for the per-sentence rates."""


PARSED_TEXT = (
    " Parsed text: runs of more than 64 non-space characters are split by a space every 64 "
    "characters first (bounded parse cost; no real word is that long)."
)


def spec(name: str, tier: int, group: str, definition: str, unit: str, source: str) -> FeatureSpec:
    if source in ("spacy", "textdescriptives", "pyphen", "wordfreq"):
        definition += PARSED_TEXT
    return FeatureSpec(
        name=name, tier=tier, group=group, definition=definition, unit=unit, source=source
    )


def surface(name: str, definition: str, unit: str, source: str = "spacy") -> FeatureSpec:
    return spec(name, 1, "surface", definition, unit, source)
