"""spaCy: texts -> the spaCy-derived handcrafted features.

The pipeline is loaded once by ``models.spacy_model.TextAnalyzer.load`` (at server start).
``api.doc_features`` is the pure step from a parsed Doc to named values: it wraps the Doc in
a ``document.Document`` (the counts every feature shares, read once through
``_view.DocView``) and runs every feature registered for the parse (registry.py), with
every registering module imported (catalogue.DEFINITION_MODULES). The surface, syntax,
lexical, structure and diversity features are registered here, each one function and one
registration; the families with modules of their own (readability, spelling, agreement,
punctuation, complexity, cohesion, phraseology) register theirs beside their functions. The
lexical helpers (MTLD, connectives, paragraphs) are plain functions tested on their own.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from functools import lru_cache, partial
from typing import Any

from hemma_features.engine.features._specs import (
    NO_PARAGRAPHS,
    NO_SENTENCES,
    NO_WORDS,
    RUN_ON,
    WORD,
    unmeasured,
)
from hemma_features.engine.features._view import CLITICS, DocView, is_word
from hemma_features.engine.features.cohesion import match_markers
from hemma_features.engine.features.diversity import hdd, mattr
from hemma_features.engine.features.document import (
    MAX_SENTENCE_WORDS,
    Document,
    paragraph_spans,
)
from hemma_features.engine.features.readability import syllables_per_word
from hemma_features.engine.features.registry import REGISTRY
from hemma_features.engine.features.stats import mean, mean_std, ratio
from hemma_features.engine.features.syntax import (
    dependency_distance,
    noun_chunk_spans,
    sentence_depth,
)

_CLOSERS = "\"'\u201d\u2019)]} \t\r\n"
UNUSED_COMPONENTS = ("ner",)
_POS_TAGS = ("NOUN", "PROPN", "VERB", "AUX", "ADJ", "ADV", "PRON", "ADP", "DET")
_CONTENT_TAGS = frozenset({"NOUN", "PROPN", "VERB", "ADJ", "ADV"})
_SUBORDINATE = frozenset({"advcl", "ccomp", "csubj", "csubjpass", "acl", "relcl"})
_PASSIVE = frozenset({"nsubjpass", "csubjpass", "auxpass"})
_FIRST_PERSON = frozenset(
    {"i", "me", "my", "mine", "myself", "we", "us", "our", "ours", "ourselves"}
)
_SECOND_PERSON = frozenset({"you", "your", "yours", "yourself", "yourselves"})
MTLD_THRESHOLD = 0.72
MAX_RUN_CHARS = 64
"""Longest run of non-space characters handed to spaCy: its tokenizer's cost grows with the
square of a run's length, so longer runs (no real word is this long) are split by a space
every MAX_RUN_CHARS characters before parsing."""
NORMALIZATION = {"version": 1, "max_run_chars": MAX_RUN_CHARS}
"""How texts are normalised before parsing; part of the fingerprint."""
_LONG_RUN = re.compile(rf"\S{{{MAX_RUN_CHARS + 1},}}")


def normalize_for_parsing(text: str) -> str:
    """``text`` with every run of more than MAX_RUN_CHARS non-space characters split by a
    space every MAX_RUN_CHARS characters (tokenizer cost stays linear in the length)."""

    def split(match: re.Match[str]) -> str:
        run = match.group(0)
        return " ".join(run[i : i + MAX_RUN_CHARS] for i in range(0, len(run), MAX_RUN_CHARS))

    return _LONG_RUN.sub(split, text)


CONNECTIVES: tuple[tuple[str, ...], ...] = tuple(
    tuple(marker.split())
    for marker in (
        "on the other hand", "in other words", "as a result", "first of all", "to sum up",
        "as well as", "for example", "for instance", "in conclusion", "in addition",
        "in fact", "even though", "in contrast", "however", "therefore", "because",
        "although", "though", "moreover", "furthermore", "consequently", "thus", "hence",
        "also", "but", "besides", "finally", "firstly", "secondly", "lastly", "meanwhile",
        "instead", "otherwise", "whereas", "since", "unless", "nevertheless", "nonetheless",
        "additionally", "overall",
    )
)  # fmt: skip
_CONNECTIVE_MARKERS = dict.fromkeys(CONNECTIVES, "connective")


_SENTENCE_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s)")


def sentence_spans(
    text: str, paragraphs: list[tuple[int, int]] | None = None
) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences without a parser: each paragraph (as
    ``paragraph_spans``, or ``paragraphs`` when the caller has them) split after . ! or ?
    (and the closing quotes or brackets after them) followed by whitespace; pieces without
    a letter or digit are dropped."""
    spans = []
    for start, end in paragraph_spans(text) if paragraphs is None else paragraphs:
        cut = start
        for match in (*_SENTENCE_END.finditer(text, start, end), None):
            stop = match.end() if match is not None else end
            piece = text[cut:stop]
            if is_word(piece):
                left = cut + (len(piece) - len(piece.lstrip()))
                spans.append((left, cut + len(piece.rstrip())))
            cut = stop
    return spans


