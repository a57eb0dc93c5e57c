"""The cross-validation of an evaluation: every model out of fold, then what each family
and each feature adds to the reference model (ridge on every column), fold by fold.

Each fold's model is fitted on the other folds' essays that have a score for the target;
the penalty, the scaling, the LightGBM trees and the rounding see no test essay. The drop
of a feature refits ridge (and chooses its penalty again) without it, in every fold.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from hemma_features.client.evaluation.design import EMBEDDING_FAMILY, Design
from hemma_features.client.evaluation.fit import (
    Model,
    lightgbm_fit_predict,
    mean_fit_predict,
    ridge,
    ridge_targets,
    standardised,
)
from hemma_features.client.evaluation.folds import grouped_folds, stratified_folds
from hemma_features.client.evaluation.results import RAISED, Dropped, ModelScores, Score
from hemma_features.client.evaluation.scoring import (
    Scale,
    distribution_round,
    qwk,
    rmse,
    round_to_scale,
    scale_of,
)

Say = Callable[[str], None]
REFERENCE = "ridge: all features"


class Folds(NamedTuple):
    tests: list[np.ndarray]
    kind: str


class Outcome(NamedTuple):
    """What ``cross_validate`` found."""

    folds: Folds
    models: list[ModelScores]
    families: list[Dropped]
    importance: list[Dropped]


def make_folds(d: Design, folds: int, seed: int, group_by: str | None) -> Folds:
    """Grouped by ``d.groups`` when given, else stratified by the first target."""
    if d.groups is not None:
        tests = grouped_folds(d.groups, folds, seed)
        kind = (
            f"grouped by {group_by} ({len(set(d.groups))} groups): every test essay's "
            f"{group_by} is unseen in training"
        )
    else:
        tests = stratified_folds(d.ids, d.scores[:, 0], folds, seed)
        kind = f"stratified by {d.targets[0]}"
    return Folds(tests, kind)


def cross_validate(
    d: Design,
    folds: Folds,
    *,
    lightgbm: bool = True,
    importance: bool = True,
    say: Say | None = None,
) -> Outcome:
    """Every model's out-of-fold scores; with ``importance``, the family ablation and the
    drop-column importance of ``REFERENCE``."""
    say = say or (lambda _: None)
    scales = [scale_of(d.scores[:, j]) for j in range(len(d.targets))]
    blocks = {"all features": d.named}  # a handcrafted set: its named columns are all
    if d.embedding is not None:
        hand, derived = d.hand(), [i for i in range(len(d.names)) if i not in set(d.hand())]
        blocks = {}
        if hand:  # (an embeddings set has none: the vector and its features are all)
            blocks["handcrafted"] = d.named[:, hand]
            blocks["embedding"] = np.hstack([d.embedding, d.named[:, derived]])
        blocks["all features"] = np.hstack([d.named, d.embedding])
    everything = blocks["all features"]
    models: list[ModelScores] = []

    def add(name: str, columns: int, predicted: np.ndarray, began: float) -> np.ndarray:
        scores = {t: _score(predicted, d.scores, j, folds.tests, scales[j])
                  for j, t in enumerate(d.targets)}  # fmt: skip
        seconds = time.perf_counter() - began
        models.append(ModelScores(name=name, columns=columns, scores=scores, seconds=seconds))
        say(f"{name}: mean RMSE {models[-1].mean_rmse:.3f} ({seconds:.0f} s)")
        return predicted

    began = time.perf_counter()
    add("column means", 0, _out_of_fold(everything, d.scores, mean_fit_predict, folds.tests), began)
    if "n_words" in d.names:
        began = time.perf_counter()
        length = d.named[:, [d.names.index("n_words")]]
        add("length (ridge on n_words)", 1, _ridge_oof(length, d.scores, folds.tests), began)
    reference = None
    for name, x in blocks.items():
        if x.shape[1] == 0:
            continue  # no named column (a cache of the embedding alone)
        began = time.perf_counter()
        predicted = add(f"ridge: {name}", x.shape[1], _ridge_oof(x, d.scores, folds.tests), began)
        reference = predicted if name == "all features" else reference
    if lightgbm:
        trees = None
        for name in ("handcrafted", "all features"):
            if name not in blocks:
                continue
            began = time.perf_counter()
            oof = _out_of_fold(blocks[name], d.scores, lightgbm_fit_predict, folds.tests)
            trees = add(f"LightGBM: {name}", blocks[name].shape[1], oof, began)
        if trees is not None and reference is not None:
            add("blend: ridge + LightGBM, all features (mean of the two)", everything.shape[1],
                (reference + trees) / 2, time.perf_counter())  # fmt: skip
    families: list[Dropped] = []
    ranked: list[Dropped] = []
    if importance and reference is not None:
        units = _units(d)
        base = _fold_rmse(reference, d.scores, folds.tests)
        began = time.perf_counter()
        for family in dict.fromkeys(f for _, f, _ in units):
            columns = np.concatenate([c for _, f, c in units if f == family])
            alone = _ridge_oof(everything[:, columns], d.scores, folds.tests)
            families.append(
                _dropped(family, family, columns, everything, d, folds, base, alone=alone)
            )
        say(f"family ablation: {len(families)} families ({time.perf_counter() - began:.0f} s)")
        began = time.perf_counter()
        for name, family, columns in units:
            ranked.append(_dropped(name, family, columns, everything, d, folds, base))
        ranked.sort(key=lambda u: -u.mean_delta())
        say(f"drop-column importance: {len(units)} units ({time.perf_counter() - began:.0f} s)")
    return Outcome(folds, models, families, ranked)


def _units(d: Design) -> list[tuple[str, str, np.ndarray]]:
    """(name, family, columns of ``all features``): each named column, then the vector."""
    units = [
        (n, f, np.array([i])) for i, (n, f) in enumerate(zip(d.names, d.families, strict=True))
    ]
    if d.embedding is not None:
        dims = d.embedding.shape[1]
        columns = np.arange(len(d.names), len(d.names) + dims)
        units.append((f"embedding ({dims} dimensions)", EMBEDDING_FAMILY, columns))
    return units


def _dropped(
    name: str, family: str, columns: np.ndarray, everything: np.ndarray, d: Design,
    folds: Folds, base: np.ndarray, *, alone: np.ndarray | None = None,
) -> Dropped:  # fmt: skip
    """Ridge without ``columns`` against the reference's per-fold RMSE ``base``."""
    kept = np.setdiff1d(np.arange(everything.shape[1]), columns)
    if kept.size:
        without = _ridge_oof(everything[:, kept], d.scores, folds.tests)
    else:
        without = _out_of_fold(everything, d.scores, mean_fit_predict, folds.tests)
    deltas = _fold_rmse(without, d.scores, folds.tests) - base  # [folds, targets]
    return Dropped(
        name=name, family=family, columns=int(columns.size),
        delta={t: float(np.nanmean(deltas[:, j])) for j, t in enumerate(d.targets)},
        delta_folds={t: deltas[:, j].tolist() for j, t in enumerate(d.targets)},
        hurt_share={t: float(np.mean(deltas[np.isfinite(deltas[:, j]), j] > RAISED))
                    for j, t in enumerate(d.targets)},
        alone={} if alone is None else {
            t: rmse(alone[m, j], d.scores[m, j])
            for j, t in enumerate(d.targets) for m in [np.isfinite(d.scores[:, j])]},
    )  # fmt: skip


