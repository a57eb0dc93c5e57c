"""An evaluation as Markdown: what was fitted how, then a table each for RMSE, QWK, the
feature families and the features that carry the scores."""

from __future__ import annotations

import math

from hemma_features.client.evaluation.fit import LIGHTGBM
from hemma_features.client.evaluation.results import RAISED, STABLE_SHARE, Dropped, Evaluation

TOP = 20
"""Features listed in the importance table (the HTML report lists every one)."""


def markdown(result: Evaluation, *, top: int = TOP) -> str:
    """The whole evaluation as Markdown."""
    targets = [t.name for t in result.targets]
    lines = [
        f"## Evaluation: {' '.join(filter(None, (result.feature_set, result.fingerprint[:12])))}"
        f", {result.essays} essays",
        "",
        *(f"- {line}" for line in setting(result)),
        "",
        "### RMSE out of fold (lower is better)",
        "",
        "| model | columns | " + " | ".join(targets) + " | mean | seconds |",
        "|---|---:|" + "---:|" * len(targets) + "---:|---:|",
    ]
    for model in result.models:
        cells = " | ".join(f"{model.scores[t].rmse:.3f}" for t in targets)
        lines.append(
            f"| {model.name} | {model.columns} | {cells} | {model.mean_rmse:.3f} "
            f"| {model.seconds:.0f} |"
        )
    scaled = [t.name for t in result.targets if t.scale]
    if scaled:
        lines += [
            "",
            "### QWK out of fold: predictions rounded to the scale / in the training fold's "
            "score proportions",
            "",
            "| model | " + " | ".join(scaled) + " |",
            "|---|" + "---:|" * len(scaled),
        ]
        for model in result.models:
            cells = " | ".join(
                f"{_kappa(model.scores[t].qwk)} / {_kappa(model.scores[t].qwk_distribution)}"
                for t in scaled
            )
            lines.append(f"| {model.name} | {cells} |")
    if result.families:
        lines += [
            "",
            f"### Feature families: RMSE change when a family is dropped from {result.reference}",
            "",
            legend(),
            "",
            "| family | columns | " + " | ".join(targets) + " | RMSE of the family alone (mean) |",
            "|---|---:|" + "---:|" * len(targets) + "---:|",
        ]
        for family in sorted(result.families, key=lambda f: -f.mean_delta()):
            alone = sum(family.alone.values()) / max(len(family.alone), 1)
            lines.append(
                f"| {family.name} | {family.columns} | {_cells(family, targets)} | {alone:.3f} |"
            )
    if result.importance:
        shown = result.importance[:top]
        lines += [
            "",
            f"### Drop-column importance: the {len(shown)} strongest of "
            f"{len(result.importance)} (the embedding counts as one)",
            "",
            legend(),
            "",
            "| feature | family | " + " | ".join(targets) + " |",
            "|---|---|" + "---:|" * len(targets),
        ]
        for unit in shown:
            lines.append(f"| {unit.name} | {unit.family} | {_cells(unit, targets)} |")
    return "\n".join(lines) + "\n"


def setting(result: Evaluation) -> list[str]:
    """What was evaluated, how: one sentence each (the Markdown's list, the HTML's too)."""
    targets = "; ".join(
        f"{t.name} ({t.rows} essays, mean {t.mean:.3g}, sd {t.std:.3g}"
        f"{', ' + t.scale if t.scale else ', no scale: RMSE only'})"
        for t in result.targets
    )
    low, high = min(result.fold_sizes), max(result.fold_sizes)
    sizes = f"{low}" if low == high else f"{low} to {high}"
    trees = ", ".join(f"{k} {v}" for k, v in LIGHTGBM.items() if k not in ("verbose",))
    out = [
        f"Essays: {result.scope}.",
        f"Labels: {result.labels}.",
        f"Targets: {targets}.",
        f"Folds: {result.folds}, {result.fold_kind}; test folds of {sizes} essays; seed "
        f"{result.seed}.",
        "Ridge: columns standardised on the training fold, the penalty chosen there by "
        "exact leave-one-out error. LightGBM: fixed parameters "
        f"({trees}). QWK rounds within the scale read off the labels.",
        f"Rows: {result.source}"
        f"{', fingerprint ' + result.fingerprint if result.fingerprint else ''}; evaluated in "
        f"{result.seconds:.0f} s.",
    ]
    out += [f"Note: {note}." for note in result.notes]
    return out


def legend() -> str:
    """How to read a drop table's cells."""
    share = f"{STABLE_SHARE:.0%}"
    return (
        "Each cell: the mean over folds of the RMSE without it minus the RMSE with it "
        "(positive: it carried signal), and the folds where dropping it raised the RMSE; "
        f"**bold**: stable (raised in at least {share} of the folds, and on average)."
    )


def _cells(unit: Dropped, targets: list[str]) -> str:
    out = []
    for target in targets:
        cell = f"{unit.delta[target]:+.4f} ({hurt_folds(unit, target)})"
        out.append(f"**{cell}**" if unit.stable(target) else cell)
    return " | ".join(out)


def hurt_folds(unit: Dropped, target: str) -> str:
    """``4/5``: folds where dropping it raised the RMSE, of the folds with the score."""
    folds = [d for d in unit.delta_folds[target] if math.isfinite(d)]
    return f"{sum(1 for d in folds if d > RAISED)}/{len(folds)}"


def _kappa(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"
