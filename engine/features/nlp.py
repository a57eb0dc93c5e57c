"""spaCy: texts -> the spaCy-derived handcrafted features.

The pipeline is loaded once by ``TextAnalyzer.load`` (at server startup, never at import).
``doc_features`` is the pure step from a parsed Doc to named values: it reads the Doc once
into a ``DocView`` (_view.py) that every feature module indexes (syntax.py: parse depth,
dependency distance, noun chunks); the lexical helpers (MTLD, connectives, paragraphs) are
plain functions tested on their own.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from hemma_features.engine.features._view import CLITICS, DocView, doc_view, is_word
from hemma_features.engine.features.agreement import determiner_noun_errors, subject_verb_errors
from hemma_features.engine.features.cohesion import cohesion_features, match_markers
from hemma_features.engine.features.complexity import complexity_features
from hemma_features.engine.features.diversity import hdd, mattr
from hemma_features.engine.features.phraseology import phraseology_features, sentence_pairs
from hemma_features.engine.features.punctuation import punctuation_features
from hemma_features.engine.features.readability import (
    MAX_SENTENCE_WORDS,
    formula_sentences,
    readability,
    syllables_per_word,
)
from hemma_features.engine.features.spelling import error_features
from hemma_features.engine.features.syntax import (
    dependency_distance,
    noun_chunk_spans,
    sentence_depth,
)

_BREAK = r"(?:\r\n|\r(?!\n)|\n)"
_BLANK_LINE = re.compile(rf"(){_BREAK}[ \t\f\v]*(?:{_BREAK}[ \t\f\v]*)+")
_SENTENCE_LINE_BREAK = re.compile(rf"(?<=[.!?])([\"'\u201d\u2019)\]]*)[ \t]*{_BREAK}")
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


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the paragraphs, without surrounding whitespace.

    A text with a blank line anywhere is split at blank lines only: single line breaks
    inside a paragraph (hard wrapping) do not start a new one. A text without blank lines
    is split at the line breaks that follow sentence-final punctuation (``.``, ``!``, ``?``,
    optionally closed by a quote or bracket), so one paragraph per line when lines are
    paragraphs, and one paragraph for hard-wrapped prose.
    """
    separator = _BLANK_LINE if _BLANK_LINE.search(text) else _SENTENCE_LINE_BREAK
    spans = []
    start = 0
    for match in (*separator.finditer(text), None):
        end = match.end(1) if match is not None else len(text)  # closers stay in the paragraph
        piece = text[start:end]
        if piece.strip():
            left = start + (len(piece) - len(piece.lstrip()))
            spans.append((left, start + len(piece.rstrip())))
        if match is not None:
            start = match.end()
    return spans


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
        "content_word_zipf_mean": float(np.mean(known_content)) if known_content else 0.0,
        "rare_word_ratio": _ratio(sum(1 for z in known_content if z < RARE_ZIPF),
                                  len(known_content)),
        "unknown_word_ratio": _ratio(unknown, len(alphabetic)),
    }  # fmt: skip


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std())


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def agreement_features(view: DocView, n_words: int) -> dict[str, float]:
    """Subject-verb and determiner-noun agreement errors per 100 words (agreement.py)."""
    columns = (view.lower, view.tag, view.dep, view.head)
    per_100 = 100.0 / n_words if n_words else 0.0
    return {
        "subject_verb_agreement_errors_per_100_words": subject_verb_errors(*columns) * per_100,
        "determiner_noun_agreement_errors_per_100_words": (
            determiner_noun_errors(*columns) * per_100
        ),
    }


