"""Every Flight verb, with and without the token: an answer or a documented error, never a
traceback (pyarrow answers a verb a server leaves undefined with its own traceback)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.flight as fl
import pytest

from hemma_features.contract import ExtractCommand, encode_command
from hemma_features.engine.runtime import Runtime
from tests.conftest import essays_table, settings_for_tests
from tests.servers import LiveServer

TOKEN = "s3cret-token-for-tests-0123456789"
FORBIDDEN = ("Traceback", ".py", ".pyx", "NotImplementedError")
DOCUMENTED = (
    pa.ArrowInvalid,  # INVALID_ARGUMENT
    pa.ArrowKeyError,  # NOT_FOUND
    fl.FlightUnauthenticatedError,
    fl.FlightUnauthorizedError,
    fl.FlightUnavailableError,
    fl.FlightServerError,  # fingerprint_mismatch
)
ESSAYS = essays_table([("a", "One short essay.", "p"), ("b", "Another one here.", "p")])


@pytest.fixture(scope="module")
def server(runtime, tmp_path_factory):
    """A server with the token and a store (datasets, so every verb has something to do)."""
    settings = settings_for_tests(auth_token=TOKEN, store_dir=str(tmp_path_factory.mktemp("store")))
    live = LiveServer(Runtime.from_models(settings, runtime.analyzer, runtime.embedder))
    yield live
    live.close()


def command(feature_set: str = "handcrafted", **fields: Any) -> fl.FlightDescriptor:
    return fl.FlightDescriptor.for_command(
        encode_command(ExtractCommand(feature_set=feature_set, **fields))  # type: ignore[arg-type]
    )


def calls(client: fl.FlightClient, options: fl.FlightCallOptions) -> dict[str, Callable[[], Any]]:
    """Each verb with good and bad arguments (names say which)."""

    def put(name: str) -> Any:
        writer, metadata = client.do_put(fl.FlightDescriptor.for_path(name), ESSAYS.schema, options)
        with writer:
            writer.write_table(ESSAYS)
            writer.done_writing()
            return metadata.read()

    def exchange(descriptor: fl.FlightDescriptor) -> Any:
        writer, reader = client.do_exchange(descriptor, options)
        with writer:
            writer.begin(ESSAYS.schema)
            writer.write_table(ESSAYS)
            writer.done_writing()
            return reader.read_all()

    def get(name: str) -> Any:
        info = client.get_flight_info(fl.FlightDescriptor.for_path(name, "handcrafted"), options)
        return client.do_get(info.endpoints[0].ticket, options).read_all()

    path = fl.FlightDescriptor.for_path
    return {
        "do_put": lambda: put("verbs"),
        "do_put bad path": lambda: put(""),
        "list_flights": lambda: list(client.list_flights(options=options)),
        "get_flight_info": lambda: client.get_flight_info(path("verbs", "handcrafted"), options),
        "get_flight_info missing": lambda: client.get_flight_info(
            path("nope", "combined"), options
        ),
        "get_flight_info bad set": lambda: client.get_flight_info(path("verbs", "all"), options),
        "get_flight_info command": lambda: client.get_flight_info(command(), options),
        "get_schema": lambda: client.get_schema(path("verbs", "combined"), options),
        "get_schema command": lambda: client.get_schema(command("embeddings"), options),
        "get_schema missing": lambda: client.get_schema(path("nope", "combined"), options),
        "get_schema bad path": lambda: client.get_schema(path("verbs"), options),
        "get_schema bad command": lambda: client.get_schema(
            fl.FlightDescriptor.for_command(b"{"), options
        ),
        "get_schema stale": lambda: client.get_schema(command(fingerprint="0" * 64), options),
        "do_get": lambda: get("verbs"),
        "do_get bad ticket": lambda: client.do_get(fl.Ticket(b"not a ticket"), options).read_all(),
        "do_exchange": lambda: exchange(command()),
        "do_exchange path": lambda: exchange(path("verbs")),
        "list_actions": lambda: list(client.list_actions(options)),
        "do_action health": lambda: list(client.do_action(fl.Action("health", b""), options)),
        "do_action unknown": lambda: list(client.do_action(fl.Action("nope", b""), options)),
        "do_action reload": lambda: list(client.do_action(fl.Action("reload", b"{}"), options)),
        "handshake": lambda: client.authenticate_basic_token(b"user", b"password", options),
    }


def outcomes(
    client: fl.FlightClient, options: fl.FlightCallOptions
) -> dict[str, BaseException | None]:
    found: dict[str, BaseException | None] = {}
    for name, call in calls(client, options).items():
        try:
            call()
        except Exception as exc:  # every failure is checked below
            found[name] = exc
        else:
            found[name] = None
    return found


def test_every_verb_answers_or_fails_with_a_documented_error_and_no_traceback(server):
    """With the token: answers where the arguments are good; documented errors with the
    server's message where they are not, none carrying a traceback or a source path."""
    client = fl.connect(server.flight_url)
    options = fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {TOKEN}".encode())])
    found = outcomes(client, options)
    failed = {name: exc for name, exc in found.items() if exc is not None}
    assert {name for name in found if found[name] is None} >= {
        "do_put", "list_flights", "get_flight_info", "get_schema", "get_schema command",
        "do_get", "do_exchange", "list_actions", "do_action health",
    }  # fmt: skip
    for name, exc in failed.items():
        message = str(exc)
        assert not any(word in message for word in FORBIDDEN), (name, message)
        # get_schema sends UNKNOWN where the others send a Flight status (flight/errors.py)
        unknown = name.startswith("get_schema") and type(exc) is pa.ArrowException
        assert isinstance(exc, DOCUMENTED) or unknown or name == "handshake", (name, exc)
    # Handshake never reaches Python without an auth handler (the token is a bearer header
    # on every call): gRPC's own answer, UNIMPLEMENTED with a plain message
    assert isinstance(failed["handshake"], pa.ArrowNotImplementedError)
    assert "does not have an authentication mechanism" in str(failed["handshake"])
    assert isinstance(failed["get_schema missing"], pa.ArrowKeyError)
    assert "no dataset" in str(failed["get_schema missing"])
    assert isinstance(failed["get_schema bad path"], pa.ArrowInvalid)
    assert "get_schema needs a path descriptor" in str(failed["get_schema bad path"])
    # pyarrow's get_schema handler cannot send a Flight status: the code is in the message
    assert "fingerprint mismatch" in str(failed["get_schema stale"])
    assert "(fingerprint_mismatch; correlation id " in str(failed["get_schema stale"])
    client.close()


