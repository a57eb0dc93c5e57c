"""Benchmark: how well the features predict human scores (5-fold cross-validation).

    .venv/bin/python benchmarks/usefulness.py --cache /tmp/usefulness-cache
    .venv/bin/python benchmarks/usefulness.py --cache /tmp/usefulness-mpnet \
        --model sentence-transformers/all-mpnet-base-v2

Extracts ``combined`` for the 2,000 ELLIPSE essays through a real server (no LanguageTool;
the cache makes a rerun with the same fingerprint instant), then fits, in 5 folds (fixed
shuffle, seed 0), each of the seven scores (``overall`` and the six analytic ones):

- baselines: ``column means`` (the training fold's mean) and ``length`` (``n_words``);
- ``handcrafted`` (ridge, LightGBM), ``embeddings`` (vector + embedding-derived features;
  ridge: trees on a dense 384- or 768-dimensional vector add nothing but time) and
  ``combined`` (ridge, LightGBM, and the blend: the mean of their predictions), and the
  stacked blend (``predict_stacked``: leave-one-out block predictions, ridge and LightGBM
  on top, averaged), the recommended research model;
- an ablation: the schema-v4 handcrafted columns, then each research family added alone
  (errors without LanguageTool, diversity, complexity, cohesion, run-on), then all.

Ridge: columns standardised on the training fold, the penalty chosen per target on the
training fold by exact leave-one-out error over a grid (from the SVD). LightGBM: fixed,
deterministic parameters, no tuning on the test fold. Both, the folds, QWK and the
rounding are the package's (``hemma_features.client.evaluation``, what ``hemma-features
evaluate`` runs on any cache and labels); this file adds the stacking and the ELLIPSE
tables. Printed: RMSE per target,
MCRMSE (mean over the six analytic scores, as ELLIPSE reports it) and QWK for ``overall``
twice: predictions rounded to half points within 1-5, and distribution-rounded (the
test fold's predictions cut into half points in the proportions of the training fold's
scores, a rounding fitted on training labels only that undoes the regression's pull to
the mean).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyarrow.compute as pc  # noqa: E402

from benchmarks.ellipse import essay_inputs, read_ellipse  # noqa: E402
from hemma_features import FeatureClient, open_features  # noqa: E402
from hemma_features.client.evaluation.fit import (  # noqa: E402
    Model,
    lightgbm_fit_predict,
    mean_fit_predict,
    ridge,
    ridge_fit_predict,
    standardised,
)
from hemma_features.client.evaluation.fit import predict_out_of_fold as out_of_fold  # noqa: E402
from hemma_features.client.evaluation.folds import shuffled_folds  # noqa: E402
from hemma_features.client.evaluation.scoring import (  # noqa: E402
    Scale,
    distribution_round,
    qwk,
    round_to_scale,
)
from hemma_features.client.server_process import ServerProcess  # noqa: E402
from hemma_features.contract import EMBEDDING_DERIVED, decode_catalogue  # noqa: E402
from hemma_features.contract.schema import META_EMBEDDING_MODEL, META_FINGERPRINT  # noqa: E402

TARGETS = ("overall", "cohesion", "syntax", "vocabulary", "phraseology", "grammar",
           "conventions")  # fmt: skip
ELLIPSE_SCALE = Scale(1.0, 5.0, 0.5)
"""ELLIPSE's scores: 1 to 5 in half points."""
FOLDS = 5
V5_DERIVED = ("adjacent_sentence_similarity_mean", "embedded_sentences")
RESEARCH_FAMILIES = ("errors_offline", "diversity", "complexity", "cohesion", "phraseology")
"""Catalogue groups added in schemas v5 and v6 (plus run_on_sentence_ratio, by name)."""
SANITY = ("flesch_kincaid_grade", "automated_readability_index", "gunning_fog", "smog",
          "coleman_liau_index", "sentence_length_mean", "mean_tunit_length",
          "clauses_per_sentence")  # fmt: skip
"""Columns whose largest value the run prints (the run-on policy keeps them sane)."""
BLOCK_WEIGHTS = (1.0, 2.0, 4.0, 8.0)


def two_block_ridge(first: int) -> Model:
    """Ridge over two standardised blocks (columns before ``first``: the embedding; after:
    the handcrafted ones), the second scaled by a weight w (a penalty w^2 times smaller on
    it), w and the penalty both picked by exact leave-one-out error on the training fold.
    One penalty for 773 embedding dimensions and 69 named features shrinks the few strong
    named ones as hard as the many weak dimensions."""

    def fit_predict(train: np.ndarray, y: np.ndarray, test: np.ndarray) -> np.ndarray:
        x, t = standardised(train, test)
        best, best_error = None, np.inf
        for weight in BLOCK_WEIGHTS:
            scale = np.ones(x.shape[1])
            scale[first:] = weight
            fit = ridge(x * scale, y, t * scale)
            predicted, error = fit.test, fit.loo_mse
            if error < best_error:
                best, best_error = predicted, error
        assert best is not None
        return best

    return fit_predict


