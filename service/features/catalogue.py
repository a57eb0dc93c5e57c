"""The named handcrafted features, in canonical column order.

``SCHEMA_VERSION`` moves whenever a name, the order or a type changes; the golden
snapshot test (tests/golden/feature_schema.json) fails until both move together.
The LanguageTool group is present only when a LanguageTool server is configured.
"""

from __future__ import annotations

from hemma_features.contract import FeatureSpec

SCHEMA_VERSION = "hemma.features.v3"

WORD = (
    "a spaCy token whose text contains at least one letter or digit "
    "(punctuation and whitespace tokens are not words)"
)
_ZERO = "; 0 when undefined"


PARSED_TEXT = (
    " Parsed text: runs of more than 64 non-space characters are split by a space every 64 "
    "characters first (bounded parse cost; no real word is that long)."
)


def _spec(name: str, tier: int, group: str, definition: str, unit: str, source: str) -> FeatureSpec:
    if source in ("spacy", "textdescriptives"):
        definition += PARSED_TEXT
    return FeatureSpec(
        name=name, tier=tier, group=group, definition=definition, unit=unit, source=source
    )


def _surface(name: str, definition: str, unit: str, source: str = "spacy") -> FeatureSpec:
    return _spec(name, 1, "surface", definition, unit, source)


def _readability(name: str, title: str, unit: str) -> FeatureSpec:
    return _spec(
        name,
        1,
        "readability",
        f"{title}, as computed by TextDescriptives' readability component" + _ZERO,
        unit,
        "textdescriptives",
    )


def _syntax(name: str, definition: str, unit: str, source: str = "spacy") -> FeatureSpec:
    return _spec(name, 2, "syntax", definition + _ZERO, unit, source)


def _pos(tag: str, label: str) -> FeatureSpec:
    return _spec(
        f"pos_{tag.lower()}",
        3,
        "lexical",
        f"share of words whose spaCy coarse tag (token.pos_) is {label}" + _ZERO,
        "ratio",
        "spacy",
    )


def _lexical(name: str, definition: str, unit: str) -> FeatureSpec:
    return _spec(name, 3, "lexical", definition + _ZERO, unit, "spacy")


def _structure(name: str, definition: str, unit: str) -> FeatureSpec:
    return _spec(name, 3, "structure", definition + _ZERO, unit, "spacy")


SURFACE: tuple[FeatureSpec, ...] = (
    _surface("n_words", f"number of words; a word is {WORD}", "words"),
    _surface(
        "n_sentences", "number of spaCy sentences that contain at least one word", "sentences"
    ),
    _surface(
        "n_paragraphs",
        "number of non-blank lines; any line break (\\n, \\r\\n or \\r) starts a new paragraph",
        "paragraphs",
        "python",
    ),
    _surface(
        "n_characters", "number of non-whitespace characters in the text", "characters", "python"
    ),
    _surface("word_length_mean", "mean characters per word" + _ZERO, "characters"),
    _surface(
        "word_length_std",
        "population standard deviation of characters per word" + _ZERO,
        "characters",
    ),
    _surface("sentence_length_mean", "mean words per counted sentence" + _ZERO, "words"),
    _surface(
        "sentence_length_std",
        "population standard deviation of words per counted sentence" + _ZERO,
        "words",
    ),
    _surface("long_word_ratio", "share of words with more than 6 characters" + _ZERO, "ratio"),
    _surface(
        "syllables_per_word_mean",
        "mean syllables per token (TextDescriptives descriptive_stats, pyphen hyphenation)" + _ZERO,
        "syllables",
        "textdescriptives",
    ),
)

READABILITY: tuple[FeatureSpec, ...] = (
    _readability("flesch_reading_ease", "Flesch reading ease", "score"),
    _readability("flesch_kincaid_grade", "Flesch-Kincaid grade level", "grade"),
    _readability("smog", "SMOG grade", "grade"),
    _readability("gunning_fog", "Gunning fog index", "grade"),
    _readability("automated_readability_index", "Automated readability index", "grade"),
    _readability("coleman_liau_index", "Coleman-Liau index", "grade"),
    _readability("lix", "LIX (Laesbarhedsindex)", "score"),
    _readability("rix", "RIX (long words per sentence)", "score"),
)

