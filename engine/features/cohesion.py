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
from typing import TYPE_CHECKING

from hemma_features.contract import Undefined
from hemma_features.engine.features._specs import NO_WORDS
from hemma_features.engine.features._view import DocView
from hemma_features.engine.features.lemmas import CONTENT_TAGS
from hemma_features.engine.features.registry import REGISTRY
from hemma_features.engine.features.stats import per_100, ratio

if TYPE_CHECKING:
    from hemma_features.engine.features.document import Document

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
        ratio(len(a & b), len(a | b)) for a, b in zip(lemma_sets, lemma_sets[1:], strict=False)
    ]
    return ratio(sum(pairs), len(pairs))


def cohesion_features(
    lower_words: Sequence[str], view: DocView, sentences: Sequence[tuple[int, int]]
) -> dict[str, float]:
    """Connectives of each type per 100 words and the adjacent-sentence overlap of the
    counted sentences (start, end token offsets)."""
    values = {
        f"connectives_{kind}_per_100_words": per_100(count, len(lower_words))
        for kind, count in typed_connectives(lower_words).items()
    }
    values["adjacent_sentence_overlap"] = adjacent_overlap(view, sentences)
    return values


# -- registrations ------------------------------------------------------------------------


@REGISTRY.family("cohesion")
def cohesion_family(doc: Document) -> dict[str, float]:
    """Typed connectives per 100 words and the adjacent-sentence overlap of the document."""
    return cohesion_features(doc.lower, doc.view, doc.sentences)


def _cohesion(name: str, definition: str, unit: str, undefined: Undefined = NO_WORDS) -> None:
    REGISTRY.value(
        name,
        family="cohesion",
        tier=3,
        group="cohesion",
        definition=definition,
        unit=unit,
        source="spacy",
        undefined=undefined,
    )


for _kind, _examples in (
    ("additive", "also, in addition, moreover, for example, such as"),
    ("adversative", "however, but, although, on the other hand, instead"),
    ("causal", "because, therefore, as a result, since, if, due to"),
    ("temporal", "firstly, finally, then, meanwhile, in conclusion"),
):
    _cohesion(
        f"connectives_{_kind}_per_100_words",
        f"{_kind} connectives (Halliday & Hasan 1976; the list in engine/features/cohesion.py, "
        f"e.g. {_examples}) per 100 words, matched on lower-cased words, longest marker "
        "first, without overlaps",
        "per 100 words",
    )
_cohesion(
    "adjacent_sentence_overlap",
    "mean over adjacent counted-sentence pairs of |A & B| / |A | B|, A and B the sets of "
    "lower-cased spaCy lemmas of the letters-only NOUN, VERB, ADJ and ADV tokens of each "
    "sentence (TAACO's adjacent content-lemma overlap, Jaccard-normalised; a pair with no "
    "content word counts 0); spaCy's sentences, a run-on unsplit: the overlap of a pair "
    "is a share, whatever the sentences' length",
    "ratio",
    Undefined(case="below two counted sentences", column="n_sentences", below=2),
)