def counts_as_word(token: Any) -> bool:
    """A word token that is not a contraction part glued to the word before it."""
    if not is_word(token.text):
        return False
    if token.i > 0 and token.text.lower() in CLITICS:
        previous = token.doc[token.i - 1]
        return bool(previous.whitespace_) or not is_word(previous.text)
    return True


def paragraphs(text: str) -> list[str]:
    """The paragraphs of a text, as in ``n_paragraphs``."""
    return [text[start:end] for start, end in paragraph_spans(text)]


def count_paragraphs(text: str) -> int:
    """Paragraphs as ``paragraph_spans`` finds them."""
    return len(paragraph_spans(text))


def _mtld_pass(words: Sequence[str], threshold: float) -> float:
    factors = 0.0
    types: set[str] = set()
    count = 0
    for word in words:
        count += 1
        types.add(word)
        if len(types) / count <= threshold:
            factors += 1.0
            types = set()
            count = 0
    if count:
        factors += (1.0 - len(types) / count) / (1.0 - threshold)
    return len(words) / factors if factors > 0 else float(len(words))


def mtld(words: Sequence[str], threshold: float = MTLD_THRESHOLD) -> float:
    """MTLD (McCarthy & Jarvis 2010): mean of the forward and backward passes."""
    if not words:
        return 0.0
    return (_mtld_pass(words, threshold) + _mtld_pass(list(reversed(words)), threshold)) / 2.0


def count_connectives(words: Sequence[str]) -> int:
    """Connectives in lower-cased words, longest marker first, without overlaps."""
    return match_markers(words, _CONNECTIVE_MARKERS)["connective"]


RARE_ZIPF = 3.0
"""Zipf below this (rarer than one occurrence per million words) makes a word rare."""
_FREQUENCY_TAGS = frozenset({"NOUN", "VERB", "ADJ", "ADV"})
_frequencies: dict[str, float] | None = None


def word_frequencies() -> dict[str, float]:
    """wordfreq's large English list (word -> frequency), loaded once per process."""
    global _frequencies
    if _frequencies is None:
        import wordfreq

        _frequencies = wordfreq.get_frequency_dict("en", wordlist="large")
    return _frequencies


@lru_cache(maxsize=100_000)
def zipf(word: str) -> float:
    """Zipf frequency of a lower-cased word: log10 of its frequency per billion words,
    rounded to 2 decimals (as ``wordfreq.zipf_frequency``); 0 when the list lacks it."""
    frequency = word_frequencies().get(word.lower())
    return round(math.log10(frequency) + 9.0, 2) if frequency else 0.0


