"""FeatureClient + cache against a real server: only missing rows travel, order is kept."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from hemma_features import FeatureClient, open_features
from hemma_features.arrowfiles.layout import partition_dir
from hemma_features.client.errors import (
    FingerprintChangedError,
    ServerRejectedError,
    ServerUnavailableError,
)
from hemma_features.contract import InputRuleError, Limits, ServerConfig, SettingsView, specs_for
from hemma_features.engine.features.catalogue import BASE
from hemma_features.engine.settings_env import replace_settings
from tests.conftest import SAMPLES, essays_table
from tests.servers import counter

HANDCRAFTED_NAMES = [spec.name for spec in specs_for("handcrafted", BASE)]
SEMANTIC_NAMES = [spec.name for spec in specs_for("embeddings", BASE)]


def test_second_run_makes_no_extraction_call(live_server, tmp_path):
    """A rerun over the same cache is served locally: the server's counters do not move."""
    cache = tmp_path / "cache"
    with FeatureClient(live_server.http_url) as client:
        first, report = client.extract_with_report(SAMPLES, feature_set="handcrafted", cache=cache)
        assert report.rows_fetched == 8
        requests = counter(live_server.http_url, "hemma_extract_requests_total", "handcrafted")
        rows = counter(live_server.http_url, "hemma_extract_rows_total", "handcrafted")
        second, report = client.extract_with_report(SAMPLES, feature_set="handcrafted", cache=cache)
        assert report.rows_fetched == 0
        assert report.cache_hits == 8
    assert counter(live_server.http_url, "hemma_extract_requests_total", "handcrafted") == requests
    assert counter(live_server.http_url, "hemma_extract_rows_total", "handcrafted") == rows
    assert second.equals(first)


def test_only_missing_rows_are_sent(live_server, sample_essays, tmp_path):
    """With 3 of 8 essays cached, the next run computes exactly the other 5."""
    cache = tmp_path / "cache"
    table = sample_essays.select(["essay_id", "text", "prompt"])
    with FeatureClient(live_server.http_url) as client:
        client.extract(table.slice(0, 3), feature_set="embeddings", cache=cache)
        before = counter(live_server.http_url, "hemma_extract_rows_total", "embeddings")
        result, report = client.extract_with_report(table, feature_set="embeddings", cache=cache)
        assert report.cache_hits == 3
        assert report.rows_fetched == 5
    assert counter(live_server.http_url, "hemma_extract_rows_total", "embeddings") == before + 5
    assert result.column("essay_id").to_pylist() == table.column("essay_id").to_pylist()


def test_cache_layout_is_hive_partitioned_arrow_ipc(live_server, tmp_path, runtime):
    """Files are .arrow under fingerprint=/feature_set=, readable by pyarrow.dataset alone."""
    cache = tmp_path / "cache"
    with FeatureClient(live_server.http_url) as client:
        client.extract(SAMPLES, feature_set="combined", cache=cache)
    fp = runtime.fingerprint.fingerprint
    directory = partition_dir(cache, fp, "combined")
    files = sorted(p.name for p in directory.iterdir() if not p.name.startswith((".", "_")))
    assert files and all(name.startswith("part-") and name.endswith(".arrow") for name in files)
    whole = ds.dataset(cache, format="ipc", partitioning="hive").to_table(
        columns=["key", "fingerprint", "feature_set"]
    )
    fp_e = runtime.fingerprint.for_set("embeddings")
    assert set(
        zip(
            whole.column("fingerprint").to_pylist(),
            whole.column("feature_set").to_pylist(),
            strict=True,
        )
    ) == {
        (fp, "combined"),
        (runtime.fingerprint_for("handcrafted"), "handcrafted"),
        (fp_e, "embeddings"),
    }  # combined rows are also kept as their two components
    one = open_features(cache, fp, "combined").to_table()
    assert one.num_rows == 8
    assert one.column_names == ["key", "essay_id", "embedding", *SEMANTIC_NAMES, *HANDCRAFTED_NAMES]
    assert one.schema.metadata[b"hemma.fingerprint"].decode() == fp


def test_results_follow_input_order_with_duplicates(live_server, tmp_path):
    """Rows come back in input order; a repeated essay is computed once and returned twice."""
    rows = [
        ("z", "Zebras are striped animals.", "Animals"),
        ("a", "Apples grow on trees.", "Plants"),
        ("z2", "Zebras are striped animals.", "Animals"),
        ("m", "Mountains are tall.", "Places"),
    ]
    with FeatureClient(live_server.http_url) as client:
        result, report = client.extract_with_report(
            essays_table(rows), feature_set="combined", cache=tmp_path / "c"
        )
        assert report.rows_fetched == 3
    assert result.column("essay_id").to_pylist() == ["z", "a", "z2", "m"]
    emb = np.stack(result.column("embedding").to_numpy(zero_copy_only=False))
    assert np.array_equal(emb[0], emb[2])
    assert not np.array_equal(emb[0], emb[1])


