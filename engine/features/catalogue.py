"""The named handcrafted features, in canonical column order.

``SCHEMA_VERSION`` moves whenever a name, the order or a type changes; the golden
snapshot test (tests/golden/feature_schema.json) fails until both move together.
The LanguageTool group is present only when a LanguageTool server is configured.
"""

from __future__ import annotations

from hemma_features.contract import FeatureSpec, Undefined
from hemma_features.engine.features._specs import (
    NO_PARAGRAPHS,
    NO_SENTENCES,
    NO_WORDS,
    RUN_ON,
    WORD,
    spec,
    surface,
    unmeasured,
)
from hemma_features.engine.features.catalogue_research import RESEARCH

SCHEMA_VERSION = "hemma.features.v7"

_COUNTS = (
    "; W words, S sentences with a word (a run-on of n > 40 words counts as ceil(n / 40) "
    "sentences), Y pyphen en_US syllables, C characters of the "
    "words, P words of 3+ syllables, L words of 7+ characters (whitespace and punctuation "
    "never count)"
)


_SHARE = (
    "spaCy's sentences, a run-on unsplit: a share of sentences stays within [0, 1] however "
    "long they are (run_on_sentence_ratio carries their length)"
)


def _readability(name: str, formula: str, unit: str) -> FeatureSpec:
    return spec(name, 1, "readability", formula + _COUNTS, unit, "pyphen", NO_WORDS)


def _syntax(
    name: str,
    definition: str,
    unit: str,
    source: str = "spacy",
    undefined: Undefined | None = NO_SENTENCES,
) -> FeatureSpec:
    return spec(name, 2, "syntax", definition, unit, source, undefined)


def _pos(tag: str, label: str) -> FeatureSpec:
    return spec(
        f"pos_{tag.lower()}",
        3,
        "lexical",
        f"share of words whose spaCy coarse tag (token.pos_) is {label}",
        "ratio",
        "spacy",
        NO_WORDS,
    )


def _lexical(name: str, definition: str, unit: str) -> FeatureSpec:
    return spec(name, 3, "lexical", definition, unit, "spacy", NO_WORDS)


def _structure(
    name: str, definition: str, unit: str, undefined: Undefined = NO_SENTENCES
) -> FeatureSpec:
    return spec(name, 3, "structure", definition, unit, "spacy", undefined)


SURFACE: tuple[FeatureSpec, ...] = (
    surface("n_words", f"number of words; a word is {WORD}", "words"),
    surface(
        "n_sentences",
        "number of spaCy sentences that contain at least one word (a run-on is one sentence "
        "here; sentence_length_*, the readability formulas and the per-sentence rates count "
        "it as several)",
        "sentences",
    ),
    surface(
        "n_paragraphs",
        "number of paragraphs: a text with a blank line is split at blank lines only (single "
        "line breaks are hard wrapping); a text without blank lines is split at line breaks "
        "that follow sentence-final punctuation (. ! ?, optionally closed by a quote or "
        "bracket)",
        "paragraphs",
        "python",
    ),
    surface(
        "n_characters", "number of non-whitespace characters in the text", "characters", "python"
    ),
    surface("word_length_mean", "mean characters per word", "characters", undefined=NO_WORDS),
    surface(
        "word_length_std",
        "population standard deviation of characters per word",
        "characters",
        undefined=NO_WORDS,
    ),
    surface(
        "sentence_length_mean",
        "mean words per counted sentence, a run-on of n > 40 words taken as ceil(n / 40) "
        "sentences of near-equal length (45 words: 23 + 22)",
        "words",
        undefined=NO_SENTENCES,
    ),
    surface(
        "sentence_length_std",
        "population standard deviation of words per counted sentence (run-ons split as in "
        "sentence_length_mean)",
        "words",
        undefined=NO_SENTENCES,
    ),
    surface(
        "long_word_ratio",
        "share of words with more than 6 characters",
        "ratio",
        undefined=NO_WORDS,
    ),
    surface(
        "syllables_per_word_mean",
        "mean syllables per word (pyphen en_US hyphenation points + 1, at least 1)",
        "syllables",
        "pyphen",
        NO_WORDS,
    ),
)

