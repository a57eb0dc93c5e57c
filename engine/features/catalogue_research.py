"""The research families of the catalogue (schemas v5 to v7): errors without LanguageTool
(a dictionary check, mechanics, punctuation spacing, agreement), lexical diversity,
L2SCA-style complexity, TAACO-style cohesion and TAALES-style phraseology. Definitions
name the rule precisely enough to recount by hand; the literature each follows and where
each is known to fail are in docs/features.md.
"""

from __future__ import annotations

from hemma_features.contract import FeatureSpec, Undefined
from hemma_features.engine.features._specs import (
    NO_SENTENCES,
    NO_WORDS,
    RUN_ON,
    spec,
    unmeasured,
)

SURFACE_WORD = (
    "a surface word is a word token with the letter and apostrophe tokens glued to it "
    "without a space ('do'+'nt' is 'dont', 'I'+\"'m\" is \"I'm\")"
)
_PER_100 = " per 100 words (as in n_words)"


def _errors(name: str, definition: str, unit: str, undefined: Undefined = NO_WORDS) -> FeatureSpec:
    source = "symspellpy+pyspellchecker" if name.startswith("misspelled") else "spacy"
    return spec(name, 1, "errors_offline", definition, unit, source, undefined)


ERRORS: tuple[FeatureSpec, ...] = (
    _errors(
        "misspelled_words_per_100_words",
        "surface words flagged by the spelling rule" + _PER_100 + "; " + SURFACE_WORD + ". "
        "Flagged: a contraction written without its apostrophe (dont, thats, im, cant, wont, "
        "ive, youre...; not its, lets, ill, were), a lone lower-case letter other than a and i "
        "(u, r), and a letters-only word absent, lower-cased, from the union of symspellpy's "
        "frequency_dictionary_en_82_765 and pyspellchecker's English list. Never flagged: "
        "words with digits or underscores (Generic_Name placeholders), all-capital words "
        "(acronyms), capitalised words that do not start a sentence (names; a sentence starts "
        "a paragraph or follows . ! ?), a known prefix before a hyphen (co-, non-, self-...); "
        "with an apostrophe only the part before it is looked up ('do' of \"don't\")",
        "per 100 words",
    ),
    _errors(
        "lowercase_sentence_start_ratio",
        "share of sentence starts whose first word begins with a lower-case letter; a "
        "sentence start is the first word of a counted sentence that opens a paragraph or "
        "follows . ! or ? (closing quotes skipped); spaCy's other sentence boundaries (often "
        "a comma splice) are not checked",
        "ratio",
        unmeasured("for a text without a sentence start", "n_sentences"),
    ),
    _errors(
        "lowercase_i_per_100_words",
        "tokens 'i' (the pronoun written lower-case, also in i'm, im, ive)" + _PER_100,
        "per 100 words",
    ),
    _errors(
        "unpunctuated_paragraph_ratio",
        "share of checked paragraphs (as in n_paragraphs) whose text, closing quotes and "
        "brackets skipped, does not end with . ! or ?; checked: paragraphs of 5 or more "
        "whitespace-separated words that are not a title (12 words or fewer, more than half "
        "capitalised), a salutation or closing (Dear, Sincerely, Thank you, Regards...) or a "
        "date, and do not end with ':'",
        "ratio",
        unmeasured("for a text without a checked paragraph"),
    ),
    _errors(
        "doubled_words_per_100_words",
        "a letters-only word repeated by the next token, case-insensitive ('the the'); not "
        "'that that', 'had had' or emphatic doubles (very, so, really, many, more, much, "
        "too, no, bye, ha)" + _PER_100,
        "per 100 words",
    ),
    _errors(
        "article_errors_per_100_words",
        "'a' before a vowel sound or 'an' before a consonant sound, the next token a "
        "letters-only word; vowel sound by spelling: a vowel letter, except one/once, eu-, "
        "ewe, use-, usu-, uti-, ura-, uri-, uni- (not unin-, unim-, unid-), ubiq-, unanim-; "
        "silent h (hour, honest, honor, heir); an all-capital word or a single letter by "
        "its letter name (an FBI, an X); a capital 'A' inside a sentence is a letter "
        "(got A), not the article" + _PER_100,
        "per 100 words",
    ),
    _errors(
        "subject_verb_agreement_errors_per_100_words",
        "subjects (nsubj, nsubjpass; not with a conjunct or an 'of' phrase, not a collective "
        "such as police, family, people, not a non-alphabetic token) whose present-tense "
        "finite verb (the head's first aux/auxpass child tagged VBZ or VBP, else the head so "
        "tagged) disagrees in number: VBZ after a plural noun (NNS, NNPS) or I/you/we/they, "
        "VBP after a singular noun (NN, NNP), he/she/it or a this/that pronoun ('he go', 'the "
        "students is'); other "
        "subjects, past tense and modals are not checked" + _PER_100,
        "per 100 words",
    ),
    _errors(
        "determiner_noun_agreement_errors_per_100_words",
        "determiners (det) whose noun disagrees in number: this/a/an/another/every/each "
        "before NNS, these/those/many/several/few/both before NN ('this books', 'many "
        "information'); a/an before few/couple/lot/dozen/number/hundred/thousand/million is a "
        "quantifier, not checked" + _PER_100,
        "per 100 words",
    ),
    _errors(
        "mechanics_errors_per_100_words",
        "lower-case sentence starts + lower-case 'i' + unpunctuated checked paragraphs + "
        "doubled words + a/an errors (as the five features above count them)" + _PER_100,
        "per 100 words",
    ),
    _errors(
        "space_before_punctuation_per_100_words",
        "spaces or tabs between a letter or digit and a following , . ; : ! or ? in the text "
        "('school ,', 'it .'), the mark not opening a number (' .5') or an ellipsis (' ...'); "
        "each run of spaces counts once" + _PER_100,
        "per 100 words",
    ),
    _errors(
        "missing_space_after_punctuation_per_100_words",
        "two lower-case letters, then , ; ! or ? glued to a letter ('school,and'), or a full "
        "stop glued to a capitalised word ('school.The'), in the text; not 'e.g.', 'U.S.', "
        "'3,000', 'google.com', 'Mr.Smith'" + _PER_100,
        "per 100 words",
    ),
    _errors(
        "commas_per_100_words",
        "comma tokens (',' as spaCy splits it; not the comma inside '3,000')" + _PER_100,
        "per 100 words",
    ),
    _errors(
        "informal_words_per_100_words",
        "surface words, lower-cased, in the list of spoken or texting spellings in "
        "engine/features/punctuation.py (alot, gonna, wanna, gotta, kinda, cuz, bc, lol, ok, "
        "okay, ur, yeah, dunno, tho, thru...)" + _PER_100 + "; " + SURFACE_WORD,
        "per 100 words",
    ),
)

