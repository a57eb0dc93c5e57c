"""Cohesion in the manner of TAACO (Crossley, Kyle & McNamara 2016): connectives by type and
adjacent-sentence lexical overlap.

Connective types follow Halliday & Hasan (1976): additive (adds, restates or exemplifies),
adversative (contrasts or concedes), causal (reason, result, condition) and temporal
(sequence and conclusion). Words that are connectives only sometimes are left out: "so"
(mostly an intensifier in learner essays: "so much"), "first" and "next" (mostly
adjectives: "the first time", "next year"), "while", "still" and "yet" (as often
temporal or adverbs as adversative), "and" and "or" (everywhere, so they measure length,
not cohesion).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from hemma_features.engine.features._view import DocView
from hemma_features.engine.features.lemmas import CONTENT_TAGS

CONNECTIVE_TYPES: dict[str, tuple[str, ...]] = {
    "additive": (
        "also", "in addition", "moreover", "furthermore", "additionally", "besides",
        "as well as", "for example", "for instance", "in other words", "in fact",
        "similarly", "likewise", "that is", "such as", "not only", "another reason",
    ),
    "adversative": (
        "however", "but", "although", "though", "even though", "on the other hand",
        "in contrast", "whereas", "nevertheless", "nonetheless", "instead", "despite",
        "in spite of", "on the contrary", "rather than", "even if",
    ),
    "causal": (
        "because", "therefore", "as a result", "consequently", "thus", "hence", "since",
        "unless", "otherwise", "for this reason", "due to", "that is why", "so that",
        "because of", "if",
    ),
    "temporal": (
        "firstly", "secondly", "thirdly", "lastly", "finally", "first of all",
        "meanwhile", "then", "afterwards", "after that", "at first", "in the end",
        "eventually", "later", "until", "in conclusion", "to sum up", "overall",
        "in summary", "to conclude",
    ),
}  # fmt: skip
"""Connective markers per type, matched on lower-cased words, longest first."""
TYPED_MARKERS: dict[tuple[str, ...], str] = {
    tuple(marker.split()): kind for kind, markers in CONNECTIVE_TYPES.items() for marker in markers
}


def match_markers(words: Sequence[str], markers: Mapping[tuple[str, ...], str]) -> Counter[str]:
    """Count markers (word tuples, each with a label) in ``words``: at each position the
    longest marker that starts there, then matching goes on after it (no overlaps)."""
    longest = max((len(marker) for marker in markers), default=0)
    firsts = {marker[0] for marker in markers if marker}
    found: Counter[str] = Counter()
    i = 0
    while i < len(words):
        if words[i] not in firsts:  # no marker starts here (most words): skip the slicing
            i += 1
            continue
        for size in range(min(longest, len(words) - i), 0, -1):
            label = markers.get(tuple(words[i : i + size]))
            if label is not None:
                found[label] += 1
                i += size
                break
        else:
            i += 1
    return found


def typed_connectives(words: Sequence[str]) -> dict[str, int]:
    """Connectives of each type in lower-cased words."""
    found = match_markers(words, TYPED_MARKERS)
    return {kind: found.get(kind, 0) for kind in CONNECTIVE_TYPES}


def content_lemmas(view: DocView, start: int, end: int) -> set[str]:
    """Lower-cased lemmas of the content words (letters only) of the sentence
    ``start:end``."""
    pos, text, lemma = view.pos, view.text, view.lemma
    return {
        lemma[i].lower() for i in range(start, end) if pos[i] in CONTENT_TAGS and text[i].isalpha()
    }


def adjacent_overlap(view: DocView, sentences: Sequence[tuple[int, int]]) -> float:
    """Mean over adjacent sentence pairs of |A & B| / |A | B|, A and B the content lemmas
    of the two sentences (start, end token offsets; a pair where neither has a content
    word counts 0); 0 with fewer than two sentences."""
    lemma_sets = [content_lemmas(view, start, end) for start, end in sentences]
    pairs = [
        len(a & b) / len(a | b) if a | b else 0.0
        for a, b in zip(lemma_sets, lemma_sets[1:], strict=False)
    ]
    return sum(pairs) / len(pairs) if pairs else 0.0


def cohesion_features(
    lower_words: Sequence[str], view: DocView, sentences: Sequence[tuple[int, int]]
) -> dict[str, float]:
    """Connectives of each type per 100 words and the adjacent-sentence overlap of the
    counted sentences (start, end token offsets)."""
    per_100 = 100.0 / len(lower_words) if lower_words else 0.0
    values = {
        f"connectives_{kind}_per_100_words": count * per_100
        for kind, count in typed_connectives(lower_words).items()
    }
    values["adjacent_sentence_overlap"] = adjacent_overlap(view, sentences)
    return values
