"""The report's evaluation section (``hemma-features evaluate --html``): how it was
fitted, RMSE per model and target with a plot per target, QWK, what each feature family
adds and the features that carry the scores, with their stability over the folds."""

from __future__ import annotations

from html import escape

import numpy as np

from hemma_features.client.evaluation.markdown import hurt_folds, legend, setting
from hemma_features.client.evaluation.results import Dropped, Evaluation
from hemma_features.client.feature_report import svg

PLOTTED = 20
"""Features drawn in the importance plot (the table lists every one)."""


def section(result: Evaluation) -> str:
    """The whole section, ``<h2 id="evaluation">`` first."""
    targets = [t.name for t in result.targets]
    items = "".join(f"<li>{escape(line)}</li>" for line in setting(result))
    out = [
        '<h2 id="evaluation">Evaluation: predicting the labels</h2>',
        f'<ul class="small">{items}</ul>',
        "<h3>RMSE out of fold (lower is better)</h3>",
        '<p class="small">Each plot: one target, a bar per model (the axis starts near the '
        "smallest RMSE: its ends are printed), the whisker its folds' range, the dashed line "
        "the column means.</p>",
        _table(
            ["model", "columns", *targets, "mean", "seconds"],
            [
                [
                    escape(m.name),
                    _num(m.columns, "d"),
                    *(_num(m.scores[t].rmse) for t in targets),
                    _num(m.mean_rmse),
                    _num(m.seconds, ".0f"),
                ]
                for m in result.models
            ],  # fmt: skip
        ),
        _rmse_plots(result, targets),
    ]
    scaled = [t.name for t in result.targets if t.scale]
    if scaled:
        out += [
            "<h3>QWK out of fold: rounded to the scale / in the training fold's score "
            "proportions</h3>",
            _table(
                ["model", *scaled],
                [
                    [
                        escape(m.name),
                        *(
                            f"<td>{_kappa(m.scores[t].qwk)} / "
                            f"{_kappa(m.scores[t].qwk_distribution)}</td>"
                            for t in scaled
                        ),
                    ]
                    for m in result.models
                ],  # fmt: skip
            ),
        ]
    if result.families:
        ranked = sorted(result.families, key=lambda f: -f.mean_delta())
        out += [
            f"<h3>Feature families: RMSE change when a family is dropped from "
            f"{escape(result.reference)}</h3>",
            f'<p class="small">{escape(legend())} The plot shows the mean over the targets, '
            "the whisker the folds' range, and for how many targets the family is stable.</p>",
            _drop_plot(ranked, "families", "family ablation"),
            _drop_table(ranked, targets, families=True),
        ]
    if result.importance:
        out += [
            f"<h3>Drop-column importance: {len(result.importance)} features (the embedding "
            "counts as one), strongest first</h3>",
            f'<p class="small">{escape(legend())} The plot shows the {PLOTTED} strongest '
            "(mean over the targets; whisker: the folds' range; for how many targets each is "
            "stable).</p>",
            _drop_plot(result.importance[:PLOTTED], "importance", "drop-column importance"),
            _drop_table(result.importance, targets, families=False),
        ]
    return "".join(out)


def _rmse_plots(result: Evaluation, targets: list[str]) -> str:
    baseline = next((m for m in result.models if m.name == "column means"), None)
    cards = []
    for target in targets:
        reference = (baseline.scores[target].rmse, "column means") if baseline else None
        spread = [_range(m.scores[target].rmse_folds) for m in result.models]
        low = min((a for a, _ in spread if np.isfinite(a)), default=0.0)
        plot = svg.bars(
            [m.name for m in result.models], [m.scores[target].rmse for m in result.models],
            spread=spread, reference=reference, title=f"RMSE for {target}",
            css_class="bars rmse", origin=float(np.floor(low * 0.9 * 20) / 20),
        )  # fmt: skip
        cards.append(f'<div class="card wide"><h3>{escape(target)}</h3>{plot}</div>')
    return f'<div class="grid">{"".join(cards)}</div>'


def _drop_plot(units: list[Dropped], kind: str, title: str) -> str:
    spread = []
    for unit in units:
        per_fold = np.nanmean(np.array(list(unit.delta_folds.values()), dtype=float), axis=0)
        spread.append((float(np.nanmin(per_fold)), float(np.nanmax(per_fold))))
    marks = []
    for unit in units:
        stable = sum(unit.stable(t) for t in unit.delta)
        marks.append(f"stable for {stable}/{len(unit.delta)}" if stable else "")
    plot = svg.bars(
        [u.name for u in units], [u.mean_delta() for u in units], spread=spread,
        marks=marks, title=title, css_class=f"bars {kind}", digits="+.4f", width=640,
    )  # fmt: skip
    return f'<div class="card scroll">{plot}</div>'


def _range(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if np.isfinite(v)]
    return (min(finite), max(finite)) if finite else (float("nan"), float("nan"))


def _drop_table(units: list[Dropped], targets: list[str], *, families: bool) -> str:
    head = ["family" if families else "feature", *([] if families else ["family"]), "columns",
            *(f"&Delta; {escape(t)}" for t in targets), "mean &Delta;",
            *(["RMSE alone (mean)"] if families else [])]  # fmt: skip
    rows = []
    for unit in units:
        cells = [escape(unit.name), *([] if families else [escape(unit.family)]),
                 _num(unit.columns, "d")]  # fmt: skip
        for target in targets:
            value = unit.delta[target]
            text = f"{value:+.4f} ({hurt_folds(unit, target)})"
            bold = f"<b>{text}</b>" if unit.stable(target) else text
            cells.append(f'<td class="num" data-v="{value!r}">{bold}</td>')
        cells.append(_num(unit.mean_delta(), "+.4f"))
        if families:
            cells.append(_num(sum(unit.alone.values()) / max(len(unit.alone), 1)))
        rows.append(cells)
    return _table(head, rows)


def _table(head: list[str], rows: list[list[str]]) -> str:
    ths = "".join(f'<th class="sort">{h}</th>' for h in head)
    body = "".join(
        "<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return (
        f'<div class="scroll"><table class="sortable"><thead><tr>{ths}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _num(value: float, digits: str = ".3f") -> str:
    if value is None or not np.isfinite(value):
        return '<td class="num" data-v="NaN">n/a</td>'
    return f'<td class="num" data-v="{float(value)!r}">{format(value, digits)}</td>'


def _kappa(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3f}"