def doc_features(doc: Any) -> dict[str, float]:
    """Named spaCy values for one parsed Doc (read once into a ``DocView``)."""
    view = doc_view(doc)
    text = view.doc_text
    is_counted, token_text = view.word, view.text
    words = [i for i, counted in enumerate(is_counted) if counted]
    lower = [view.lower[i] for i in words]
    word_texts = [token_text[i] for i in words]
    n_words = len(words)
    sentences = [(s, e) for s, e in view.sents if any(is_counted[s:e])]
    n_sent = len(sentences)
    sentence_lengths = [sum(is_counted[s:e]) for s, e in sentences]
    word_mean, word_std = _mean_std([len(t) for t in word_texts])
    # Run-ons split (readability.py): the formulas, sentence lengths and every count per
    # sentence take these; shares of sentences and parse depth take spaCy's sentences.
    segments = formula_sentences(sentence_lengths)
    sent_mean, sent_std = _mean_std(segments)
    depths = [sentence_depth(view, s, e) for s, e in sentences]
    spans = paragraph_spans(text)
    starts = [start for start, _ in spans]
    per_paragraph = [0] * len(spans)
    for i in words:
        index = bisect.bisect_right(starts, view.idx[i]) - 1
        if index >= 0:
            per_paragraph[index] += 1
    para_mean, para_std = _mean_std(per_paragraph)
    chunks = [sum(view.alnum[s:e]) for s, e in noun_chunk_spans(doc, view)]
    word_pos = [view.pos[i] for i in words]
    pos_counts: dict[str, int] = {}
    for tag in word_pos:
        pos_counts[tag] = pos_counts.get(tag, 0) + 1
    dependency_mean, dependency_std = dependency_distance(view)
    dep = view.dep
    values: dict[str, float] = {
        "n_words": float(n_words),
        "n_sentences": float(n_sent),
        "n_paragraphs": float(len(spans)),
        "n_characters": float(len(text) - sum(map(str.isspace, text))),
        "word_length_mean": word_mean,
        "word_length_std": word_std,
        "sentence_length_mean": sent_mean,
        "sentence_length_std": sent_std,
        "long_word_ratio": _ratio(sum(1 for t in word_texts if len(t) > 6), n_words),
        "syllables_per_word_mean": syllables_per_word(word_texts),
        "dependency_distance_mean": dependency_mean,
        "dependency_distance_std": dependency_std,
        "parse_depth_mean": float(np.mean(depths)) if depths else 0.0,
        "parse_depth_max": float(max(depths)) if depths else 0.0,
        "subordinate_clauses_per_sentence": _ratio(
            sum(1 for label in dep if label in _SUBORDINATE), len(segments)
        ),
        "relative_clauses_per_sentence": _ratio(dep.count("relcl"), len(segments)),
        "passive_sentence_ratio": _ratio(
            sum(1 for s, e in sentences if any(label in _PASSIVE for label in dep[s:e])), n_sent
        ),
        "noun_phrase_length_mean": float(np.mean(chunks)) if chunks else 0.0,
        "pos_conj": _ratio(pos_counts.get("CCONJ", 0) + pos_counts.get("SCONJ", 0), n_words),
        "lexical_density": _ratio(sum(pos_counts.get(tag, 0) for tag in _CONTENT_TAGS), n_words),
        "type_token_ratio": _ratio(len(set(lower)), n_words),
        "mtld": mtld(lower),
        "mattr_50": mattr(lower),
        "hdd": hdd(lower),
        "connective_density": 100.0 * _ratio(count_connectives(lower), n_words),
        "first_person_ratio": _ratio(sum(1 for w in lower if w in _FIRST_PERSON), n_words),
        "second_person_ratio": _ratio(sum(1 for w in lower if w in _SECOND_PERSON), n_words),
        "punctuation_per_sentence": _ratio(
            sum(sum(view.punct[s:e]) for s, e in sentences), len(segments)
        ),
        "question_sentence_ratio": _ratio(
            sum(
                1
                for s, e in sentences
                if _span_text(view, text, s, e).rstrip(_CLOSERS).endswith("?")
            ),
            n_sent,
        ),  # fmt: skip
        "paragraph_length_mean": para_mean,
        "paragraph_length_std": para_std,
        "run_on_sentence_ratio": _ratio(
            sum(1 for n in sentence_lengths if n > MAX_SENTENCE_WORDS), n_sent
        ),
    }
    for tag in _POS_TAGS:
        values[f"pos_{tag.lower()}"] = _ratio(pos_counts.get(tag, 0), n_words)
    values.update(frequency_features(word_texts, word_pos))
    values.update(readability(word_texts, len(segments)))
    values.update(error_features(view, text, sentences, spans, n_words))
    values.update(complexity_features(view, sentences, sentence_lengths))
    values.update(cohesion_features(lower, view, sentences))
    values.update(phraseology_features(sentence_pairs(view, sentences)))
    values.update(agreement_features(view, n_words))
    values.update(punctuation_features(view, text, n_words))
    return values


def _span_text(view: DocView, text: str, start: int, end: int) -> str:
    """``doc[start:end].text``: the Doc's text from the first token to the end of the last."""
    return text[view.idx[start] : view.idx[end - 1] + len(view.text[end - 1])]
