"""The Flight data service with a plain pyarrow.flight client: datasets, shards, store."""

from __future__ import annotations

import json
import threading

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.flight as fl
import pytest

from hemma_features import FeatureClient
from hemma_features.contract import (
    FlightInvalidArgumentError,
    ShardTicket,
    decode_error_info,
    decode_ticket,
    encode_ticket,
)
from hemma_features.engine.feature_store import FeatureStore
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.settings_env import settings_of
from tests.conftest import SAMPLES, essays_table, wait_for
from tests.servers import LiveServer, counter


def samples() -> pa.Table:
    table = pacsv.read_csv(SAMPLES, parse_options=pacsv.ParseOptions(newlines_in_values=True))
    return table.select(["essay_id", "text", "prompt"])


def serve(runtime, store, **settings) -> LiveServer:
    options = {"store_dir": str(store), "shard_rows": 3, "batch_rows": 2, **settings}
    return LiveServer(
        Runtime.from_models(settings_of(**options), runtime.analyzer, runtime.embedder)
    )


@pytest.fixture(scope="module")
def store_server(runtime, tmp_path_factory):
    server = serve(runtime, tmp_path_factory.mktemp("store"))
    yield server
    server.close()


def put(location: str, name: str, table: pa.Table) -> dict:
    client = fl.connect(location)
    writer, metadata = client.do_put(fl.FlightDescriptor.for_path(name), table.schema)
    with writer:
        writer.write_table(table)
        writer.done_writing()
        answer = metadata.read()
    client.close()
    return json.loads(answer.to_pybytes())


def test_notebook_flow_with_plain_pyarrow_flight(store_server, runtime):
    """do_put, list_flights, get_flight_info and do_get per endpoint, as the README shows."""
    entry = put(store_server.flight_url, "samples", samples())
    assert entry["rows"] == 8 and len(entry["sha256"]) == 64
    client = fl.connect(store_server.flight_url)
    listed = {tuple(p.decode() for p in info.descriptor.path) for info in client.list_flights()}
    assert {
        ("samples", "handcrafted"),
        ("samples", "embeddings"),
        ("samples", "combined"),
    } <= listed
    info = client.get_flight_info(fl.FlightDescriptor.for_path("samples", "combined"))
    assert info.total_records == 8
    assert info.schema.metadata[b"hemma.fingerprint"].decode() == runtime.fingerprint.fingerprint
    assert len(info.endpoints) == 3  # 8 rows in shards of 3
    parts = [client.do_get(endpoint.ticket).read_all() for endpoint in info.endpoints]
    table = pa.concat_tables(parts)
    assert table.column("essay_id").to_pylist() == samples().column("essay_id").to_pylist()
    assert table.schema.names[:2] == ["essay_id", "embedding"]
    ticket = decode_ticket(info.endpoints[1].ticket.ticket)
    assert (ticket.start, ticket.stop, ticket.feature_set) == (3, 6, "combined")
    client.close()


def test_stored_rows_are_served_without_recomputation(store_server):
    """A second read, or an exchange of the same essays, computes nothing."""
    put(store_server.flight_url, "again", samples())
    with FeatureClient(store_server.http_url) as client:
        first = client.read_dataset("again", "handcrafted")
        computed = counter(store_server.http_url, "hemma_extract_rows_total", "handcrafted")
        hits = counter(store_server.http_url, "hemma_store_hits_total", "handcrafted")
        second = client.read_dataset("again", "handcrafted")
        exchanged = client.extract(SAMPLES, feature_set="handcrafted")
    assert counter(store_server.http_url, "hemma_extract_rows_total", "handcrafted") == computed
    assert counter(store_server.http_url, "hemma_store_hits_total", "handcrafted") == hits + 16
    assert second.equals(first)
    assert exchanged.drop_columns(["key"]).equals(first)


