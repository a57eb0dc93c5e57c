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


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory):
    """A combined cache of 12 synthetic rows (ids e0000000...)."""
    from benchmarks.report_scale import synthetic_cache

    root = tmp_path_factory.mktemp("labels") / "cache"
    synthetic_cache(root, 12, dim=4)
    return root


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("essay_id,score\ne0000001,1e309\n",
         "labels column 'score' row 0 (essay_id='e0000001') holds inf, which is not a finite"),
        ("essay_id,score\ne0000001,2\ne0000002,-1e400\n",
         "labels column 'score' row 1 (essay_id='e0000002') holds -inf, which is not a finite"),
        ("essay_id,n_words\ne0000001,3\n",
         "label column(s) ['n_words'] have the name of a feature column; rename them"),
    ],
    ids=["1e309", "-1e400", "feature-name"],
)  # fmt: skip
def test_export_open_features_and_the_report_refuse_the_same_labels_alike(
    small_cache, tmp_path, content, expected
):
    """Infinite scores and a label named like a feature column: one rule, one message, in
    open_features(labels=), the report and `cache export --labels` (exit 2, one line)."""
    from hemma_features import open_features, report
    from hemma_features.cli import main

    labels = tmp_path / "labels.csv"
    labels.write_text(content)
    with pytest.raises(LabelsError) as by_python:
        open_features(small_cache, "combined", labels=labels)
    with pytest.raises(LabelsError) as by_report:
        report(small_cache, tmp_path / "r.html", labels=labels)
    assert expected in str(by_python.value) and expected in str(by_report.value)
    args = ["cache", "export", str(small_cache), "--feature-set", "combined", "--labels",
            str(labels), "--out", str(tmp_path / "x.parquet")]  # fmt: skip
    assert main(args) == 2
    assert not (tmp_path / "x.parquet").exists()


def test_non_finite_scores_in_a_table_are_refused_naming_the_row():
    """NaN and infinity from a Parquet file or a Table are not scores; a null is "none"."""
    ids = ["a", "b", "c"]
    ok, _ = join_labels(features(ids), pa.table({"essay_id": ids, "s": [1.0, None, 2.0]}))
    assert ok.column("s").to_pylist() == [1.0, None, 2.0]
    for bad in (float("nan"), float("inf")):
        with pytest.raises(LabelsError, match=r"column 's' row 1 \(essay_id='b'\) holds"):
            join_labels(features(ids), pa.table({"essay_id": ids, "s": [1.0, bad, 2.0]}))
    with pytest.raises(LabelsError, match=r"holds '1e999', read as inf"):
        join_labels(features(ids), pa.table({"essay_id": ids, "s": ["1", "1e999", "2"]}))


def test_a_directory_given_as_labels_is_named_as_a_directory(tmp_path):
    """Not "does not exist": it exists, and it is a directory."""
    (tmp_path / "scores").mkdir()
    with pytest.raises(LabelsError, match=r"labels path .*/scores is a directory; give one CSV"):
        join_labels(features(["a"]), tmp_path / "scores")
    with pytest.raises(LabelsError, match=r"labels file .*/absent\.csv does not exist"):
        join_labels(features(["a"]), tmp_path / "absent.csv")


TEXT = "essay_id,score\na,1\n"


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (TEXT.encode("utf-16"), "UTF-16 (little-endian)"),  # Python writes the mark
        (("\ufeff" + TEXT).encode("utf-16-be"), "UTF-16 (big-endian)"),
        (TEXT.encode("utf-32"), "UTF-32 (little-endian)"),
    ],
    ids=["utf-16-le", "utf-16-be", "utf-32-le"],
)
def test_a_labels_file_that_is_not_utf8_names_its_encoding(tmp_path, data, named):
    """A byte-order mark names the encoding; the message says so and how to convert."""
    path = tmp_path / "labels.csv"
    path.write_bytes(data)
    with pytest.raises(LabelsError) as caught:
        join_labels(features(["a"]), path)
    message = str(caught.value)
    assert f"is {named} by its byte-order mark, not UTF-8" in message
    assert f"iconv -f {named.split()[0]} -t utf-8 labels.csv > labels.utf8.csv" in message
    assert "Expected 2 columns" not in message


def test_a_latin1_labels_file_is_named_not_utf8_with_the_column(tmp_path):
    """Latin-1 bytes in an id, or in another column: named as not UTF-8 either way."""
    path = tmp_path / "labels.csv"
    path.write_bytes("essay_id,score,rater\na,1,Jos\xe9\n".encode("latin-1"))
    with pytest.raises(LabelsError, match=r"is not UTF-8 .*\(column 'rater'\): convert it"):
        join_labels(features(["a"]), path)
    path.write_bytes("essay_id,score\n\xe9t\xe9,1\n".encode("latin-1"))
    with pytest.raises(LabelsError, match=r"is not UTF-8 .*iconv -f windows-1252"):
        join_labels(features(["a"]), path)
