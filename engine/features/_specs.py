"""The shared wording, undefined cases and constructor of catalogue entries."""

from __future__ import annotations

from hemma_features.contract import FeatureSpec, Undefined

WORD = (
    "a spaCy token whose text contains at least one letter or digit (punctuation and "
    "whitespace tokens are not words), except a contraction part glued to the word before it "
    "('nt' of 'dont', 'n't' of 'don't', ''s', ''re', ''ll'...: one word, not two)"
)
RUN_ON = "a run-on of n > 40 words counting as ceil(n / 40) sentences (as in sentence_length_mean)"
"""The run-on policy of readability.formula_sentences, for the per-sentence rates."""

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


PARSED_TEXT = (
    " Parsed text: runs of more than 64 non-space characters are split by a space every 64 "
    "characters first (bounded parse cost; no real word is that long)."
)


def sentences(text: str) -> str:
    """``text`` as complete sentences: a capital first letter, a full stop at the end."""
    text = text.strip()
    if text[:1].islower():
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def spec(
    name: str,
    tier: int,
    group: str,
    definition: str,
    unit: str,
    source: str,
    undefined: Undefined | None = None,
) -> FeatureSpec:
    """One entry: the definition as sentences, then its undefined case, then (for the
    parsed features) how the text is parsed."""
    text = sentences(definition)
    if undefined is not None:
        text += " " + undefined.sentence()
    if source in ("spacy", "textdescriptives", "pyphen", "wordfreq"):
        text += PARSED_TEXT
    return FeatureSpec(
        name=name,
        tier=tier,
        group=group,
        definition=text,
        unit=unit,
        source=source,
        undefined=undefined,
    )


def surface(
    name: str,
    definition: str,
    unit: str,
    source: str = "spacy",
    undefined: Undefined | None = None,
) -> FeatureSpec:
    return spec(name, 1, "surface", definition, unit, source, undefined)