READABILITY: tuple[FeatureSpec, ...] = (
    _readability(
        "flesch_reading_ease", "Flesch reading ease: 206.835 - 1.015 W/S - 84.6 Y/W", "score"
    ),
    _readability(
        "flesch_kincaid_grade", "Flesch-Kincaid grade: 0.39 W/S + 11.8 Y/W - 15.59", "grade"
    ),
    _readability(
        "smog",
        "SMOG grade, sentence-normalised for any number of sentences: 1.043 sqrt(30 P/S) + 3.1291",
        "grade",
    ),
    _readability("gunning_fog", "Gunning fog index: 0.4 (W/S + 100 P/W)", "grade"),
    _readability(
        "automated_readability_index",
        "automated readability index: 4.71 C/W + 0.5 W/S - 21.43",
        "grade",
    ),
    _readability("coleman_liau_index", "Coleman-Liau index: 5.88 C/W - 29.6 S/W - 15.8", "grade"),
    _readability("lix", "LIX: W/S + 100 L/W", "score"),
    _readability("rix", "RIX: L/S", "score"),
)

SYNTAX: tuple[FeatureSpec, ...] = (
    _syntax(
        "dependency_distance_mean",
        "mean over sentences of the mean absolute distance between a token and its head "
        "(TextDescriptives dependency_distance; spaCy's sentences, a run-on unsplit: each "
        "sentence's value is a mean over its tokens, not a count that grows with its length); "
        "punctuation-only sentences count too, so every text the service accepts has a value",
        "tokens",
        "textdescriptives",
        None,
    ),
    _syntax(
        "dependency_distance_std",
        "population standard deviation over sentences of the mean dependency distance "
        "(TextDescriptives; 0 for one sentence)",
        "tokens",
        "textdescriptives",
        None,
    ),
    _syntax(
        "parse_depth_mean",
        "mean over counted sentences of the parse tree depth (edges from the root to the "
        "deepest token; a one-token sentence has depth 0); a run-on is not split, since "
        "depth is read off the parser's tree, which a split part would not have",
        "edges",
    ),
    _syntax(
        "parse_depth_max",
        "largest parse tree depth of any counted sentence (a run-on unsplit, as in "
        "parse_depth_mean)",
        "edges",
    ),
    _syntax(
        "subordinate_clauses_per_sentence",
        "tokens with dependency advcl, ccomp, csubj, csubjpass, acl or relcl, per counted "
        f"sentence, {RUN_ON}",
        "clauses",
    ),
    _syntax(
        "relative_clauses_per_sentence",
        f"tokens with dependency relcl per counted sentence, {RUN_ON}",
        "clauses",
    ),
    _syntax(
        "passive_sentence_ratio",
        "share of counted sentences with a passive subject or auxiliary (nsubjpass, csubjpass, "
        f"auxpass); {_SHARE}",
        "ratio",
    ),
    _syntax(
        "noun_phrase_length_mean",
        "mean words per spaCy noun chunk (doc.noun_chunks)",
        "words",
        undefined=unmeasured("for a text without a noun chunk"),
    ),
)

