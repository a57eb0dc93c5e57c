"""A unique prefix names a fingerprint wherever one is taken, as in git."""

from __future__ import annotations

import pytest

from hemma_features.client.errors import CacheError
from hemma_features.client.partition import resolve_fingerprint, short_fingerprints

A = "ab12" + "0" * 60
B = "ab13" + "0" * 60
C = "ff" + "1" * 62


def test_a_whole_fingerprint_or_a_unique_prefix_resolves():
    """The whole fingerprint, or the start only it has."""
    assert resolve_fingerprint(A, [A, B, C], "cache") == A
    assert resolve_fingerprint("ab12", [A, B, C], "cache") == A
    assert resolve_fingerprint("f", [A, B, C], "cache") == C


def test_an_ambiguous_or_unknown_prefix_is_one_line_naming_the_candidates():
    """Several matches: each named, and more characters asked for; none: what there is."""
    with pytest.raises(CacheError) as caught:
        resolve_fingerprint("ab1", [A, B, C], "cache")
    message = str(caught.value)
    assert "prefix ab1 is ambiguous: 2 fingerprints in cache" in message
    assert A in message and B in message and C not in message and "\n" not in message
    with pytest.raises(
        CacheError, match=r"no fingerprint in cache is or starts with 99 \(it holds"
    ):
        resolve_fingerprint("99", [A, B, C], "cache")
    with pytest.raises(CacheError, match="is or starts with"):
        resolve_fingerprint("", [A], "cache")  # an empty prefix names nothing


def test_short_fingerprints_are_unique_and_at_least_twelve_characters():
    """Twelve characters, more where two share them; a name that is no fingerprint whole."""
    twin = A[:20] + "f" + A[21:]
    short = short_fingerprints([A, twin, C, "old"])
    assert short[C] == C[:12] and short["old"] == "old"
    assert short[A] == A[:21] and short[twin] == twin[:21]
    for name, prefix in short.items():
        assert resolve_fingerprint(prefix, short, "cache") == name
