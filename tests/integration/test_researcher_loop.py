"""The researcher's loop (issue 34), against a live server: essays whose ids sit in
``essay_id_comp``, a scores file naming them so, a cache shared with another study. Three
commands, no glue: extract, evaluate, report."""

from __future__ import annotations

import warnings

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from hemma_features import open_features
from hemma_features.cli import main
from hemma_features.client.fingerprint_record import read_inputs
from hemma_features.client.labels import UnmatchedIdsWarning
from tests.conftest import SAMPLES

SCORES = [2.0, 3.5, 3.0, 4.0, 2.5, 3.0, 4.5, 1.5]


@pytest.fixture(scope="module")
def study(live_server, tmp_path_factory):
    """Study A (the sample essays, ids in essay_id_comp) and then study B (three other
    essays, ids in essay_id) extracted into one cache; A's scores in essay_id_comp."""
    tmp = tmp_path_factory.mktemp("loop")
    samples = pacsv.read_csv(SAMPLES, parse_options=pacsv.ParseOptions(newlines_in_values=True))
    essays = tmp / "essays.csv"
    pacsv.write_csv(samples.rename_columns(["essay_id_comp", "prompt", "text"]), essays)
    other = tmp / "other.csv"
    texts = [f"{t} This sentence makes it another essay." for t in samples["text"].to_pylist()]
    pacsv.write_csv(
        pa.table({"essay_id": ["B1", "B2", "B3"], "prompt": samples["prompt"][:3],
                  "text": texts[:3]}),
        other,
    )  # fmt: skip
    scores = tmp / "scores.csv"
    pacsv.write_csv(pa.table({"essay_id_comp": samples["essay_id"], "overall": SCORES}), scores)
    cache = tmp / "cache"
    for path, extra in ((essays, ["--id-column", "essay_id_comp"]), (other, [])):
        code = main(["extract", str(path), "--server", live_server.http_url, "--cache",
                     str(cache), "--quiet", *extra])  # fmt: skip
        assert code == 0
    return cache, essays, scores


def test_extract_records_the_inputs_and_their_id_columns(study, runtime):
    """Every fingerprint the runs wrote rows under lists both inputs, with their columns."""
    cache, essays, _ = study
    for feature_set in ("combined", "embeddings", "handcrafted"):
        inputs = read_inputs(cache, runtime.fingerprint_for(feature_set))
        assert [(r.id_column, r.rows) for r in inputs] == [("essay_id_comp", 8), ("essay_id", 3)]
        assert inputs[0].source == str(essays.resolve()) and inputs[0].text_column == "text"


def test_scores_join_on_the_recorded_id_column_without_glue(study):
    """open_features(labels=) finds essay_id_comp by itself; B's rows have no score."""
    cache, _, scores = study
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = open_features(cache, "combined", labels=scores)
    assert table.num_rows == 8 and table.column("overall").to_pylist() == SCORES
    [warning] = [w for w in caught if issubclass(w.category, UnmatchedIdsWarning)]
    assert "8 rows matched on essay_id_comp (the features' essay_id); 3 feature rows " in str(
        warning.message
    )


def test_evaluate_and_report_cover_the_study_and_only_it(study, tmp_path, capsys):
    """`evaluate --ids-from essays.csv`: 8 essays; `report --ids-from`: 8 of the 11 cached,
    said in its header; neither needed --on or --id-column."""
    cache, essays, scores = study
    code = main(["evaluate", str(cache), "--labels", str(scores), "--ids-from", str(essays),
                 "--folds", "2", "--no-lightgbm", "--quiet"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines()[0].endswith(", 8 essays")
    assert f"8 essays of {essays} (matched by text and prompt)" in out
    assert "8 rows matched on essay_id_comp (the features' essay_id)" in out
    page = tmp_path / "report.html"
    code = main(["report", str(cache), "--labels", str(scores), "--ids-from", str(essays),
                 "--out", str(page)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    text = page.read_text()
    assert "<h1>Feature report: combined, 8 essays</h1>" in text
    assert f"8 essays of {essays} (matched by text and prompt); the partition holds 11" in text
