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

from hemma_features.engine.features._view import DocView
from hemma_features.engine.features.readability import formula_sentences

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
        "clauses_per_sentence": clauses / sentence_count if sentence_count else 0.0,
        "dependent_clauses_per_clause": counts["dependent_clauses"] / clauses if clauses else 0.0,
        "mean_tunit_length": sum(unit_words) / unit_count if unit_count else 0.0,
        "coordinate_phrases_per_clause": counts["coordinate_phrases"] / clauses if clauses else 0.0,
        "complex_nominals_per_clause": counts["complex_nominals"] / clauses if clauses else 0.0,
    }