def test_without_cache_and_from_dataframe_and_parquet(live_server, sample_essays, tmp_path):
    """A DataFrame and a Parquet file give the same rows as the CSV."""
    pandas = pytest.importorskip("pandas")
    frame = sample_essays.to_pandas()
    assert isinstance(frame, pandas.DataFrame)
    path = tmp_path / "essays.parquet"
    pq.write_table(sample_essays, path)
    with FeatureClient(live_server.http_url) as client:
        from_frame = client.extract(frame, feature_set="handcrafted")
        from_parquet = client.extract(path, feature_set="handcrafted")
        from_csv = client.extract(SAMPLES, feature_set="handcrafted", cache=tmp_path / "c")
    assert from_frame.drop(["key"]).equals(from_parquet.drop(["key"]))
    assert from_csv.select(HANDCRAFTED_NAMES).equals(from_frame.select(HANDCRAFTED_NAMES))


def test_same_input_gives_bit_identical_rows_across_subsets(live_server, tmp_path):
    """An essay fetched alone or among others has the same bytes."""
    rows = [(f"e{i}", f"Essay {i} is about topic number {i * 7}.", "p") for i in range(6)]
    with FeatureClient(live_server.http_url) as client:
        together = client.extract(essays_table(rows), feature_set="combined")
        alone = client.extract(essays_table(rows[2:3]), feature_set="combined")
    assert together.slice(2, 1).equals(alone)


def test_bad_rows_are_rejected_before_contacting_flight(live_server, tmp_path):
    """Empty text and conflicting duplicate ids fail on the client, naming the row."""
    with FeatureClient(live_server.http_url) as client:
        with pytest.raises(InputRuleError, match=r"row 1 \(essay_id='b'\): text is empty"):
            client.extract(essays_table([("a", "ok text", "p"), ("b", "", "p")]))
        with pytest.raises(InputRuleError, match=r"row 2 \(essay_id='a'\): duplicate essay_id"):
            client.extract(
                essays_table([("a", "one", "p"), ("b", "two", "p"), ("a", "three", "p")])
            )
    assert not (tmp_path / "c").exists()


def test_flight_override_and_unreachable_server(live_server):
    """--flight overrides the advertised port; a dead control plane names the URL and tunnel."""
    with FeatureClient(live_server.http_url, flight=live_server.flight_url) as client:
        assert client.flight_location() == live_server.flight_url
        table = client.extract(essays_table([("a", "Text here.", "p")]), feature_set="handcrafted")
        assert table.num_rows == 1
    with (
        FeatureClient("http://127.0.0.1:9") as dead,
        pytest.raises(ServerUnavailableError, match=r"127\.0\.0\.1:9.*tunnel"),
    ):
        dead.fingerprint()


def test_server_rejection_is_reported(live_server, monkeypatch):
    """A server-side InvalidArgument reaches the caller as ServerRejectedError."""

    small = replace_settings(live_server.runtime.settings, max_items=1)
    monkeypatch.setitem(vars(live_server.runtime), "settings", small)  # runtimes are frozen
    rows = [("a", "text", "p"), ("b", "more text", "p")]
    with FeatureClient(live_server.http_url) as client:
        with pytest.raises(ServerRejectedError, match=r"limit of 1 rows \(HEMMA_MAX_ITEMS\)"):
            list(client.stream(essays_table(rows), "combined"))
        with pytest.raises(FingerprintChangedError, match="fingerprint mismatch"):
            list(client.stream(essays_table(rows[:1]), "combined", fingerprint="0" * 64))


def test_empty_input_returns_empty_table(live_server):
    """No rows in, no call, an empty table out."""
    with FeatureClient(live_server.http_url) as client:
        result = client.extract(essays_table([]), feature_set="combined")
    assert result.num_rows == 0
    assert isinstance(result, pa.Table)


def test_jsonl_input_and_renamed_columns(live_server, sample_essays, tmp_path):
    """A JSONL file with other column names gives the same rows as the CSV."""
    import json

    from hemma_features.client.inputs import Columns

    path = tmp_path / "essays.jsonl"
    with path.open("w") as handle:
        for row in sample_essays.to_pylist():
            record = {"id": row["essay_id"], "body": row["text"], "title": row["prompt"]}
            handle.write(json.dumps(record) + "\n")
    columns = Columns(essay_id="id", text="body", prompt="title")
    with FeatureClient(live_server.http_url) as client:
        from_jsonl = client.extract(path, feature_set="handcrafted", columns=columns)
        from_csv = client.extract(SAMPLES, feature_set="handcrafted")
    assert from_jsonl.equals(from_csv)


