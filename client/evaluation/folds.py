"""Test folds of a cross-validation, from fixed seeds.

- ``shuffled_folds``: a fixed shuffle of the rows as given, cut in k (the ELLIPSE
  benchmark's folds);
- ``stratified_folds``: every fold gets the score distribution of the whole: rows sorted
  by score (ties in a seeded random order) are dealt to the folds in turn;
- ``grouped_folds``: whole groups (a prompt) go to one fold, largest groups first, each to
  the fold with the fewest rows so far (ties by a seeded shuffle): the test fold's prompts
  are never seen in training, so the figures say how the features carry to unseen prompts.

Stratified folds depend on the essay ids, the scores and the seed, grouped folds on the
groups and the seed: not on the order the rows come in (rows read in another order keep
their folds).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hemma_features.client.errors import EvaluationError

FOLDS = 5
SEED = 0


def shuffled_folds(n: int, folds: int = FOLDS, seed: int = SEED) -> list[np.ndarray]:
    """The ``folds`` test folds of a fixed shuffle of ``n`` rows."""
    return np.array_split(np.random.default_rng(seed).permutation(n), folds)


def _by_id(ids: Sequence[str], seed: int) -> np.ndarray:
    """The rows in an order fixed by their ids and the seed (a seeded shuffle of the sorted
    ids), whatever order they came in."""
    order = np.argsort(np.asarray(ids, dtype=object), kind="stable")
    return order[np.random.default_rng(seed).permutation(len(order))]


def stratified_folds(
    ids: Sequence[str], scores: np.ndarray, folds: int = FOLDS, seed: int = SEED
) -> list[np.ndarray]:
    """Test folds with the score distribution of the whole: rows sorted by score (rows
    without one last) and dealt to the folds in turn.

    Args:
        ids: The essay id of each row.
        scores: The score stratified by (NaN: none).
        folds: How many folds.
        seed: Orders rows of equal score.
    """
    _enough(len(ids), folds, "essays")
    order = _by_id(ids, seed)
    keyed = np.where(np.isfinite(scores[order]), scores[order], np.inf)
    dealt = order[np.argsort(keyed, kind="stable")]
    return [np.sort(dealt[k::folds]) for k in range(folds)]


def grouped_folds(groups: Sequence[str], folds: int = FOLDS, seed: int = SEED) -> list[np.ndarray]:
    """Test folds holding whole groups, balanced in rows.

    Args:
        groups: The group of each row (a prompt); rows of one group share a fold.
        folds: How many folds.
        seed: Orders groups of equal size.
    """
    names = sorted(set(groups))
    _enough(len(names), folds, "groups")
    sizes = {name: 0 for name in names}
    for group in groups:
        sizes[group] += 1
    shuffled = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    ranked = sorted(shuffled, key=lambda name: -sizes[name])  # stable: ties stay shuffled
    load = np.zeros(folds, dtype=np.int64)
    fold_of: dict[str, int] = {}
    for name in ranked:
        k = int(np.argmin(load))
        fold_of[name] = k
        load[k] += sizes[name]
    where = np.array([fold_of[g] for g in groups])
    return [np.flatnonzero(where == k) for k in range(folds)]


def _enough(count: int, folds: int, what: str) -> None:
    if folds < 2:
        raise EvaluationError(f"cross-validation needs at least 2 folds, given: {folds}")
    if count < folds:
        fix = (
            "give fewer --folds"
            if what == "essays"
            else "give fewer --folds or group by another column"
        )
        raise EvaluationError(
            f"{folds} folds need at least {folds} {what}; there are {count}: {fix}"
        )