def folds_of(n: int) -> list[np.ndarray]:
    """The FOLDS test folds of a fixed shuffle (seed 0)."""
    return shuffled_folds(n, FOLDS, seed=0)


def predict_out_of_fold(x: np.ndarray, scores: np.ndarray, model: Model) -> np.ndarray:
    """[N, targets] predictions, each row from the model fitted without its fold."""
    return out_of_fold(x, scores, model, folds_of(len(x)))


def block_predictions(
    train: np.ndarray, test: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge on one block, standardised on ``train``, for every target: ([train rows,
    targets] leave-one-out predictions, [test rows, targets] predictions)."""
    x, t = standardised(train, test)
    fits = [ridge(x, scores[:, j], t) for j in range(scores.shape[1])]
    return np.stack([f.loo for f in fits], 1), np.stack([f.test for f in fits], 1)


def predict_stacked(
    embedding: np.ndarray, hand: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions [N, targets] of two stacked models.

    Level one, inside each training fold: ridge on the embedding block, on the handcrafted
    block and on both, for all seven scores; a training row's level-one value is its exact
    leave-one-out prediction (from the fit without it), a test row's the fit on the whole
    training fold. Level two: ridge over the 21 level-one values (every score's predictions
    inform every score: the scores correlate), and LightGBM on the handcrafted columns plus
    the embedding block's seven predictions (trees split well on the named features, badly
    on 768 weak dimensions). The test fold is never seen before its predictions."""
    combined = np.hstack([embedding, hand])
    ridge_stack, tree_stack = np.zeros_like(scores), np.zeros_like(scores)
    everything = np.arange(len(scores))
    for fold in folds_of(len(scores)):
        train = np.setdiff1d(everything, fold)
        levels = [block_predictions(b[train], b[fold], scores[train])
                  for b in (embedding, hand, combined)]  # fmt: skip
        z, z_test = np.hstack([lv[0] for lv in levels]), np.hstack([lv[1] for lv in levels])
        trees = np.hstack([hand[train], levels[0][0]])
        trees_test = np.hstack([hand[fold], levels[0][1]])
        for j in range(scores.shape[1]):
            ridge_stack[fold, j] = ridge_fit_predict(z, scores[train, j], z_test)
            tree_stack[fold, j] = lightgbm_fit_predict(trees, scores[train, j], trees_test)
    return ridge_stack, tree_stack


def metrics(predicted: np.ndarray, scores: np.ndarray) -> tuple[list[float], float, float]:
    """(RMSE per target, QWK of overall rounded, QWK of overall distribution-rounded)."""
    matched = np.zeros(len(scores))
    everything = np.arange(len(scores))
    for fold in folds_of(len(scores)):
        train = np.setdiff1d(everything, fold)
        matched[fold] = distribution_round(predicted[fold, 0], scores[train, 0], ELLIPSE_SCALE)
    rmse = np.sqrt(((predicted - scores) ** 2).mean(0)).tolist()
    rounded = round_to_scale(predicted[:, 0], ELLIPSE_SCALE)
    return (
        rmse,
        qwk(rounded, scores[:, 0], ELLIPSE_SCALE),
        qwk(matched, scores[:, 0], ELLIPSE_SCALE),
    )


def row(name: str, columns: int, result: tuple[list[float], float, float], seconds: float) -> str:
    rmse, kappa, matched = result
    cells = " | ".join(f"{r:.3f}" for r in rmse)
    mcrmse = float(np.mean(rmse[1:]))
    return (
        f"| {name} | {columns} | {cells} | {mcrmse:.3f} | {kappa:.3f} | {matched:.3f} "
        f"| {seconds:.0f} |"
    )


def header(title: str) -> None:
    print(f"\n{title}\n")
    print(
        "| features | columns | " + " | ".join(TARGETS)
        + " | MCRMSE (6) | QWK overall, rounded | QWK overall, distribution | s |"
    )  # fmt: skip
    print("|---|---|" + "---|" * len(TARGETS) + "---|---|---|---|")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/hemma-usefulness-cache"))
    parser.add_argument("--essays", type=int, default=2000)
    parser.add_argument("--model", help="HEMMA_EMBEDDING_MODEL for the server (default: its own)")
    parser.add_argument(
        "--env", action="append", default=[], metavar="HEMMA_X=VALUE",
        help="a server setting, e.g. HEMMA_EMBEDDING_LONG_TEXT=chunk_mean (repeatable)",
    )  # fmt: skip
    parser.add_argument("--no-ablation", action="store_true")
    parser.add_argument("--extract-only", action="store_true", help="fill --cache, fit nothing")
    parser.add_argument(
        "--cached", action="store_true", help="read the newest combined rows in --cache, no server"
    )
    args = parser.parse_args()
    table = read_ellipse(args.essays)
    if table is None:
        return 0
    essays = essay_inputs(table)
    scores = np.stack([table.column(t).to_numpy().astype(np.float64) for t in TARGETS], 1)
    if args.cached:
        features = open_features(args.cache, "combined", latest=True)
        at = pc.index_in(essays.column("essay_id"), value_set=features.column("essay_id"))
        features = features.take(at)
        fingerprint = features.schema.metadata[META_FINGERPRINT].decode()
    else:
        env = dict(item.split("=", 1) for item in args.env)
        if args.model:
            env["HEMMA_EMBEDDING_MODEL"] = args.model
        started = time.perf_counter()
        with (
            ServerProcess(env, startup_timeout=1800) as server,
            FeatureClient(server.http_url) as client,
        ):
            features, report = client.extract_with_report(
                essays, feature_set="combined", cache=args.cache
            )
        seconds = time.perf_counter() - started
        print(f"extract: {seconds:.0f} s, {report.rows_fetched} rows fetched")
        if args.extract_only:
            return 0
        fingerprint = report.fingerprint
    model_name = features.schema.metadata[META_EMBEDDING_MODEL].decode()
    specs = decode_catalogue(features.schema)
    derived = [s.name for s in specs if s.group == EMBEDDING_DERIVED]
    hand = [s.name for s in specs if s.group != EMBEDDING_DERIVED]
    vectors = np.stack(features.column("embedding").to_numpy(zero_copy_only=False))

    def columns(names: list[str]) -> np.ndarray:
        return np.stack([features.column(n).to_numpy().astype(np.float64) for n in names], 1)

    def measure(name: str, x: np.ndarray, model: Model) -> np.ndarray:
        began = time.perf_counter()
        predicted = predict_out_of_fold(x, scores, model)
        result = metrics(predicted, scores)
        print(row(name, x.shape[1], result, time.perf_counter() - began), flush=True)
        return predicted

    embedding = np.hstack([vectors, columns(derived)])
    print(f"essays: {len(scores)}; model {model_name}; fingerprint {fingerprint[:12]}")
    extremes = [n for n in hand if n in SANITY]
    print("largest values: " + ", ".join(
        f"{n} {float(np.max(columns([n]))):.1f}" for n in extremes))  # fmt: skip
    header(f"{FOLDS}-fold cross-validation, no LanguageTool")
    measure("column means", columns(["n_words"]), mean_fit_predict)
    measure("length (ridge)", columns(["n_words"]), ridge_fit_predict)
    combined = np.hstack([embedding, columns(hand)])
    measure("handcrafted (ridge)", columns(hand), ridge_fit_predict)
    measure("handcrafted (LightGBM)", columns(hand), lightgbm_fit_predict)
    measure("embeddings (ridge)", embedding, ridge_fit_predict)
    ridge = measure("combined (ridge)", combined, ridge_fit_predict)
    boosted = measure("combined (LightGBM)", combined, lightgbm_fit_predict)
    blended = (ridge + boosted) / 2
    print(row("combined blend (mean of the two)", combined.shape[1],
              metrics(blended, scores), 0.0))  # fmt: skip
    blocks = measure("combined (two-block ridge)", combined, two_block_ridge(embedding.shape[1]))
    print(row("combined blend (two-block ridge + LightGBM)", combined.shape[1],
              metrics((blocks + boosted) / 2, scores), 0.0))  # fmt: skip
    began = time.perf_counter()
    stacked_ridge, stacked_trees = predict_stacked(embedding, columns(hand), scores)
    seconds = time.perf_counter() - began
    for name, predicted in (
        ("combined, stacked: ridge over the block predictions", stacked_ridge),
        ("combined, stacked: LightGBM on handcrafted + embedding predictions", stacked_trees),
        ("**combined, stacked blend (mean of the two)**", (stacked_ridge + stacked_trees) / 2),
    ):
        print(row(name, combined.shape[1], metrics(predicted, scores), seconds))
    if args.no_ablation:
        return 0
    group = {s.name: s.group for s in specs}
    families = {f: [n for n in hand if group[n] == f] for f in RESEARCH_FAMILIES}
    families["run_on"] = ["run_on_sentence_ratio"]
    new = {n for names in families.values() for n in names}
    old = [n for n in hand if n not in new]
    header("Ablation: what each research family adds to the schema-v4 handcrafted set (ridge)")
    measure("v4 handcrafted", columns(old), ridge_fit_predict)
    for family, names in families.items():
        measure(f"v4 + {family} ({len(names)})", columns(old + names), ridge_fit_predict)
    measure("v6 handcrafted (all)", columns(hand), ridge_fit_predict)
    v4_derived = [n for n in derived if n not in V5_DERIVED]
    v4_embedding = np.hstack([vectors, columns(v4_derived)])
    measure("combined, schema v4 columns (ridge)", np.hstack([v4_embedding, columns(old)]),
            ridge_fit_predict)  # fmt: skip
    measure("combined, schema v4 columns (LightGBM)", np.hstack([v4_embedding, columns(old)]),
            lightgbm_fit_predict)  # fmt: skip
    header("Ablation: combined without each family (ridge)")
    for family, names in families.items():
        kept = [n for n in hand if n not in names]
        measure(f"combined - {family}", np.hstack([embedding, columns(kept)]), ridge_fit_predict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
