"""Hot reload: a new runtime loads beside the old one and new requests switch to it at once;
a running stream finishes under its old fingerprint; a failed reload leaves the old runtime
serving and says why; readiness stays 200 throughout."""

from __future__ import annotations

import json
import threading

import httpx
import numpy as np
import pyarrow.flight as fl
import pytest

from hemma_features.contract.schema import META_FINGERPRINT
from hemma_features.engine.models.embed import Embedder
from hemma_features.engine.options import model_cache_path
from hemma_features.engine.reload import Reloader
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.runtime_slot import RuntimeSlot
from hemma_features.engine.settings_env import load_settings
from tests.conftest import essays_table, wait_for
from tests.servers import LiveServer

ADMIN = "admin-token-for-the-tests"
LONG = " ".join(
    f"Sentence {i} says that the writer cares about school and homework." for i in range(40)
)


def reload_action(location: str, token: str = ADMIN, **settings: object) -> dict:
    client = fl.connect(location)
    try:
        body = json.dumps({"token": token, "settings": settings}).encode()
        [result] = list(client.do_action(fl.Action("reload", body)))
        return json.loads(result.body.to_pybytes())
    finally:
        client.close()


@pytest.fixture()
def reloading(runtime):
    """A server over a slot whose reloads rebuild the runtime from settings, reusing the
    session's spaCy model but loading the encoder afresh (the part these tests change)."""

    def source(overrides):
        base = {"model_cache_dir": str(model_cache_path(runtime.settings)), "store": False}
        return load_settings({}, overrides={**base, "admin_token": ADMIN, **overrides})

    def load(settings, metrics):
        embedder = Embedder.load(settings.embedding, model_cache_path(settings))
        return Runtime.from_models(settings, runtime.analyzer, embedder, metrics=metrics)

    first = Runtime.from_models(source({}), runtime.analyzer, runtime.embedder)
    slot = RuntimeSlot(first)
    reloader = Reloader(slot, source, load)
    server = LiveServer(slot, reloader)
    yield server, slot, reloader
    server.close()
    slot.close()


def test_a_stream_finishes_on_the_old_runtime_and_the_next_gets_the_new(reloading):
    """Reload to another max_length mid-stream: the stream's rows are the old runtime's,
    the next request gets the new fingerprint and values; /readyz stays 200 meanwhile."""
    server, slot, _ = reloading
    old = slot.current
    old_fp = old.fingerprint.for_set("embeddings")
    client = fl.connect(server.flight_url)
    command = json.dumps({"type": "extract.v1", "feature_set": "embeddings"})
    writer, reader = client.do_exchange(fl.FlightDescriptor.for_command(command))
    first = essays_table([("a", LONG, "School")])
    second = essays_table([("b", LONG, "School")])
    ready_codes: list[int] = []
    reloaded: dict = {}

    def watch_readiness() -> None:
        def polled() -> bool:
            ready_codes.append(httpx.get(f"{server.http_url}/readyz", timeout=30).status_code)
            return "state" in reloaded

        wait_for(polled, 300)

    with writer:
        writer.begin(first.schema)
        writer.write_batch(first.to_batches()[0])
        before = reader.read_chunk().data
        watcher = threading.Thread(target=watch_readiness)
        watcher.start()
        reloaded.update(reload_action(server.flight_url, embedding_max_length=64))
        watcher.join(timeout=300)
        assert reloaded["state"] == "ok", reloaded
        assert slot.current is not old and slot.retired == 1  # the stream still holds it
        writer.write_batch(second.to_batches()[0])
        after = reader.read_chunk().data
        writer.done_writing()
        assert reader.read_all().num_rows == 0
    client.close()
    # the stream began and ended under the old fingerprint, with the old values
    assert reader.schema.metadata[META_FINGERPRINT].decode() == old_fp
    old_vector = before.column("embedding").values.to_numpy()
    assert np.array_equal(after.column("embedding").values.to_numpy(), old_vector)
    assert ready_codes and set(ready_codes) == {200}
    assert reloaded["fingerprint_before"] == old.fingerprint.fingerprint
    assert reloaded["changed"] == ["embedding_max_length"]
    # the old runtime closed with its last stream (the metrics registry carried over)
    assert slot.retired == 0
    assert slot.current.metrics is old.metrics
    # the next request: new fingerprint, new values (64 tokens instead of 512)
    new_fp = slot.current.fingerprint.for_set("embeddings")
    assert (
        new_fp != old_fp and reloaded["fingerprint_after"] == slot.current.fingerprint.fingerprint
    )
    client = fl.connect(server.flight_url)
    writer, reader = client.do_exchange(fl.FlightDescriptor.for_command(command))
    with writer:
        writer.begin(first.schema)
        writer.write_batch(first.to_batches()[0])
        fresh = reader.read_chunk().data
        writer.done_writing()
    client.close()
    assert reader.schema.metadata[META_FINGERPRINT].decode() == new_fp
    assert not np.allclose(fresh.column("embedding").values.to_numpy(), old_vector)
    config = httpx.get(f"{server.http_url}/v1/config").json()
    assert config["reload"]["state"] == "ok" and config["settings"]["embedding_max_length"] == 64
    assert (
        httpx.get(f"{server.http_url}/v1/fingerprint").json()["fingerprint"]
        == (reloaded["fingerprint_after"])
    )
    assert 'hemma_reloads_total{outcome="ok"} 1.0' in httpx.get(f"{server.http_url}/metrics").text


