"""Spelling and mechanics without LanguageTool: a dictionary check and five mechanics counts.

The dictionary is the union of two maintained English word lists shipped on PyPI:
symspellpy's ``frequency_dictionary_en_82_765`` (82,765 words from Google Books n-grams
intersected with SCOWL) and pyspellchecker's English list (from OpenSubtitles and SCOWL).
The exclusions (names, acronyms, numbers, placeholders) and the mechanics rules were
chosen on a hand-labelled list of 558 flagged words and 628 mechanics hits from ELLIPSE
essays (precision 0.98, recall 0.90 for the spelling rule; documented in
docs/features.md with the cases where they fail).

Pure functions over a parsed Doc's ``DocView``; the word list loads once per process.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from hemma_features.contract import Undefined
from hemma_features.engine.features._specs import NO_WORDS, unmeasured
from hemma_features.engine.features._view import DocView
from hemma_features.engine.features.registry import REGISTRY
from hemma_features.engine.features.stats import per_100, ratio

if TYPE_CHECKING:
    from hemma_features.engine.features.document import Document

_dictionary: frozenset[str] | None = None

APOSTROPHELESS = frozenset({
    "dont", "doesnt", "didnt", "cant", "wont", "isnt", "arent", "wasnt", "werent", "havent",
    "hasnt", "hadnt", "couldnt", "wouldnt", "shouldnt", "mustnt", "neednt", "aint", "thats",
    "whats", "im", "ive", "youre", "youve", "youll", "theyre", "theyve", "theyll", "weve",
    "hes", "shes", "theres", "heres", "wheres", "whos", "itll", "ur",
})  # fmt: skip
"""Contractions written without their apostrophe: always misspelled, although some are
words of their own ("cant", "wont"); not "its", "lets", "ill", "were", "id", "well", "hell",
"shell", which are far more often the words they spell."""
PREFIXES = frozenset({
    "anti", "co", "counter", "cross", "de", "ex", "extra", "inter", "mid", "multi", "non",
    "over", "post", "pre", "pro", "re", "self", "semi", "sub", "super", "ultra", "un", "under",
})  # fmt: skip
"""A token right before a hyphen that is one of these is a prefix ("co-operate")."""
LETTERS = frozenset({"a", "i"})
"""The only one-letter English words; any other lone lower-case letter ("u", "r") is a
misspelling of a word ("you", "are")."""
_APOSTROPHES = "'\u2019"
_SENTENCE_END = ".!?"
_CLOSERS = "\"'\u201d\u2019)]}"


def dictionary() -> frozenset[str]:
    """The lower-cased union of both word lists, loaded once per process."""
    global _dictionary
    if _dictionary is None:
        words: set[str] = set()
        symspell = resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
        for line in symspell.read_text(encoding="utf-8").splitlines():
            word = line.split(" ", 1)[0]
            if word:
                words.add(word.lower())
        packed = resources.files("spellchecker") / "resources" / "en.json.gz"
        words.update(w.lower() for w in json.loads(gzip.decompress(packed.read_bytes())))
        _dictionary = frozenset(words)
    return _dictionary


def surface_words(tokens: DocView) -> list[tuple[int, int, str]]:
    """Word tokens grouped as written: a token and the letter or apostrophe tokens glued to
    it without a space ("do" + "nt" -> "dont", "I" + "'m" -> "I'm"), as (first token index,
    last token index, joined text)."""
    groups: list[tuple[int, int, str]] = []
    first = -1
    for i, text in enumerate(tokens.text):
        wordlike = _wordlike(text)
        if first >= 0 and wordlike and tokens.glued[i - 1]:
            continue  # glued to the group that is open
        if first >= 0:
            groups.append((first, i - 1, "".join(tokens.text[first:i])))
        first = i if wordlike else -1
    if first >= 0:
        groups.append((first, len(tokens.text) - 1, "".join(tokens.text[first:])))
    return groups


@lru_cache(maxsize=100_000)
def _wordlike(text: str) -> bool:
    return (
        bool(text)
        and all(ch.isalpha() or ch in _APOSTROPHES for ch in text)
        and any(ch.isalpha() for ch in text)
    )


def sentence_starts(tokens: DocView, paragraph_starts: frozenset[int]) -> frozenset[int]:
    """Indices of the tokens that open a sentence: the first token of a paragraph, or the
    first one after a token ending with . ! or ? (closing quotes and brackets between them
    skipped). spaCy's other sentence starts, often at a comma splice, do not count: they do
    not make a capital the start of a sentence. One pass over the tokens."""
    starts = set()
    after_end = True
    for i, text in enumerate(tokens.text):
        if tokens.space[i]:
            continue
        if tokens.idx[i] in paragraph_starts:
            after_end = True
        if text.strip(_CLOSERS) == "":
            continue  # a closing quote keeps the state of the token before it
        if after_end:
            starts.add(i)
        after_end = text[-1] in _SENTENCE_END
    return frozenset(starts)


def is_misspelled(
    tokens: DocView, first: int, last: int, text: str, sentence_start: bool, words: frozenset[str]
) -> bool:
    """The spelling rule for one surface word (see the catalogue's definition)."""
    lower = text.lower()
    if lower in APOSTROPHELESS:
        return True
    if "'" in text or "\u2019" in text:  # an apostrophe (_APOSTROPHES)
        base = tokens.text[first]
        return base.isalpha() and _unknown(base, sentence_start, words)
    if lower in words and not (len(text) == 1 and text.islower() and text not in LETTERS):
        return False  # the common case, decided at once
    if hyphen_compound(tokens, first, last, words):
        return False
    if len(text) == 1:
        return text.islower() and text not in LETTERS
    return _unknown(text, sentence_start, words)


def _unknown(text: str, sentence_start: bool, words: frozenset[str]) -> bool:
    if text.isupper():
        return False  # an acronym ("NASA", "USA")
    if text[0].isupper() and not sentence_start:
        return False  # a name ("Monica", "Tokyo")
    return text.lower() not in words


def hyphen_compound(tokens: DocView, first: int, last: int, words: frozenset[str]) -> bool:
    """A part of a hyphenated word that is right as such: a known prefix before the hyphen
    ("co-operate"), or a part whose compound with its neighbour is a word with or without
    the hyphen ("wi-fi", "e-mail")."""
    text, glued = tokens.text, tokens.glued
    if (
        first >= 2
        and text[first - 1] == "-"
        and glued[first - 2]
        and glued[first - 1]
        and _joined(text[first - 2], text[last], words)
    ):
        return True
    if last + 2 < len(text) and text[last + 1] == "-" and glued[last]:
        if text[last].lower() in PREFIXES:
            return True
        if glued[last + 1] and _joined(text[first], text[last + 2], words):
            return True
    return False


def _joined(left: str, right: str, words: frozenset[str]) -> bool:
    lower = f"{left}{right}".lower()
    return lower in words or f"{left}-{right}".lower() in words


def misspelled_words(tokens: DocView, starts: frozenset[int]) -> list[str]:
    """The surface words the spelling rule flags, in text order; ``starts`` are the indices
    of the tokens that open a sentence (``sentence_starts``)."""
    groups = surface_words(tokens)
    if not groups:  # the word list is not loaded for a text without words
        return []
    words = dictionary()
    return [
        text
        for first, last, text in groups
        if is_misspelled(tokens, first, last, text, first in starts, words)
    ]


# --- mechanics -------------------------------------------------------------------------

EMPHATIC = frozenset({"very", "so", "really", "many", "more", "much", "too", "bye", "ha", "no"})
"""Doubled on purpose ("very very", "no no"); with "that that" and "had had", grammatical."""
_GRAMMATICAL_DOUBLES = frozenset({"that", "had"})
SILENT_H = ("hour", "honest", "honor", "honour", "heir")
CONSONANT_VOWEL_LETTERS = ("one", "once", "eu", "ewe", "use", "usu", "uti", "ura", "uri",
                           "ubiq", "unanim", "uni")  # fmt: skip
"""Words that start with a vowel letter but a consonant sound ("a one", "a European", "a
useful", "a university"); "uni" except "unin", "unim", "unid" ("an uninformed")."""
_VOWEL_UNI = ("unin", "unim", "unid")
_VOWEL_NAMED_LETTERS = frozenset("AEFHILMNORSX")
"""Capital letters whose English name starts with a vowel sound ("an FBI", "an X-ray")."""
SALUTATION = re.compile(
    r"^(dear|to whom|sincerely|regards|best|yours|thank you|thanks|love|from|respectfully)\b",
    re.IGNORECASE,
)
_DATE = re.compile(
    r"^(\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}|(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
    r"[a-z]*\.? \d{1,2},? \d{4})$",
    re.IGNORECASE,
)
MIN_PARAGRAPH_WORDS = 5
"""Paragraphs of fewer words (a title, a signature, "Sincerely, Generic_Name") are not
expected to end with punctuation."""
TITLE_WORDS = 12
"""A paragraph of at most this many words, most of them capitalised, is a title."""


def is_title(paragraph: str) -> bool:
    """At most TITLE_WORDS words, more than half of them capitalised ("Technology Effects
    on People's Lives")."""
    words = paragraph.split()
    capitalised = sum(1 for word in words if word[:1].isupper())
    return len(words) <= TITLE_WORDS and capitalised * 2 > len(words)


def vowel_sound(word: str) -> bool:
    """Whether an English word starts with a vowel sound (for a/an), by spelling rules."""
    if word.isupper() and len(word) > 1:  # an acronym said letter by letter
        return word[0] in _VOWEL_NAMED_LETTERS
    if len(word) == 1:
        return word.upper() in _VOWEL_NAMED_LETTERS
    lower = word.lower()
    if lower.startswith(SILENT_H):
        return True
    if lower.startswith(CONSONANT_VOWEL_LETTERS) and not lower.startswith(_VOWEL_UNI):
        return False
    return lower[0] in "aeiou"


def _words(tokens: DocView) -> list[int]:
    """Indices of the non-whitespace tokens."""
    return [i for i, space in enumerate(tokens.space) if not space]


def article_errors(tokens: DocView) -> int:
    """'a' before a vowel sound or 'an' before a consonant sound (the next token a word of
    letters; a capital 'A' inside a sentence is the letter, not the article)."""
    errors = 0
    order = _words(tokens)
    for i, j in zip(order, order[1:], strict=False):
        article, following = tokens.text[i], tokens.text[j]
        if article not in ("a", "an", "A", "An") or not following.isalpha():
            continue
        if article == "A" and not tokens.sent_start[i]:
            continue
        errors += (article.lower() == "a") == vowel_sound(following)
    return errors


def doubled_words(tokens: DocView) -> int:
    """A word repeated right after itself ("the the"), case-insensitive, letters only, with
    only a space between; "that that", "had had" and emphatic doubles ("very very") not."""
    count = 0
    text = tokens.text
    for i in range(len(text) - 1):
        lower = text[i].lower()
        if (
            lower.isalpha()
            and lower == text[i + 1].lower()
            and lower not in EMPHATIC
            and lower not in _GRAMMATICAL_DOUBLES
        ):
            count += 1
    return count


def lowercase_i(tokens: DocView) -> int:
    """The pronoun I written 'i', also inside contractions ('i'm', 'im', 'ive')."""
    return tokens.text.count("i")


def unpunctuated_paragraphs(text: str, spans: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """(paragraphs without final punctuation, paragraphs checked): paragraphs of at least
    MIN_PARAGRAPH_WORDS words that are no title, salutation, closing or date, and do not end
    with ':' (a list follows)."""
    missing = checked = 0
    for start, end in spans:
        paragraph = text[start:end]
        if len(paragraph.split()) < MIN_PARAGRAPH_WORDS or SALUTATION.match(paragraph):
            continue
        if is_title(paragraph):
            continue
        if _DATE.match(paragraph.strip()):
            continue
        last = paragraph.rstrip().rstrip(_CLOSERS)
        if last.endswith(":"):
            continue
        checked += 1
        if not last or last[-1] not in _SENTENCE_END:
            missing += 1
    return missing, checked


def lowercase_starts(
    tokens: DocView, sentences: Sequence[tuple[int, int]], starts: frozenset[int]
) -> tuple[int, int]:
    """(sentences starting with a lower-case letter, sentences checked): a counted sentence
    (start, end token offsets) is checked when its first letter token opens a sentence
    (``sentence_starts``)."""
    lower = checked = 0
    for start, end in sentences:
        first = next((i for i in range(start, end) if tokens.text[i][:1].isalpha()), None)
        if first is not None and first in starts:
            checked += 1
            lower += tokens.text[first][0].islower()
    return lower, checked


def error_features(
    tokens: DocView,
    text: str,
    sentences: Sequence[tuple[int, int]],
    spans: Sequence[tuple[int, int]],
    n_words: int,
) -> dict[str, float]:
    """The spelling and mechanics values of one parsed Doc (see the catalogue).

    Args:
        tokens: The Doc's ``DocView``.
        text: The Doc's text.
        sentences: (start, end) token offsets of the counted sentences.
        spans: (start, end) character offsets of the paragraphs.
        n_words: Counted words.
    """
    starts = sentence_starts(tokens, frozenset(start for start, _ in spans))
    lower_starts, checked_starts = lowercase_starts(tokens, sentences, starts)
    unpunctuated, checked_paragraphs = unpunctuated_paragraphs(text, spans)
    counts = {
        "lowercase_i": lowercase_i(tokens),
        "doubled_words": doubled_words(tokens),
        "article_errors": article_errors(tokens),
    }
    mechanics = lower_starts + unpunctuated + sum(counts.values())
    return {
        "misspelled_words_per_100_words": per_100(len(misspelled_words(tokens, starts)), n_words),
        "lowercase_sentence_start_ratio": ratio(lower_starts, checked_starts),
        "lowercase_i_per_100_words": per_100(counts["lowercase_i"], n_words),
        "unpunctuated_paragraph_ratio": ratio(unpunctuated, checked_paragraphs),
        "doubled_words_per_100_words": per_100(counts["doubled_words"], n_words),
        "article_errors_per_100_words": per_100(counts["article_errors"], n_words),
        "mechanics_errors_per_100_words": per_100(mechanics, n_words),
    }


# -- registrations ------------------------------------------------------------------------

SURFACE_WORD = (
    "a surface word is a word token with the letter and apostrophe tokens glued to it "
    "without a space ('do'+'nt' is 'dont', 'I'+\"'m\" is \"I'm\")"
)
PER_100_WORDS = " per 100 words (as in n_words)"


@REGISTRY.family("errors")
def errors_family(doc: Document) -> dict[str, float]:
    """The spelling and mechanics values of the document."""
    return error_features(doc.view, doc.text, doc.sentences, doc.paragraphs, doc.n_words)


def offline_error(name: str, definition: str, unit: str, undefined: Undefined = NO_WORDS,
                  family: str = "errors") -> None:  # fmt: skip
    """Register one value of an offline errors family (group errors_offline, tier 1)."""
    source = "symspellpy+pyspellchecker" if name.startswith("misspelled") else "spacy"
    REGISTRY.value(
        name,
        family=family,
        tier=1,
        group="errors_offline",
        definition=definition,
        unit=unit,
        source=source,
        undefined=undefined,
    )


offline_error(
    "misspelled_words_per_100_words",
    "surface words flagged by the spelling rule" + PER_100_WORDS + "; " + SURFACE_WORD + ". "
    "Flagged: a contraction written without its apostrophe (dont, thats, im, cant, wont, "
    "ive, youre...; not its, lets, ill, were), a lone lower-case letter other than a and i "
    "(u, r), and a letters-only word absent, lower-cased, from the union of symspellpy's "
    "frequency_dictionary_en_82_765 and pyspellchecker's English list. Never flagged: "
    "words with digits or underscores (Generic_Name placeholders), all-capital words "
    "(acronyms), capitalised words that do not start a sentence (names; a sentence starts "
    "a paragraph or follows . ! ?), a known prefix before a hyphen (co-, non-, self-...); "
    "with an apostrophe only the part before it is looked up ('do' of \"don't\")",
    "per 100 words",
)
offline_error(
    "lowercase_sentence_start_ratio",
    "share of sentence starts whose first word begins with a lower-case letter; a "
    "sentence start is the first word of a counted sentence that opens a paragraph or "
    "follows . ! or ? (closing quotes skipped); spaCy's other sentence boundaries (often "
    "a comma splice) are not checked",
    "ratio",
    unmeasured("for a text without a sentence start", "n_sentences"),
)
offline_error(
    "lowercase_i_per_100_words",
    "tokens 'i' (the pronoun written lower-case, also in i'm, im, ive)" + PER_100_WORDS,
    "per 100 words",
)
offline_error(
    "unpunctuated_paragraph_ratio",
    "share of checked paragraphs (as in n_paragraphs) whose text, closing quotes and "
    "brackets skipped, does not end with . ! or ?; checked: paragraphs of 5 or more "
    "whitespace-separated words that are not a title (12 words or fewer, more than half "
    "capitalised), a salutation or closing (Dear, Sincerely, Thank you, Regards...) or a "
    "date, and do not end with ':'",
    "ratio",
    unmeasured("for a text without a checked paragraph"),
)
offline_error(
    "doubled_words_per_100_words",
    "a letters-only word repeated by the next token, case-insensitive ('the the'); not "
    "'that that', 'had had' or emphatic doubles (very, so, really, many, more, much, "
    "too, no, bye, ha)" + PER_100_WORDS,
    "per 100 words",
)
offline_error(
    "article_errors_per_100_words",
    "'a' before a vowel sound or 'an' before a consonant sound, the next token a "
    "letters-only word; vowel sound by spelling: a vowel letter, except one/once, eu-, "
    "ewe, use-, usu-, uti-, ura-, uri-, uni- (not unin-, unim-, unid-), ubiq-, unanim-; "
    "silent h (hour, honest, honor, heir); an all-capital word or a single letter by "
    "its letter name (an FBI, an X); a capital 'A' inside a sentence is a letter "
    "(got A), not the article" + PER_100_WORDS,
    "per 100 words",
)
offline_error(
    "mechanics_errors_per_100_words",
    "lower-case sentence starts + lower-case 'i' + unpunctuated checked paragraphs + "
    "doubled words + a/an errors (as the five features above count them)" + PER_100_WORDS,
    "per 100 words",
)
