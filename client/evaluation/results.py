"""What an evaluation found, as plain typed records (``msgspec.json.encode`` writes them):
built by ``run``, written as Markdown by ``markdown`` and as an HTML section by the
feature report."""

from __future__ import annotations

import msgspec

STABLE_SHARE = 0.8
"""A feature (or family) is stable when dropping it raises the RMSE in at least this share
of the folds (4 of 5)."""
RAISED = 1e-6
"""An RMSE change below this is rounding, not a raise (a feature ridge shrinks to nothing
moves the RMSE by 1e-10)."""


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """One score predicted."""

    name: str
    rows: int
    """Essays with a value for it."""
    mean: float
    std: float
    scale: str
    """``1 to 5 in half points``, or empty for scores off such a scale (no QWK)."""


class Score(msgspec.Struct, frozen=True, kw_only=True):
    """How one model predicted one target, out of fold."""

    rmse: float
    """RMSE over every out-of-fold prediction."""
    rmse_folds: list[float]
    """RMSE of each test fold."""
    qwk: float | None = None
    """QWK of the predictions rounded to the scale (None: no scale)."""
    qwk_distribution: float | None = None
    """QWK of the predictions rounded in the training fold's score proportions."""


class ModelScores(msgspec.Struct, frozen=True, kw_only=True):
    """One model (or baseline) over every target."""

    name: str
    """``ridge: all features``, ``column means``..."""
    columns: int
    """Columns it was fitted on (an embedding counts its dimensions)."""
    scores: dict[str, Score]
    """Target name -> score."""
    seconds: float = 0.0

    @property
    def mean_rmse(self) -> float:
        """The mean of the targets' RMSE (ELLIPSE's MCRMSE over its analytic scores)."""
        return sum(s.rmse for s in self.scores.values()) / max(len(self.scores), 1)


class Dropped(msgspec.Struct, frozen=True, kw_only=True):
    """What dropping one feature (or one family) from the reference model did, per target:
    positive ``delta`` means the RMSE rose without it (it carried signal)."""

    name: str
    family: str
    """Catalogue family (``group``), ``embedding`` for the vector."""
    columns: int
    delta: dict[str, float]
    """Target -> mean over folds of RMSE without it minus RMSE with it."""
    delta_folds: dict[str, list[float]]
    """Target -> that difference in each fold."""
    hurt_share: dict[str, float]
    """Target -> share of folds where dropping it raised the RMSE (by more than ``RAISED``)."""
    alone: dict[str, float] = msgspec.field(default_factory=dict)
    """Target -> RMSE of ridge on it alone (families only)."""

    def stable(self, target: str) -> bool:
        """It carried signal in at least ``STABLE_SHARE`` of the folds, and on average."""
        return self.delta[target] > RAISED and self.hurt_share[target] >= STABLE_SHARE

    def mean_delta(self) -> float:
        return sum(self.delta.values()) / max(len(self.delta), 1)


class Evaluation(msgspec.Struct, frozen=True, kw_only=True):
    """Cross-validated predictions of a researcher's scores from cached features."""

    source: str
    """The cache (or ``a Table``)."""
    feature_set: str
    fingerprint: str
    essays: int
    """Essays evaluated (rows with features and at least one target)."""
    scope: str
    """Which essays: every labelled row of the partition, or those of ``--ids-from``."""
    labels: str
    """The labels' source and how they matched the rows."""
    targets: list[Target]
    folds: int
    fold_kind: str
    """``stratified by overall`` or ``grouped by prompt (44 groups)``."""
    fold_sizes: list[int]
    seed: int
    reference: str
    """The model behind the ablation and the importance (``ridge: all features``)."""
    models: list[ModelScores]
    families: list[Dropped]
    importance: list[Dropped]
    """Every feature (and the embedding as one), strongest first (mean delta over targets)."""
    notes: list[str]
    """What was left out or filled in, and why (no LightGBM, missing values...)."""
    seconds: float