def test_a_failed_reload_keeps_the_old_runtime_and_says_why(reloading):
    """A model that cannot load: the action answers the error, the old fingerprint serves,
    /readyz is 200 but degraded naming the failure, /v1/config shows it."""
    server, slot, _ = reloading
    old = slot.current
    status = reload_action(server.flight_url, embedding_model="/nonexistent/model")
    assert status["state"] == "failed" and "/nonexistent/model" in status["error"]
    assert slot.current is old
    ready = httpx.get(f"{server.http_url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    assert any("last reload (action) failed" in item for item in ready.json()["degraded"])
    assert httpx.get(f"{server.http_url}/v1/config").json()["reload"]["state"] == "failed"
    from tests.integration.test_flight import exchange

    [batch] = exchange(server.flight_url, essays_table([("x", "A short essay.", "p")]))
    assert batch.num_rows == 1  # still served, by the old runtime


def test_restart_only_settings_are_refused_naming_them(reloading):
    """A port cannot move in a reload: nothing changes and the status names the setting."""
    server, slot, _ = reloading
    old = slot.current
    status = reload_action(server.flight_url, http_port=1234, embedding_max_length=128)
    assert status["state"] == "failed"
    assert "http_port changed, which only a restart applies" in status["error"]
    assert slot.current is old


def test_the_reload_action_needs_the_admin_token(reloading, live_server):
    """A wrong token is refused; a server without HEMMA_ADMIN_TOKEN has the action off."""
    server, slot, _ = reloading
    old = slot.current
    with pytest.raises(fl.FlightUnauthorizedError, match="admin token"):
        reload_action(server.flight_url, token="wrong-token-wrong-token")
    assert slot.current is old
    with pytest.raises(fl.FlightUnauthorizedError, match="HEMMA_ADMIN_TOKEN"):
        reload_action(live_server.flight_url)
    actions = {a.type for a in fl.connect(live_server.flight_url).list_actions()}
    assert "reload" in actions


def test_a_store_fault_outlives_a_reload(runtime, tmp_path, monkeypatch):
    """The store's health lives with the stores, which a reload keeps: a store that cannot
    write stays reported as degraded after the runtime is replaced, until a write succeeds."""
    import errno

    from hemma_features import FeatureClient
    from hemma_features.engine.composition import Engine
    from hemma_features.engine.storage import Stores

    def source(overrides):
        base = {"model_cache_dir": str(model_cache_path(runtime.settings))}
        return load_settings({}, overrides={**base, "store_dir": str(tmp_path), **overrides})

    def load(settings, metrics):
        return Runtime.from_models(settings, runtime.analyzer, runtime.embedder, metrics=metrics)

    first = load(source({}), None)
    slot = RuntimeSlot(first)
    engine = Engine(slot, Stores(first.settings), Reloader(slot, source, load))
    server = LiveServer(engine)
    store = engine.stores.store
    assert store is not None
    original = store.add

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    try:
        monkeypatch.setattr(store, "add", full)
        with FeatureClient(server.http_url) as client:
            client.extract(essays_table([("a", LONG, "School")]), feature_set="embeddings")

        def degraded() -> list[str]:
            body = httpx.get(f"{server.http_url}/readyz", timeout=30).json()
            return body.get("degraded") or []

        assert any(str(tmp_path) in reason for reason in degraded())
        status = engine.reloader.reload("test", {"micro_batch_rows": 8})
        assert status.state == "ok" and slot.current is not first
        assert any(str(tmp_path) in reason for reason in degraded())  # survived the reload
        monkeypatch.setattr(store, "add", original)
        with FeatureClient(server.http_url) as client:
            again = essays_table([("b", "Another essay.", "School")])
            client.extract(again, feature_set="embeddings")
        assert degraded() == []
    finally:
        server.close()
        slot.close()