def frequency_features(texts: Sequence[str], pos: Sequence[str]) -> dict[str, float]:
    """content_word_zipf_mean, rare_word_ratio, unknown_word_ratio of word tokens (their
    texts and coarse tags).

    Content words: tagged NOUN, VERB, ADJ or ADV with a letters-only text; the mean and the
    rare share count those the list contains. Unknown: letters-only words the list lacks.
    """
    alphabetic = [(tag, zipf(text)) for text, tag in zip(texts, pos, strict=True)
                  if text.isalpha()]  # fmt: skip
    known_content = [z for tag, z in alphabetic if tag in _FREQUENCY_TAGS and z > 0]
    unknown = sum(1 for _, z in alphabetic if z == 0)
    return {
        "content_word_zipf_mean": mean(known_content),
        "rare_word_ratio": ratio(sum(1 for z in known_content if z < RARE_ZIPF),
                                 len(known_content)),
        "unknown_word_ratio": ratio(unknown, len(alphabetic)),
    }  # fmt: skip


# -- the features -----------------------------------------------------------------------
# Each is one function of a ``Document`` (document.py) and one registration; families that
# compute several values from one pass register each value beside their function.

surface = partial(REGISTRY.feature, tier=1, group="surface", source="spacy")
syntax = partial(REGISTRY.feature, tier=2, group="syntax", source="spacy", undefined=NO_SENTENCES)
lexical = partial(REGISTRY.feature, tier=3, group="lexical", source="spacy", undefined=NO_WORDS)
structure = partial(
    REGISTRY.feature, tier=3, group="structure", source="spacy", undefined=NO_SENTENCES
)

_SHARE = (
    "spaCy's sentences, a run-on unsplit: a share of sentences stays within [0, 1] however "
    "long they are (run_on_sentence_ratio carries their length)"
)


@surface("n_words", definition=f"number of words; a word is {WORD}", unit="words", version=2)
def n_words(doc: Document) -> float:
    return float(doc.n_words)


@surface(
    "n_sentences",
    definition="number of spaCy sentences that contain at least one word (a run-on is one "
    "sentence here; sentence_length_*, the readability formulas and the per-sentence rates "
    "count it as several)",
    unit="sentences",
    version=2,
)
def n_sentences(doc: Document) -> float:
    return float(doc.n_sentences)


@surface(
    "n_paragraphs",
    definition="number of paragraphs: a text with a blank line is split at blank lines only "
    "(single line breaks are hard wrapping); a text without blank lines is split at line "
    "breaks that follow sentence-final punctuation (. ! ?, optionally closed by a quote or "
    "bracket)",
    unit="paragraphs",
    source="python",
    version=2,
)
def n_paragraphs(doc: Document) -> float:
    return float(len(doc.paragraphs))


@surface(
    "n_characters",
    definition="number of non-whitespace characters in the text",
    unit="characters",
    source="python",
)
def n_characters(doc: Document) -> float:
    return float(len(doc.text) - sum(map(str.isspace, doc.text)))


def _word_lengths(doc: Document) -> tuple[float, float]:
    return mean_std([len(t) for t in doc.word_texts])


@surface(
    "word_length_mean",
    definition="mean characters per word",
    unit="characters",
    undefined=NO_WORDS,
    version=2,
)
def word_length_mean(doc: Document) -> float:
    return _word_lengths(doc)[0]


@surface(
    "word_length_std",
    definition="population standard deviation of characters per word",
    unit="characters",
    undefined=NO_WORDS,
    version=2,
)
def word_length_std(doc: Document) -> float:
    return _word_lengths(doc)[1]


@surface(
    "sentence_length_mean",
    definition="mean words per counted sentence, a run-on of n > 40 words taken as "
    "ceil(n / 40) sentences of near-equal length (45 words: 23 + 22)",
    unit="words",
    undefined=NO_SENTENCES,
    version=3,
)
def sentence_length_mean(doc: Document) -> float:
    return mean_std(doc.segments)[0]


@surface(
    "sentence_length_std",
    definition="population standard deviation of words per counted sentence (run-ons split "
    "as in sentence_length_mean)",
    unit="words",
    undefined=NO_SENTENCES,
    version=3,
)
def sentence_length_std(doc: Document) -> float:
    return mean_std(doc.segments)[1]


@surface(
    "long_word_ratio",
    definition="share of words with more than 6 characters",
    unit="ratio",
    undefined=NO_WORDS,
    version=2,
)
def long_word_ratio(doc: Document) -> float:
    return ratio(sum(1 for t in doc.word_texts if len(t) > 6), doc.n_words)


