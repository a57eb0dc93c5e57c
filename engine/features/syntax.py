"""Read-outs of the dependency parse from a ``DocView``: parse depth, dependency distance
(as TextDescriptives defines it, from the head indices, so its component is not needed in
the pipeline) and noun chunks (spaCy's English rule, without building Spans)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hemma_features.engine.features._view import DocView


def sentence_depth(view: DocView, start: int, end: int) -> int:
    """Longest head chain (edges to the root) over the non-space tokens of the sentence
    ``start:end``.

    Each token's depth is computed once from its head's (memoised), so the cost is linear in
    the sentence length even for a chain thousands of tokens deep.
    """
    head = view.head
    size = end - start
    depth: dict[int, int] = {}
    for token in range(start, end):
        path = []
        current = token
        while current not in depth and head[current] != current:
            path.append(current)
            current = head[current]
            if len(path) > size:  # not a tree: never loop forever
                break
        base = depth.get(current, 0)
        for offset, index in enumerate(reversed(path), start=1):
            depth[index] = base + offset
        depth.setdefault(current, base)
    return max((depth[i] for i in range(start, end) if not view.space[i]), default=0)


def dependency_distance(view: DocView) -> tuple[float, float]:
    """Mean and standard deviation over ``doc.sents`` of each sentence's mean dependency
    distance, as TextDescriptives' ``dependency_distance`` defines them: |head - token| for
    every token but the ROOT (0 there), whitespace and punctuation included; (0, 0) for an
    empty Doc (TextDescriptives: NaN)."""
    if not view.sents:
        return 0.0, 0.0
    head, dep = view.head, view.dep
    distances = [0 if dep[i] == "ROOT" else abs(head[i] - i) for i in range(len(head))]
    # An exact integer sum over an integer count: the value numpy's mean gives.
    means = [sum(distances[start:end]) / (end - start) for start, end in view.sents]
    return float(np.mean(means)), float(np.std(means))


_NP_DEPS = frozenset({"oprd", "nsubj", "dobj", "nsubjpass", "pcomp", "pobj", "dative", "appos",
                      "attr", "ROOT"})  # fmt: skip
_NOMINAL = frozenset({"NOUN", "PROPN", "PRON"})


def noun_chunk_spans(doc: Any, view: DocView) -> list[tuple[int, int]]:
    """(start, end) of ``doc.noun_chunks``, without building their Spans.

    For English, spaCy's own rule (``spacy.lang.en.syntax_iterators.noun_chunks``) read off
    the view: only the chunk heads build a Token, for spaCy's left edge; any other language
    runs its iterator.
    """
    from spacy.lang.en.syntax_iterators import noun_chunks

    if doc.noun_chunks_iterator is not noun_chunks:
        return [(start, end) for start, end, _ in doc.noun_chunks_iterator(doc)]
    pos, dep, head = view.pos, view.dep, view.head
    spans = []
    previous_end = -1
    for i, tag in enumerate(pos):
        if tag not in _NOMINAL:
            continue
        if dep[i] == "conj":
            top = head[i]
            while dep[top] == "conj" and head[top] < top:
                top = head[top]
            if dep[top] not in _NP_DEPS:  # coordinated to no noun phrase
                continue
        elif dep[i] not in _NP_DEPS:
            continue
        left = doc[i].left_edge.i
        if left <= previous_end:  # nested in the chunk before
            continue
        previous_end = i
        spans.append((left, i + 1))
    return spans