def test_errors_name_what_was_wrong(store_server):
    """Unknown dataset -> NotFound; bad ticket, stale fingerprint, bad upload -> InvalidArgument."""
    client = fl.connect(store_server.flight_url)
    with pytest.raises(KeyError, match="no dataset named 'nope'"):
        client.get_flight_info(fl.FlightDescriptor.for_path("nope", "combined"))
    with pytest.raises(FlightInvalidArgumentError, match="unknown feature set 'all'"):
        client.get_flight_info(fl.FlightDescriptor.for_path("nope", "all"))
    with pytest.raises(FlightInvalidArgumentError, match="invalid ticket") as bad_ticket:
        client.do_get(fl.Ticket(b"garbage")).read_all()
    assert "Traceback" not in str(bad_ticket.value) and ".py" not in str(bad_ticket.value)
    put(store_server.flight_url, "stale", samples())
    info = client.get_flight_info(fl.FlightDescriptor.for_path("stale", "combined"))
    old = decode_ticket(info.endpoints[0].ticket.ticket)
    stale = ShardTicket(**{**{f: getattr(old, f) for f in old.__struct_fields__},
                           "fingerprint": "0" * 64})  # fmt: skip
    with pytest.raises(fl.FlightServerError, match="fingerprint mismatch") as caught:
        client.do_get(fl.Ticket(encode_ticket(stale))).read_all()
    info = decode_error_info(caught.value.extra_info)
    assert info is not None and info.code == "fingerprint_mismatch"
    assert "Traceback" not in str(caught.value)
    missing = ShardTicket(**{**{f: getattr(old, f) for f in old.__struct_fields__},
                             "dataset": "f" * 64})  # fmt: skip
    with pytest.raises(KeyError, match="no dataset with content hash"):
        client.do_get(fl.Ticket(encode_ticket(missing))).read_all()
    duplicated = essays_table([("a", "one", "p"), ("b", "two", "p"), ("a", "three", "p")])
    with pytest.raises(FlightInvalidArgumentError, match=r"row 2 \(essay_id='a'\): duplicate"):
        put(store_server.flight_url, "dups", duplicated)
    with pytest.raises(FlightInvalidArgumentError, match=r"row 1 \(essay_id='b'\): text is empty"):
        put(store_server.flight_url, "bad", essays_table([("a", "ok", "p"), ("b", " ", "p")]))
    with pytest.raises(FlightInvalidArgumentError, match="dataset name '../x' is not allowed"):
        put(store_server.flight_url, "../x", samples())
    [health] = client.do_action(fl.Action("health", b""))  # still serving
    assert json.loads(health.body.to_pybytes()) == {"status": "ok"}
    client.close()


def test_uploads_over_max_items_are_refused_naming_the_limit(runtime, tmp_path):
    """A dataset with more rows than max_items fails naming the limit; nothing is stored."""
    server = serve(runtime, tmp_path / "store", max_items=5)
    try:
        too_many = r"limit of 5 rows \(HEMMA_MAX_ITEMS\)"
        with pytest.raises(FlightInvalidArgumentError, match=too_many):
            put(server.flight_url, "big", samples())
        client = fl.connect(server.flight_url)
        assert list(client.list_flights()) == []
        assert put(server.flight_url, "small", samples().slice(0, 5))["rows"] == 5
        client.close()
    finally:
        server.close()


def test_datasets_need_a_store(live_server):
    """With the store turned off, do_put says so and how to turn it back on."""
    with pytest.raises(FlightInvalidArgumentError, match="HEMMA_STORE=false"):
        put(live_server.flight_url, "x", samples())


def test_cancelling_a_get_stops_the_computation(runtime, tmp_path):
    """After the client cancels, the server computes at most a batch or two more."""
    server = serve(runtime, tmp_path / "store", shard_rows=1000, batch_rows=1)
    try:
        rows = [(f"c{i}", f"Essay {i} about cancellation number {i * 31}.", "p") for i in range(30)]
        put(server.flight_url, "long", essays_table(rows))
        client = fl.connect(server.flight_url)
        info = client.get_flight_info(fl.FlightDescriptor.for_path("long", "handcrafted"))
        reader = client.do_get(info.endpoints[0].ticket)
        reader.read_chunk()
        reader.cancel()

        def stream_ended() -> bool:
            text = httpx.get(f"{server.http_url}/metrics", timeout=30).text
            return 'outcome="cancelled"' in text

        assert wait_for(stream_ended)
        computed = counter(server.http_url, "hemma_extract_rows_total", "handcrafted")
        assert computed <= 4  # stopped within a micro-batch or two of the cancel, not 30
        client.close()
    finally:
        server.close()