def test_the_schema_answers_are_the_schemas_the_streams_carry(server):
    """get_schema of a command is do_exchange's schema; of a dataset, do_get's."""
    client = fl.connect(server.flight_url)
    options = fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {TOKEN}".encode())])
    found = calls(client, options)
    found["do_put"]()
    assert client.get_schema(command(), options).schema.equals(
        found["do_exchange"]().schema, check_metadata=True
    )
    by_path = fl.FlightDescriptor.for_path("verbs", "handcrafted")
    assert client.get_schema(by_path, options).schema.equals(
        found["do_get"]().schema, check_metadata=True
    )
    client.close()


def test_every_verb_without_the_token_is_unauthenticated_without_a_traceback(server):
    """No token: every verb, whatever its arguments, is Unauthenticated naming the header."""
    client = fl.connect(server.flight_url)
    found = outcomes(client, fl.FlightCallOptions())
    for name, exc in found.items():
        # pyarrow's client raises get_schema's UNAUTHENTICATED as a plain OSError
        plain = name.startswith("get_schema") and type(exc) is OSError
        assert isinstance(exc, fl.FlightUnauthenticatedError) or plain, (name, exc)
        assert "Bearer" in str(exc) and not any(w in str(exc) for w in FORBIDDEN), (name, exc)
    client.close()