SYNTAX: tuple[FeatureSpec, ...] = (
    _syntax(
        "dependency_distance_mean",
        "mean over sentences of the mean absolute distance between a token and its head "
        "(TextDescriptives dependency_distance)",
        "tokens",
        "textdescriptives",
    ),
    _syntax(
        "dependency_distance_std",
        "standard deviation over sentences of the mean dependency distance (TextDescriptives)",
        "tokens",
        "textdescriptives",
    ),
    _syntax(
        "parse_depth_mean",
        "mean over counted sentences of the parse tree depth (edges from the root to the "
        "deepest token; a one-token sentence has depth 0)",
        "edges",
    ),
    _syntax("parse_depth_max", "largest parse tree depth of any counted sentence", "edges"),
    _syntax(
        "subordinate_clauses_per_sentence",
        "tokens with dependency advcl, ccomp, csubj, csubjpass, acl or relcl, per counted sentence",
        "clauses",
    ),
    _syntax(
        "relative_clauses_per_sentence",
        "tokens with dependency relcl per counted sentence",
        "clauses",
    ),
    _syntax(
        "passive_sentence_ratio",
        "share of counted sentences with a passive subject or auxiliary (nsubjpass, csubjpass, "
        "auxpass)",
        "ratio",
    ),
    _syntax(
        "noun_phrase_length_mean", "mean words per spaCy noun chunk (doc.noun_chunks)", "words"
    ),
)

SEMANTIC: tuple[FeatureSpec, ...] = (
    _spec(
        "prompt_similarity",
        2,
        "semantic",
        "cosine similarity between the essay embedding and the prompt embedding (same model, "
        "pooling and length policy as the embedding column)",
        "cosine",
        "transformers",
    ),
    _spec(
        "paragraph_similarity_mean",
        2,
        "semantic",
        "mean cosine similarity between adjacent paragraphs, each paragraph's vector being the "
        "mean of the essay's final-layer token states whose characters fall in it (the same "
        "forward pass as the essay embedding; paragraphs past a truncation are left out); 0 "
        "when fewer than two paragraphs are covered",
        "cosine",
        "transformers",
    ),
)

LEXICAL: tuple[FeatureSpec, ...] = (
    _pos("NOUN", "NOUN"),
    _pos("PROPN", "PROPN"),
    _pos("VERB", "VERB"),
    _pos("AUX", "AUX"),
    _pos("ADJ", "ADJ"),
    _pos("ADV", "ADV"),
    _pos("PRON", "PRON"),
    _pos("ADP", "ADP"),
    _pos("DET", "DET"),
    _spec(
        "pos_conj",
        3,
        "lexical",
        "share of words whose spaCy coarse tag is CCONJ or SCONJ" + _ZERO,
        "ratio",
        "spacy",
    ),
    _lexical(
        "lexical_density",
        "share of words tagged NOUN, PROPN, VERB, ADJ or ADV (content words)",
        "ratio",
    ),
    _lexical("type_token_ratio", "distinct lower-cased words / words", "ratio"),
    _lexical(
        "mtld",
        "measure of textual lexical diversity (McCarthy & Jarvis 2010) over lower-cased words, "
        "TTR threshold 0.72, mean of the forward and backward passes; partial factors count "
        "(1 - TTR) / (1 - 0.72); equals the word count when no factor completes",
        "words",
    ),
    _lexical(
        "connective_density",
        "discourse connectives (a fixed list of single and multi-word markers such as "
        "'however', 'because', 'for example', 'in conclusion') per 100 words",
        "per 100 words",
    ),
    _lexical(
        "first_person_ratio",
        "share of words that are first-person pronouns or determiners (I, me, my, mine, myself, "
        "we, us, our, ours, ourselves; case-insensitive)",
        "ratio",
    ),
    _lexical(
        "second_person_ratio",
        "share of words that are second-person pronouns or determiners (you, your, yours, "
        "yourself, yourselves; case-insensitive)",
        "ratio",
    ),
)

