"""Syntactic complexity in the manner of L2SCA (Lu 2010), mapped onto spaCy's dependency
parse (ClearNLP labels) instead of Tregex patterns over a constituency tree.

- clause: a finite verb structure, its head a VERB or AUX that is not itself an auxiliary
  (dependency ``aux``/``auxpass``) and is finite (tag VBD, VBP, VBZ or MD), or has a
  finite auxiliary child ("has gone", "will go", "was taken"), or has a subject
  (``nsubj``, ``nsubjpass``, ``expl``: the small model tags some past tenses VBN, "the
  dog barked" with barked/VBN). Imperatives ("Go home.") are VB sentence roots;
- dependent clause: a clause whose head attaches as ``advcl``, ``ccomp``, ``csubj``,
  ``csubjpass``, ``relcl`` or ``acl`` (adverbial, nominal and adjective clauses);
- T-unit: a main clause with its dependent clauses: clause heads that are the sentence
  root, or ``conj`` of a T-unit head (coordinated main clauses), or ``parataxis``; a
  counted sentence without one (a fragment) is one T-unit. Its words are those whose
  nearest T-unit head up the tree (themselves included) is its head; words under none (a
  verbless root's) join the sentence's first T-unit;
- coordinate phrase: a ``conj`` token that heads no clause (coordinated nouns, adjectives,
  adverbs, non-finite verbs);
- complex nominal: a NOUN or PROPN with an adjective, possessive, prepositional,
  relative-clause, participle or appositive dependent (``amod``, ``poss``, ``prep``,
  ``relcl``, ``acl``, ``appos``), or a clausal subject (``csubj``, ``csubjpass``).

Run-on text (the policy of readability.py): per sentence and per T-unit, a sentence or a
T-unit of n > MAX_SENTENCE_WORDS words counts as ceil(n / MAX_SENTENCE_WORDS). A learner's
essay written as one sentence has one spaCy sentence and, where the parser chains its
clauses as complements or leaves them unattached, one T-unit: 60 clauses a sentence and
492 words a T-unit on the 2,000 ELLIPSE essays before the policy. The per-clause ratios
(DC/C, CP/C, CN/C) count no sentence and need no split.

Known failures: the parser's errors on learner text carry over (a run-on sentence is one
sentence with several T-units, which is what L2SCA would count too, but a misparsed verb
can drop a clause); imperatives need the VB root rule; small clauses are not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hemma_features.contract import Undefined
from hemma_features.engine.features._specs import NO_SENTENCES, RUN_ON, unmeasured
from hemma_features.engine.features._view import DocView
from hemma_features.engine.features.document import formula_sentences
from hemma_features.engine.features.registry import REGISTRY
from hemma_features.engine.features.stats import ratio

if TYPE_CHECKING:
    from hemma_features.engine.features.document import Document

_FINITE_TAGS = frozenset({"VBD", "VBP", "VBZ", "MD"})
_AUX = frozenset({"aux", "auxpass"})
_SUBJECTS = frozenset({"nsubj", "nsubjpass", "expl"})
_DEPENDENT = frozenset({"advcl", "ccomp", "csubj", "csubjpass", "relcl", "acl"})
_NOMINAL_MODIFIERS = frozenset({"amod", "poss", "prep", "relcl", "acl", "appos"})


def is_clause_head(view: DocView, i: int) -> bool:
    """Token ``i`` heads a finite verb structure (see the module docstring)."""
    pos, dep, tag = view.pos, view.dep, view.tag
    if pos[i] not in ("VERB", "AUX") or dep[i] in _AUX:
        return False
    if tag[i] in _FINITE_TAGS:
        return True
    if any(
        (dep[child] in _AUX and tag[child] in _FINITE_TAGS) or dep[child] in _SUBJECTS
        for child in view.children[i]
    ):
        return True
    return dep[i] == "ROOT" and tag[i] == "VB"  # an imperative


def complexity_counts(
    view: DocView, sentences: Sequence[tuple[int, int]]
) -> tuple[dict[str, int], list[int]]:
    """clauses, dependent_clauses, t_units, coordinate_phrases, complex_nominals of the
    sentences (start, end token offsets), and the words of each T-unit in text order."""
    pos, dep, head, children = view.pos, view.dep, view.head, view.children
    clauses = dependent = t_units = coordinate = nominals = 0
    unit_words: list[int] = []
    for start, end in sentences:
        heads = {i for i in range(start, end) if is_clause_head(view, i)}
        units: set[int] = set()
        for i in range(start, end):  # tokens come in text order; a conj follows its head
            if i in heads and (
                dep[i] in ("ROOT", "parataxis") or (dep[i] == "conj" and head[i] in units)
            ):
                units.add(i)
        clauses += len(heads)
        dependent += sum(1 for i in range(start, end) if i in heads and dep[i] in _DEPENDENT)
        t_units += max(1, len(units))
        unit_words.extend(_t_unit_words(view, start, end, units))
        for i in range(start, end):
            if dep[i] == "conj" and i not in heads and pos[i] != "PUNCT":
                coordinate += 1
            if dep[i] in ("csubj", "csubjpass") or (
                pos[i] in ("NOUN", "PROPN")
                and any(dep[child] in _NOMINAL_MODIFIERS for child in children[i])
            ):
                nominals += 1
    counts = {
        "clauses": clauses,
        "dependent_clauses": dependent,
        "t_units": t_units,
        "coordinate_phrases": coordinate,
        "complex_nominals": nominals,
    }
    return counts, unit_words


def _t_unit_words(view: DocView, start: int, end: int, units: set[int]) -> list[int]:
    """Words of each T-unit of the sentence ``start:end`` (one entry per unit, text order;
    the whole sentence when it has none): each word belongs to its nearest unit head up the
    tree, words under none to the first unit. Linear: each token's owner is found once."""
    if not units:
        return [sum(view.word[start:end])]
    head = view.head
    owner: dict[int, int | None] = {}
    for token in range(start, end):
        path = []
        current = token
        while current not in owner and current not in units and head[current] != current:
            path.append(current)
            current = head[current]
            if len(path) > end - start:  # not a tree: never loop forever
                break
        found = owner.get(current, current if current in units else None)
        for index in (*path, current):
            owner[index] = found
    first = min(units)
    words = dict.fromkeys(sorted(units), 0)
    for i in range(start, end):
        if view.word[i]:
            unit = owner[i]
            words[first if unit is None else unit] += 1
    return list(words.values())