def test_a_named_prompt_column_that_is_missing_fails_before_any_request(tmp_path):
    """--prompt-column naming a column the input lacks is refused before the (here dead)
    server is asked; the default name may be absent (no prompts)."""
    from hemma_features.client.errors import InputFileError
    from hemma_features.client.inputs import Columns, read_table

    path = tmp_path / "no-prompt.csv"
    path.write_text("essay_id,text\na,Some text.\n")
    client = FeatureClient("http://127.0.0.1:9")
    with client, pytest.raises(InputFileError, match="lacks the prompt column 'question'"):
        client.extract(path, feature_set="combined", columns=Columns(prompt="question"))
    assert read_table(path, Columns()).column("prompt").to_pylist() == [""]


def test_every_bad_row_of_a_file_is_named_before_any_request(tmp_path):
    """Bad rows across the file (empty text, an id reused for another text) are all named
    in one error, before the (here dead) server is asked."""
    path = tmp_path / "bad.csv"
    path.write_text('essay_id,text,prompt\na,Fine text.,p\nb," ",p\nc,Fine.,p\nd,,p\n')
    client = FeatureClient("http://127.0.0.1:9")
    config = ServerConfig(
        settings=SettingsView(),
        flight_port=9,
        limits=Limits(
            max_items=10, max_text_chars=100, max_streams=1, shard_rows=1, batch_rows=1
        ),  # fmt: skip
    )
    from hemma_features.client.inputs import Columns, check_essays, read_table

    with pytest.raises(InputRuleError) as caught:
        check_essays(read_table(path, Columns()), config)
    assert [v[0] for v in caught.value.violations] == [1, 3]
    assert str(caught.value).startswith("2 rows break the input rules")
    dup = tmp_path / "dup.csv"
    dup.write_text("essay_id,text,prompt\na,One text.,p\nb,Other.,p\na,Another text.,p\n")
    with pytest.raises(
        InputRuleError, match="row 2 .*essay_id='a'.*different text or prompt than row 0"
    ):
        check_essays(read_table(dup, Columns()), config)
    client.close()


def test_the_client_library_prints_nothing_in_a_notebook_that_configured_no_logging(live_server):
    """A successful extract in a fresh interpreter writes nothing to stdout or stderr (its
    run summary is a debug line); asking for DEBUG shows it."""
    import subprocess
    import sys

    from tests.conftest import REPO

    code = (
        "import sys, logging\n"
        "from hemma_features import FeatureClient\n"
        "if sys.argv[3] == 'debug': logging.basicConfig(level=logging.DEBUG)\n"
        "with FeatureClient(sys.argv[1]) as c: c.extract(sys.argv[2], feature_set='handcrafted')\n"
    )
    quiet = subprocess.run(
        [sys.executable, "-c", code, live_server.http_url, str(SAMPLES), "quiet"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert quiet.stdout == "" and quiet.stderr == ""
    loud = subprocess.run(
        [sys.executable, "-c", code, live_server.http_url, str(SAMPLES), "debug"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert "client.extract" in loud.stderr


def test_a_dataframe_of_another_layout_is_told_how_to_map_its_columns(live_server):
    """A PERSUADE-style DataFrame: the error names the missing columns and the Columns(...)
    that maps them, guessed from its column names; with that Columns it extracts."""
    import pandas as pd

    from hemma_features import Columns, InputFileError

    df = pd.DataFrame(
        {
            "essay_id_comp": ["p1", "p2"],
            "full_text": ["Phones help us learn.", "School should start later."],
            "prompt_name": ["Phones", "School hours"],
            "holistic_essay_score": [3, 4],
        }
    )
    with FeatureClient(live_server.http_url) as client:
        with pytest.raises(InputFileError) as caught:
            client.extract(df, feature_set="handcrafted")
        message = str(caught.value)
        assert "lacks column(s) ['essay_id', 'text']" in message
        hint = "Columns(essay_id='essay_id_comp', text='full_text', prompt='prompt_name')"
        assert hint in message and "--id-column essay_id_comp" in message
        table = client.extract(
            df,
            feature_set="handcrafted",
            columns=Columns(essay_id="essay_id_comp", text="full_text", prompt="prompt_name"),
        )
    assert table.column("essay_id").to_pylist() == ["p1", "p2"]
