"""Agreement errors read off the parse: subject-verb number and determiner-noun number.

Rule-based, as grammar checkers' agreement rules are, on spaCy's Penn tags and ClearNLP
dependencies (the tagger reads "he go" as a present non-3rd-person verb, VBP, so the
disagreement is visible in the tags). Pure functions of per-token lists: lower-cased
text, fine tag, dependency label and head index, in document order.

Subject-verb: a subject (``nsubj``, ``nsubjpass``) without a conjunct ("John and Mary
are") or an "of" phrase ("a lot of people want", "the number of cars is") whose finite
verb is present tense: the head's first ``aux``/``auxpass``
child tagged VBZ or VBP, else the head itself when so tagged. A VBZ verb wants a singular
subject: a singular noun (NN, NNP) or he/she/it, or this/that as a determiner-pronoun
(DT); a VBP verb wants a plural noun (NNS, NNPS) or I/you/we/they. The other pairings
are errors ("he go", "the students is", "they has"). Past tense, modals and any other
subject (relative pronouns, numbers, "45%", collectives such as police, family, people)
are not checked. Known failure: a misspelled word gets a guessed tag ("yopu are", "we
lika"), so some flags are spelling errors, not agreement ones (about one flag in four on
a sample of ELLIPSE essays before the collective and "of" exclusions, fewer after).

Determiner-noun: a determiner attached to a noun: this/a/an/another/every/each before
a plural noun (NNS), these/those/many/several/few/both before a singular one (NN); "a"
or "an" before few/couple/lot/dozen/number/hundred/thousand/million is a quantifier
("a few days"), not checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from hemma_features.engine.features._specs import NO_WORDS
from hemma_features.engine.features.registry import REGISTRY
from hemma_features.engine.features.stats import per_100

if TYPE_CHECKING:
    from hemma_features.engine.features.document import Document

SUBJECTS = frozenset({"nsubj", "nsubjpass"})
AUXILIARIES = frozenset({"aux", "auxpass"})
SINGULAR_NOUN = frozenset({"NN", "NNP"})
PLURAL_NOUN = frozenset({"NNS", "NNPS"})
SINGULAR_PRONOUNS = frozenset({"he", "she", "it"})
PLURAL_PRONOUNS = frozenset({"i", "you", "we", "they"})
DEMONSTRATIVES = frozenset({"this", "that"})
SINGULAR_DETERMINERS = frozenset({"this", "a", "an", "another", "every", "each"})
"""Not 'that': a complementiser before a plural noun ('trust that people') is often parsed
as its determiner."""
PLURAL_DETERMINERS = frozenset({"these", "those", "many", "several", "few", "both"})
QUANTIFIER_HEADS = frozenset(
    {"few", "couple", "lot", "dozen", "number", "hundred", "thousand", "million"}
)


COLLECTIVE = frozenset({
    "police", "staff", "team", "family", "government", "class", "group", "audience", "crew",
    "public", "majority", "couple", "lot", "people", "everybody", "none",
})  # fmt: skip
"""Nouns that take a verb of either number (British usage, collectives): not checked."""


def _number(lower: str, tag: str) -> str | None:
    """'singular', 'plural' or None (not checked) for a subject token."""
    if not lower.isalpha() or lower in COLLECTIVE:
        return None
    if tag in SINGULAR_NOUN or (tag == "PRP" and lower in SINGULAR_PRONOUNS):
        return "singular"
    if tag == "DT" and lower in DEMONSTRATIVES:
        return "singular"
    if tag in PLURAL_NOUN or (tag == "PRP" and lower in PLURAL_PRONOUNS):
        return "plural"
    return None


def subject_verb_errors(
    lower: Sequence[str], tag: Sequence[str], dep: Sequence[str], head: Sequence[int]
) -> int:
    """Subjects whose present-tense finite verb disagrees in number (module docstring)."""
    first_aux: dict[int, int] = {}
    skipped: set[int] = set()  # subjects with a conjunct or an "of" phrase
    for i, (label, parent) in enumerate(zip(dep, head, strict=True)):
        if label in AUXILIARIES and tag[i] in ("VBZ", "VBP"):
            first_aux.setdefault(parent, i)
        elif parent != i and (label == "conj" or (label == "prep" and lower[i] == "of")):
            skipped.add(parent)
    errors = 0
    for i, label in enumerate(dep):
        if label not in SUBJECTS or i in skipped or head[i] == i:
            continue
        verb = first_aux.get(head[i], head[i])
        if tag[verb] not in ("VBZ", "VBP"):
            continue
        number = _number(lower[i], tag[i])
        if (number == "singular" and tag[verb] == "VBP") or (
            number == "plural" and tag[verb] == "VBZ"
        ):
            errors += 1
    return errors


def determiner_noun_errors(
    lower: Sequence[str], tag: Sequence[str], dep: Sequence[str], head: Sequence[int]
) -> int:
    """Determiners whose number disagrees with their noun's (module docstring)."""
    errors = 0
    for i, label in enumerate(dep):
        if label != "det" or head[i] == i:
            continue
        noun, word = tag[head[i]], lower[i]
        if word in ("a", "an") and i + 1 < len(lower) and lower[i + 1] in QUANTIFIER_HEADS:
            continue
        if (word in SINGULAR_DETERMINERS and noun == "NNS") or (
            word in PLURAL_DETERMINERS and noun == "NN"
        ):
            errors += 1
    return errors


# -- registrations ------------------------------------------------------------------------

_PER_100 = " per 100 words (as in n_words)"
_agreement = partial(REGISTRY.feature, tier=1, group="errors_offline", unit="per 100 words",
                     source="spacy", undefined=NO_WORDS)  # fmt: skip


def _columns(doc: Document) -> tuple[list[str], list[str], list[str], list[int]]:
    view = doc.view
    return view.lower, view.tag, view.dep, view.head


@_agreement(
    "subject_verb_agreement_errors_per_100_words",
    definition="subjects (nsubj, nsubjpass; not with a conjunct or an 'of' phrase, not a "
    "collective such as police, family, people, not a non-alphabetic token) whose "
    "present-tense finite verb (the head's first aux/auxpass child tagged VBZ or VBP, else "
    "the head so tagged) disagrees in number: VBZ after a plural noun (NNS, NNPS) or "
    "I/you/we/they, VBP after a singular noun (NN, NNP), he/she/it or a this/that pronoun "
    "('he go', 'the students is'); other subjects, past tense and modals are not checked"
    + _PER_100,
)
def subject_verb_agreement(doc: Document) -> float:
    return per_100(subject_verb_errors(*_columns(doc)), doc.n_words)


@_agreement(
    "determiner_noun_agreement_errors_per_100_words",
    definition="determiners (det) whose noun disagrees in number: this/a/an/another/every/each "
    "before NNS, these/those/many/several/few/both before NN ('this books', 'many "
    "information'); a/an before few/couple/lot/dozen/number/hundred/thousand/million is a "
    "quantifier, not checked" + _PER_100,
)
def determiner_noun_agreement(doc: Document) -> float:
    return per_100(determiner_noun_errors(*_columns(doc)), doc.n_words)