def complexity_features(
    view: DocView, sentences: Sequence[tuple[int, int]], sentence_lengths: Sequence[int]
) -> dict[str, float]:
    """C/S, DC/C, MLT, CP/C and CN/C of the counted sentences (0 when undefined), with the
    run-on policy: sentences and T-units of more than MAX_SENTENCE_WORDS words count as
    several (``formula_sentences``)."""
    counts, unit_words = complexity_counts(view, sentences)
    clauses = counts["clauses"]
    sentence_count = len(formula_sentences(sentence_lengths))
    unit_count = len(formula_sentences(unit_words))
    return {
        "clauses_per_sentence": ratio(clauses, sentence_count),
        "dependent_clauses_per_clause": ratio(counts["dependent_clauses"], clauses),
        "mean_tunit_length": ratio(sum(unit_words), unit_count),
        "coordinate_phrases_per_clause": ratio(counts["coordinate_phrases"], clauses),
        "complex_nominals_per_clause": ratio(counts["complex_nominals"], clauses),
    }


# -- registrations ------------------------------------------------------------------------

_CLAUSE = (
    "a clause is a finite verb structure: a VERB or AUX token, not itself aux/auxpass, "
    "tagged VBD, VBP, VBZ or MD, or with such an aux/auxpass child, or with a subject child "
    "(nsubj, nsubjpass, expl), or a VB sentence root (imperative)"
)
_PER_CLAUSE = "; a count per clause: no sentence is counted, so a run-on needs no split"
NO_CLAUSE = unmeasured("for a text without a clause")


@REGISTRY.family("complexity")
def complexity_family(doc: Document) -> dict[str, float]:
    """The five L2SCA-style values of the document's counted sentences."""
    return complexity_features(doc.view, doc.sentences, doc.sentence_lengths)


def _complexity(
    name: str, definition: str, unit: str, undefined: Undefined = NO_CLAUSE, version: int = 1
) -> None:
    REGISTRY.value(
        name,
        family="complexity",
        tier=2,
        group="complexity",
        definition=definition,
        unit=unit,
        source="spacy",
        undefined=undefined,
        version=version,
    )


_complexity(
    "clauses_per_sentence",
    f"clauses per counted sentence (L2SCA C/S, Lu 2010), {RUN_ON}; {_CLAUSE}",
    "clauses",
    NO_SENTENCES,
    version=2,
)
_complexity(
    "dependent_clauses_per_clause",
    "dependent clauses per clause (L2SCA DC/C): clauses whose head attaches as advcl, "
    "ccomp, csubj, csubjpass, relcl or acl" + _PER_CLAUSE,
    "ratio",
)
_complexity(
    "mean_tunit_length",
    "words per T-unit (L2SCA MLT), a T-unit of n > 40 words counting as ceil(n / 40) (the "
    "run-on policy of sentence_length_mean): a T-unit is a clause that is the sentence "
    "root, a parataxis, or a conj of a T-unit head (coordinated main clauses), with its "
    "dependents; its words are those whose nearest T-unit head up the dependency tree "
    "(themselves included) is its head, words under none (a verbless root's) joining the "
    "sentence's first T-unit; a counted sentence without one (a fragment) is one T-unit",
    "words",
    NO_SENTENCES,
    version=2,
)
_complexity(
    "coordinate_phrases_per_clause",
    "coordinate phrases per clause (L2SCA CP/C): conj tokens that head no clause "
    "(coordinated nouns, adjectives, adverbs, non-finite verbs); not a share, a clause "
    "can hold several" + _PER_CLAUSE,
    "phrases",
)
_complexity(
    "complex_nominals_per_clause",
    "complex nominals per clause (L2SCA CN/C): NOUN or PROPN tokens with an amod, poss, "
    "prep, relcl, acl or appos dependent, plus clausal subjects (csubj, csubjpass); not a "
    "share, a clause can hold several" + _PER_CLAUSE,
    "nominals",
)
