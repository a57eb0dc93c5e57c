"""The wire contract: commands, input rules, content keys, output schemas."""

from __future__ import annotations

import msgspec
import pyarrow as pa
import pytest

from hemma_features.contract import (
    CommandError,
    DatasetEntry,
    ExtractCommand,
    FeatureSpec,
    InputRuleError,
    ReloadStatus,
    RuntimeInfo,
    ServerConfig,
    SettingsView,
    as_input_batch,
    check_input_batch,
    check_input_schema,
    content_key,
    content_key_array,
    decode_catalogue,
    decode_command,
    encode_command,
    output_schema,
    schema_fingerprint,
)
from tests.conftest import essays_table


def test_command_round_trips_with_its_version_tag():
    """Commands are tagged extract.v1 on the wire and decode back equal."""
    command = ExtractCommand(feature_set="combined", fingerprint="abc")
    raw = encode_command(command)
    assert msgspec.json.decode(raw)["type"] == "extract.v1"
    assert decode_command(raw) == command


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type": "extract.v2", "feature_set": "combined"}',
        b'{"type": "extract.v1", "feature_set": "everything"}',
        b'{"type": "extract.v1", "feature_set": "combined", "extra": 1}',
        b"not json",
    ],
)
def test_bad_commands_are_rejected_with_the_allowed_shape(raw):
    """Unknown versions, feature sets and fields fail naming what is allowed."""
    with pytest.raises(CommandError, match="handcrafted, embeddings, combined"):
        decode_command(raw)


@pytest.mark.parametrize(
    ("rows", "row", "rule"),
    [
        ([("a", "fine text", "p"), ("b", "", "p")], 1, "text is empty"),
        ([("a", "fine text", "p"), ("b", " \n\t ", "p")], 1, "only whitespace"),
        (
            [("a", "x" * 11, "p")],
            0,
            "11 characters, over the limit of 10 (the server's HEMMA_MAX_TEXT_CHARS)",
        ),
        ([("", "text", "p")], 0, "essay_id is empty"),
    ],
)
def test_input_rules_name_the_row_and_the_rule(rows, row, rule):
    """Each broken rule names the row index, the essay id and the rule."""
    batch = essays_table(rows).to_batches()[0]
    with pytest.raises(InputRuleError) as info:
        check_input_batch(batch, max_text_chars=10, first_row=0)
    assert info.value.row == row
    assert rule in str(info.value)
    assert f"row {row}" in str(info.value)


def test_row_numbers_count_from_the_request_start():
    """A batch later in a request reports rows relative to the whole request."""
    batch = essays_table([("ok", "text", "p"), ("bad", "", "p")]).to_batches()[0]
    with pytest.raises(InputRuleError, match=r"row 101 \(essay_id='bad'\)"):
        check_input_batch(batch, max_text_chars=100, first_row=100)


def test_a_null_or_missing_prompt_is_no_prompt():
    """A null prompt and an absent prompt column both become the empty string (no prompt),
    the same as an empty prompt; nothing else about the row changes."""
    null = pa.record_batch(
        [pa.array(["a"]), pa.array(["some text"]), pa.array([None], pa.string())],
        names=["essay_id", "text", "prompt"],
    )
    check_input_batch(null, max_text_chars=100)
    absent = pa.record_batch([pa.array(["a"]), pa.array(["some text"])], names=["essay_id", "text"])
    for batch in (null, absent):
        normal = as_input_batch(batch)
        assert normal.schema.names == ["essay_id", "text", "prompt"]
        assert normal.column("prompt").to_pylist() == [""]
        assert content_key_array(normal).to_pylist() == [content_key("some text", "")]


def test_every_bad_row_is_named_at_once_with_how_rows_count():
    """Three bad rows in one batch: one error lists all three, in row order, and says how
    the rows are numbered."""
    batch = pa.record_batch(
        [
            pa.array(["a", "b", None, "d", "e"]),
            pa.array(["fine", "   ", "text", "fine", "x" * 11]),
            pa.array(["p"] * 5),
        ],
        names=["essay_id", "text", "prompt"],
    )
    with pytest.raises(InputRuleError) as caught:
        check_input_batch(batch, max_text_chars=10, first_row=100)
    message = str(caught.value)
    assert message.startswith("3 rows break the input rules: ")
    assert (
        message.index("row 101 (essay_id='b'): text is empty")
        < message.index("row 102: essay_id is missing")
        < message.index("row 104 (essay_id='e'): text has 11 characters, over the limit of 10")
    )
    assert "rows count from 0 in input order, like pandas .iloc" in message
    assert [v[0] for v in caught.value.violations] == [101, 102, 104]


def test_long_lists_of_bad_rows_are_cut_and_counted():
    """Past ten bad rows the error says how many more there are (bounded, never silent)."""
    batch = pa.record_batch(
        [pa.array([f"e{i}" for i in range(25)]), pa.array([""] * 25), pa.array(["p"] * 25)],
        names=["essay_id", "text", "prompt"],
    )
    with pytest.raises(
        InputRuleError, match=r"^25 rows break.*row 9 \(essay_id='e9'\).*; and 15 more"
    ):
        check_input_batch(batch, max_text_chars=10)


