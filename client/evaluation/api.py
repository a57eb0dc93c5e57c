"""``evaluate(cache, labels, ...)``: how well the cached features predict a researcher's
own scores, cross-validated on their own essays."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from hemma_features.client.errors import CacheError, EvaluationError
from hemma_features.client.evaluation.design import Design, default_targets, design
from hemma_features.client.evaluation.fit import LIGHTGBM_INSTALL, lightgbm_missing
from hemma_features.client.evaluation.folds import FOLDS, SEED
from hemma_features.client.evaluation.results import Evaluation, Target
from hemma_features.client.evaluation.run import REFERENCE, cross_validate, make_folds
from hemma_features.client.evaluation.scoring import scale_of
from hemma_features.client.fingerprint_record import read_inputs
from hemma_features.client.labels import checked_labels, join_labels, read_labels
from hemma_features.client.partition import PYTHON, Candidate, Choose, candidates, pick_partition
from hemma_features.client.scope import match_scope, read_scope, scoped_table
from hemma_features.contract import EMBEDDING_COLUMN, ID_COLUMN, KEY_COLUMN, META_FINGERPRINT
from hemma_features.terminal import shown

PREFERRED_SETS = ("combined", "handcrafted", "embeddings")


def evaluate(
    features: Path | str | pa.Table,
    labels: Any,
    *,
    on: str | None = None,
    targets: Sequence[str] | None = None,
    group_by: str | None = None,
    ids: Any = None,
    id_column: str | None = None,
    feature_set: str | None = None,
    fingerprint: str | None = None,
    latest: bool = False,
    folds: int = FOLDS,
    seed: int = SEED,
    importance: bool = True,
    lightgbm: bool | None = None,
    say: Callable[[str], None] | None = None,
    choose: Choose = PYTHON,
) -> Evaluation:
    """Cross-validate ridge, LightGBM and two baselines on the scores of ``labels``, then
    ablate each feature family and drop each feature in turn.

    Args:
        features: A cache directory (``extract --cache``), or feature rows (a Table from
            ``extract`` or ``open_features``).
        labels: A .csv/.parquet/.arrow path, Table or DataFrame: an id column and scores.
        on: The labels' id column (None: ``essay_id``, or the one ``extract --id-column``
            named, when the labels have it).
        targets: The score columns to predict (None: every number column of the labels
            but ``group_by``).
        group_by: Test folds hold whole groups of this column (of the labels, else of
            ``ids``' file): ``prompt`` measures how the features carry to unseen prompts.
            None: folds stratified by the first target.
        ids: Only the essays of this input (``open_features``' ``ids=``).
        id_column: The id column of ``ids``.
        feature_set: ``combined``, ``handcrafted`` or ``embeddings`` [the cache's, combined
            first].
        fingerprint: The set's fingerprint [the only one the cache holds for it].
        latest: With several fingerprints for the set, take the newest.
        folds: How many folds [5].
        seed: The seed of the folds [0].
        importance: Run the family ablation and the drop-column importance (a ridge fit
            per feature and fold: the slow part).
        lightgbm: Fit LightGBM too (None: when the ``evaluate`` extra is installed).
        say: Told one line per finished stage (the CLI prints them).
        choose: How errors name the fingerprint and "latest" options.
    """
    started = time.perf_counter()
    notes: list[str] = []
    if isinstance(features, pa.Table):
        table, source, inputs = features, "a Table", []
        meta = table.schema.metadata or {}
        chosen_set = feature_set or _set_of(table)
        chosen_fp = meta.get(META_FINGERPRINT, b"").decode()
    else:
        chosen = _partition(Path(features).expanduser(), feature_set, fingerprint, latest, choose)
        from hemma_features.client.cache import open_features

        chosen_set = Path(chosen.directory).name.split("=", 1)[1]
        chosen_fp, source = chosen.fingerprint, str(features)
        table = open_features(features, chosen_set, chosen_fp)  # type: ignore[arg-type]
        inputs = read_inputs(features, chosen_fp)
    scope_text = f"every essay of the partition with a score ({table.num_rows} cached rows)"
    names = table.column_names  # the features' (the rest are labels, or the groups)
    if group_by in names:
        raise EvaluationError(f"--group-by {group_by!r} is a feature column; group by a label")
    raw = read_labels(labels, on, id_columns=[r.id_column for r in inputs])
    if ids is not None:
        scope = read_scope(ids, id_column=id_column, inputs=inputs)
        match = match_scope(scope, table.column(KEY_COLUMN), table.column(ID_COLUMN))
        table, scope_text = scoped_table(table, match), match.summary()
        if group_by and group_by not in raw.column_names and group_by in scope.table.column_names:
            table = table.append_column(group_by, scope.table.column(group_by).take(match.at))
    wanted = None
    if targets is not None:
        wanted = [*targets, *([group_by] if group_by and group_by in raw.column_names else [])]
    checked = checked_labels(raw, raw.column_names[0], columns=wanted, features=table.column_names)
    joined, match_labels = join_labels(table, checked, raw.column_names[0], warn=False)
    if not joined.num_rows:
        raise EvaluationError(f"no cached essay has a labels row ({match_labels.summary()})")
    chosen_targets = list(targets) if targets else default_targets(
        joined, names, [group_by] if group_by else [])  # fmt: skip
    if not chosen_targets:
        raise EvaluationError(
            "the labels have no number column to predict; name the scores with --target "
            "(targets= in Python)"
        )
    d = design(joined, names, chosen_targets, group_by=group_by)
    for j, target in enumerate(d.targets):
        scored = int(np.isfinite(d.scores[:, j]).sum())
        if scored < 2 * folds:
            raise EvaluationError(
                f"target {target!r} has {scored} essay(s) with a score; {folds} folds need at "
                f"least {2 * folds}"
            )
    notes += d.notes
    use_trees = _lightgbm(lightgbm, notes)
    split = make_folds(d, folds, seed, group_by)
    outcome = cross_validate(d, split, lightgbm=use_trees, importance=importance, say=say)
    return Evaluation(
        source=source, feature_set=chosen_set, fingerprint=chosen_fp, essays=len(d.ids),
        scope=scope_text, labels=f"{_name(labels)}: {match_labels.summary()}",
        targets=_targets(d), folds=folds, fold_kind=split.kind,
        fold_sizes=[len(f) for f in split.tests], seed=seed, reference=REFERENCE,
        models=outcome.models, families=outcome.families, importance=outcome.importance,
        notes=notes, seconds=round(time.perf_counter() - started, 1),
    )  # fmt: skip


def _partition(
    root: Path, feature_set: str | None, fingerprint: str | None, latest: bool, choose: Choose
) -> Candidate:
    """The partition to evaluate: the set named, else the cache's, combined first."""
    if feature_set is not None:
        return pick_partition(root, feature_set, fingerprint, latest=latest, choose=choose)
    for name in PREFERRED_SETS:
        found = candidates(root, name)
        if found and (fingerprint is None or any(c.fingerprint == fingerprint for c in found)):
            return pick_partition(root, name, fingerprint, latest=latest, choose=choose)
    if fingerprint is not None:
        raise CacheError(f"{shown(root)} holds no rows under fingerprint {shown(fingerprint)}")
    return pick_partition(root, "combined", choose=choose)  # its error lists what there is


def _lightgbm(wanted: bool | None, notes: list[str]) -> bool:
    missing = lightgbm_missing()
    if missing is None:
        return wanted is not False
    if wanted:
        raise EvaluationError(f"LightGBM is not installed: {LIGHTGBM_INSTALL}")
    if wanted is None:
        notes.append(missing)
    return False


def _targets(d: Design) -> list[Target]:
    out = []
    for j, name in enumerate(d.targets):
        values = d.scores[:, j][np.isfinite(d.scores[:, j])]
        scale = scale_of(values)
        out.append(
            Target(
                name=name, rows=int(values.size), mean=float(values.mean()),
                std=float(values.std()), scale=scale.describe() if scale else "",
            )
        )  # fmt: skip
    return out


def _set_of(table: pa.Table) -> str:
    """The feature set rows given as a Table come from, read off their columns."""
    if EMBEDDING_COLUMN not in table.column_names:
        return "handcrafted"
    return "combined" if "n_words" in table.column_names else "embeddings"


def _name(labels: Any) -> str:
    return str(labels) if isinstance(labels, str | Path) else type(labels).__name__