@pytest.mark.parametrize("moment", ["waiting for input", "answering"])
def test_a_client_that_cancels_an_exchange_is_counted_as_cancelled(runtime, tmp_path, moment):
    """A client's Ctrl-C in the middle of an exchange, while the server waits for its next
    batch or writes answers, is the outcome `cancelled` in /metrics, not an internal error,
    and the server keeps serving."""
    server = serve(runtime, tmp_path / "store", batch_rows=1)
    try:
        client = fl.connect(server.flight_url)
        command = fl.FlightDescriptor.for_command(
            b'{"type":"extract.v1","feature_set":"handcrafted"}'
        )
        writer, reader = client.do_exchange(command)
        writer.begin(samples().schema)
        rows = essays_table(
            [(f"x{i}", f"Essay {i} is about stopping {i * 7}.", "p") for i in range(24)]
        )
        if moment == "answering":
            writer.write_table(rows)  # 24 answers to write, one by one
        else:
            writer.write_batch(rows.to_batches()[0].slice(0, 1))
        reader.read_chunk()
        reader.cancel()

        def outcomes() -> str:
            text = httpx.get(f"{server.http_url}/metrics", timeout=30).text
            return " ".join(
                line
                for line in text.splitlines()
                if line.startswith("hemma_extract_requests_total{")
            )

        assert wait_for(lambda: 'outcome="cancelled"' in outcomes()), outcomes()
        assert "Internal" not in outcomes() and "internal" not in outcomes(), outcomes()
        client.close()
        assert put(server.flight_url, "after", samples())["rows"] == 8  # still serving
    finally:
        server.close()


def test_an_open_stream_waiting_for_its_client_holds_no_slot(runtime, tmp_path):
    """With max_streams=1, a stream between batches does not block a second stream."""
    server = serve(runtime, tmp_path / "store", max_streams=1)
    try:
        client = fl.connect(server.flight_url)
        command = fl.FlightDescriptor.for_command(
            b'{"type":"extract.v1","feature_set":"handcrafted"}'
        )
        writer, reader = client.do_exchange(command)
        writer.begin(samples().schema)
        writer.write_batch(samples().to_batches()[0].slice(0, 1))
        reader.read_chunk()  # the first stream is open, served, and now waits for its client
        second = fl.connect(server.flight_url)
        w2, r2 = second.do_exchange(command)
        w2.begin(samples().schema)
        w2.write_batch(samples().to_batches()[0].slice(1, 1))
        w2.done_writing()
        assert r2.read_all().num_rows == 1
        writer.done_writing()
        writer.close()
        client.close()
        second.close()
    finally:
        server.close()


def test_two_servers_share_shards_and_the_rows_come_back_complete(runtime, tmp_path):
    """Endpoints alternate between two servers on one store; the client reads them in parallel."""
    store = tmp_path / "shared-store"
    second = serve(runtime, store, shard_rows=2)
    first = serve(runtime, store, shard_rows=2, peers=second.flight_url)
    try:
        put(first.flight_url, "spread", samples())
        client = fl.connect(first.flight_url)
        info = client.get_flight_info(fl.FlightDescriptor.for_path("spread", "embeddings"))
        where = [e.locations[0].uri.decode() for e in info.endpoints]
        assert where == [first.flight_url, second.flight_url] * 2
        client.close()
        with FeatureClient(first.http_url) as hemma:
            table = hemma.read_dataset("spread", "embeddings", parallel=4)
        assert table.column("essay_id").to_pylist() == samples().column("essay_id").to_pylist()
        assert counter(first.http_url, "hemma_extract_rows_total", "embeddings") == 4
        assert counter(second.http_url, "hemma_extract_rows_total", "embeddings") == 4
    finally:
        first.close()
        second.close()


def test_store_evicts_least_recently_used_files(tmp_path):
    """Past max_bytes the oldest files go; what remains still answers lookups."""
    store = FeatureStore(tmp_path, max_bytes=1)
    table = pa.table({"key": ["a"], "essay_id": ["1"], "x": pa.array([1.0], pa.float32())})
    store.add("fp", "handcrafted", table)
    assert store.size() == 0  # a single file over the bound is evicted at once
    roomy = FeatureStore(tmp_path, max_bytes=10**9)
    roomy.add("fp", "handcrafted", table)
    roomy.add("fp", "handcrafted", table)  # same key: not written twice
    found = roomy.lookup("fp", "handcrafted", ["a", "zzz"])
    assert found is not None and found.column("key").to_pylist() == ["a"]
    size = roomy.size()
    roomy.max_bytes = size  # fits exactly
    assert roomy.evict() == []