STRUCTURE: tuple[FeatureSpec, ...] = (
    _structure(
        "punctuation_per_sentence",
        "punctuation tokens (token.is_punct) per counted sentence",
        "tokens",
    ),
    _structure(
        "question_sentence_ratio", "share of counted sentences whose text ends with '?'", "ratio"
    ),
    _structure(
        "paragraph_length_mean", "mean words per paragraph (paragraphs as in n_paragraphs)", "words"
    ),
    _structure(
        "paragraph_length_std",
        "population standard deviation of words per paragraph",
        "words",
    ),
)

# LanguageTool core category ids (languagetool-core Categories.java) plus COLLOCATIONS,
# which the English rules add. Matches of any other category are counted in lt_cat_other.
LT_CATEGORIES: tuple[str, ...] = (
    "CASING",
    "COMPOUNDING",
    "GRAMMAR",
    "TYPOS",
    "PUNCTUATION",
    "TYPOGRAPHY",
    "CONFUSED_WORDS",
    "REPETITIONS",
    "REDUNDANCY",
    "REPETITIONS_STYLE",
    "STYLE",
    "PLAIN_ENGLISH",
    "GENDER_NEUTRALITY",
    "SEMANTICS",
    "COLLOQUIALISMS",
    "REGIONALISMS",
    "FALSE_FRIENDS",
    "WIKIPEDIA",
    "MISC",
    "COLLOCATIONS",
)

_PER_100 = (
    " per 100 words (words as in n_words, punctuation excluded); LanguageTool /v2/check with "
    "language=en-US, level=default, bucketed by rule.category.id"
)

LANGUAGETOOL: tuple[FeatureSpec, ...] = (
    _spec(
        "grammar_errors_per_100_words",
        1,
        "errors",
        "matches in categories GRAMMAR and CONFUSED_WORDS, plus rule ENGLISH_WORD_REPEAT_RULE"
        + _PER_100
        + _ZERO,
        "per 100 words",
        "languagetool",
    ),
    _spec(
        "spelling_errors_per_100_words",
        1,
        "errors",
        "matches in categories TYPOS, COMPOUNDING and CASING" + _PER_100 + _ZERO,
        "per 100 words",
        "languagetool",
    ),
    _spec(
        "punctuation_errors_per_100_words",
        1,
        "errors",
        "matches in categories PUNCTUATION and TYPOGRAPHY except the layout-only rules "
        "WHITESPACE_RULE, SENTENCE_WHITESPACE, WHITESPACE_PARAGRAPH* and EMPTY_LINE"
        + _PER_100
        + _ZERO,
        "per 100 words",
        "languagetool",
    ),
    _spec(
        "lt_matches_total",
        1,
        "languagetool_raw",
        "all LanguageTool matches of the text (every category)",
        "matches",
        "languagetool",
    ),
    *(
        _spec(
            f"lt_cat_{category.lower()}",
            1,
            "languagetool_raw",
            f"LanguageTool matches whose rule.category.id is {category}",
            "matches",
            "languagetool",
        )
        for category in LT_CATEGORIES
    ),
    _spec(
        "lt_cat_other",
        1,
        "languagetool_raw",
        "LanguageTool matches whose rule.category.id is none of the named categories",
        "matches",
        "languagetool",
    ),
)

BASE: tuple[FeatureSpec, ...] = (*SURFACE, *READABILITY, *SYNTAX, *SEMANTIC, *LEXICAL, *STRUCTURE)
SEMANTIC_NAMES = tuple(spec.name for spec in SEMANTIC)
LANGUAGETOOL_NAMES = tuple(spec.name for spec in LANGUAGETOOL)


def catalogue(*, languagetool: bool) -> tuple[FeatureSpec, ...]:
    """The handcrafted features in column order; the LanguageTool group only when enabled."""
    return (*BASE, *LANGUAGETOOL) if languagetool else BASE
