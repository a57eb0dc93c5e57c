"""The data plane with a plain pyarrow.flight client, as a notebook would use it."""

from __future__ import annotations

import json

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.flight as fl
import pytest

from hemma_features.contract import FlightInvalidArgumentError, decode_error_info, specs_for
from hemma_features.engine.features.catalogue import BASE
from hemma_features.engine.settings_env import replace_settings
from tests.conftest import essays_table

HANDCRAFTED_NAMES = [spec.name for spec in specs_for("handcrafted", BASE)]
SEMANTIC_NAMES = [spec.name for spec in specs_for("embeddings", BASE)]


def exchange(
    location: str,
    table: pa.Table,
    feature_set: str = "combined",
    *,
    chunk: int = 4,
    fingerprint: str | None = None,
) -> list[pa.RecordBatch]:
    command = {"type": "extract.v1", "feature_set": feature_set}
    if fingerprint:
        command["fingerprint"] = fingerprint
    client = fl.connect(location)
    writer, reader = client.do_exchange(fl.FlightDescriptor.for_command(json.dumps(command)))
    out = []
    with writer:
        writer.begin(table.schema)
        for batch in table.to_batches(max_chunksize=chunk):
            writer.write_batch(batch)
            out.append(reader.read_chunk().data)
        writer.done_writing()
    client.close()
    return out


def test_exchange_returns_one_batch_per_input_batch(live_server, sample_essays, runtime):
    """Eight essays in batches of 3 come back as batches of 3, 3, 2 in order."""
    table = sample_essays.select(["essay_id", "text", "prompt"])
    batches = exchange(live_server.flight_url, table, chunk=3)
    assert [b.num_rows for b in batches] == [3, 3, 2]
    result = pa.Table.from_batches(batches)
    assert result.column("essay_id").to_pylist() == table.column("essay_id").to_pylist()
    schema = result.schema
    assert schema.names == ["essay_id", "embedding", *SEMANTIC_NAMES, *HANDCRAFTED_NAMES]
    assert schema.field("embedding").type == pa.list_(pa.float32(), 384)
    meta = schema.metadata
    assert meta[b"hemma.fingerprint"].decode() == runtime.fingerprint.fingerprint
    assert meta[b"hemma.feature_set"] == b"combined"
    assert meta[b"hemma.schema_version"].decode() == runtime.fingerprint.schema_version
    spec = msgspec.json.decode(schema.field("n_words").metadata[b"hemma.feature"])
    assert spec["tier"] == 1 and spec["unit"] == "words"
    embeddings = np.stack(result.column("embedding").to_numpy(zero_copy_only=False))
    assert np.isfinite(embeddings).all()


def test_values_equal_the_runtime_computation(live_server, runtime):
    """What comes over Flight is exactly what the engine computes for the text."""
    table = essays_table([("e1", "The cat sat on the mat. It was happy.\n\nThen it slept.", "p")])
    [batch] = exchange(live_server.flight_url, table, "handcrafted")
    assert batch.column("n_words")[0].as_py() == 12
    assert batch.column("n_paragraphs")[0].as_py() == 2
    direct = runtime.extract(table.to_batches()[0], "handcrafted")
    assert batch.equals(direct)


def test_feature_sets_select_columns(live_server):
    """handcrafted has no embedding; embeddings has the vector and the features derived
    from its forward pass."""
    table = essays_table([("a", "Some essay text here.", "p")])
    [hand] = exchange(live_server.flight_url, table, "handcrafted")
    [emb] = exchange(live_server.flight_url, table, "embeddings")
    assert hand.schema.names == ["essay_id", *HANDCRAFTED_NAMES]
    assert emb.schema.names == ["essay_id", "embedding", *SEMANTIC_NAMES]