def test_concurrent_exchanges_share_the_store_safely(runtime, tmp_path):
    """Four threads exchanging the same essays store each row once."""
    server = serve(runtime, tmp_path / "store")
    try:
        errors = []

        def work() -> None:
            try:
                with FeatureClient(server.http_url) as client:
                    client.extract(SAMPLES, feature_set="embeddings")
            except Exception as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors
        fp = runtime.fingerprint.for_set("embeddings")
        stored = FeatureStore(tmp_path / "store", 10**9).lookup(
            fp, "embeddings", samples().column("essay_id").to_pylist()
        )
        assert stored is None  # lookups are by content key, not essay id
        from hemma_features.client.cache import FeatureCache

        assert len(FeatureCache(tmp_path / "store").known_keys(fp, "embeddings")) == 8
        import pyarrow.dataset as ds

        part = tmp_path / "store" / f"fingerprint={fp}" / "feature_set=embeddings"
        assert ds.dataset(part, format="ipc").count_rows() == 8
    finally:
        server.close()


def exchange_chunks(location: str, table: pa.Table, feature_set: str) -> list[pa.RecordBatch]:
    """Every answer batch of one do_exchange carrying ``table`` as a single batch."""
    from hemma_features.contract import ExtractCommand, encode_command

    client = fl.connect(location)
    command = encode_command(ExtractCommand(feature_set=feature_set))
    writer, reader = client.do_exchange(fl.FlightDescriptor.for_command(command))
    chunks = []
    with writer:
        writer.begin(table.schema)
        writer.write_batch(table.combine_chunks().to_batches()[0])
        writer.done_writing()
        for _ in range(table.num_rows + 1):  # bounded: at most one batch per row
            try:
                chunks.append(reader.read_chunk().data)
            except StopIteration:
                break
    client.close()
    return chunks


def test_answers_stream_per_micro_batch_and_stored_stretches_come_at_once(runtime, tmp_path):
    """One input batch of 6 new essays is answered in 3 micro-batches of 2 as each is
    computed; then a batch [new, 6 stored, new] comes back as [1 computed, 6 stored in
    one batch, 1 computed], in input order, the stored rows equal to the first answer."""
    server = serve(runtime, tmp_path / "store", micro_batch_rows=2, batch_rows=100)
    try:
        table = samples()
        first = exchange_chunks(server.flight_url, table.slice(0, 6), "handcrafted")
        assert [c.num_rows for c in first] == [2, 2, 2]
        mixed = pa.concat_tables([table.slice(6, 1), table.slice(0, 6), table.slice(7, 1)])
        second = exchange_chunks(server.flight_url, mixed, "handcrafted")
        assert [c.num_rows for c in second] == [1, 6, 1]
        ids = [i for chunk in second for i in chunk.column("essay_id").to_pylist()]
        assert ids == mixed.column("essay_id").to_pylist()
        assert pa.Table.from_batches([second[1]]).equals(pa.Table.from_batches(first))
    finally:
        server.close()


def test_the_progress_bar_knows_the_total_first_and_moves_per_micro_batch(runtime, tmp_path):
    """extract reports (0, 0, total) before any row, then once per answered micro-batch."""
    server = serve(runtime, tmp_path / "store", micro_batch_rows=2)
    calls: list[tuple[int, int, int]] = []
    try:
        with FeatureClient(server.http_url, chunk_rows=8) as client:
            client.extract(SAMPLES, feature_set="handcrafted", cache=tmp_path / "c",
                           progress=lambda *a: calls.append(a))  # fmt: skip
    finally:
        server.close()
    assert calls[0] == (0, 0, 8)
    assert [c[0] for c in calls[1:]] == [2, 2, 2, 2]
    assert all(total == 8 for _, _, total in calls)


def test_a_dataset_uploaded_before_keys_were_kept_gets_them_on_first_read(runtime, tmp_path):
    """Datasets keep their content keys beside them; one without (uploaded by an older
    server) has them computed and kept by its first do_get, with the same answer."""
    from hemma_features.contract import content_keys

    server = serve(runtime, tmp_path / "store")
    try:
        entry = put(server.flight_url, "old", samples())
        sidecar = tmp_path / "store" / "datasets" / f"{entry['sha256']}.keys.arrow"
        kept = pa.ipc.open_file(sidecar).read_all().column("key").to_pylist()
        table = samples()
        assert kept == content_keys(table.column("text").to_pylist(),
                                    table.column("prompt").to_pylist())  # fmt: skip
        with FeatureClient(server.http_url) as client:
            first = client.read_dataset("old", "handcrafted")
            sidecar.unlink()
            again = client.read_dataset("old", "handcrafted")
        assert again.equals(first)
        assert pa.ipc.open_file(sidecar).read_all().column("key").to_pylist() == kept
    finally:
        server.close()
