"""How good predictions are: RMSE, and for scores on a scale of whole or half points,
quadratic weighted kappa (QWK) after rounding to the scale, plainly or in the training
scores' proportions (``distribution_round``)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Scale(NamedTuple):
    """Scores from ``low`` to ``high`` in steps of ``step`` (1 or 0.5)."""

    low: float
    high: float
    step: float

    @property
    def categories(self) -> int:
        return int(round((self.high - self.low) / self.step)) + 1

    def levels(self) -> np.ndarray:
        """Every score on the scale, lowest first."""
        return self.low + self.step * np.arange(self.categories)

    def describe(self) -> str:
        """``1 to 5 in half points``."""
        steps = "whole points" if self.step == 1 else "half points"
        return f"{self.low:g} to {self.high:g} in {steps}"


def scale_of(values: np.ndarray) -> Scale | None:
    """The scale the finite ``values`` lie on: whole points, else half points, from their
    lowest to their highest; None for scores off such a scale (or a single value), which
    get RMSE only."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.min() == finite.max():
        return None
    for step in (1.0, 0.5):
        if np.all(finite / step == np.rint(finite / step)):
            return Scale(float(finite.min()), float(finite.max()), step)
    return None


def rmse(predicted: np.ndarray, scores: np.ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((predicted - scores) ** 2)))


def qwk(a: np.ndarray, b: np.ndarray, scale: Scale) -> float:
    """Quadratic weighted kappa between two ratings already on ``scale`` (NaN when one
    rater gives a single category everywhere: agreement beyond chance is undefined)."""
    ia = np.rint((a - scale.low) / scale.step).astype(int)
    ib = np.rint((b - scale.low) / scale.step).astype(int)
    k = scale.categories
    observed = np.zeros((k, k))
    np.add.at(observed, (ia, ib), 1)
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    weights = (np.subtract.outer(np.arange(k), np.arange(k)) ** 2) / (k - 1) ** 2
    chance = (weights * expected).sum()
    if chance == 0:
        return float("nan")
    return float(1.0 - (weights * observed).sum() / chance)


def round_to_scale(predicted: np.ndarray, scale: Scale) -> np.ndarray:
    """The nearest score on the scale (predictions beyond its ends take the end)."""
    steps = np.rint((predicted - scale.low) / scale.step)
    return np.clip(scale.low + steps * scale.step, scale.low, scale.high)


def distribution_round(predicted: np.ndarray, train_scores: np.ndarray, scale: Scale) -> np.ndarray:
    """Scores for ``predicted`` in the proportions of the training scores: the lowest share
    p(low) of predictions gets ``low``, the next p(low + step) the next score, and so on.
    Fitted on training labels only; it undoes the regression's pull toward the mean, which
    plain rounding leaves in (few predictions at either end of the scale). A score no
    training essay has gets no prediction (its cut is past every one)."""
    levels = scale.levels()
    shares = np.array([(train_scores == level).mean() for level in levels])
    cuts = np.quantile(predicted, np.cumsum(shares)[:-1])
    cuts[np.flatnonzero(shares)[-1] :] = np.inf  # above the highest training score
    return levels[np.searchsorted(cuts, predicted, side="right")]
