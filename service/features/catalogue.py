"""The named handcrafted features, in canonical column order.

``SCHEMA_VERSION`` moves whenever a name, the order or a type changes; the golden
snapshot test (tests/golden/feature_schema.json) fails until both move together.
"""

from __future__ import annotations

from flight.contract import FeatureSpec

SCHEMA_VERSION = "hemma.features.v1"

_WORD = (
    "a spaCy token whose text contains at least one letter or digit "
    "(punctuation and whitespace tokens are not words)"
)
_UNDEFINED_ZERO = "; 0 when undefined"


def _spec(name: str, tier: int, group: str, definition: str, unit: str, source: str) -> FeatureSpec:
    return FeatureSpec(
        name=name, tier=tier, group=group, definition=definition, unit=unit, source=source
    )


def _readability(name: str, title: str, unit: str) -> FeatureSpec:
    return _spec(
        name,
        1,
        "readability",
        f"{title}, as computed by TextDescriptives' readability component" + _UNDEFINED_ZERO,
        unit,
        "textdescriptives",
    )


HANDCRAFTED: tuple[FeatureSpec, ...] = (
    _spec("n_words", 1, "surface", f"number of words; a word is {_WORD}", "words", "spacy"),
    _spec(
        "n_sentences",
        1,
        "surface",
        "number of spaCy sentences that contain at least one word",
        "sentences",
        "spacy",
    ),
    _spec(
        "n_paragraphs",
        1,
        "surface",
        "number of non-blank lines; any line break (\\n, \\r\\n or \\r) starts a new paragraph",
        "paragraphs",
        "python",
    ),
    _spec(
        "n_characters",
        1,
        "surface",
        "number of non-whitespace characters in the text",
        "characters",
        "python",
    ),
    _spec(
        "word_length_mean",
        1,
        "surface",
        "mean number of characters per word" + _UNDEFINED_ZERO,
        "characters",
        "spacy",
    ),
    _spec(
        "word_length_std",
        1,
        "surface",
        "population standard deviation of characters per word" + _UNDEFINED_ZERO,
        "characters",
        "spacy",
    ),
    _spec(
        "sentence_length_mean",
        1,
        "surface",
        "mean number of words per counted sentence" + _UNDEFINED_ZERO,
        "words",
        "spacy",
    ),
    _spec(
        "sentence_length_std",
        1,
        "surface",
        "population standard deviation of words per counted sentence" + _UNDEFINED_ZERO,
        "words",
        "spacy",
    ),
    _spec(
        "long_word_ratio",
        1,
        "surface",
        "share of words with more than 6 characters" + _UNDEFINED_ZERO,
        "ratio",
        "spacy",
    ),
    _readability("flesch_reading_ease", "Flesch reading ease", "score"),
    _readability("flesch_kincaid_grade", "Flesch-Kincaid grade level", "grade"),
    _readability("smog", "SMOG grade", "grade"),
    _readability("gunning_fog", "Gunning fog index", "grade"),
    _readability("automated_readability_index", "Automated readability index", "grade"),
    _readability("coleman_liau_index", "Coleman-Liau index", "grade"),
    _readability("lix", "LIX (Laesbarhedsindex)", "score"),
    _readability("rix", "RIX (long words per sentence)", "score"),
    _spec(
        "dependency_distance_mean",
        2,
        "syntax",
        "mean over sentences of the mean absolute distance between a token and its head, "
        "as computed by TextDescriptives' dependency_distance component" + _UNDEFINED_ZERO,
        "tokens",
        "textdescriptives",
    ),
    _spec(
        "dependency_distance_std",
        2,
        "syntax",
        "standard deviation over sentences of the mean dependency distance, as computed by "
        "TextDescriptives" + _UNDEFINED_ZERO,
        "tokens",
        "textdescriptives",
    ),
)

HANDCRAFTED_NAMES: tuple[str, ...] = tuple(spec.name for spec in HANDCRAFTED)
