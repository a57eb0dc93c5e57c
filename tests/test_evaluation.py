"""The evaluation (issue 34): ridge's leave-one-out shortcut, QWK, folds with fixed seeds,
and on a synthetic dataset whose signal is known, the feature built from the score ranks
first while a shuffled copy of it does not."""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings

import msgspec
import numpy as np
import pyarrow as pa
import pytest

from benchmarks.report_scale import synthetic_cache
from hemma_features import evaluate, open_features
from hemma_features.client.errors import EvaluationError, LabelsError
from hemma_features.client.evaluation import fit, markdown
from hemma_features.client.evaluation.folds import (
    grouped_folds,
    shuffled_folds,
    stratified_folds,
)
from hemma_features.client.evaluation.run import _out_of_fold, _ridge_oof
from hemma_features.client.evaluation.scoring import (
    Scale,
    distribution_round,
    qwk,
    round_to_scale,
    scale_of,
)
from tests.conftest import REPO

ROWS = 240
HALF = Scale(1.0, 5.0, 0.5)


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
    assert qwk(a, b, HALF) == pytest.approx(1 - observed / expected)
    assert qwk(a, a, HALF) == 1.0
    # whole points from 0: the same pairs on another scale agree the same way
    assert qwk(a * 2 - 2, b * 2 - 2, Scale(0.0, 8.0, 1.0)) == pytest.approx(qwk(a, b, HALF))


def test_scales_are_read_off_the_scores():
    """Whole points, half points, or none (RMSE only); a single value has no scale."""
    assert scale_of(np.array([1.0, 3.0, 2.0, np.nan])) == Scale(1.0, 3.0, 1.0)
    assert scale_of(np.array([1.5, 2.0, 4.5])) == Scale(1.5, 4.5, 0.5)
    assert scale_of(np.array([1.25, 2.0])) is None
    assert scale_of(np.array([3.0, 3.0])) is None
    assert HALF.describe() == "1 to 5 in half points" and HALF.categories == 9
    np.testing.assert_array_equal(
        round_to_scale(np.array([0.2, 2.74, 2.76, 9.0]), HALF), [1.0, 2.5, 3.0, 5.0]
    )


def test_distribution_rounding_follows_the_training_proportions():
    """Training scores 1/4 at 2.0, 1/2 at 3.0, 1/4 at 4.0: eight predictions in order get
    two 2.0s, four 3.0s and two 4.0s, however close together they are."""
    train = np.array([2.0, 3.0, 3.0, 4.0])
    predicted = np.array([3.01, 3.02, 3.03, 3.04, 3.05, 3.06, 3.07, 3.08])[::-1]
    rounded = distribution_round(predicted, train, HALF)
    np.testing.assert_array_equal(rounded, [4.0, 4.0, 3.0, 3.0, 3.0, 3.0, 2.0, 2.0])


def test_ridge_leave_one_out_equals_refitting():
    """The decomposition's leave-one-out predictions equal refitting ridge (unpenalised
    intercept, penalty 3 on the slopes) without each row, by a direct solve; so do its
    test predictions, with fewer rows than columns too."""
    rng = np.random.default_rng(1)
    for rows, columns in ((30, 6), (12, 40)):
        x = rng.normal(size=(rows, columns))
        x -= x.mean(0)  # standardised on the training rows: centred
        y = x[:, :3].sum(1) + rng.normal(scale=0.5, size=rows)
        test = rng.normal(size=(4, columns))
        result = fit.ridge(x, y, test, alphas=[3.0])
        design = np.hstack([np.ones((rows, 1)), x])
        penalty = np.diag([0.0] + [3.0] * columns)
        whole = np.linalg.solve(design.T @ design + penalty, design.T @ y)
        np.testing.assert_allclose(result.test, np.hstack([np.ones((4, 1)), test]) @ whole,
                                   rtol=1e-9, atol=1e-9)  # fmt: skip
        for i in range(rows):
            keep = np.arange(rows) != i
            coef = np.linalg.solve(
                design[keep].T @ design[keep] + penalty, design[keep].T @ y[keep]
            )
            assert result.loo[i] == pytest.approx(design[i] @ coef, rel=1e-9, abs=1e-9)
        assert result.loo_mse == pytest.approx(np.mean((y - result.loo) ** 2))