def _out_of_fold(
    x: np.ndarray, scores: np.ndarray, model: Model, tests: Sequence[np.ndarray]
) -> np.ndarray:
    """[N, targets] predictions, each from ``model`` fitted on the other folds' essays
    that have that score."""
    predicted = np.full_like(scores, np.nan)
    everything = np.arange(len(x))
    for fold in tests:
        train = np.setdiff1d(everything, fold)
        for j in range(scores.shape[1]):
            rows = train[np.isfinite(scores[train, j])]
            if rows.size >= 2:  # else no fit: the fold's predictions stay NaN (said as n/a)
                predicted[fold, j] = model(x[rows], scores[rows, j], x[fold])
    return predicted


def _ridge_oof(x: np.ndarray, scores: np.ndarray, tests: Sequence[np.ndarray]) -> np.ndarray:
    """``_out_of_fold`` of standardised ridge, one SVD per fold when every essay has every
    score."""
    if not np.isfinite(scores).all():

        def fit(train: np.ndarray, y: np.ndarray, test: np.ndarray) -> np.ndarray:
            a, b = standardised(train, test)
            return ridge(a, y, b).test

        return _out_of_fold(x, scores, fit, tests)
    predicted = np.zeros_like(scores)
    everything = np.arange(len(x))
    for fold in tests:
        train = np.setdiff1d(everything, fold)
        a, b = standardised(x[train], x[fold])
        for j, fitted in enumerate(ridge_targets(a, scores[train], b)):
            predicted[fold, j] = fitted.test
    return predicted


def _fold_rmse(
    predicted: np.ndarray, scores: np.ndarray, tests: Sequence[np.ndarray]
) -> np.ndarray:
    """[folds, targets] RMSE of each test fold (NaN: no essay of the fold has the score)."""
    out = np.full((len(tests), scores.shape[1]), np.nan)
    for k, fold in enumerate(tests):
        for j in range(scores.shape[1]):
            rows = fold[np.isfinite(scores[fold, j])]
            if rows.size:
                out[k, j] = rmse(predicted[rows, j], scores[rows, j])
    return out


def _score(
    predicted: np.ndarray, scores: np.ndarray, j: int, tests: Sequence[np.ndarray],
    scale: Scale | None,
) -> Score:  # fmt: skip
    y, p = scores[:, j], predicted[:, j]
    known = np.isfinite(y) & np.isfinite(p)  # a fold too short of scores to fit has none
    per_fold = _fold_rmse(predicted[:, [j]], scores[:, [j]], tests)[:, 0]
    result = Score(rmse=rmse(p[known], y[known]), rmse_folds=per_fold.tolist())
    if scale is None:
        return result
    matched = np.full(len(y), np.nan)
    everything = np.arange(len(y))
    for fold in tests:
        test = fold[known[fold]]
        train = np.setdiff1d(everything, fold)
        train = train[np.isfinite(y[train])]
        if test.size and train.size:
            matched[test] = distribution_round(p[test], y[train], scale)
    rounded = round_to_scale(p[known], scale)
    return Score(
        rmse=result.rmse, rmse_folds=result.rmse_folds,
        qwk=qwk(rounded, y[known], scale), qwk_distribution=qwk(matched[known], y[known], scale),
    )  # fmt: skip