@surface(
    "syllables_per_word_mean",
    definition="mean syllables per word (pyphen en_US hyphenation points + 1, at least 1)",
    unit="syllables",
    source="pyphen",
    undefined=NO_WORDS,
    version=2,
)
def syllables_per_word_mean(doc: Document) -> float:
    return syllables_per_word(doc.word_texts)


_TEXTDESCRIPTIVES = (
    "checked against TextDescriptives' dependency_distance (tests/engine/features/test_nlp.py)"
)


def _dependency_distance(doc: Document) -> tuple[float, float]:
    return dependency_distance(doc.view)


@syntax(
    "dependency_distance_mean",
    definition="mean over sentences of the mean absolute distance between a token and its "
    "head (TextDescriptives dependency_distance; spaCy's sentences, a run-on unsplit: each "
    "sentence's value is a mean over its tokens, not a count that grows with its length); "
    "punctuation-only sentences count too, so every text the service accepts has a value",
    unit="tokens",
    source="hemma",
    reference=_TEXTDESCRIPTIVES,
    undefined=None,
)
def dependency_distance_mean(doc: Document) -> float:
    return _dependency_distance(doc)[0]


@syntax(
    "dependency_distance_std",
    definition="population standard deviation over sentences of the mean dependency distance "
    "(TextDescriptives; 0 for one sentence)",
    unit="tokens",
    source="hemma",
    reference=_TEXTDESCRIPTIVES,
    undefined=None,
)
def dependency_distance_std(doc: Document) -> float:
    return _dependency_distance(doc)[1]


def _depths(doc: Document) -> list[int]:
    return [sentence_depth(doc.view, s, e) for s, e in doc.sentences]


@syntax(
    "parse_depth_mean",
    definition="mean over counted sentences of the parse tree depth (edges from the root to "
    "the deepest token; a one-token sentence has depth 0); a run-on is not split, since "
    "depth is read off the parser's tree, which a split part would not have",
    unit="edges",
)
def parse_depth_mean(doc: Document) -> float:
    return mean(_depths(doc))


@syntax(
    "parse_depth_max",
    definition="largest parse tree depth of any counted sentence (a run-on unsplit, as in "
    "parse_depth_mean)",
    unit="edges",
)
def parse_depth_max(doc: Document) -> float:
    depths = _depths(doc)
    return float(max(depths)) if depths else 0.0


@syntax(
    "subordinate_clauses_per_sentence",
    definition="tokens with dependency advcl, ccomp, csubj, csubjpass, acl or relcl, per "
    f"counted sentence, {RUN_ON}",
    unit="clauses",
    version=3,
)
def subordinate_clauses_per_sentence(doc: Document) -> float:
    return ratio(sum(1 for label in doc.view.dep if label in _SUBORDINATE), doc.n_segments)


@syntax(
    "relative_clauses_per_sentence",
    definition=f"tokens with dependency relcl per counted sentence, {RUN_ON}",
    unit="clauses",
    version=3,
)
def relative_clauses_per_sentence(doc: Document) -> float:
    return ratio(doc.view.dep.count("relcl"), doc.n_segments)


@syntax(
    "passive_sentence_ratio",
    definition="share of counted sentences with a passive subject or auxiliary (nsubjpass, "
    f"csubjpass, auxpass); {_SHARE}",
    unit="ratio",
    version=2,
)
def passive_sentence_ratio(doc: Document) -> float:
    dep = doc.view.dep
    passive = sum(1 for s, e in doc.sentences if any(label in _PASSIVE for label in dep[s:e]))
    return ratio(passive, doc.n_sentences)


@syntax(
    "noun_phrase_length_mean",
    definition="mean words per spaCy noun chunk (doc.noun_chunks)",
    unit="words",
    undefined=unmeasured("for a text without a noun chunk"),
)
def noun_phrase_length_mean(doc: Document) -> float:
    if not doc.view.text:
        return 0.0
    alnum = doc.view.alnum
    return mean([sum(alnum[s:e]) for s, e in noun_chunk_spans(doc.doc, doc.view)])


