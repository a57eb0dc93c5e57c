"""The run-on policy (a sentence or T-unit of n > 40 words counts as ceil(n / 40)) in every
per-sentence and per-T-unit value, on one-period run-ons whose values are worked out by
hand; each docstring gives the count the value had before the policy reached it."""

from __future__ import annotations

import pytest

from hemma_features.engine.features._view import DocView, doc_view
from hemma_features.engine.features.api import doc_features
from hemma_features.engine.features.complexity import complexity_counts, complexity_features
from hemma_features.engine.models.spacy_model import TextAnalyzer
from tests.engine.features.hand_worked import hand_worked

NOUNS = ("dog", "cat", "bird", "fish", "ball", "book", "car", "cow", "horse", "soup", "plane",
         "song", "boat", "tree", "lake", "road", "bus")  # fmt: skip
VERBS = ("knows", "thinks", "says", "hopes", "shows", "tells", "proves", "knows", "feels",
         "shows", "says", "proves", "seems", "knows", "shows", "says")  # fmt: skip
LIKES = (("boy", "dog"), ("girl", "cat"), ("man", "bird"), ("woman", "fish"), ("baby", "ball"),
         ("teacher", "book"), ("doctor", "car"), ("farmer", "cow"), ("king", "horse"),
         ("cook", "soup"), ("pilot", "plane"), ("singer", "song"), ("driver", "bus"),
         ("player", "game"), ("painter", "wall"))  # fmt: skip
COORDINATED = "Today " + " and ".join(f"the {a} likes the {b}" for a, b in LIKES) + "."
"""90 words, one period: 15 main clauses joined by 'and' (the first T-unit 7 words with
'Today', the other 14 six with their 'and' or five, the last)."""
PRONOUN_CHAIN = "I think that you know that he said that she believes that they hope that we feel"
COMPLEMENTS = (
    f"{PRONOUN_CHAIN} that it seems "
    + " ".join(f"that the {noun} {verb}" for noun, verb in zip(NOUNS, VERBS, strict=False))
    + " that the bus is very red."
)
"""90 words, one period, one T-unit: 'think' and a chain of 23 'that' complement clauses
(ccomp), each the object of the one before."""


@pytest.fixture(scope="module")
def analyzer(runtime) -> TextAnalyzer:
    return runtime.analyzer


def features(analyzer: TextAnalyzer, text: str) -> dict[str, float]:
    return doc_features(analyzer.parse([text])[0])


@hand_worked(
    "run_on_sentence_ratio",
    "sentence_length_mean",
    "punctuation_per_sentence",
    "clauses_per_sentence",
    "mean_tunit_length",
)
def test_coordinated_run_on_by_hand(analyzer):
    """90 words, one sentence: 3 sentences of 30 for the policy. 15 clauses: C/S 15 / 3 = 5
    (15 before). 15 T-units of at most 7 words: MLT 90 / 15 = 6, no split. One punctuation
    token: 1 / 3 per sentence (1 before)."""
    values = features(analyzer, COORDINATED)
    assert values["n_words"] == 90 and values["n_sentences"] == 1
    assert values["run_on_sentence_ratio"] == 1.0
    assert values["sentence_length_mean"] == pytest.approx(30.0)
    assert values["clauses_per_sentence"] == pytest.approx(15 / 3)
    assert values["mean_tunit_length"] == pytest.approx(90 / 15)
    assert values["punctuation_per_sentence"] == pytest.approx(1 / 3)
    assert values["dependent_clauses_per_clause"] == 0.0


def test_one_t_unit_run_on_by_hand(analyzer):
    """90 words, one sentence, one T-unit: the T-unit counts as ceil(90 / 40) = 3, MLT 30
    (90 before). 24 clauses (think + 23 complements): C/S 24 / 3 = 8 (24 before); 23
    subordinate clauses: 23 / 3 per sentence (23 before); DC/C 23 / 24, a count per clause,
    unchanged."""
    values = features(analyzer, COMPLEMENTS)
    assert values["n_words"] == 90 and values["n_sentences"] == 1
    assert values["mean_tunit_length"] == pytest.approx(30.0)
    assert values["clauses_per_sentence"] == pytest.approx(8.0)
    assert values["subordinate_clauses_per_sentence"] == pytest.approx(23 / 3)
    assert values["dependent_clauses_per_clause"] == pytest.approx(23 / 24)


