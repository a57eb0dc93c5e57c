"""Lexical diversity beside MTLD: MATTR (Covington & McFall 2010) and HD-D (McCarthy &
Jarvis 2007), as TAALED computes them, over lower-cased words.

Pure functions of a word list; tested against hand counts and cross-checked with the
``lexicalrichness`` package.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

MATTR_WINDOW = 50
HDD_DRAWS = 42


def mattr(words: Sequence[str], window: int = MATTR_WINDOW) -> float:
    """Moving-average type-token ratio: the mean TTR of every window of ``window``
    consecutive words (len(words) - window + 1 windows, updated in O(1) per step).

    A text shorter than the window has one window, itself: its TTR. 0 without words.
    """
    if not words:
        return 0.0
    if len(words) <= window:
        return len(set(words)) / len(words)
    counts = Counter(words[:window])
    total = len(counts)
    for i in range(window, len(words)):
        leaving, entering = words[i - window], words[i]
        counts[leaving] -= 1
        if counts[leaving] == 0:
            del counts[leaving]
        counts[entering] += 1
        total += len(counts)
    return total / (len(words) - window + 1) / window


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def hdd(words: Sequence[str], draws: int = HDD_DRAWS) -> float:
    """HD-D: the expected TTR of a random sample of ``draws`` words, i.e. the sum over
    types of P(the type occurs in the sample) / draws, with P = 1 - C(N-f, d) / C(N, d)
    (hypergeometric, N words, f occurrences of the type, d draws).

    A text of fewer than ``draws`` words is sampled whole (d = N), so HD-D is its TTR.
    0 without words.
    """
    total = len(words)
    if total == 0:
        return 0.0
    d = min(draws, total)
    log_all = _log_choose(total, d)
    expected = 0.0
    for f in Counter(words).values():
        rest = total - f
        absent = math.exp(_log_choose(rest, d) - log_all) if rest >= d else 0.0
        expected += 1.0 - absent
    return expected / d
