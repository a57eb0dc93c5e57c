"""One parsed document as the counts its features share, each computed once on first use.

Every feature is a function of a ``Document``: ``doc.n_words``, ``doc.sentences``,
``doc.segments``... are ``functools.cached_property`` values, so a feature that needs the
words reads the list the first feature built. The definitions the catalogue gives are the
ones coded here (words: ``_view.DocView.word``; counted sentences: spaCy's sentences with a
word; segments: the counted sentences with every run-on split, readability.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from hemma_features.engine.features._view import DocView, doc_view

_BREAK = r"(?:\r\n|\r(?!\n)|\n)"
_BLANK_LINE = re.compile(rf"(){_BREAK}[ \t\f\v]*(?:{_BREAK}[ \t\f\v]*)+")
_SENTENCE_LINE_BREAK = re.compile(rf"(?<=[.!?])([\"'\u201d\u2019)\]]*)[ \t]*{_BREAK}")


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


MAX_SENTENCE_WORDS = 40
"""Longest sentence the formulas take as one: longer ones are run-ons (measured on the 2,000
ELLIPSE essays: 5% of spaCy sentences are longer, and nearly all of those join several
sentences with commas or no punctuation at all)."""


def formula_sentences(lengths: Sequence[int]) -> list[int]:
    """Words per sentence with every run-on split: a sentence of n > MAX_SENTENCE_WORDS
    words becomes k = ceil(n / MAX_SENTENCE_WORDS) sentences, the first n mod k of them one
    word longer (45 words: 23 + 22)."""
    split: list[int] = []
    for n in lengths:
        k = max(1, math.ceil(n / MAX_SENTENCE_WORDS))
        split.extend(n // k + (1 if i < n % k else 0) for i in range(k))
    return split


class Document:
    """A parsed Doc (or ``None`` with an empty view) and the counts its features share."""

    def __init__(self, doc: Any, view: DocView | None = None) -> None:
        self.doc = doc
        self.view = view if view is not None else doc_view(doc)

    @classmethod
    def empty(cls) -> Document:
        """A document without tokens (the registry's startup check runs families on it)."""
        return cls(None, DocView("", *([] for _ in DocView._fields[1:])))

    @cached_property
    def text(self) -> str:
        """The Doc's text."""
        return self.view.doc_text

    @cached_property
    def words(self) -> list[int]:
        """Token indices of the words (``DocView.word``)."""
        return [i for i, counted in enumerate(self.view.word) if counted]

    @cached_property
    def n_words(self) -> int:
        return len(self.words)

    @cached_property
    def lower(self) -> list[str]:
        """The words, lower-cased."""
        return [self.view.lower[i] for i in self.words]

    @cached_property
    def word_texts(self) -> list[str]:
        """The words' texts."""
        return [self.view.text[i] for i in self.words]

    @cached_property
    def word_pos(self) -> list[str]:
        """The words' coarse tags."""
        return [self.view.pos[i] for i in self.words]

    @cached_property
    def pos_counts(self) -> dict[str, int]:
        """Words per coarse tag."""
        counts: dict[str, int] = {}
        for tag in self.word_pos:
            counts[tag] = counts.get(tag, 0) + 1
        return counts

    @cached_property
    def sentences(self) -> list[tuple[int, int]]:
        """(start, end) token offsets of the counted sentences (spaCy's, with a word)."""
        counted = self.view.word
        return [(s, e) for s, e in self.view.sents if any(counted[s:e])]

    @cached_property
    def n_sentences(self) -> int:
        return len(self.sentences)

    @cached_property
    def sentence_lengths(self) -> list[int]:
        """Words per counted sentence (a run-on unsplit)."""
        counted = self.view.word
        return [sum(counted[s:e]) for s, e in self.sentences]

    @cached_property
    def segments(self) -> list[int]:
        """Words per counted sentence with every run-on split (``formula_sentences``)."""
        return formula_sentences(self.sentence_lengths)

    @cached_property
    def n_segments(self) -> int:
        """Counted sentences with run-ons split: the per-sentence rates' denominator."""
        return len(self.segments)

    @cached_property
    def paragraphs(self) -> list[tuple[int, int]]:
        """(start, end) character offsets of the paragraphs (``paragraph_spans``)."""
        return paragraph_spans(self.text)
