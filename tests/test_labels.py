"""join_labels: features meet scores by id, unmatched ids counted and named, bad labels refused."""

from __future__ import annotations

import warnings

import pandas as pd
import pyarrow as pa
import pytest

from hemma_features.client.errors import LabelsError
from hemma_features.client.labels import UnmatchedIdsWarning, join_labels


def features(ids: list[str]) -> pa.Table:
    return pa.table(
        {
            "key": [f"k{i}" for i in range(len(ids))],
            "essay_id": ids,
            "n_words": pa.array([float(i) for i in range(len(ids))], pa.float32()),
        }
    )


def test_an_inner_join_keeps_the_feature_order_and_names_what_each_side_lacks(caplog):
    """Rows with a label, in feature order; a warning and a log line count and name the rest."""
    labels = pd.DataFrame({"essay_id": ["c", "a", "z", "y"], "score": [3.5, 1.0, 9.0, 8.0]})
    with warnings.catch_warnings(record=True) as caught, caplog.at_level("WARNING"):
        warnings.simplefilter("always")
        joined, match = join_labels(features(["a", "b", "c"]), labels)
    assert joined.column("essay_id").to_pylist() == ["a", "c"]
    assert joined.column("score").to_pylist() == [1.0, 3.5]
    assert joined.column_names == ["key", "essay_id", "n_words", "score"]
    assert (match.matched, match.features_without_label, match.labels_without_features) == (2, 1, 2)
    assert match.sample_features_without_label == ["b"]
    assert match.sample_labels_without_features == ["z", "y"]
    [warning] = [w for w in caught if issubclass(w.category, UnmatchedIdsWarning)]
    assert str(warning.message) == (
        "2 rows matched on essay_id; 1 feature rows without a label (b); "
        "2 labels without feature rows (z, y)"
    )
    [line] = [r for r in caplog.records if r.getMessage() == "labels.unmatched"]
    assert line.levelname == "WARNING" and line.sample_labels_without_features == ["z", "y"]


def test_a_full_match_warns_nothing_and_many_unmatched_ids_are_cut_short():
    """All matched: no warning; past five unmatched ids the summary says how many more."""
    ids = [f"e{i}" for i in range(12)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        joined, match = join_labels(
            features(ids), pa.table({"essay_id": ids, "s": list(range(12))})
        )
    assert joined.num_rows == 12 and match.summary() == "12 rows matched on essay_id"
    _, partial = join_labels(features(ids), pa.table({"essay_id": ids[:1], "s": [1]}), warn=False)
    assert partial.summary() == (
        "1 rows matched on essay_id; 11 feature rows without a label "
        "(e1, e2, e3, e4, e5, ... 6 more)"
    )


def test_labels_from_csv_and_parquet_files_keep_leading_zeros(tmp_path):
    """A CSV's ids are read as text (007 stays 007); Parquet is read as it is."""
    csv = tmp_path / "labels.csv"
    csv.write_text("essay_id,score\n007,2.5\n010,4\n")
    joined, _ = join_labels(features(["007", "010"]), csv)
    assert joined.column("score").to_pylist() == [2.5, 4.0]
    parquet = tmp_path / "labels.parquet"
    pd.DataFrame({"essay_id": ["010"], "score": [1]}).to_parquet(parquet)
    joined, match = join_labels(features(["007", "010"]), str(parquet), warn=False)
    assert joined.column("essay_id").to_pylist() == ["010"] and match.features_without_label == 1


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (pd.DataFrame({"id": ["a"], "score": [1]}),
         r"labels have no 'essay_id' column to join on; they have \['id', 'score'\]"),
        (pd.DataFrame({"essay_id": ["a", "b", "a"], "score": [1, 2, 3]}),
         r"the labels repeat 1 id\(s\): a; a join needs one row per id"),
        (pd.DataFrame({"essay_id": ["a", "b"], "score": ["3", "three"]}),
         r"labels column 'score' is not numeric: row 1 \(essay_id='b'\) holds 'three'"),
        (pd.DataFrame({"essay_id": ["a"], "n_words": [1.0]}),
         r"label column\(s\) \['n_words'\] have the name of a feature column"),
    ],
)  # fmt: skip
def test_labels_that_cannot_be_joined_fail_in_one_line_naming_the_column(labels, message):
    """No id column, a repeated id, a number column holding text, a clashing name."""
    with pytest.raises(LabelsError, match=message) as caught:
        join_labels(features(["a", "b"]), labels)
    assert "\n" not in str(caught.value)


def test_a_text_column_without_numbers_is_kept_and_number_text_becomes_float():
    """A split column stays text; a column of numbers written as text becomes float64."""
    labels = pa.table({"essay_id": ["a", "b"], "split": ["train", "test"], "score": ["1", " 2.5"]})
    joined, _ = join_labels(features(["a", "b"]), labels)
    assert joined.column("split").to_pylist() == ["train", "test"]
    assert joined.schema.field("score").type == pa.float64()
    assert joined.column("score").to_pylist() == [1.0, 2.5]


def test_repeated_essay_ids_among_the_features_are_refused():
    """Two feature rows with one id (two texts under one id across runs) cannot be joined."""
    with pytest.raises(LabelsError, match=r"the feature rows repeat 1 id\(s\): a"):
        join_labels(features(["a", "a"]), pa.table({"essay_id": ["a"], "s": [1]}))
