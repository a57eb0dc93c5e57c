"""The wire contract: commands, input rules, content keys, output schemas."""

from __future__ import annotations

import msgspec
import pyarrow as pa
import pytest

from hemma_features.contract import (
    CommandError,
    ExtractCommand,
    FeatureSpec,
    InputRuleError,
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