def test_bad_row_is_rejected_naming_the_row_and_server_keeps_serving(live_server):
    """An empty text in the second batch fails with InvalidArgument naming row 5."""
    rows = [(f"e{i}", f"Essay number {i}.", "p") for i in range(5)] + [("bad", "   ", "p")]
    with pytest.raises(FlightInvalidArgumentError, match=r"row 5 \(essay_id='bad'\).*empty"):
        exchange(live_server.flight_url, essays_table(rows), chunk=4)
    [ok] = exchange(live_server.flight_url, essays_table([("x", "Still serving.", "p")]))
    assert ok.num_rows == 1


def test_too_many_rows_names_the_limit(live_server, monkeypatch):
    """More rows than max_items fails naming the limit."""

    small = replace_settings(live_server.runtime.settings, max_items=3)
    monkeypatch.setitem(vars(live_server.runtime), "settings", small)  # runtimes are frozen
    rows = [(f"e{i}", f"Essay {i}.", "p") for i in range(5)]
    with pytest.raises(FlightInvalidArgumentError, match=r"limit of 3 rows \(HEMMA_MAX_ITEMS\)"):
        exchange(live_server.flight_url, essays_table(rows), chunk=2)


def test_wrong_schema_is_rejected(live_server):
    """A table without a text column fails naming the column."""
    table = pa.table({"essay_id": ["a"], "prompt": ["p"]})
    with pytest.raises(FlightInvalidArgumentError, match="missing column 'text'"):
        exchange(live_server.flight_url, table)


def test_essays_without_prompts_are_served(live_server, runtime):
    """No prompt column: every value equals the same essay's with an empty prompt, and
    prompt_similarity is 0 (no prompt to compare with)."""
    text = "Homework helps students. It also takes time away from sport."
    [absent] = exchange(live_server.flight_url, pa.table({"essay_id": ["a"], "text": [text]}))
    [empty] = exchange(live_server.flight_url, essays_table([("a", text, "")]))
    assert absent.equals(empty)
    assert absent.column("prompt_similarity").to_pylist() == [0.0]


def test_wrong_type_is_rejected(live_server):
    """A numeric text column fails naming the type."""
    table = pa.table({"essay_id": ["a"], "text": [3], "prompt": ["p"]})
    with pytest.raises(FlightInvalidArgumentError, match="column 'text' has type int64"):
        exchange(live_server.flight_url, table)


def test_bad_command_and_descriptor(live_server):
    """An unknown feature set or a path descriptor fails with InvalidArgument."""
    client = fl.connect(live_server.flight_url)
    for descriptor in (
        fl.FlightDescriptor.for_command(b'{"type": "extract.v1", "feature_set": "all"}'),
        fl.FlightDescriptor.for_path("essays"),
    ):
        writer, reader = client.do_exchange(descriptor)
        with pytest.raises(FlightInvalidArgumentError):
            writer.begin(essays_table([]).schema)
            writer.done_writing()
            reader.read_all()
    client.close()


def test_fingerprint_mismatch_is_refused(live_server):
    """A request pinned to another fingerprint is refused, never served stale."""
    with pytest.raises(fl.FlightServerError, match="fingerprint mismatch") as caught:
        exchange(live_server.flight_url, essays_table([("a", "text", "p")]), fingerprint="0" * 64)
    info = decode_error_info(caught.value.extra_info)
    assert info is not None and info.code == "fingerprint_mismatch"


def test_actions(live_server, runtime):
    """health, fingerprint and catalogue actions answer JSON; list_actions describes them."""
    client = fl.connect(live_server.flight_url)
    names = {action.type for action in client.list_actions()}
    assert names == {"health", "fingerprint", "catalogue", "reload"}
    [health] = client.do_action(fl.Action("health", b""))
    assert json.loads(health.body.to_pybytes()) == {"status": "ok"}
    [fp] = client.do_action(fl.Action("fingerprint", b""))
    assert json.loads(fp.body.to_pybytes())["fingerprint"] == runtime.fingerprint.fingerprint
    [cat] = client.do_action(fl.Action("catalogue", b""))
    assert [c["name"] for c in json.loads(cat.body.to_pybytes())] == [s.name for s in BASE]
    client.close()