def test_the_penalty_is_the_one_with_the_least_leave_one_out_error():
    """Pure noise gets the largest penalty of the grid; a clean signal a small one."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 5))
    x -= x.mean(0)
    assert fit.ridge(x, rng.normal(size=80), x).alpha == fit.ALPHAS[-1]
    assert fit.ridge(x, x @ np.ones(5), x).alpha == fit.ALPHAS[0]


def test_stratified_folds_share_the_score_distribution_and_follow_the_ids():
    """Each fold gets every fifth essay of the score order: fold means within 0.1 of the
    whole; the same ids in another order land in the same folds."""
    rng = np.random.default_rng(3)
    ids = [f"e{i:03d}" for i in range(200)]
    scores = np.round(rng.normal(3, 0.8, 200) * 2) / 2
    folds = stratified_folds(ids, scores)
    assert sorted(np.concatenate(folds).tolist()) == list(range(200))
    assert all(abs(scores[f].mean() - scores.mean()) < 0.1 for f in folds)
    order = rng.permutation(200)
    again = stratified_folds([ids[i] for i in order], scores[order])
    assert [sorted(ids[order[i]] for i in f) for f in again] == [
        sorted(ids[i] for i in f) for f in folds
    ]
    assert [f.tolist() for f in stratified_folds(ids, scores, seed=1)] != [
        f.tolist() for f in folds
    ]


def test_grouped_folds_keep_each_group_whole_and_balance_rows():
    """No group is split between folds; largest first, each to the lightest fold: a (40)
    alone, b (20) then d (15), c (20) then e and f (5 each); too few groups for the folds
    is one line saying so."""
    groups = ["a"] * 40 + ["b"] * 20 + ["c"] * 20 + ["d"] * 15 + ["e"] * 5 + ["f"] * 5
    folds = grouped_folds(groups, 3)
    where = {g: {k for k, f in enumerate(folds) for i in f if groups[i] == g} for g in groups}
    assert all(len(k) == 1 for k in where.values())
    assert sorted(len(f) for f in folds) == [30, 35, 40]
    with pytest.raises(EvaluationError, match="5 folds need at least 5 groups; there are 3"):
        grouped_folds(["a", "b", "c"], 5)


def test_shuffled_folds_are_the_benchmarks():
    """The ELLIPSE benchmark's folds: a fixed shuffle of seed 0, cut in five."""
    folds = shuffled_folds(10)
    expected = np.array_split(np.random.default_rng(0).permutation(10), 5)
    assert [f.tolist() for f in folds] == [f.tolist() for f in expected]


def test_a_test_folds_predictions_never_see_its_scores():
    """Changing the scores of one test fold leaves that fold's predictions as they were,
    for ridge and the baseline (and with a missing score)."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 4))
    scores = np.stack([x[:, 0] + rng.normal(size=60), x[:, 1]], 1)
    scores[7, 1] = np.nan
    folds = shuffled_folds(60)
    changed = scores.copy()
    changed[folds[0]] = rng.normal(size=(len(folds[0]), 2))
    for predict in (lambda s: _ridge_oof(x, s, folds),
                    lambda s: _out_of_fold(x, s, fit.mean_fit_predict, folds)):  # fmt: skip
        np.testing.assert_array_equal(predict(scores)[folds[0]], predict(changed)[folds[0]])


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Synthetic combined rows whose ``overall`` follows ``mtld`` (plus noise), with ``hdd``
    replaced by a shuffled copy of ``mtld``: the same values, no signal."""
    root = tmp_path_factory.mktemp("evaluate") / "cache"
    synthetic_cache(root, ROWS, dim=16)
    table = open_features(root, "combined")
    rng = np.random.default_rng(5)
    mtld = table.column("mtld").to_numpy().astype(np.float64)
    z = (mtld - mtld.mean()) / mtld.std()
    overall = np.clip(np.round((3 + 0.7 * z + rng.normal(0, 0.3, ROWS)) * 2) / 2, 1, 5)
    shuffled = pa.array(rng.permutation(mtld).astype(np.float32))
    position = table.schema.get_field_index("hdd")
    table = table.set_column(position, table.schema.field("hdd"), shuffled)
    labels = pa.table(
        {
            "essay_id_comp": table.column("essay_id"),
            "overall": overall,
            "noise": np.round(rng.normal(3, 0.5, ROWS), 2),
            "prompt": [f"p{i % 8}" for i in range(ROWS)],
        }
    )
    return root, table, labels


