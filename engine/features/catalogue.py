"""The named handcrafted features, in canonical column order, derived from the registry.

Each feature is registered once, beside the function that computes it (registry.py; the
modules under engine/features). This module only fixes the wire's column order and the
schema version: ``SCHEMA_VERSION`` moves whenever a name, the order or a type changes; the
golden snapshot tests (tests/golden/feature_schema.json, feature_catalogue.json) fail until
both move together. The LanguageTool group is present only when a LanguageTool server is
configured.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from hemma_features.contract import FeatureSpec
from hemma_features.engine.features import (
    agreement,
    cohesion,
    complexity,
    languagetool_counts,
    nlp,
    phraseology,
    punctuation,
    readability,
    semantic,
    spelling,
)
from hemma_features.engine.features.document import Document
from hemma_features.engine.features.languagetool_counts import LT_CATEGORIES
from hemma_features.engine.features.registry import REGISTRY, Registry

DEFINITION_MODULES = (
    agreement, cohesion, complexity, languagetool_counts, nlp, phraseology, punctuation,
    readability, semantic, spelling,
)  # fmt: skip
"""Every module that registers features: imported here, so the registry is complete
whichever module is imported first (tests/engine/features/test_registry.py checks the
list against the modules that call ``REGISTRY``)."""

__all__ = [
    "BASE",
    "COLUMN_ORDER",
    "LANGUAGETOOL",
    "LANGUAGETOOL_NAMES",
    "LT_CATEGORIES",
    "SCHEMA_VERSION",
    "SEMANTIC_NAMES",
    "catalogue",
    "checked_registry",
    "feature_versions",
]

SCHEMA_VERSION = "hemma.features.v7"

COLUMN_ORDER: tuple[str, ...] = (
    "n_words", "n_sentences", "n_paragraphs", "n_characters", "word_length_mean",
    "word_length_std", "sentence_length_mean", "sentence_length_std", "long_word_ratio",
    "syllables_per_word_mean", "flesch_reading_ease", "flesch_kincaid_grade", "smog",
    "gunning_fog", "automated_readability_index", "coleman_liau_index", "lix", "rix",
    "dependency_distance_mean", "dependency_distance_std", "parse_depth_mean",
    "parse_depth_max", "subordinate_clauses_per_sentence", "relative_clauses_per_sentence",
    "passive_sentence_ratio", "noun_phrase_length_mean", "prompt_similarity",
    "paragraph_similarity_mean", "embedded_paragraphs", "adjacent_sentence_similarity_mean",
    "embedded_sentences", "pos_noun", "pos_propn", "pos_verb", "pos_aux", "pos_adj",
    "pos_adv", "pos_pron", "pos_adp", "pos_det", "pos_conj", "lexical_density",
    "type_token_ratio", "content_word_zipf_mean", "rare_word_ratio", "unknown_word_ratio",
    "mtld", "connective_density", "first_person_ratio", "second_person_ratio",
    "punctuation_per_sentence", "question_sentence_ratio", "paragraph_length_mean",
    "paragraph_length_std", "misspelled_words_per_100_words",
    "lowercase_sentence_start_ratio", "lowercase_i_per_100_words",
    "unpunctuated_paragraph_ratio", "doubled_words_per_100_words",
    "article_errors_per_100_words", "subject_verb_agreement_errors_per_100_words",
    "determiner_noun_agreement_errors_per_100_words", "mechanics_errors_per_100_words",
    "space_before_punctuation_per_100_words",
    "missing_space_after_punctuation_per_100_words", "commas_per_100_words",
    "informal_words_per_100_words", "mattr_50", "hdd", "clauses_per_sentence",
    "dependent_clauses_per_clause", "mean_tunit_length", "coordinate_phrases_per_clause",
    "complex_nominals_per_clause", "connectives_additive_per_100_words",
    "connectives_adversative_per_100_words", "connectives_causal_per_100_words",
    "connectives_temporal_per_100_words", "adjacent_sentence_overlap",
    "run_on_sentence_ratio", "bigram_coverage", "known_word_bigram_coverage",
    "bigram_pmi_mean", "bigram_pmi_std", "strong_collocation_ratio",
    "bigram_log_frequency_mean"
)  # fmt: skip
"""The column order of schema v7 (LanguageTool's features follow, in registration order).
A feature registered but not listed here follows the listed ones in registration order, so
adding a feature needs no entry here; list it when the schema version moves."""


@lru_cache(maxsize=1)
def checked_registry() -> Registry:
    """The registry, checked once (at startup, not per request): every family returns
    exactly the names registered for it, on a document without tokens and a text without
    LanguageTool matches."""
    import numpy as np

    REGISTRY.check(
        {
            "parse": [(Document.empty(),)],
            "languagetool": [([], 0)],
            "embedding": [(np.zeros(2, dtype=np.float32), None, [], [])],
        }
    )
    return REGISTRY


def catalogue(*, languagetool: bool) -> tuple[FeatureSpec, ...]:
    """The handcrafted features in column order; the LanguageTool group only when enabled."""
    return checked_registry().catalogue(COLUMN_ORDER, languagetool=languagetool)


def feature_versions(specs: Iterable[FeatureSpec]) -> dict[str, int]:
    """Name -> computation version for ``specs`` (each registration's ``version``)."""
    return REGISTRY.versions(spec.name for spec in specs)


BASE: tuple[FeatureSpec, ...] = REGISTRY.catalogue(COLUMN_ORDER, languagetool=False)
LANGUAGETOOL: tuple[FeatureSpec, ...] = tuple(
    f.spec for f in REGISTRY.ordered(COLUMN_ORDER) if f.stage == "languagetool"
)
SEMANTIC_NAMES = tuple(f.name for f in REGISTRY.features if f.stage == "embedding")
LANGUAGETOOL_NAMES = tuple(spec.name for spec in LANGUAGETOOL)
