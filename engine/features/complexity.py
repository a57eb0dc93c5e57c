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
  counted sentence without one (a fragment) is one T-unit;
- coordinate phrase: a ``conj`` token that heads no clause (coordinated nouns, adjectives,
  adverbs, non-finite verbs);
- complex nominal: a NOUN or PROPN with an adjective, possessive, prepositional,
  relative-clause, participle or appositive dependent (``amod``, ``poss``, ``prep``,
  ``relcl``, ``acl``, ``appos``), or a clausal subject (``csubj``, ``csubjpass``).

Known failures: the parser's errors on learner text carry over (a run-on sentence is one
sentence with several T-units, which is what L2SCA would count too, but a misparsed verb
can drop a clause); imperatives need the VB root rule; small clauses are not counted.
"""

from __future__ import annotations

from collections.abc import Sequence

from hemma_features.engine.features._view import DocView

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


def complexity_counts(view: DocView, sentences: Sequence[tuple[int, int]]) -> dict[str, int]:
    """clauses, dependent_clauses, t_units, coordinate_phrases, complex_nominals of the
    sentences (start, end token offsets)."""
    pos, dep, head, children = view.pos, view.dep, view.head, view.children
    clauses = dependent = t_units = coordinate = nominals = 0
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
        for i in range(start, end):
            if dep[i] == "conj" and i not in heads and pos[i] != "PUNCT":
                coordinate += 1
            if dep[i] in ("csubj", "csubjpass") or (
                pos[i] in ("NOUN", "PROPN")
                and any(dep[child] in _NOMINAL_MODIFIERS for child in children[i])
            ):
                nominals += 1
    return {
        "clauses": clauses,
        "dependent_clauses": dependent,
        "t_units": t_units,
        "coordinate_phrases": coordinate,
        "complex_nominals": nominals,
    }


def complexity_features(
    view: DocView, sentences: Sequence[tuple[int, int]], n_words: int
) -> dict[str, float]:
    """C/S, DC/C, MLT, CP/C and CN/C of the counted sentences (0 when undefined)."""
    counts = complexity_counts(view, sentences)
    clauses = counts["clauses"]
    return {
        "clauses_per_sentence": clauses / len(sentences) if sentences else 0.0,
        "dependent_clauses_per_clause": counts["dependent_clauses"] / clauses if clauses else 0.0,
        "mean_tunit_length": n_words / counts["t_units"] if counts["t_units"] else 0.0,
        "coordinate_phrases_per_clause": counts["coordinate_phrases"] / clauses if clauses else 0.0,
        "complex_nominals_per_clause": counts["complex_nominals"] / clauses if clauses else 0.0,
    }