DIVERSITY: tuple[FeatureSpec, ...] = (
    spec(
        "mattr_50",
        3,
        "diversity",
        "moving-average type-token ratio (Covington & McFall 2010) of the lower-cased words, "
        "window 50: the mean TTR of every run of 50 consecutive words; a text of 50 words or "
        "fewer is one window (its TTR)",
        "ratio",
        "spacy",
        NO_WORDS,
    ),
    spec(
        "hdd",
        3,
        "diversity",
        "HD-D (McCarthy & Jarvis 2007) of the lower-cased words: the expected TTR of a random "
        "sample of 42 words, sum over types of (1 - C(N-f, 42) / C(N, 42)) / 42 for N words "
        "and f occurrences of the type; a text of fewer than 42 words is sampled whole "
        "(its TTR)",
        "ratio",
        "spacy",
        NO_WORDS,
    ),
)

_CLAUSE = (
    "a clause is a finite verb structure: a VERB or AUX token, not itself aux/auxpass, "
    "tagged VBD, VBP, VBZ or MD, or with such an aux/auxpass child, or with a subject child "
    "(nsubj, nsubjpass, expl), or a VB sentence root (imperative)"
)


_PER_CLAUSE = "; a count per clause: no sentence is counted, so a run-on needs no split"


NO_CLAUSE = unmeasured("for a text without a clause")


def _complexity(
    name: str, definition: str, unit: str, undefined: Undefined = NO_CLAUSE
) -> FeatureSpec:
    return spec(name, 2, "complexity", definition, unit, "spacy", undefined)


COMPLEXITY: tuple[FeatureSpec, ...] = (
    _complexity(
        "clauses_per_sentence",
        f"clauses per counted sentence (L2SCA C/S, Lu 2010), {RUN_ON}; {_CLAUSE}",
        "clauses",
        NO_SENTENCES,
    ),
    _complexity(
        "dependent_clauses_per_clause",
        "dependent clauses per clause (L2SCA DC/C): clauses whose head attaches as advcl, "
        "ccomp, csubj, csubjpass, relcl or acl" + _PER_CLAUSE,
        "ratio",
    ),
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
    ),
    _complexity(
        "coordinate_phrases_per_clause",
        "coordinate phrases per clause (L2SCA CP/C): conj tokens that head no clause "
        "(coordinated nouns, adjectives, adverbs, non-finite verbs); not a share, a clause "
        "can hold several" + _PER_CLAUSE,
        "phrases",
    ),
    _complexity(
        "complex_nominals_per_clause",
        "complex nominals per clause (L2SCA CN/C): NOUN or PROPN tokens with an amod, poss, "
        "prep, relcl, acl or appos dependent, plus clausal subjects (csubj, csubjpass); not a "
        "share, a clause can hold several" + _PER_CLAUSE,
        "nominals",
    ),
)