def _pos(tag: str) -> None:
    """Register ``pos_<tag>``: the share of words with the coarse tag ``tag``."""

    def share(doc: Document) -> float:
        return ratio(doc.pos_counts.get(tag, 0), doc.n_words)

    lexical(
        f"pos_{tag.lower()}",
        definition=f"share of words whose spaCy coarse tag (token.pos_) is {tag}",
        unit="ratio",
        version=2,
    )(share)


for _tag in _POS_TAGS:
    _pos(_tag)


@lexical(
    "pos_conj",
    definition="share of words whose spaCy coarse tag is CCONJ or SCONJ",
    unit="ratio",
    version=2,
)
def pos_conj(doc: Document) -> float:
    counts = doc.pos_counts
    return ratio(counts.get("CCONJ", 0) + counts.get("SCONJ", 0), doc.n_words)


@lexical(
    "lexical_density",
    definition="share of words tagged NOUN, PROPN, VERB, ADJ or ADV (content words)",
    unit="ratio",
    version=2,
)
def lexical_density(doc: Document) -> float:
    return ratio(sum(doc.pos_counts.get(tag, 0) for tag in _CONTENT_TAGS), doc.n_words)


@lexical(
    "type_token_ratio",
    definition="distinct lower-cased words / words",
    unit="ratio",
    version=2,
)
def type_token_ratio(doc: Document) -> float:
    return ratio(len(set(doc.lower)), doc.n_words)


@REGISTRY.family("frequency")
def frequency_family(doc: Document) -> dict[str, float]:
    """The wordfreq values of the document's words."""
    return frequency_features(doc.word_texts, doc.word_pos)


_frequency = partial(REGISTRY.value, family="frequency", tier=3, group="lexical",
                     source="wordfreq")  # fmt: skip
_frequency(
    "content_word_zipf_mean",
    definition="mean Zipf frequency (log10 of occurrences per billion words, wordfreq's large "
    "English list, 2 decimals) of the content words the list contains; content words are "
    "words tagged NOUN, VERB, ADJ or ADV whose text is letters only, looked up lower-cased; "
    "lower means a more sophisticated vocabulary",
    unit="zipf",
    undefined=unmeasured("for a text without a content word the list contains"),
)
_frequency(
    "rare_word_ratio",
    definition="share of those content words whose Zipf frequency is below 3 (rarer than one "
    "per million words)",
    unit="ratio",
    undefined=unmeasured("for a text without a content word the list contains"),
)
_frequency(
    "unknown_word_ratio",
    definition="share of letters-only words absent from wordfreq's large English list (looked "
    "up lower-cased): a spelling signal that needs no LanguageTool; the list holds frequent "
    "web misspellings (e.g. 'thier'), so it counts the rarer ones, and names count too",
    unit="ratio",
    undefined=unmeasured("for a text without a letters-only word"),
)


@lexical(
    "mtld",
    definition="measure of textual lexical diversity (McCarthy & Jarvis 2010) over "
    "lower-cased words, TTR threshold 0.72, mean of the forward and backward passes; partial "
    "factors count (1 - TTR) / (1 - 0.72); equals the word count when no factor completes",
    unit="words",
    version=2,
)
def mtld_value(doc: Document) -> float:
    return mtld(doc.lower)


@lexical(
    "connective_density",
    definition="discourse connectives (a fixed list of single and multi-word markers such as "
    "'however', 'because', 'for example', 'in conclusion') per 100 words",
    unit="per 100 words",
    version=2,
)
def connective_density(doc: Document) -> float:
    return 100.0 * ratio(count_connectives(doc.lower), doc.n_words)


@lexical(
    "first_person_ratio",
    definition="share of words that are first-person pronouns or determiners (I, me, my, "
    "mine, myself, we, us, our, ours, ourselves; case-insensitive)",
    unit="ratio",
    version=2,
)
def first_person_ratio(doc: Document) -> float:
    return ratio(sum(1 for w in doc.lower if w in _FIRST_PERSON), doc.n_words)