SEMANTIC: tuple[FeatureSpec, ...] = (
    spec(
        "prompt_similarity",
        2,
        "semantic",
        "cosine similarity between the essay embedding and the prompt embedding (same model, "
        "pooling and length policy as the embedding column)",
        "cosine",
        "transformers",
        Undefined(
            case="for an essay without a prompt (empty or null), where it means nothing; a "
            "cosine with a real prompt is not exactly 0",
        ),
    ),
    spec(
        "paragraph_similarity_mean",
        2,
        "semantic",
        "mean cosine similarity between adjacent paragraphs, each paragraph's vector being the "
        "mean of the essay's final-layer token states whose characters fall in it (the same "
        "forward pass as the essay embedding; paragraphs past a truncation are left out)",
        "cosine",
        "transformers",
        Undefined(
            case="when fewer than two paragraphs are covered",
            column="embedded_paragraphs",
            below=2,
        ),
    ),
    spec(
        "embedded_paragraphs",
        2,
        "semantic",
        "paragraphs (as in n_paragraphs) with at least one token inside the embedding window; "
        "below n_paragraphs exactly when the essay is longer than the window and truncated "
        "(long_text=truncate; the paragraphs after the cut are not embedded; chunk_mean "
        "covers all); below 2, paragraph_similarity_mean is undefined (one paragraph, or a "
        "first paragraph that fills the window) and its 0 is not a similarity",
        "paragraphs",
        "transformers",
    ),
    spec(
        "adjacent_sentence_similarity_mean",
        2,
        "semantic",
        "mean cosine similarity between adjacent sentences, each sentence's vector being the "
        "mean of the essay's final-layer token states whose characters fall in it (same pass "
        "as the essay embedding; sentences past a truncation left out); sentences without "
        "a parser: each paragraph split after . ! or ? (closing quotes and brackets kept) "
        "followed by whitespace",
        "cosine",
        "transformers",
        Undefined(
            case="when fewer than two sentences are covered",
            column="embedded_sentences",
            below=2,
        ),
    ),
    spec(
        "embedded_sentences",
        2,
        "semantic",
        "sentences (as split for adjacent_sentence_similarity_mean) with at least one token "
        "inside the embedding window",
        "sentences",
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
    spec(
        "pos_conj",
        3,
        "lexical",
        "share of words whose spaCy coarse tag is CCONJ or SCONJ",
        "ratio",
        "spacy",
        NO_WORDS,
    ),
    _lexical(
        "lexical_density",
        "share of words tagged NOUN, PROPN, VERB, ADJ or ADV (content words)",
        "ratio",
    ),
    _lexical("type_token_ratio", "distinct lower-cased words / words", "ratio"),
    spec(
        "content_word_zipf_mean",
        3,
        "lexical",
        "mean Zipf frequency (log10 of occurrences per billion words, wordfreq's large English "
        "list, 2 decimals) of the content words the list contains; content words are words "
        "tagged NOUN, VERB, ADJ or ADV whose text is letters only, looked up lower-cased; lower "
        "means a more sophisticated vocabulary",
        "zipf",
        "wordfreq",
        unmeasured("for a text without a content word the list contains"),
    ),
    spec(
        "rare_word_ratio",
        3,
        "lexical",
        "share of those content words whose Zipf frequency is below 3 (rarer than one per "
        "million words)",
        "ratio",
        "wordfreq",
        unmeasured("for a text without a content word the list contains"),
    ),
    spec(
        "unknown_word_ratio",
        3,
        "lexical",
        "share of letters-only words absent from wordfreq's large English list (looked up "
        "lower-cased): a spelling signal that needs no LanguageTool; the list holds frequent "
        "web misspellings (e.g. 'thier'), so it counts the rarer ones, and names count too",
        "ratio",
        "wordfreq",
        unmeasured("for a text without a letters-only word"),
    ),
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
        "punctuation tokens (token.is_punct) in counted sentences per counted sentence, " + RUN_ON,
        "tokens",
    ),
    _structure(
        "question_sentence_ratio",
        "share of counted sentences whose text ends with '?', closing quotes and brackets "
        f"after it ignored ('?\"', '?)'); {_SHARE}",
        "ratio",
    ),
    _structure(
        "paragraph_length_mean",
        "mean words per paragraph (paragraphs as in n_paragraphs)",
        "words",
        NO_PARAGRAPHS,
    ),
    _structure(
        "paragraph_length_std",
        "population standard deviation of words per paragraph",
        "words",
        NO_PARAGRAPHS,
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
    spec(
        "grammar_errors_per_100_words",
        1,
        "errors",
        "matches in categories GRAMMAR and CONFUSED_WORDS, plus rule ENGLISH_WORD_REPEAT_RULE"
        + _PER_100,
        "per 100 words",
        "languagetool",
        NO_WORDS,
    ),
    spec(
        "spelling_errors_per_100_words",
        1,
        "errors",
        "matches in categories TYPOS, COMPOUNDING and CASING" + _PER_100,
        "per 100 words",
        "languagetool",
        NO_WORDS,
    ),
    spec(
        "punctuation_errors_per_100_words",
        1,
        "errors",
        "matches in categories PUNCTUATION and TYPOGRAPHY except the layout-only rules "
        "WHITESPACE_RULE, SENTENCE_WHITESPACE, WHITESPACE_PARAGRAPH* and EMPTY_LINE" + _PER_100,
        "per 100 words",
        "languagetool",
        NO_WORDS,
    ),
    spec(
        "lt_matches_total",
        1,
        "languagetool_raw",
        "all LanguageTool matches of the text (every category)",
        "matches",
        "languagetool",
    ),
    *(
        spec(
            f"lt_cat_{category.lower()}",
            1,
            "languagetool_raw",
            f"LanguageTool matches whose rule.category.id is {category}",
            "matches",
            "languagetool",
        )
        for category in LT_CATEGORIES
    ),
    spec(
        "lt_cat_other",
        1,
        "languagetool_raw",
        "LanguageTool matches whose rule.category.id is none of the named categories",
        "matches",
        "languagetool",
    ),
)

BASE: tuple[FeatureSpec, ...] = (
    *SURFACE, *READABILITY, *SYNTAX, *SEMANTIC, *LEXICAL, *STRUCTURE, *RESEARCH
)  # fmt: skip
SEMANTIC_NAMES = tuple(spec.name for spec in SEMANTIC)
LANGUAGETOOL_NAMES = tuple(spec.name for spec in LANGUAGETOOL)


FEATURE_VERSIONS: dict[str, int] = {
    # 2 (issue 12): readability from the service's own counts (whitespace is not a word,
    # pyphen en_US syllables, SMOG below three sentences); a contraction part glued to its
    # word ("dont", "don't") is one word, which moves every per-word value; paragraphs split
    # at blank lines (single line breaks only after a sentence end); questions end with
    # '?' before closing quotes; punctuation counted in counted sentences only.
    **dict.fromkeys(
        ("flesch_reading_ease", "flesch_kincaid_grade", "smog", "gunning_fog",
         "automated_readability_index", "coleman_liau_index", "lix", "rix",
         "syllables_per_word_mean", "n_words", "n_sentences", "n_paragraphs",
         "word_length_mean", "word_length_std", "sentence_length_mean", "sentence_length_std",
         "long_word_ratio", "paragraph_length_mean", "paragraph_length_std",
         "punctuation_per_sentence", "question_sentence_ratio", "paragraph_similarity_mean",
         "lexical_density", "type_token_ratio", "mtld", "connective_density",
         "first_person_ratio", "second_person_ratio", "pos_conj", "passive_sentence_ratio",
         "subordinate_clauses_per_sentence", "relative_clauses_per_sentence",
         *(f"pos_{tag}" for tag in ("noun", "propn", "verb", "aux", "adj", "adv", "pron",
                                    "adp", "det"))),
        2,
    ),
    **{spec.name: 2 for spec in LANGUAGETOOL if spec.unit == "per 100 words"},
    # 2 (issue 13): an essay without a prompt (empty or null) gets 0, not the cosine with
    # the embedding of an empty string.
    "prompt_similarity": 2,
    # 3 (issue 22): a run-on sentence of more than 40 words counts as several.
    **dict.fromkeys(
        ("flesch_reading_ease", "flesch_kincaid_grade", "smog", "gunning_fog",
         "automated_readability_index", "coleman_liau_index", "lix", "rix",
         "sentence_length_mean", "sentence_length_std"),
        3,
    ),
    # 3 (issue 32): the run-on policy for every count per sentence; the complexity family's
    # per-sentence and per-T-unit values (2) with it.
    **dict.fromkeys(
        ("subordinate_clauses_per_sentence", "relative_clauses_per_sentence",
         "punctuation_per_sentence"),
        3,
    ),
    **dict.fromkeys(("clauses_per_sentence", "mean_tunit_length"), 2),
}  # fmt: skip
"""Version of each feature's computation, where it is past 1. Bump a feature's entry in the
same change as anything that moves its values (its code, a definition, a normalisation),
and regenerate the golden values (``python -m tests.engine.features.test_golden_values``): the
versions enter the fingerprint, so rows cached under the old definition stop matching."""


def feature_versions(specs: tuple[FeatureSpec, ...] | list[FeatureSpec]) -> dict[str, int]:
    """Name -> computation version for ``specs`` (1 unless ``FEATURE_VERSIONS`` says more)."""
    return {spec.name: FEATURE_VERSIONS.get(spec.name, 1) for spec in specs}


def catalogue(*, languagetool: bool) -> tuple[FeatureSpec, ...]:
    """The handcrafted features in column order; the LanguageTool group only when enabled."""
    return (*BASE, *LANGUAGETOOL) if languagetool else BASE
