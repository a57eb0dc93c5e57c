"""Realism: ELLIPSE learner essays through the client (skips without ../shared).

Two samples of the 2,000 shared essays, both through a live server: the first 100 (the
``combined`` set), and 100 more picked from the raw text where the extremes are (the
``handcrafted`` set): the 50 with the most words per sentence end (. ! ?: run-ons) and the
50 with the longest mean word length, among the rest. The second holds the essays where
every stated range was broken before the run-on policy reached the per-sentence values
(mean_tunit_length 492, clauses_per_sentence 60) and the largest ARI and Flesch-Kincaid
grades; parsing all 2,000 would cost minutes of the suite's budget, this sample seconds.
benchmarks/value_ranges.py checks the same ranges on all of them.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from benchmarks.value_ranges import broken
from hemma_features import FeatureClient
from hemma_features.client.evaluation import markdown
from hemma_features.contract import decode_catalogue
from tests.conftest import ELLIPSE

pytestmark = pytest.mark.skipif(not ELLIPSE.is_file(), reason="../shared/data/ellipse is absent")

FIRST = 100
"""The first essays, extracted as ``combined``."""
EXTREMES = 50
"""Essays picked by each raw-text measure among the rest, extracted as ``handcrafted``."""


@pytest.fixture(scope="module")
def shared_essays() -> pa.Table:
    return pacsv.read_csv(ELLIPSE, parse_options=pacsv.ParseOptions(newlines_in_values=True))


@pytest.fixture(scope="module")
def ellipse(live_server, shared_essays, tmp_path_factory):
    essays = shared_essays.slice(0, FIRST)
    with FeatureClient(live_server.http_url) as client:
        features = client.extract(
            essays, feature_set="combined", cache=tmp_path_factory.mktemp("ellipse")
        )
    return essays, features


def extreme_rows(texts: list[str], per_measure: int) -> list[int]:
    """Rows of ``texts`` with the most words per sentence end and with the longest mean word
    length (``per_measure`` each, words and ends read off the raw text, no parse), in
    order."""
    words = [re.findall(r"[A-Za-z0-9']+", text) for text in texts]
    ends = [len(re.findall(r"[.!?]+", text)) for text in texts]
    per_end = [len(w) / (1 + n) for w, n in zip(words, ends, strict=True)]
    length = [sum(map(len, w)) / max(1, len(w)) for w in words]
    picked: set[int] = set()
    for measure in (per_end, length):
        picked.update(sorted(range(len(texts)), key=lambda i: -measure[i])[:per_measure])
    return sorted(picked)


@pytest.fixture(scope="module")
def extremes(live_server, shared_essays, tmp_path_factory) -> pa.Table:
    rest = shared_essays.slice(FIRST)
    rows = extreme_rows(rest.column("text").to_pylist(), EXTREMES)
    with FeatureClient(live_server.http_url) as client:
        return client.extract(
            rest.take(rows), feature_set="handcrafted", cache=tmp_path_factory.mktemp("extremes")
        )


def test_every_column_is_finite_and_complete(ellipse):
    """100 rows in input order, no NaN or infinity in any column."""
    essays, features = ellipse
    assert features.column("essay_id").to_pylist() == essays.column("essay_id").to_pylist()
    embeddings = np.stack(features.column("embedding").to_numpy(zero_copy_only=False))
    assert embeddings.shape == (100, 384) and np.isfinite(embeddings).all()
    assert (np.linalg.norm(embeddings, axis=1) > 0).all()
    for name in features.column_names[3:]:
        values = features.column(name).to_numpy()
        assert np.isfinite(values).all(), name


def test_values_are_in_plausible_ranges(ellipse):
    """Counts, lengths, ratios and similarities stay within what essays allow."""
    _, features = ellipse

    def col(name: str) -> np.ndarray:
        return features.column(name).to_numpy()

    assert col("n_words").min() >= 20 and col("n_words").max() <= 2000
    assert (col("n_sentences") >= 1).all() and (col("n_paragraphs") >= 1).all()
    assert 3.0 < col("word_length_mean").mean() < 6.0
    assert (col("sentence_length_mean") >= 1).all()
    assert col("prompt_similarity").mean() > 0.1  # essays are about their prompts
    assert (col("mtld") > 0).all() and (col("parse_depth_max") >= col("parse_depth_mean")).all()


def test_every_stated_range_holds(ellipse, extremes):
    """Each range the README, docs/features.md and the catalogue's units state
    (benchmarks/value_ranges.py: grades within 0.8-19.5, no sentence or T-unit length mean
    past 40, no count per sentence past 6, ratios in [0, 1], cosines in [-1, 1], counts at
    least 0, every value finite...) holds on both samples."""
    _, first = ellipse
    assert EXTREMES <= extremes.num_rows <= 2 * EXTREMES
    for table in (first, extremes):
        names = [n for n in table.column_names if n not in ("key", "essay_id", "embedding")]
        problems = broken(lambda name, t=table: t.column(name).to_numpy(), names)
        assert not problems, "\n".join(problems)


ALWAYS_MEASURED = {
    "n_words", "n_sentences", "n_paragraphs", "n_characters", "dependency_distance_mean",
    "dependency_distance_std", "embedded_paragraphs", "embedded_sentences",
}  # fmt: skip
"""Counts, and the dependency distance over spaCy's sentences (punctuation-only ones
too): every accepted text has a value."""


def test_undefined_values_say_so(ellipse):
    """paragraph_similarity_mean is 0 wherever fewer than two paragraphs reach the window,
    and adjacent_sentence_similarity_mean wherever fewer than two sentences do; no more
    paragraphs are embedded than the essay has (README, Feature definitions); every other
    undefined case in the catalogue takes its stated value wherever its column says so,
    and only counts are without one."""
    _, features = ellipse

    def col(name: str) -> np.ndarray:
        return features.column(name).to_numpy()

    assert (col("paragraph_similarity_mean")[col("embedded_paragraphs") < 2] == 0).all()
    assert (col("adjacent_sentence_similarity_mean")[col("embedded_sentences") < 2] == 0).all()
    assert (col("embedded_paragraphs") <= col("n_paragraphs")).all()
    # Every catalogue entry's undefined case, as the report counts it from its column.
    for spec in decode_catalogue(features.schema):
        policy = spec.undefined
        assert policy is not None or spec.name in ALWAYS_MEASURED, spec.name
        if policy is not None and policy.column is not None:
            at_case = col(policy.column) < policy.below
            assert (col(spec.name)[at_case] == policy.value).all(), spec.name


def test_features_correlate_with_the_human_score_in_the_expected_direction(ellipse):
    """Lexical diversity (MTLD) rises with the overall score; run-on sentence length falls."""
    essays, features = ellipse
    overall = essays.column("overall").to_numpy()

    def r(name: str) -> float:
        return float(np.corrcoef(features.column(name).to_numpy(), overall)[0, 1])

    assert r("mtld") > 0.25
    assert r("sentence_length_mean") < 0  # learners' run-on sentences are a weakness
    assert r("subordinate_clauses_per_sentence") < 0


def test_the_features_predict_ellipse_scores_on_unseen_prompts(ellipse):
    """`evaluate` on the 100 essays' own scores, folds grouped by prompt: the scores are
    read as half points, ridge on every feature beats the column means on the holistic
    score, and the drop table ranks every feature and the embedding."""
    from hemma_features import evaluate

    essays, features = ellipse
    targets = ["overall", "cohesion", "grammar", "conventions"]
    result = evaluate(features, essays, targets=targets, group_by="prompt", lightgbm=False)
    assert result.essays == FIRST and result.fold_kind.startswith("grouped by prompt")
    assert all(t.scale.endswith("in half points") for t in result.targets)
    scores = {m.name: m.scores for m in result.models}
    assert scores["ridge: all features"]["overall"].rmse < scores["column means"]["overall"].rmse
    assert scores["ridge: all features"]["overall"].qwk > 0.2
    assert len(result.importance) == len(features.column_names) - 3 + 1  # + the embedding
    assert "every test essay's prompt is unseen in training" in markdown(result)