@lexical(
    "second_person_ratio",
    definition="share of words that are second-person pronouns or determiners (you, your, "
    "yours, yourself, yourselves; case-insensitive)",
    unit="ratio",
    version=2,
)
def second_person_ratio(doc: Document) -> float:
    return ratio(sum(1 for w in doc.lower if w in _SECOND_PERSON), doc.n_words)


@structure(
    "punctuation_per_sentence",
    definition="punctuation tokens (token.is_punct) in counted sentences per counted "
    "sentence, " + RUN_ON,
    unit="tokens",
    version=3,
)
def punctuation_per_sentence(doc: Document) -> float:
    punct = doc.view.punct
    return ratio(sum(sum(punct[s:e]) for s, e in doc.sentences), doc.n_segments)


@structure(
    "question_sentence_ratio",
    definition="share of counted sentences whose text ends with '?', closing quotes and "
    f"brackets after it ignored ('?\"', '?)'); {_SHARE}",
    unit="ratio",
    version=2,
)
def question_sentence_ratio(doc: Document) -> float:
    questions = sum(
        1
        for s, e in doc.sentences
        if _span_text(doc.view, doc.text, s, e).rstrip(_CLOSERS).endswith("?")
    )
    return ratio(questions, doc.n_sentences)


def _paragraph_lengths(doc: Document) -> tuple[float, float]:
    starts = [start for start, _ in doc.paragraphs]
    per_paragraph = [0] * len(starts)
    idx = doc.view.idx
    for i in doc.words:
        index = bisect.bisect_right(starts, idx[i]) - 1
        if index >= 0:
            per_paragraph[index] += 1
    return mean_std(per_paragraph)


@structure(
    "paragraph_length_mean",
    definition="mean words per paragraph (paragraphs as in n_paragraphs)",
    unit="words",
    undefined=NO_PARAGRAPHS,
    version=2,
)
def paragraph_length_mean(doc: Document) -> float:
    return _paragraph_lengths(doc)[0]


@structure(
    "paragraph_length_std",
    definition="population standard deviation of words per paragraph",
    unit="words",
    undefined=NO_PARAGRAPHS,
    version=2,
)
def paragraph_length_std(doc: Document) -> float:
    return _paragraph_lengths(doc)[1]


diversity = partial(REGISTRY.feature, tier=3, group="diversity", source="spacy",
                    undefined=NO_WORDS)  # fmt: skip


@diversity(
    "mattr_50",
    definition="moving-average type-token ratio (Covington & McFall 2010) of the lower-cased "
    "words, window 50: the mean TTR of every run of 50 consecutive words; a text of 50 words "
    "or fewer is one window (its TTR)",
    unit="ratio",
)
def mattr_50(doc: Document) -> float:
    return mattr(doc.lower)


@diversity(
    "hdd",
    definition="HD-D (McCarthy & Jarvis 2007) of the lower-cased words: the expected TTR of a "
    "random sample of 42 words, sum over types of (1 - C(N-f, 42) / C(N, 42)) / 42 for N "
    "words and f occurrences of the type; a text of fewer than 42 words is sampled whole "
    "(its TTR)",
    unit="ratio",
)
def hdd_value(doc: Document) -> float:
    return hdd(doc.lower)


@structure(
    "run_on_sentence_ratio",
    definition="share of counted sentences longer than 40 words (run-ons: sentence_length_*, "
    "the readability formulas and the per-sentence and per-T-unit rates split them, this "
    "keeps the signal)",
    unit="ratio",
)
def run_on_sentence_ratio(doc: Document) -> float:
    return ratio(sum(1 for n in doc.sentence_lengths if n > MAX_SENTENCE_WORDS), doc.n_sentences)


def _span_text(view: DocView, text: str, start: int, end: int) -> str:
    """``doc[start:end].text``: the Doc's text from the first token to the end of the last."""
    return text[view.idx[start] : view.idx[end - 1] + len(view.text[end - 1])]