def test_wrong_schema_is_rejected():
    """A missing column or a non-string column fails naming the column."""
    with pytest.raises(InputRuleError, match="missing column 'text'.*prompt is optional"):
        check_input_schema(pa.schema([("essay_id", pa.string()), ("prompt", pa.string())]))
    with pytest.raises(InputRuleError, match="column 'text' has type int64"):
        check_input_schema(
            pa.schema([("essay_id", pa.string()), ("text", pa.int64()), ("prompt", pa.string())])
        )
    with pytest.raises(InputRuleError, match="column 'prompt' appears 2 times"):
        check_input_schema(
            pa.schema(
                [
                    ("essay_id", pa.string()),
                    ("text", pa.string()),
                    ("prompt", pa.string()),
                    ("prompt", pa.int64()),
                ]
            )  # fmt: skip
        )
    with pytest.raises(InputRuleError, match="column 'prompt' has type int64"):
        check_input_schema(
            pa.schema([("essay_id", pa.string()), ("text", pa.string()), ("prompt", pa.int64())])
        )


def test_content_key_is_exact_and_unambiguous():
    """The key changes with any character and cannot confuse text/prompt boundaries."""
    assert content_key("ab", "c") != content_key("a", "bc")
    assert content_key("text", "p") == content_key("text", "p")
    assert content_key("text", "p") != content_key("text ", "p")
    assert len(content_key("t", "p")) == 64


def test_output_schema_carries_the_contract():
    """Fingerprint, schema_version, feature set and catalogue are in the metadata."""
    spec = FeatureSpec(
        name="n_words", tier=1, group="surface", definition="d", unit="words", source="spacy"
    )
    schema = output_schema(
        feature_set="combined",
        embedding_dim=4,
        catalogue=[spec],
        fingerprint="f" * 64,
        schema_version="v1",
        embedding_model="m",
    )
    assert schema.names == ["essay_id", "embedding", "n_words"]
    assert schema.field("embedding").type == pa.list_(pa.float32(), 4)
    assert schema_fingerprint(schema) == "f" * 64
    assert decode_catalogue(schema) == [spec]
    only_embeddings = output_schema(
        feature_set="embeddings",
        embedding_dim=4,
        catalogue=[spec],
        fingerprint="f",
        schema_version="v1",
        embedding_model="m",
    )
    assert only_embeddings.names == ["essay_id", "embedding"]


RUNTIME_EXAMPLE = {
    "embedding": {
        "backend": "onnx",
        "precision": "float32",
        "quantization": "none",
        "threads": 4,
        "device": "cpu",
        "min_cosine": 0.99999,
        "mean_cosine": 0.999995,
        "exported_seconds": None,
        "decided": "stored",
        "candidates": [
            {
                "backend": "torch",
                "cpu_seconds": 0.5,
                "wall_seconds": 0.2,
                "min_cosine": 1.0,
                "failure": None,
            }
        ],
        "notes": ["bfloat16 needs avx512_bf16; float32 instead"],
    },
    "embedding_batch_size": 128,
    "encoder_batching": {
        "padded": True,
        "batch_size": 128,
        "token_budget": 16384,
        "pad_multiple": 64,
        "mode": "fixed",
        "rows_per_width": {"64": 128, "128": 128},
        "max_wait_seconds": 0.005,
    },
    "micro_batch_rows": 16,
    "micro_batches_in_flight": 2,
    "parse_workers": 4,
    "parse_workers_beside_encoder": 1,
    "cores": 4,
    "cpu": "Intel(R) Xeon(R)",
    "cpu_flags": ["avx2", "avx512f"],
    "store": {"enabled": True, "path": "/data/store", "max_bytes": 21474836480},
}
"""``/v1/config``'s ``runtime`` as the server wrote it when it was an untyped dict."""


@pytest.mark.parametrize(
    ("example", "struct"),
    [
        (RUNTIME_EXAMPLE, RuntimeInfo),
        (
            {
                **RUNTIME_EXAMPLE,
                "encoder_batching": {
                    "padded": False,
                    "batch_size": 1,
                    "token_budget": 16384,
                    "pad_multiple": None,
                    "max_wait_seconds": None,
                },
            },
            RuntimeInfo,
        ),
        (
            {
                "state": "ok",
                "trigger": "sighup",
                "started_at": "2026-12-05T03:00:00+00:00",
                "seconds": 1.25,
                "fingerprint_before": "a" * 64,
                "fingerprint_after": "b" * 64,
                "changed": ["embedding_max_length"],
                "error": None,
            },
            ReloadStatus,
        ),
        ({"name": "corpus", "sha256": "c" * 64, "rows": 8}, DatasetEntry),
    ],
)
def test_typed_sections_keep_the_json_they_replaced(example, struct):
    """The typed messages encode to the same JSON, key for key, as the dicts they replaced."""
    assert msgspec.json.encode(msgspec.convert(example, struct)) == msgspec.json.encode(example)


def test_a_client_reads_config_of_newer_and_older_servers():
    """A newer server's extra fields are ignored and an older server's missing ones default,
    so version skew never fails decoding /v1/config."""
    newer = {
        "settings": {"max_items": 7, "a_setting_of_tomorrow": 1},
        "flight_port": 9001,
        "limits": {"max_items": 7, "max_text_chars": 100},
        "runtime": {**RUNTIME_EXAMPLE, "gpu": "H200", "store": {"enabled": False, "x": 1}},
        "reload": {"state": "never", "queued": 0},
        "something_new": {},
    }
    config = msgspec.json.decode(msgspec.json.encode(newer), type=ServerConfig)
    assert config.settings.max_items == 7 and config.runtime.cores == 4
    older = {"settings": {}, "flight_port": 9001, "limits": {"max_items": 7, "max_text_chars": 1}}
    config = msgspec.json.decode(msgspec.json.encode(older), type=ServerConfig)
    assert config.runtime == RuntimeInfo() and config.reload.state == "never"
    assert config.settings == SettingsView()
    entry = msgspec.json.decode(b'{"name":"a","sha256":"x","rows":1,"bytes":9}', type=DatasetEntry)
    assert entry.rows == 1