@hand_worked("relative_clauses_per_sentence")
def test_relative_clauses_per_sentence_by_hand(analyzer):
    """80 words, one sentence, 18 relative clauses ('that likes', 'who knows'...): 2
    sentences for the policy, 18 / 2 = 9 per sentence (18 before)."""
    chain = (
        "I have a dog that likes a cat that chases a bird that eats a worm that eats a leaf "
        "that grows on a tree that stands in a park that lies near a school that has a "
        "teacher who knows a man who owns a shop that sells a book that tells a story that "
        "has a king who loves a queen who likes a song that has a word that means a thing "
        "that makes a boy happy."
    )
    values = features(analyzer, chain)
    assert values["n_words"] == 80 and values["n_sentences"] == 1
    assert values["relative_clauses_per_sentence"] == pytest.approx(18 / 2)


def test_each_t_unit_is_split_on_its_own_length(analyzer):
    """'The boy likes the dog and' (6 words: the 'and' attaches to 'likes') and 'I think
    that ... is red' (53 words, its conj): 1 + ceil(53 / 40) = 3 T-units, MLT 59 / 3 (59 /
    2 before). Split by the sentence's length alone, 59 words would count only 2."""
    text = (
        f"The boy likes the dog and {PRONOUN_CHAIN} that it seems that the dog knows that the "
        "cat thinks that the bird says that the ball shows that the book tells that the car "
        "proves that the cow knows that the fish is red."
    )
    doc = analyzer.parse([text])[0]
    values = doc_features(doc)
    assert values["n_words"] == 59 and values["n_sentences"] == 1
    view = doc_view(doc)
    _, unit_words = complexity_counts(view, view.sents)
    assert unit_words == [6, 53]
    assert values["mean_tunit_length"] == pytest.approx(59 / 3)


def view_of(tokens: list[tuple[str, str, str, str, int]]) -> DocView:
    """A one-sentence DocView from (text, pos, tag, dep, head) rows, for parses no model
    need produce."""
    text = [t[0] for t in tokens]
    head = [t[4] for t in tokens]
    word = [any(ch.isalnum() for ch in t) for t in text]
    return DocView(
        doc_text=" ".join(text),
        text=text,
        lower=[t.lower() for t in text],
        glued=[False] * len(text),
        idx=[sum(len(t) + 1 for t in text[:i]) for i in range(len(text))],
        space=[False] * len(text),
        sent_start=[i == 0 for i in range(len(text))],
        punct=[not w for w in word],
        pos=[t[1] for t in tokens],
        tag=[t[2] for t in tokens],
        dep=[t[3] for t in tokens],
        head=head,
        lemma=[t.lower() for t in text],
        alnum=word,
        word=word,
        sents=[(0, len(text))],
        children=[[i for i, h in enumerate(head) if h == j and i != j] for j in range(len(text))],
    )


def test_words_under_no_t_unit_join_the_first():
    """'Honestly opinion : I agree , you win .' with a verbless root ('opinion', a noun) and
    two parataxis clauses: the T-units are 'I agree' and 'you win'; 'Honestly' and
    'opinion' are under neither and join the first: 4 + 2 words, MLT 6 / 2."""
    view = view_of([
        ("Honestly", "ADV", "RB", "advmod", 1),
        ("opinion", "NOUN", "NN", "ROOT", 1),
        (":", "PUNCT", ":", "punct", 1),
        ("I", "PRON", "PRP", "nsubj", 4),
        ("agree", "VERB", "VBP", "parataxis", 1),
        (",", "PUNCT", ",", "punct", 4),
        ("you", "PRON", "PRP", "nsubj", 7),
        ("win", "VERB", "VBP", "parataxis", 1),
        (".", "PUNCT", ".", "punct", 1),
    ])  # fmt: skip
    counts, unit_words = complexity_counts(view, view.sents)
    assert counts["t_units"] == 2 and unit_words == [4, 2]
    values = complexity_features(view, view.sents, [6])
    assert values["mean_tunit_length"] == pytest.approx(3.0)
    assert values["clauses_per_sentence"] == pytest.approx(2.0)


def test_a_t_unit_of_ninety_words_counts_three():
    """A fragment of 90 words (no clause) is one T-unit, counted as ceil(90 / 40) = 3: MLT
    30, and 0 clauses a sentence."""
    view = view_of([("list", "NOUN", "NN", "ROOT", 0)] + [
        (f"item{i}", "NOUN", "NN", "conj", 0) for i in range(89)
    ])  # fmt: skip
    values = complexity_features(view, view.sents, [90])
    assert values["mean_tunit_length"] == pytest.approx(30.0)
    assert values["clauses_per_sentence"] == 0.0
    assert values["coordinate_phrases_per_clause"] == 0.0
