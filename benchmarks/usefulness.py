"""Benchmark: how well the features predict human scores (5-fold cross-validated ridge).

    .venv/bin/python benchmarks/usefulness.py --cache /tmp/usefulness-cache

Extracts ``combined`` for the 2,000 ELLIPSE essays through a real server (the cache makes
a rerun with the same fingerprint instant), then, for each feature group, fits ridge
regression to ``overall`` and the six analytic scores in 5 folds (fixed shuffle, seed 0):

- ``length``: ``n_words`` alone (the baseline any feature set must beat);
- ``handcrafted``: the handcrafted set's columns;
- ``embeddings``: the embeddings set's columns (vector + embedding-derived features);
- ``combined``: both.

Columns are standardised on the training fold; the ridge penalty is chosen per target on
the training fold by exact leave-one-out error over a grid (from the SVD). Printed: RMSE
per target, MCRMSE (their mean), and QWK for ``overall`` with predictions rounded to half
points within 1-5. Plain numpy, no scikit-learn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ellipse import essay_inputs, read_ellipse  # noqa: E402
from hemma_features import FeatureClient  # noqa: E402
from hemma_features.client.server_process import ServerProcess  # noqa: E402
from hemma_features.contract import EMBEDDING_DERIVED, decode_catalogue  # noqa: E402

TARGETS = ("overall", "cohesion", "syntax", "vocabulary", "phraseology", "grammar",
           "conventions")  # fmt: skip
ALPHAS = np.logspace(-2, 5, 15)
FOLDS = 5


def ridge_fit_predict(train: np.ndarray, y: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Predictions for ``test``: standardise on ``train``, pick the penalty by exact
    leave-one-out error (SVD), fit ridge with an unpenalised intercept."""
    mean, std = train.mean(0), train.std(0)
    std[std == 0] = 1.0
    x, t = (train - mean) / std, (test - mean) / std
    y_mean = y.mean()
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    uy = u.T @ (y - y_mean)
    best, best_error = ALPHAS[0], np.inf
    for alpha in ALPHAS:
        shrink = s**2 / (s**2 + alpha)
        fitted = u @ (shrink * uy)
        hat = (u**2) @ shrink + 1.0 / len(y)  # the intercept's leverage included
        error = np.mean(((y - y_mean - fitted) / (1.0 - hat)) ** 2)
        if error < best_error:
            best, best_error = alpha, error
    coef = vt.T @ ((s / (s**2 + best)) * uy)
    return t @ coef + y_mean


def qwk(a: np.ndarray, b: np.ndarray) -> float:
    """Quadratic weighted kappa between two half-point scores in 1-5 (9 categories)."""
    ia, ib = np.rint((a - 1) * 2).astype(int), np.rint((b - 1) * 2).astype(int)
    k = 9
    observed = np.zeros((k, k))
    np.add.at(observed, (ia, ib), 1)
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    weights = (np.subtract.outer(np.arange(k), np.arange(k)) ** 2) / (k - 1) ** 2
    return float(1.0 - (weights * observed).sum() / (weights * expected).sum())


def cross_validate(x: np.ndarray, scores: np.ndarray) -> tuple[list[float], float]:
    """(RMSE per target, QWK of overall) over FOLDS folds."""
    order = np.random.default_rng(0).permutation(len(x))
    folds = np.array_split(order, FOLDS)
    predicted = np.zeros_like(scores)
    for fold in folds:
        train = np.setdiff1d(order, fold)
        for j in range(scores.shape[1]):
            predicted[fold, j] = ridge_fit_predict(x[train], scores[train, j], x[fold])
    rmse = np.sqrt(((predicted - scores) ** 2).mean(0)).tolist()
    rounded = np.clip(np.rint(predicted[:, 0] * 2) / 2, 1.0, 5.0)
    return rmse, qwk(rounded, scores[:, 0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/hemma-usefulness-cache"))
    parser.add_argument("--essays", type=int, default=2000)
    args = parser.parse_args()
    table = read_ellipse(args.essays)
    if table is None:
        return 0
    essays = essay_inputs(table)
    scores = np.stack([table.column(t).to_numpy().astype(np.float64) for t in TARGETS], 1)
    with ServerProcess(startup_timeout=900) as server, FeatureClient(server.http_url) as client:
        features, report = client.extract_with_report(
            essays, feature_set="combined", cache=args.cache
        )
        fingerprint = report.fingerprint
    specs = decode_catalogue(features.schema)
    derived = [s.name for s in specs if s.group == EMBEDDING_DERIVED]
    hand = [s.name for s in specs if s.group != EMBEDDING_DERIVED]
    vectors = np.stack(features.column("embedding").to_numpy(zero_copy_only=False))

    def columns(names: list[str]) -> np.ndarray:
        return np.stack([features.column(n).to_numpy().astype(np.float64) for n in names], 1)

    groups = {
        "length": columns(["n_words"]),
        "handcrafted": columns(hand),
        "embeddings": np.hstack([vectors, columns(derived)]),
        "combined": np.hstack([vectors, columns(derived), columns(hand)]),
    }
    print(f"essays: {len(scores)}; fingerprint {fingerprint[:12]}; {FOLDS}-fold ridge")
    print("| features | columns | " + " | ".join(TARGETS) + " | MCRMSE | QWK overall |")
    print("|---|---|" + "---|" * len(TARGETS) + "---|---|")
    for name, x in groups.items():
        rmse, kappa = cross_validate(x, scores)
        cells = " | ".join(f"{r:.3f}" for r in rmse)
        print(f"| {name} | {x.shape[1]} | {cells} | {np.mean(rmse):.3f} | {kappa:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
