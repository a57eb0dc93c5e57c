"""One parsed Doc as plain per-token lists, built once and read by every feature module.

spaCy builds a new ``Token`` object on every ``doc[i]`` and every iteration, and each
attribute read goes through it; the feature modules read each token some twenty times, so
``doc_features`` read a Doc in ~2.1M Token creations per 200 essays. ``doc_view`` reads the
Doc once (``Doc.to_array`` for the numbers, one string lookup per distinct hash), and the
modules index the lists instead. Same values: benchmarks/handcrafted_equal.py compares
every handcrafted column with the code before the view on the 2,000 ELLIPSE essays.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

_ATTRS = ("ORTH", "IDX", "SPACY", "IS_SPACE", "IS_PUNCT", "SENT_START", "POS", "TAG", "DEP",
          "HEAD", "LEMMA")  # fmt: skip
_ORTH, _IDX, _SPACY, _IS_SPACE, _IS_PUNCT, _SENT_START, _POS, _TAG, _DEP, _HEAD, _LEMMA = range(
    len(_ATTRS)
)
CLITICS = frozenset({"nt", "n't", "n’t", "'s", "’s", "'m", "’m", "'re", "’re", "'ve", "’ve",
                     "'ll", "’ll", "'d", "’d"})  # fmt: skip
"""Contraction parts spaCy splits off ("do" + "nt", "is" + "n't"): attached to the word
before them, they are part of that word, not words of their own."""


def is_word(text: str) -> bool:
    """A word token contains at least one letter or digit (underscore excluded)."""
    return any(ch.isalnum() for ch in text)


_is_word = lru_cache(maxsize=100_000)(is_word)


class DocView(NamedTuple):
    """A parsed Doc's tokens as lists indexed by token position (``token.i``)."""

    doc_text: str
    """``doc.text`` (every token's text and its trailing space, as spaCy joins them)."""
    text: list[str]
    """``token.text``."""
    lower: list[str]
    """``token.text.lower()``."""
    glued: list[bool]
    """No whitespace after the token (``not token.whitespace_``)."""
    idx: list[int]
    """Character offset of the token (``token.idx``)."""
    space: list[bool]
    """The token is whitespace (``token.is_space``)."""
    sent_start: list[bool]
    """spaCy starts a sentence at the token (``bool(token.is_sent_start)``)."""
    punct: list[bool]
    """``token.is_punct``."""
    pos: list[str]
    """``token.pos_``."""
    tag: list[str]
    """``token.tag_``."""
    dep: list[str]
    """``token.dep_``."""
    head: list[int]
    """``token.head.i``."""
    lemma: list[str]
    """``token.lemma_``."""
    alnum: list[bool]
    """``is_word(token.text)``: the token has a letter or digit."""
    word: list[bool]
    """``counts_as_word(token)``: a word, not a contraction part glued to the word before."""
    sents: list[tuple[int, int]]
    """(start, end) token offsets of ``doc.sents``."""
    children: list[list[int]]
    """Indices of ``token.children`` (the tokens whose head it is, itself excluded)."""


def doc_view(doc: Any) -> DocView:
    """The ``DocView`` of one parsed Doc."""
    n = len(doc)
    if n == 0:
        return DocView("", *([] for _ in DocView._fields[1:]))
    array = doc.to_array(list(_ATTRS))
    columns = array.T.tolist()
    strings = doc.vocab.strings
    text, pos, tag, dep, lemma = (
        _names(columns[c], strings) for c in (_ORTH, _POS, _TAG, _DEP, _LEMMA)
    )
    # HEAD is an offset and SENT_START is -1/0/1: both come as uint64, so reinterpret signed.
    signed = array[:, [_HEAD, _SENT_START]].astype(np.int64)
    head = (signed[:, 0] + np.arange(n)).tolist()
    sent_start = (signed[:, 1] == 1).tolist()
    glued = [not spacy for spacy in columns[_SPACY]]
    lower = [t.lower() for t in text]
    alnum = [_is_word(t) for t in text]
    word = alnum[:]
    for i in range(1, n):
        if word[i] and lower[i] in CLITICS:
            word[i] = not glued[i - 1] or not alnum[i - 1]
    boundaries = [i for i in range(1, n) if sent_start[i]]
    sents = list(zip([0, *boundaries], [*boundaries, n], strict=True))
    children: list[list[int]] = [[] for _ in range(n)]
    for i, h in enumerate(head):
        if h != i:
            children[h].append(i)
    return DocView(
        doc_text="".join([t if g else t + " " for t, g in zip(text, glued, strict=True)]),
        text=text,
        lower=lower,
        glued=glued,
        idx=columns[_IDX],
        space=[bool(flag) for flag in columns[_IS_SPACE]],
        sent_start=sent_start,
        punct=[bool(flag) for flag in columns[_IS_PUNCT]],
        pos=pos,
        tag=tag,
        dep=dep,
        head=head,
        lemma=lemma,
        alnum=alnum,
        word=word,
        sents=sents,
        children=children,
    )


def _names(hashes: list[int], strings: Any) -> list[str]:
    """The strings of ``hashes``, each distinct one looked up once."""
    names = {h: strings[h] for h in set(hashes)}
    return [names[h] for h in hashes]
