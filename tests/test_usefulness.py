"""The usefulness benchmark's statistics: QWK by hand, ridge's leave-one-out shortcut
against refitting, and stacking that never sees the test fold."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import usefulness as u


def test_qwk_by_hand():
    """Two raters, 4 essays: 1.0/1.0, 2.0/2.0, 3.0/3.5, 4.0/3.0 are categories 0/0, 2/2,
    4/5, 6/4 of 9. Observed cost: gaps 1 and 2, weights d^2/64: 5/64. Expected cost: every
    pair of a rater-A and a rater-B category, over 4 essays (the margins' outer product)."""
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([1.0, 2.0, 3.5, 3.0])
    ia, ib = [0, 2, 4, 6], [0, 2, 5, 4]
    observed = sum((x - y) ** 2 / 64 for x, y in zip(ia, ib, strict=True))
    expected = sum((x - y) ** 2 / 64 for x in ia for y in ib) / 4
    assert observed == pytest.approx(5 / 64)
    assert u.qwk(a, b) == pytest.approx(1 - observed / expected)
    assert u.qwk(a, a) == 1.0


def test_ridge_leave_one_out_equals_refitting(monkeypatch):
    """The SVD shortcut's leave-one-out predictions equal refitting ridge (unpenalised
    intercept, penalty 3 on the slopes) without each row, by a direct solve."""
    monkeypatch.setattr(u, "ALPHAS", np.array([3.0]))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 6))
    x -= x.mean(0)  # the benchmark's columns are standardised on the training rows
    y = x @ rng.normal(size=6) + rng.normal(scale=0.5, size=30)
    fit = u._ridge(x, y, x[:2])
    design = np.hstack([np.ones((30, 1)), x])
    penalty = np.diag([0.0] + [3.0] * 6)
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        coef = np.linalg.solve(design[keep].T @ design[keep] + penalty, design[keep].T @ y[keep])
        assert fit.loo[i] == pytest.approx(design[i] @ coef, rel=1e-9, abs=1e-9)
    assert fit.loo_mse == pytest.approx(np.mean((y - fit.loo) ** 2))


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