def _cohesion(
    name: str, definition: str, unit: str, undefined: Undefined = NO_WORDS
) -> FeatureSpec:
    return spec(name, 3, "cohesion", definition, unit, "spacy", undefined)


def _connectives(kind: str, examples: str) -> FeatureSpec:
    return _cohesion(
        f"connectives_{kind}_per_100_words",
        f"{kind} connectives (Halliday & Hasan 1976; the list in engine/features/cohesion.py, "
        f"e.g. {examples}) per 100 words, matched on lower-cased words, longest marker first, "
        "without overlaps",
        "per 100 words",
    )


COHESION: tuple[FeatureSpec, ...] = (
    _connectives("additive", "also, in addition, moreover, for example, such as"),
    _connectives("adversative", "however, but, although, on the other hand, instead"),
    _connectives("causal", "because, therefore, as a result, since, if, due to"),
    _connectives("temporal", "firstly, finally, then, meanwhile, in conclusion"),
    _cohesion(
        "adjacent_sentence_overlap",
        "mean over adjacent counted-sentence pairs of |A & B| / |A | B|, A and B the sets of "
        "lower-cased spaCy lemmas of the letters-only NOUN, VERB, ADJ and ADV tokens of each "
        "sentence (TAACO's adjacent content-lemma overlap, Jaccard-normalised; a pair with no "
        "content word counts 0); spaCy's sentences, a run-on unsplit: the overlap of a pair "
        "is a share, whatever the sentences' length",
        "ratio",
        Undefined(case="below two counted sentences", column="n_sentences", below=2),
    ),
    spec(
        "run_on_sentence_ratio",
        3,
        "structure",
        "share of counted sentences longer than 40 words (run-ons: sentence_length_*, the "
        "readability formulas and the per-sentence and per-T-unit rates split them, this "
        "keeps the signal)",
        "ratio",
        "spacy",
        NO_SENTENCES,
    ),
)

_PAIR = (
    "a pair is two adjacent tokens of one counted sentence, both letters-only, lower-cased "
    '(whitespace tokens skipped; punctuation, numbers, the "n\'t" of "don\'t" and '
    "placeholders break the run); the reference is symspellpy's list of 242,342 frequent "
    "frequent English word pairs of Google Books Ngram (frequency_bigramdictionary_en_243_342)"
)
_PMI = (
    "PMI = log2(P(ab) / (P(a) P(b))), P(ab) the pair's count over the pair list's total, "
    "P(a) and P(b) the words' counts over the total of symspellpy's word list "
    "(frequency_dictionary_en_82_765); pairs whose words the word list lacks are left out"
)


NO_PAIR = unmeasured("for a text without a pair", below=2)
NO_ATTESTED_PAIR = unmeasured(
    "for a text without an attested pair, one the reference holds", below=2
)


def _phraseology(
    name: str, definition: str, unit: str, undefined: Undefined = NO_ATTESTED_PAIR
) -> FeatureSpec:
    return spec(name, 1, "phraseology", f"{definition}; {_PAIR}", unit, "symspellpy", undefined)


PHRASEOLOGY: tuple[FeatureSpec, ...] = (
    _phraseology(
        "bigram_coverage", "share of the essay's pairs found in the reference", "ratio", NO_PAIR
    ),
    _phraseology(
        "known_word_bigram_coverage",
        "share of the pairs whose two words are both in the word list that the reference "
        "holds (listed words combined in an unlisted way: odd collocations, agreement errors)",
        "ratio",
        unmeasured("for a text without a pair of two listed words", below=2),
    ),
    _phraseology("bigram_pmi_mean", f"mean PMI of the attested pairs; {_PMI}", "bits"),
    _phraseology("bigram_pmi_std", f"population std of the attested pairs' PMI; {_PMI}", "bits"),
    _phraseology(
        "strong_collocation_ratio",
        f"share of the attested pairs with PMI >= 3 (Church & Hanks 1990); {_PMI}",
        "ratio",
    ),
    _phraseology(
        "bigram_log_frequency_mean",
        "mean log10 of the reference count of the attested pairs (lower: rarer, more specific "
        "combinations)",
        "log10 count",
    ),
)

RESEARCH: tuple[FeatureSpec, ...] = (
    *ERRORS, *DIVERSITY, *COMPLEXITY, *COHESION, *PHRASEOLOGY
)  # fmt: skip
