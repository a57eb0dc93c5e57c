"""LanguageTool's matches as features: error rates per 100 words and raw category counts.

A pure function of one text's matches (``rule.id`` and ``rule.category.id`` of each, as
LanguageTool's /v2/check answers them) and its word count; the HTTP client that gets the
matches is engine/features/languagetool.py. The values are registered here, beside the
family function that computes them (the ``languagetool`` stage).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hemma_features.engine.features._specs import NO_WORDS
from hemma_features.engine.features.registry import REGISTRY
from hemma_features.engine.features.stats import per_100

_LAYOUT_RULES = ("WHITESPACE_RULE", "SENTENCE_WHITESPACE", "EMPTY_LINE")
_LAYOUT_PREFIXES = ("WHITESPACE_PARAGRAPH",)

# LanguageTool core category ids (languagetool-core Categories.java) plus COLLOCATIONS,
# which the English rules add. Matches of any other category are counted in lt_cat_other.
LT_CATEGORIES: tuple[str, ...] = (
    "CASING",
    "COMPOUNDING",
    "GRAMMAR",
    "TYPOS",
    "PUNCTUATION",
    "TYPOGRAPHY",
    "CONFUSED_WORDS",
    "REPETITIONS",
    "REDUNDANCY",
    "REPETITIONS_STYLE",
    "STYLE",
    "PLAIN_ENGLISH",
    "GENDER_NEUTRALITY",
    "SEMANTICS",
    "COLLOQUIALISMS",
    "REGIONALISMS",
    "FALSE_FRIENDS",
    "WIKIPEDIA",
    "MISC",
    "COLLOCATIONS",
)


def error_bucket(match: Any) -> str | None:
    """``grammar``, ``spelling``, ``punctuation`` or None (stored, not counted)."""
    category = match.rule.category.id
    rule = match.rule.id
    if category in ("GRAMMAR", "CONFUSED_WORDS") or rule == "ENGLISH_WORD_REPEAT_RULE":
        return "grammar"
    if category in ("TYPOS", "COMPOUNDING", "CASING"):
        return "spelling"
    if category in ("PUNCTUATION", "TYPOGRAPHY"):
        if rule in _LAYOUT_RULES or rule.startswith(_LAYOUT_PREFIXES):
            return None
        return "punctuation"
    return None


def match_features(
    matches: Sequence[Any], n_words: int, categories: Sequence[str] = LT_CATEGORIES
) -> dict[str, float]:
    """Error rates per 100 words plus raw per-category counts for one text."""
    buckets = {"grammar": 0, "spelling": 0, "punctuation": 0}
    counts = dict.fromkeys(categories, 0)
    other = 0
    for match in matches:
        bucket = error_bucket(match)
        if bucket is not None:
            buckets[bucket] += 1
        if match.rule.category.id in counts:
            counts[match.rule.category.id] += 1
        else:
            other += 1
    values = {
        f"{name}_errors_per_100_words": per_100(count, n_words) for name, count in buckets.items()
    }
    values["lt_matches_total"] = float(len(matches))
    values.update({f"lt_cat_{cat.lower()}": float(n) for cat, n in counts.items()})
    values["lt_cat_other"] = float(other)
    return values


# -- registrations ------------------------------------------------------------------------

REGISTRY.family("languagetool", stage="languagetool")(match_features)

_PER_100 = (
    " per 100 words (words as in n_words, punctuation excluded); LanguageTool /v2/check with "
    "language=en-US, level=default, bucketed by rule.category.id"
)


def _register(name: str, **meta: Any) -> None:
    """One value of the LanguageTool family (tier 1, read from LanguageTool's answer)."""
    REGISTRY.value(
        name, family="languagetool", stage="languagetool", tier=1, source="languagetool", **meta
    )


def _rate(name: str, definition: str) -> None:
    _register(
        name,
        group="errors",
        definition=definition + _PER_100,
        unit="per 100 words",
        undefined=NO_WORDS,
        version=2,
    )


def _count(name: str, definition: str) -> None:
    _register(name, group="languagetool_raw", definition=definition, unit="matches")


_rate(
    "grammar_errors_per_100_words",
    "matches in categories GRAMMAR and CONFUSED_WORDS, plus rule ENGLISH_WORD_REPEAT_RULE",
)
_rate("spelling_errors_per_100_words", "matches in categories TYPOS, COMPOUNDING and CASING")
_rate(
    "punctuation_errors_per_100_words",
    "matches in categories PUNCTUATION and TYPOGRAPHY except the layout-only rules "
    "WHITESPACE_RULE, SENTENCE_WHITESPACE, WHITESPACE_PARAGRAPH* and EMPTY_LINE",
)
_count("lt_matches_total", "all LanguageTool matches of the text (every category)")
for _category in LT_CATEGORIES:
    _count(
        f"lt_cat_{_category.lower()}",
        f"LanguageTool matches whose rule.category.id is {_category}",
    )
_count(
    "lt_cat_other",
    "LanguageTool matches whose rule.category.id is none of the named categories",
)