def test_the_feature_built_from_the_score_ranks_first_and_its_shuffled_copy_does_not(planted):
    """mtld carries overall: first in importance, stable in every fold, its family first;
    hdd (mtld shuffled) is far down; ridge beats the column means; QWK is there."""
    _, table, labels = planted
    result = evaluate(table, labels, on="essay_id_comp", targets=["overall"], lightgbm=False)
    first = result.importance[0]
    assert first.name == "mtld" and first.family == "lexical"
    assert first.stable("overall") and first.hurt_share["overall"] == 1.0
    assert first.delta["overall"] > 0.1
    names = [u.name for u in result.importance]
    assert names.index("hdd") > 5 and result.importance[names.index("hdd")].delta["overall"] < 0.01
    assert max(result.families, key=lambda f: f.mean_delta()).name == "lexical"
    models = {m.name: m.scores["overall"] for m in result.models}
    assert models["ridge: all features"].rmse < 0.7 * models["column means"].rmse
    assert models["ridge: all features"].qwk > 0.6
    assert result.targets[0].scale == "1 to 5 in half points"
    assert result.essays == ROWS and result.fold_kind == "stratified by overall"
    assert "embedding (16 dimensions)" in names
    constant = result.importance[names.index("pos_propn")]  # planted: 0 everywhere
    assert constant.hurt_share["overall"] == 0.0 and not constant.stable("overall")


def test_scores_off_a_scale_get_rmse_only_and_two_runs_agree(planted):
    """A continuous score has no QWK; the same call twice gives the same figures."""
    _, table, labels = planted
    runs = [
        evaluate(table, labels, on="essay_id_comp", targets=["noise"], importance=False,
                 lightgbm=False)
        for _ in range(2)
    ]  # fmt: skip
    first, second = (msgspec.structs.replace(r, seconds=0.0) for r in runs)
    for model in first.models:
        assert model.scores["noise"].qwk is None
    for a, b in zip(first.models, second.models, strict=True):
        assert a.scores == b.scores
    assert first.targets[0].scale == ""


def test_grouped_by_prompt_no_test_essay_shares_a_prompt_with_training(planted):
    """--group-by prompt: eight prompts in five folds, each prompt in one fold only."""
    _, table, labels = planted
    result = evaluate(table, labels, on="essay_id_comp", targets=["overall"], group_by="prompt",
                      importance=False, lightgbm=False)  # fmt: skip
    assert result.fold_kind.startswith("grouped by prompt (8 groups)")
    assert sum(result.fold_sizes) == ROWS and len(result.fold_sizes) == 5
    text = markdown(result)
    assert "grouped by prompt (8 groups): every test essay's prompt is unseen in training" in text


def test_lightgbm_and_the_blend_run_when_installed(planted):
    """With the evaluate extra, LightGBM and the blend join the table (a small slice)."""
    pytest.importorskip("lightgbm")
    _, table, labels = planted
    small = table.slice(0, 60).select(["key", "essay_id", "n_words", "mtld", "hdd"])
    result = evaluate(small, labels, on="essay_id_comp", targets=["overall"], importance=False)
    names = [m.name for m in result.models]
    assert "LightGBM: all features" in names
    assert "blend: ridge + LightGBM, all features (mean of the two)" in names
    assert not result.notes


def test_without_lightgbm_the_note_says_how_to_install_it(planted, monkeypatch):
    """LightGBM missing: ridge and the baselines, and a note naming the extra; asking for
    it anyway is one line."""
    _, table, labels = planted
    monkeypatch.setattr(
        "hemma_features.client.evaluation.api.lightgbm_missing",
        lambda: "LightGBM is not installed (pip install 'hemma-features[evaluate]')",
    )
    small = table.select(["key", "essay_id", "n_words", "mtld"])
    result = evaluate(small, labels, on="essay_id_comp", targets=["overall"], importance=False)
    assert not any("LightGBM" in m.name for m in result.models)
    assert "hemma-features[evaluate]" in result.notes[0]
    with pytest.raises(EvaluationError, match=r"hemma-features\[evaluate\]"):
        evaluate(small, labels, on="essay_id_comp", targets=["overall"], lightgbm=True)


