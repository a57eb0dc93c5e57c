"""Realism: 100 ELLIPSE learner essays through the client (skips without ../shared)."""

from __future__ import annotations

import numpy as np
import pyarrow.csv as pacsv
import pytest

from hemma_features import FeatureClient
from tests.conftest import ELLIPSE

pytestmark = pytest.mark.skipif(not ELLIPSE.is_file(), reason="../shared/data/ellipse is absent")

RATIOS = (
    "long_word_ratio", "passive_sentence_ratio", "lexical_density", "type_token_ratio",
    "first_person_ratio", "second_person_ratio", "question_sentence_ratio",
)  # fmt: skip


@pytest.fixture(scope="module")
def ellipse(live_server, tmp_path_factory):
    essays = pacsv.read_csv(
        ELLIPSE, parse_options=pacsv.ParseOptions(newlines_in_values=True)
    ).slice(0, 100)
    with FeatureClient(live_server.http_url) as client:
        features = client.extract(
            essays, feature_set="combined", cache=tmp_path_factory.mktemp("ellipse")
        )
    return essays, features


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
    for name in RATIOS:
        assert ((col(name) >= 0) & (col(name) <= 1)).all(), name
    for name in ("prompt_similarity", "paragraph_similarity_mean"):
        assert ((col(name) >= -1) & (col(name) <= 1)).all(), name
    assert col("prompt_similarity").mean() > 0.1  # essays are about their prompts
    assert (col("mtld") > 0).all() and (col("parse_depth_max") >= col("parse_depth_mean")).all()


def test_features_correlate_with_the_human_score_in_the_expected_direction(ellipse):
    """Lexical diversity (MTLD) rises with the overall score; run-on sentence length falls."""
    essays, features = ellipse
    overall = essays.column("overall").to_numpy()

    def r(name: str) -> float:
        return float(np.corrcoef(features.column(name).to_numpy(), overall)[0, 1])

    assert r("mtld") > 0.25
    assert r("sentence_length_mean") < 0  # learners' run-on sentences are a weakness
    assert r("subordinate_clauses_per_sentence") < 0
