"""The arithmetic every feature shares: the undefined-ratio rule and mean/std.

A value whose denominator is empty is undefined and written 0 (the catalogue's
``undefined`` says when, and which column shows it); ``ratio`` and ``per_100`` are that rule,
written once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def ratio(part: float, whole: float) -> float:
    """``part / whole``; 0 when ``whole`` is 0 (undefined)."""
    return part / whole if whole else 0.0


def per_100(count: float, words: int) -> float:
    """``count`` per 100 words; 0 without words (undefined)."""
    return count * (100.0 / words if words else 0.0)


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean (numpy, float64); 0 for no values (undefined)."""
    return float(np.mean(values)) if len(values) else 0.0


def mean_std(values: Sequence[float], *, exact: bool = False) -> tuple[float, float]:
    """(mean, population standard deviation) in float64; (0, 0) for no values (undefined).

    numpy's pairwise sums, or with ``exact`` exactly rounded ones (``math.fsum``; the
    phraseology family's PMIs, as defined since their first version): the two agree to the
    last bit or two, and each feature keeps the one its golden values were taken with.
    """
    if not len(values):
        return 0.0, 0.0
    if exact:
        average = math.fsum(values) / len(values)
        return average, math.sqrt(math.fsum((v - average) ** 2 for v in values) / len(values))
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std())
