"""LanguageTool client against a LanguageTool-compatible server on 127.0.0.1."""

from __future__ import annotations

import pytest

from hemma_features.engine.errors import DependencyError
from hemma_features.engine.features.catalogue import LT_CATEGORIES
from hemma_features.engine.features.languagetool_counts import error_bucket, match_features
from hemma_features.engine.languagetool.client import (
    Category,
    LanguageToolClient,
    Match,
    Rule,
    probe,
    split_for_check,
    utf16_len,
)
from tests.engine.features.hand_worked import hand_worked


def client(url: str, **overrides) -> LanguageToolClient:
    options = {"concurrency": 2, "read_timeout": 5.0, "max_chars": 20_000, **overrides}
    return LanguageToolClient(url, **options)


def match(category: str, rule: str = "R") -> Match:
    return Match(offset=0, length=1, rule=Rule(id=rule, category=Category(id=category)))


def test_check_sends_the_documented_form_and_reads_matches(lt_server):
    """text, language=en-US and level=default go out; matches come back with offsets."""
    [matches] = client(lt_server.url).check(["I dont know."])
    _, path, form = lt_server.requests[-1]
    assert path == "/v2/check"
    assert form == {"text": "I dont know.", "language": "en-US", "level": "default"}
    assert [(m.offset, m.length, m.rule.category.id) for m in matches] == [(2, 4, "TYPOS")]


def test_offsets_count_utf16_units_and_are_merged_across_pieces(lt_server):
    """A long text is split at line breaks; offsets are corrected to the whole text."""
    first = "😀 I dont know.\n"  # the emoji is two UTF-16 units
    second = "She dont care.\n"
    text = first * 3 + second * 3
    [matches] = client(lt_server.url, max_chars=utf16_len(first) * 3).check([text])
    checks = [r for r in lt_server.requests if r[1] == "/v2/check"]
    assert len(checks) == 2
    typos = [m.offset for m in matches if m.rule.category.id == "TYPOS"]
    unit = utf16_len(first)
    expected = [5 + i * unit for i in range(3)] + [
        3 * unit + 4 + i * utf16_len(second) for i in range(3)
    ]
    assert typos == expected
    for offset in typos:  # each offset points at "dont" in the whole text
        encoded = text.encode("utf-16-le")
        assert encoded[offset * 2 : (offset + 4) * 2].decode("utf-16-le") == "dont"


def test_split_keeps_every_character_and_the_limit():
    """Pieces concatenate to the text, none exceeds the limit, offsets add up."""
    text = ("word " * 30 + "\n") * 5 + "x" * 50 + " tail"
    pieces = split_for_check(text, 40)
    assert "".join(piece for _, piece in pieces) == text
    assert all(utf16_len(piece) <= 40 for _, piece in pieces)
    running = 0
    for offset, piece in pieces:
        assert offset == running
        running += utf16_len(piece)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("overloaded", "returned 503: Error: Server overloaded"),
        ("rate_limited", "rate limited (429"),
        ("incomplete", "incomplete results"),
        ("drop", "failed"),
    ],
)
def test_failures_raise_dependency_errors_naming_the_cause(lt_server, mode, reason):
    """503, 429, incomplete results and dropped connections fail the whole request."""
    lt_server.mode = mode
    with pytest.raises(DependencyError, match="LanguageTool unavailable") as info:
        client(lt_server.url).check(["I dont know.", "Fine."])
    assert reason in str(info.value)


def test_a_429_is_retried_after_the_retry_after_it_names(lt_server):
    """429 with Retry-After 0.3 once: the piece is sent again no sooner, and succeeds."""
    lt_server.mode = "rate_limited"
    lt_server.retry_after = "0.3"
    lt_server.rate_limit_times = 1
    [matches] = client(lt_server.url).check(["I dont know."])
    assert matches  # the second answer was a real one
    assert len(lt_server.post_times) == 2
    assert lt_server.post_times[1] - lt_server.post_times[0] >= 0.3


def test_a_long_retry_after_fails_at_once_carrying_it(lt_server):
    """A Retry-After past what a request may wait is handed back to the caller, unwaited."""
    lt_server.mode = "rate_limited"
    lt_server.retry_after = "3600"
    with pytest.raises(DependencyError, match="rate limited") as info:
        client(lt_server.url).check(["I dont know."])
    assert info.value.retry_after == 3600
    assert len(lt_server.post_times) == 1