def test_missing_scores_and_features_are_left_out_or_filled_and_said(planted):
    """An essay without a score is not fitted on for it; a feature with a gap is filled
    with its median; both are notes."""
    _, table, labels = planted
    overall = labels.column("overall").to_pylist()
    overall[:10] = [None] * 10
    labels = labels.set_column(1, "overall", pa.array(overall, pa.float64()))
    gaps = table.column("mtld").to_pylist()
    gaps[20] = None
    table = table.set_column(table.schema.get_field_index("mtld"), "mtld", pa.array(gaps))
    result = evaluate(table, labels, on="essay_id_comp", targets=["overall"], importance=False,
                      lightgbm=False)  # fmt: skip
    assert result.essays == ROWS - 10 and result.targets[0].rows == ROWS - 10
    assert any("10 labelled essays have none of the scores" in n for n in result.notes)
    assert any("(mtld) filled with the column's median" in n for n in result.notes)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"targets": ["nope"]}, LabelsError, r"labels have no column\(s\) \['nope'\]"),
        ({"targets": ["prompt"]}, EvaluationError, r"target 'prompt' is not a number column"),
        ({"targets": ["overall"], "group_by": "mtld"}, EvaluationError, "is a feature column"),
        ({"targets": ["overall"], "group_by": "class"}, EvaluationError,
         r"--group-by class: neither the labels nor --ids-from have that column"),
        ({"targets": ["overall"], "folds": 1}, EvaluationError, "at least 2 folds"),
    ],
)  # fmt: skip
def test_an_evaluation_that_cannot_run_says_why_in_one_line(planted, kwargs, error, message):
    """A target that is not there or not a number, a group column that is a feature or
    absent, a single fold."""
    _, table, labels = planted
    with pytest.raises(error, match=message) as caught:
        evaluate(table, labels, on="essay_id_comp", importance=False, lightgbm=False, **kwargs)
    assert "\n" not in str(caught.value)


def test_a_target_with_too_few_scores_for_the_folds_is_one_line(planted):
    """Five folds need ten scored essays: three is refused, naming the target."""
    _, table, labels = planted
    few = [None] * ROWS
    few[:3] = [2.0, 3.0, 4.0]
    labels = labels.append_column("few", pa.array(few, pa.float64()))
    with pytest.raises(EvaluationError, match=r"target 'few' has 3 essay\(s\) with a score; "
                       r"5 folds need at least 10"):  # fmt: skip
        evaluate(table, labels, on="essay_id_comp", targets=["overall", "few"], lightgbm=False)


def test_default_targets_are_the_labels_number_columns(planted):
    """Without targets: every number column of the labels but the group column."""
    _, table, labels = planted
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = evaluate(table, labels, on="essay_id_comp", group_by="prompt",
                          importance=False, lightgbm=False)  # fmt: skip
    assert [t.name for t in result.targets] == ["overall", "noise"]


def test_the_evaluation_code_imports_only_numpy_pyarrow_msgspec_and_lightgbm():
    """Runs on the client install: numpy, pyarrow, msgspec, the stdlib, and LightGBM only
    where a fit needs it (AST of every module)."""
    allowed = {"numpy", "pyarrow", "msgspec", "hemma_features", "lightgbm"}
    paths = [*sorted((REPO / "client" / "evaluation").glob("*.py")),
             REPO / "client" / "scope.py", REPO / "client" / "evaluate_command.py"]  # fmt: skip
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in allowed or top in sys.stdlib_module_names, (path.name, name)
                assert top != "lightgbm" or path.name == "fit.py", (path.name, name)


def test_an_evaluation_without_lightgbm_loads_nothing_heavy(tmp_path):
    """In a fresh interpreter, `evaluate` of a small table (ridge only) leaves torch, spaCy,
    transformers, LightGBM, scikit-learn and the server side unimported."""
    code = (
        "import sys, numpy as np, pyarrow as pa; import hemma_features as h\n"
        "r = np.random.default_rng(0); n = 40\n"
        "t = pa.table({'key': [str(i) for i in range(n)], 'essay_id': [str(i) for i in range(n)],"
        " 'n_words': r.normal(size=n), 'x': r.normal(size=n)})\n"
        "s = pa.table({'essay_id': [str(i) for i in range(n)], 'y': r.normal(size=n)})\n"
        "h.evaluate(t, s, lightgbm=False)\n"
        "print([m for m in ('torch', 'spacy', 'transformers', 'lightgbm', 'sklearn', "
        "'hemma_features.engine') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
