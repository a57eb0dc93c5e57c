"""The models of an evaluation: ridge with an exact leave-one-out penalty, LightGBM with
fixed parameters, and the column-means baseline, each ``fit_predict(train, y, test)``.

Ridge needs numpy only. LightGBM is the ``evaluate`` extra (``pip install
'hemma-features[evaluate]'``), imported when a fit needs it; ``lightgbm_missing`` says
whether it can run. ``benchmarks/usefulness.py`` fits the ELLIPSE figures in
``docs/benchmarks.md`` with these same functions.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

ALPHAS = np.logspace(-2, 5, 15)
"""The ridge penalties tried on every training fold (the one with the least leave-one-out
error is kept)."""
LIGHTGBM: dict[str, Any] = {
    "n_estimators": 300, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 20,
    "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.3, "reg_lambda": 1.0,
    "max_bin": 63,
    "n_jobs": 2, "random_state": 0, "deterministic": True, "force_row_wise": True,
    "verbose": -1,
}  # fmt: skip
"""Fixed, deterministic LightGBM parameters: nothing is tuned on a test fold."""
LIGHTGBM_INSTALL = "pip install 'hemma-features[evaluate]'"

Model = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``fit_predict(train columns, train scores, test columns) -> test predictions``."""


class RidgeFit(NamedTuple):
    test: np.ndarray
    """Predictions for the test rows."""
    loo: np.ndarray
    """Exact leave-one-out predictions for the training rows (each from the fit without it)."""
    loo_mse: float
    alpha: float
    """The penalty chosen."""


def ridge(
    train: np.ndarray, y: np.ndarray, test: np.ndarray, alphas: Sequence[float] | None = None
) -> RidgeFit:
    """Ridge on already scaled (centred) columns, an unpenalised intercept, the penalty
    picked by exact leave-one-out error: from one eigendecomposition, no refit per row
    or per penalty.

    Args:
        train: [n, p] training columns (standardised).
        y: [n] training scores.
        test: [m, p] test columns, scaled like ``train``.
        alphas: Penalties to try [``ALPHAS``].
    """
    return _ridge_path(_Spectrum.of(train), y, test, alphas)


def ridge_targets(
    train: np.ndarray, scores: np.ndarray, test: np.ndarray, alphas: Sequence[float] | None = None
) -> list[RidgeFit]:
    """``ridge`` for every column of ``scores`` [n, targets], from one decomposition."""
    spectrum = _Spectrum.of(train)
    return [_ridge_path(spectrum, scores[:, j], test, alphas) for j in range(scores.shape[1])]


class _Spectrum(NamedTuple):
    """``train``'s ridge in eigen terms: ``q`` [n, r] with ``q @ diag(1 / (eig + alpha)) @
    q.T`` the hat matrix of penalty alpha (``q = X V`` with ``X^T X = V diag(eig) V^T``, or
    ``U sqrt(eig)`` with ``X X^T = U diag(eig) U^T`` when there are fewer rows than
    columns: the smaller Gram matrix is decomposed), and what turns the fitted weights
    into coefficients. Equal to the SVD's formulas, several times cheaper."""

    q: np.ndarray
    eig: np.ndarray
    train: np.ndarray
    v: np.ndarray | None
    """``V`` (rows >= columns), else None (coefficients go through ``train``)."""
    u: np.ndarray | None

    @classmethod
    def of(cls, train: np.ndarray) -> _Spectrum:
        n, p = train.shape
        if n >= p:
            eig, v = np.linalg.eigh(train.T @ train)
            eig = np.clip(eig, 0.0, None)  # rounding leaves a null direction at -1e-13
            return cls(train @ v, eig, train, v, None)
        eig, u = np.linalg.eigh(train @ train.T)
        eig = np.clip(eig, 0.0, None)
        return cls(u * np.sqrt(eig), eig, train, None, u)

    def coefficients(self, centred: np.ndarray, alpha: float) -> np.ndarray:
        if self.v is not None:
            return self.v @ ((self.q.T @ centred) / (self.eig + alpha))
        assert self.u is not None
        return self.train.T @ (self.u @ ((self.u.T @ centred) / (self.eig + alpha)))


def _ridge_path(
    spectrum: _Spectrum, y: np.ndarray, test: np.ndarray, alphas: Sequence[float] | None
) -> RidgeFit:
    grid = ALPHAS if alphas is None else np.asarray(alphas, dtype=np.float64)
    q, eig = spectrum.q, spectrum.eig
    y_mean = y.mean()
    centred = y - y_mean
    qy = q.T @ centred
    q2 = q**2
    best, best_error, best_loo = grid[0], np.inf, y
    for alpha in grid:
        weight = 1.0 / (eig + alpha)
        fitted = q @ (weight * qy)
        hat = q2 @ weight + 1.0 / len(y)  # the intercept's leverage included
        residual = (centred - fitted) / (1.0 - hat)
        error = float(np.mean(residual**2))
        if error < best_error:
            best, best_error, best_loo = alpha, error, y - residual
    coef = spectrum.coefficients(centred, float(best))
    return RidgeFit(test @ coef + y_mean, best_loo, best_error, float(best))


def standardised(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both scaled by the training rows' mean and standard deviation (a constant column
    keeps scale 1: it becomes 0 everywhere)."""
    mean, std = train.mean(0), train.std(0)
    std[std == 0] = 1.0
    return (train - mean) / std, (test - mean) / std


def ridge_fit_predict(train: np.ndarray, y: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Predictions for ``test``: standardise on ``train``, ridge (``ridge``)."""
    x, t = standardised(train, test)
    return ridge(x, y, t).test


def lightgbm_fit_predict(train: np.ndarray, y: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Predictions for ``test`` of LightGBM with ``LIGHTGBM`` (the ``evaluate`` extra)."""
    import lightgbm

    return np.asarray(lightgbm.LGBMRegressor(**LIGHTGBM).fit(train, y).predict(test))


def lightgbm_missing() -> str | None:
    """None when LightGBM can be imported, else one line saying how to install it."""
    if importlib.util.find_spec("lightgbm") is None:
        return f"LightGBM is not installed ({LIGHTGBM_INSTALL}): ridge and the baselines only"
    return None


def mean_fit_predict(train: np.ndarray, y: np.ndarray, test: np.ndarray) -> np.ndarray:
    """The baseline: every test row gets the training scores' mean."""
    return np.full(len(test), y.mean())


def predict_out_of_fold(
    x: np.ndarray, scores: np.ndarray, model: Model, folds: Sequence[np.ndarray]
) -> np.ndarray:
    """[N, targets] predictions, each row from the model fitted without its fold."""
    predicted = np.zeros_like(scores)
    everything = np.arange(len(x))
    for fold in folds:
        train = np.setdiff1d(everything, fold)
        for j in range(scores.shape[1]):
            predicted[fold, j] = model(x[train], scores[train, j], x[fold])
    return predicted
