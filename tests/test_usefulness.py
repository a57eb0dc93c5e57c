"""The usefulness benchmark: it fits with the package's evaluation code, and its stacking
never sees the test fold."""

from __future__ import annotations

import numpy as np

from benchmarks import usefulness as u


def test_the_benchmark_fits_with_the_packages_functions():
    """One implementation: the ELLIPSE figures come from what `hemma-features evaluate`
    runs (ridge, LightGBM parameters, folds, QWK, rounding; tests/test_evaluation.py)."""
    from hemma_features.client.evaluation import fit, folds, scoring

    assert u.ridge is fit.ridge and u.ridge_fit_predict is fit.ridge_fit_predict
    assert u.lightgbm_fit_predict is fit.lightgbm_fit_predict
    assert u.qwk is scoring.qwk and u.distribution_round is scoring.distribution_round
    assert [f.tolist() for f in u.folds_of(50)] == [f.tolist() for f in folds.shuffled_folds(50)]


def test_stacking_never_sees_the_test_fold():
    """Changing the scores of one test fold leaves that fold's stacked predictions as they
    were (they come from models fitted without it), and the stacked blend beats the column
    means on data with a real signal."""
    rng = np.random.default_rng(0)
    n = 150
    embedding, hand = rng.normal(size=(n, 12)), rng.normal(size=(n, 4))
    signal = embedding[:, :3].sum(1) + hand[:, 0]
    scores = np.stack([signal + rng.normal(scale=0.5, size=n) for _ in range(7)], 1)
    ridge, trees = u.predict_stacked(embedding, hand, scores)
    fold = u.folds_of(n)[0]
    changed = scores.copy()
    changed[fold] = rng.normal(size=(len(fold), 7))
    ridge2, trees2 = u.predict_stacked(embedding, hand, changed)
    np.testing.assert_array_equal(ridge[fold], ridge2[fold])
    np.testing.assert_array_equal(trees[fold], trees2[fold])
    blend = (ridge + trees) / 2
    means = u.predict_out_of_fold(hand, scores, u.mean_fit_predict)
    assert np.sqrt(((blend - scores) ** 2).mean()) < 0.7 * np.sqrt(((means - scores) ** 2).mean())