def test_slow_answers_time_out(lt_server):
    """A check slower than the read timeout fails, naming the timeout."""
    lt_server.mode = "slow"
    lt_server.delay = 1.0
    with pytest.raises(DependencyError, match=r"timed out after 0\.3s"):
        client(lt_server.url, read_timeout=0.3).check(["I dont know."])


def test_concurrency_is_bounded(lt_server):
    """No more checks in flight than configured."""
    lt_server.delay = 0.05
    client(lt_server.url, concurrency=2).check([f"Essay {i} dont." for i in range(8)])
    assert lt_server.max_in_flight == 2


def test_probe_reads_version_and_languages(lt_server):
    """The startup probe records the version and needs en-US."""
    info = probe(lt_server.url)
    assert (info.version, info.language, info.level) == ("6.6", "en-US", "default")
    with pytest.raises(DependencyError, match=r"127\.0\.0\.1:9 did not answer"):
        probe("http://127.0.0.1:9", read_seconds=1)


def test_buckets_follow_the_category_mapping():
    """Bucket by rule.category.id; layout-only typography rules are not counted."""
    assert error_bucket(match("TYPOS", "MORFOLOGIK_RULE_EN_US")) == "spelling"
    assert error_bucket(match("CASING", "UPPERCASE_SENTENCE_START")) == "spelling"
    assert error_bucket(match("COMPOUNDING")) == "spelling"
    assert error_bucket(match("GRAMMAR")) == "grammar"
    assert error_bucket(match("CONFUSED_WORDS")) == "grammar"
    assert error_bucket(match("MISC", "ENGLISH_WORD_REPEAT_RULE")) == "grammar"
    assert error_bucket(match("MISC", "OTHER")) is None
    assert error_bucket(match("PUNCTUATION", "COMMA_RULE")) == "punctuation"
    assert error_bucket(match("TYPOGRAPHY", "COMMA_PARENTHESIS_WHITESPACE")) == "punctuation"
    for layout in ("WHITESPACE_RULE", "SENTENCE_WHITESPACE", "EMPTY_LINE", "WHITESPACE_PARAGRAPH"):
        assert error_bucket(match("TYPOGRAPHY", layout)) is None
    assert error_bucket(match("STYLE")) is None


@hand_worked(
    "grammar_errors_per_100_words",
    "spelling_errors_per_100_words",
    "punctuation_errors_per_100_words",
    "lt_matches_total",
    "lt_cat_typos",
    "lt_cat_style",
    "lt_cat_other",
)
def test_match_features_by_hand():
    """2 typos, 1 grammar, 1 style, 1 unknown category in 8 words."""
    matches = [
        match("TYPOS"),
        match("TYPOS"),
        match("GRAMMAR"),
        match("STYLE"),
        match("NEW_CATEGORY"),
    ]
    values = match_features(matches, 8, LT_CATEGORIES)
    assert values["spelling_errors_per_100_words"] == pytest.approx(25.0)
    assert values["grammar_errors_per_100_words"] == pytest.approx(12.5)
    assert values["punctuation_errors_per_100_words"] == 0.0
    assert values["lt_matches_total"] == 5
    assert values["lt_cat_typos"] == 2 and values["lt_cat_style"] == 1
    assert values["lt_cat_other"] == 1
    assert match_features(matches, 0, LT_CATEGORIES)["spelling_errors_per_100_words"] == 0.0


@hand_worked(
    "lt_cat_casing",
    "lt_cat_compounding",
    "lt_cat_grammar",
    "lt_cat_typos",
    "lt_cat_punctuation",
    "lt_cat_typography",
    "lt_cat_confused_words",
    "lt_cat_repetitions",
    "lt_cat_redundancy",
    "lt_cat_repetitions_style",
    "lt_cat_style",
    "lt_cat_plain_english",
    "lt_cat_gender_neutrality",
    "lt_cat_semantics",
    "lt_cat_colloquialisms",
    "lt_cat_regionalisms",
    "lt_cat_false_friends",
    "lt_cat_wikipedia",
    "lt_cat_misc",
    "lt_cat_collocations",
)
def test_each_category_is_counted_in_its_own_column():
    """One match of the k-th category repeated k times (CASING once, COMPOUNDING twice,
    ...): each lt_cat_ column holds its category's k, lt_cat_other 0, the total 210."""
    matches = [match(c) for k, c in enumerate(LT_CATEGORIES, 1) for _ in range(k)]
    values = match_features(matches, 10, LT_CATEGORIES)
    for k, category in enumerate(LT_CATEGORIES, 1):
        assert values[f"lt_cat_{category.lower()}"] == k, category
    assert values["lt_cat_other"] == 0 and values["lt_matches_total"] == 210
