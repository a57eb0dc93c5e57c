"""Hypothesis fuzzing of both planes: generated requests to every Flight verb and HTTP route.

Every reply is either the answer the contract predicts or one of the documented error
classes (INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE with an ``ErrorInfo``, Failed for a
fingerprint mismatch), never INTERNAL, never a traceback or a server path; HTTP answers
only documented statuses, never 500, with JSON error bodies. The expected outcome of each
input comes from the contract's own rules (``hemma_features.contract``), run client side.
Most generated inputs are malformed and fail validation fast; a few are valid and are
computed for real. The last test checks the count and that both servers still serve.

Bugs the fuzzing found are pinned by the regression tests near the end of the file (an
exchange ended before its schema, replies echoing huge inputs, HTML pages under /schema),
and replies bounded in bytes, not characters, so non-ASCII echoes keep their status too.
``HEMMA_FUZZ_SEED=<int>`` draws another reproducible sample and
``HEMMA_FUZZ_SCALE=<n>`` runs n times as many cases, for a deeper look now and then.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import string
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.flight as fl
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from hemma_features.contract import (
    FEATURE_SETS,
    ContractError,
    ShardTicket,
    as_input_batch,
    check_input_batch,
    check_input_schema,
    decode_command,
    decode_error_info,
    decode_ticket,
)
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.settings_env import settings_of
from tests.conftest import REPO, SAMPLES, essays_table, wait_for
from tests.servers import LiveServer

MAX_ITEMS = 4
MAX_TEXT_CHARS = 300
SHARD_ROWS = 2
TIMEOUT = 60.0  # seconds per Flight call: a hang bound only
INPUT_NAMES = ("essay_id", "text", "prompt")
ROUTES = ("/healthz", "/readyz", "/v1/config", "/v1/fingerprint", "/v1/features", "/metrics")
DOC_PAGES = ("/schema", "/schema/openapi.json", "/schema/openapi.yaml", "/schema/swagger")
NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # README / DatasetStore docstring
FORBIDDEN = ("Traceback", '.py"')

EXAMPLES: Counter[str] = Counter()  # generated cases run, by test
OUTCOMES: Counter[tuple[str, str]] = Counter()  # (test, ok / invalid / not_found / ...)
FUZZ_TESTS = 10  # the @given tests below; the last test needs all of them to have run

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


SEED = os.environ.get("HEMMA_FUZZ_SEED")  # unset: the derandomized sample, the same every run
SCALE = int(os.environ.get("HEMMA_FUZZ_SCALE", "1"))  # more cases per test, for a deeper look


def fuzz(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The shared settings with this test's number of generated cases (times SCALE), and
    HEMMA_FUZZ_SEED's sample instead of the derandomized one when it is set."""

    def decorate(test: Callable[..., None]) -> Callable[..., None]:
        test = settings(FUZZ, max_examples=examples * SCALE, derandomize=SEED is None)(test)
        return test if SEED is None else seed(int(SEED))(test)

    return decorate


# -- servers ----------------------------------------------------------------------------


class Fuzzed:
    """The fuzzed server, a client on it and what is known to be stored there."""

    def __init__(self, server: LiveServer, store: Path) -> None:
        self.server = server
        self.store = store
        self.runtime = server.runtime
        self.client = fl.connect(server.flight_url)
        self.names: dict[str, int] = {}  # dataset name -> rows, as last uploaded
        self.hashes: dict[str, int] = {}  # content hash -> rows

    def put(self, name: str, table: pa.Table) -> dict[str, Any]:
        writer, metadata = self.client.do_put(
            fl.FlightDescriptor.for_path(name), table.schema, options=options()
        )
        with writer:
            for batch in table.to_batches():
                writer.write_batch(batch)
            writer.done_writing()
            answer = metadata.read()
        assert answer is not None, "do_put finished without its reply"
        entry = json.loads(answer.to_pybytes())
        self.names[entry["name"]] = entry["rows"]
        self.hashes[entry["sha256"]] = entry["rows"]
        return entry


@pytest.fixture(scope="module")
def fuzzed(runtime, tmp_path_factory):
    """A server with a dataset store and small limits (4 rows, 300 characters), with two
    datasets uploaded: ``base`` (3 rows) and ``Base.2_x-y`` (1 row)."""
    store = tmp_path_factory.mktemp("fuzz-store")
    settings_ = settings_of(
        store_dir=str(store),
        max_items=MAX_ITEMS,
        max_text_chars=MAX_TEXT_CHARS,
        shard_rows=SHARD_ROWS,
        batch_rows=2,
    )
    server = LiveServer(Runtime.from_models(settings_, runtime.analyzer, runtime.embedder))
    fuzzed = Fuzzed(server, store)
    rows = [
        ("b1", "Phones help us learn at school.", "Phones"),
        ("b2", "School should start later in the day.", "School hours"),
        ("b3", "Dogs are loyal friends.", ""),
    ]
    fuzzed.put("base", essays_table(rows))
    fuzzed.put("Base.2_x-y", essays_table(rows[:1]))
    yield fuzzed
    fuzzed.client.close()
    server.close()


@pytest.fixture(scope="module")
def plain(live_server):
    """A Flight client on the session server, which keeps no datasets."""
    client = fl.connect(live_server.flight_url)
    yield client
    client.close()


# -- checks -----------------------------------------------------------------------------


def options(headers: list[tuple[bytes, bytes]] | None = None) -> fl.FlightCallOptions:
    """Call options with the hang bound and the given headers."""
    return fl.FlightCallOptions(timeout=TIMEOUT, headers=headers or [])


def server_paths(fuzzed: Fuzzed | None = None) -> list[str]:
    """File paths of the server that must never reach a reply."""
    paths = [str(REPO), sys.prefix, str(Path(pa.__file__).parent)]
    if fuzzed is not None:
        paths.append(str(fuzzed.store))
    return paths


def assert_clean(message: str, echoes: tuple[object, ...], paths: list[str]) -> None:
    """No traceback and no server path in ``message`` once the caller's own input
    (echoed as is or as a repr) is taken out."""
    for echo in sorted((str(e) for e in echoes if e is not None), key=len, reverse=True):
        for form in (repr(echo)[1:-1], echo):
            if form:
                message = message.replace(form, "")
    for bad in (*FORBIDDEN, *paths):
        assert bad not in message, f"reply carries {bad!r}: {message[:2000]}"


def flight_outcome(
    call: Callable[[], Any], echoes: tuple[object, ...] = (), paths: list[str] | None = None
) -> tuple[str, Any]:
    """``("ok", result)`` or ``(kind, error)`` for a documented error; fail otherwise.

    kind: ``invalid`` (INVALID_ARGUMENT), ``not_found`` (NOT_FOUND), ``unavailable``
    (UNAVAILABLE from this server: it carries an ErrorInfo), ``mismatch`` (Failed with
    code fingerprint_mismatch) or ``denied`` (Unauthorized, code permission_denied).
    """
    try:
        return "ok", call()
    except fl.FlightInternalError as exc:
        raise AssertionError(f"INTERNAL (a server bug): {exc}") from exc
    except fl.FlightUnauthorizedError as exc:
        assert_clean(str(exc), echoes, paths if paths is not None else server_paths())
        info = decode_error_info(exc.extra_info)
        assert info is not None and info.code == "permission_denied", f"Unauthorized: {exc}"
        return "denied", exc
    except (pa.ArrowInvalid, KeyError, fl.FlightUnavailableError, fl.FlightServerError) as exc:
        message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        assert_clean(message, echoes, paths if paths is not None else server_paths())
        assert "resource exhausted" not in message, f"reply over the metadata limit: {exc}"
        if isinstance(exc, pa.ArrowInvalid):
            return "invalid", exc
        if isinstance(exc, KeyError):
            return "not_found", exc
        info = decode_error_info(exc.extra_info)
        if isinstance(exc, fl.FlightUnavailableError):
            assert info is not None, f"UNAVAILABLE without ErrorInfo (server gone?): {exc}"
            return "unavailable", exc
        assert info is not None and info.code == "fingerprint_mismatch", f"Failed: {exc}"
        return "mismatch", exc


def count(name: str) -> None:
    """One more generated case run by test ``name``."""
    EXAMPLES[name] += 1


def tally(name: str, kind: str) -> None:
    OUTCOMES[name, kind] += 1


# -- strategies -------------------------------------------------------------------------

WORDS = (
    "phones school students learn teachers because however the a of and should start "
    "later day dogs loyal friends essay argument evidence reason première naïve café "
    "über 😀 don't it's well-known 42 3.5 e.g. U.S."
).split()
BAD_UTF8 = (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80", b"\xe2\x82")
WHITESPACE = " \t\n\r\x0b\x0c\u00a0\u2028\u3000"

no_surrogates = st.characters(exclude_categories=("Cs",))
unicode_text = st.text(alphabet=no_surrogates, max_size=40)
long_text = st.builds(lambda char, n: char * n, no_surrogates, st.integers(1000, 20_000))
long_ascii = st.builds(
    lambda char, n: char * n,
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    st.integers(1000, 20_000),
)  # long printable ASCII, beside long_text's any characters
printable = st.text(alphabet=string.printable[:95], max_size=40)  # printable ASCII and space
sentences = st.lists(st.sampled_from(WORDS), min_size=1, max_size=40).map(
    lambda words: (" ".join(words) + ".")[:MAX_TEXT_CHARS]
)
valid_ids = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "-_.é ", min_size=1, max_size=16),
    st.integers(200, 20_000).map(lambda n: "id-" + "9" * n),  # huge ids
)
invalid_utf8 = st.builds(
    lambda prefix, bad, suffix: prefix.encode() + bad + suffix.encode(),
    st.text(alphabet=string.ascii_letters, max_size=5),
    st.sampled_from(BAD_UTF8),
    st.text(alphabet=string.ascii_letters, max_size=5),
)
bad_cells = {
    "essay_id": st.sampled_from([None, ""]),
    "text": st.one_of(
        st.sampled_from([None, ""]),
        st.text(alphabet=WHITESPACE, min_size=1, max_size=20),
        st.integers(MAX_TEXT_CHARS + 1, MAX_TEXT_CHARS + 60).map(lambda n: ("word " * n)[:n]),
        unicode_text,  # valid or not, the rules decide
    ),
    "prompt": st.just(None),
}
valid_cells = {
    "essay_id": valid_ids,
    "text": st.one_of(
        sentences,
        sentences,
        st.text(alphabet=no_surrogates, min_size=1, max_size=MAX_TEXT_CHARS),  # any text
        st.builds(lambda char, n: char * n, no_surrogates, st.integers(1, MAX_TEXT_CHARS)),
    ),  # the rules decide: a blank one is refused, anything else is computed
    "prompt": unicode_text,
}
headers = st.lists(
    st.tuples(
        st.sampled_from([b"x-correlation-id", b"authorization", b"x-fuzz"]),
        st.text(alphabet=string.printable[:95], max_size=160).map(str.encode),
    ),
    max_size=2,
)  # gRPC metadata: printable ASCII only (pyarrow aborts the process on anything else)


def string_array(values: list[str | bytes | None], type_: pa.DataType) -> pa.Array:
    """A string array from str, raw bytes (maybe invalid UTF-8) and None, built unchecked."""
    data = bytearray()
    offsets = [0]
    for value in values:
        data += value.encode() if isinstance(value, str) else (value or b"")
        offsets.append(len(data))
    width = pa.int64() if type_ == pa.large_string() else pa.int32()
    valid = [value is not None for value in values]
    validity = None if all(valid) else pa.array(valid, pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(
        type_,
        len(values),
        [validity, pa.array(offsets, width).buffers()[1], pa.py_buffer(bytes(data))],
    )


WRONG_TYPES = (
    "int64", "binary", "null", "list", "struct", "dictionary", "string_view", "float64", "bool",
)  # fmt: skip


def wrong_column(kind: str, rows: int) -> pa.Array:
    """A column of ``rows`` values of a type the input schema does not allow."""
    text = [f"v{i}" for i in range(rows)]
    match kind:
        case "int64":
            return pa.array(range(rows), pa.int64())
        case "binary":
            return pa.array([t.encode() for t in text], pa.binary())
        case "null":
            return pa.nulls(rows)
        case "list":
            return pa.array([[t] for t in text], pa.list_(pa.string()))
        case "struct":
            return pa.array([{"a": t} for t in text], pa.struct([("a", pa.string())]))
        case "dictionary":
            return pa.array(text, pa.string()).dictionary_encode()
        case "string_view":
            return pa.array(text, pa.string_view())
        case "float64":
            return pa.array([float(i) for i in range(rows)], pa.float64())
    return pa.array([bool(i % 2) for i in range(rows)], pa.bool_())


class Input:
    """A generated upload: its schema, its batches and what it is for the log."""

    def __init__(self, schema: pa.Schema, batches: list[pa.RecordBatch], mode: str) -> None:
        self.schema = schema
        self.batches = batches
        self.mode = mode

    def __repr__(self) -> str:
        return f"Input({self.mode}, {self.schema}, {[b.to_pydict() for b in self.batches]})"

    def ids(self) -> list[Any]:
        """Values of every ``essay_id`` column, invalid UTF-8 replaced (for messages)."""
        values: list[Any] = []
        for batch in self.batches:
            for index in batch.schema.get_all_field_indices("essay_id"):
                column = batch.column(index)
                if column.type in (pa.string(), pa.large_string()):
                    raw = column.cast(pa.large_binary()).to_pylist()
                    values += [v if v is None else v.decode(errors="replace") for v in raw]
                else:
                    values += column.to_pylist()
        return values


@st.composite
def inputs(draw: st.DrawFn) -> Input:
    """Mostly malformed essay tables (schema, rows, UTF-8, limits, empty), some valid."""
    mode = draw(st.sampled_from(["valid", "schema", "schema", "rows", "rows", "utf8", "limits",
                                 "empty"]))  # fmt: skip
    rows = {
        "valid": draw(st.integers(1, MAX_ITEMS)),
        "limits": draw(st.integers(1, MAX_ITEMS + 2)),
        "empty": 0,
    }.get(mode, draw(st.integers(1, 3)))
    cells = {name: [draw(valid_cells[name]) for _ in range(rows)] for name in INPUT_NAMES}
    types = {name: draw(st.sampled_from(["string", "string", "large_string"])) for name in cells}
    if mode == "rows":
        for _ in range(draw(st.integers(1, 2))):
            name = draw(st.sampled_from(INPUT_NAMES))
            cells[name][draw(st.integers(0, rows - 1))] = draw(bad_cells[name])
    elif mode == "utf8":
        name = draw(st.sampled_from(INPUT_NAMES))
        cells[name][draw(st.integers(0, rows - 1))] = draw(invalid_utf8)
    elif mode == "limits" and draw(st.booleans()):
        cells["text"][draw(st.integers(0, rows - 1))] = draw(bad_cells["text"])
    elif mode == "schema":
        for name in draw(st.sets(st.sampled_from(INPUT_NAMES), min_size=1)):
            types[name] = draw(st.sampled_from(["missing", *WRONG_TYPES]))
    fields, columns = [], []
    for name in INPUT_NAMES:
        kind = types[name]
        if kind == "missing":
            continue
        if kind in ("string", "large_string"):
            column = string_array(cells[name], getattr(pa, kind)())
        else:
            column = wrong_column(kind, rows)
        fields.append(pa.field(name, column.type))
        columns.append(column)
    for _ in range(draw(st.integers(0, 2))):  # extra columns, maybe named like an input one
        name = draw(st.one_of(st.sampled_from(["extra", "score", *INPUT_NAMES]), unicode_text))
        column = wrong_column(draw(st.sampled_from(WRONG_TYPES)), rows)
        fields.append(pa.field(name, column.type))
        columns.append(column)
    order = draw(st.permutations(range(len(fields))))
    metadata = draw(
        st.one_of(
            st.none(), st.dictionaries(st.binary(max_size=8), st.binary(max_size=8), max_size=2)
        )
    )
    schema = pa.schema([fields[i] for i in order], metadata=metadata)
    columns = [columns[i] for i in order]
    bounds = [0, *sorted(draw(st.lists(st.integers(0, rows), max_size=2))), rows]  # batches
    batches = [
        pa.record_batch([c.slice(start, stop - start) for c in columns], schema=schema)
        for start, stop in zip(bounds, bounds[1:], strict=False)
    ]
    return Input(schema, batches, mode)


def expected_rows(given: Input, *, dataset: bool) -> int | None:
    """Rows the server must answer with, or None when the contract's rules refuse them."""
    try:
        check_input_schema(given.schema)
        rows = 0
        ids: set[str] = set()
        for batch in given.batches:
            if batch.num_rows == 0:
                continue
            if rows + batch.num_rows > MAX_ITEMS:
                return None
            batch = as_input_batch(batch)
            check_input_batch(batch, max_text_chars=MAX_TEXT_CHARS, first_row=rows)
            ids.update(batch.column("essay_id").to_pylist())
            rows += batch.num_rows
    except (ContractError, pa.ArrowInvalid):
        return None
    if dataset and (rows == 0 or len(ids) != rows):  # datasets: not empty, ids unique
        return None
    return rows


MISSING = object()  # a field left out
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | unicode_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(unicode_text, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def near(draw: st.DrawFn, right: dict[str, Any], wrong: dict[str, Any]) -> dict[str, Any]:
    """A JSON object near a valid one: none, one or two fields wrong or missing, sometimes
    an unknown field."""
    broken = draw(st.sampled_from([0, 0, 1, 1, 1, 2]))
    fields = draw(st.permutations(sorted(right)))
    value = {}
    for index, field in enumerate(fields):
        if index < broken:
            drawn = draw(st.one_of(st.just(MISSING), wrong[field]))
        else:
            drawn = draw(right[field])
        if drawn is not MISSING:
            value[field] = drawn
    if draw(st.integers(0, 7)) == 0:
        value[draw(st.sampled_from(["extra", "kind", "Type", ""]))] = draw(json_values)
    return value


command_json = near(
    right={
        "type": st.just("extract.v1"),
        "feature_set": st.sampled_from(FEATURE_SETS),
        "fingerprint": st.sampled_from([MISSING, None, "RIGHT", "RIGHT", "OTHER"]),
    },
    wrong={
        "type": st.sampled_from(["extract.v2", "shard.v1", "", "EXTRACT.V1", None, 1]),
        "feature_set": st.one_of(
            st.sampled_from(["all", "Combined", "", None, 0, ["combined"]]), unicode_text
        ),
        "fingerprint": st.one_of(
            st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
            unicode_text,
            long_ascii,
            long_text,
            st.integers(),
            st.just(["RIGHT"]),
        ),
    },
)


def fill_fingerprint(command: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """RIGHT / OTHER stand for this feature set's fingerprint and another set's."""
    fingerprint = command.get("fingerprint")
    feature_set = command.get("feature_set")
    if fingerprint in ("RIGHT", "OTHER"):
        sets = runtime.fingerprint.feature_sets
        if fingerprint == "RIGHT" and isinstance(feature_set, str) and feature_set in sets:
            command["fingerprint"] = sets[feature_set]
        else:
            command["fingerprint"] = (
                sets["embeddings"] if feature_set != "embeddings" else (sets["combined"])
            )
    return command


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, chosen in proportion to its weight."""
    indexes = [index for index, (weight, _) in enumerate(choices) for _ in range(weight)]
    return st.sampled_from(indexes).flatmap(lambda index: choices[index][1])


commands = weighted(
    (4, command_json),
    (1, st.binary(max_size=64)),
    (
        1,
        st.recursive(
            st.none() | st.booleans() | st.integers() | unicode_text,
            lambda inner: st.lists(inner, max_size=3),
            max_leaves=4,
        ).map(lambda value: json.dumps(value).encode()),
    ),
)  # near a valid command, random bytes, random JSON

ODD_NAMES = (
    "base", "Base.2_x-y", "../x", "./x", "x/y", "x\n", "x\r\n", " x", "x ", "", ".hidden", "-x",
    "_x", "x\x00", "names/base", "base.json", "ÅÄÖ", "\u0430dmin", "CON", "x" * 128, "x" * 129,
)  # fmt: skip
names = st.one_of(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True),
    st.sampled_from(ODD_NAMES),
    st.integers(120, 20_000).map(lambda n: "n" * n),
    unicode_text,
)  # dataset names: allowed, odd (traversal, newline, boundary lengths), long, any text


# -- do_exchange ------------------------------------------------------------------------


def exchange(
    client: fl.FlightClient,
    command: bytes,
    given: Input,
    headers: list[tuple[bytes, bytes]],
    ending: str = "batches",
) -> pa.Table:
    """Stream ``given`` through do_exchange and read every feature batch; with ``ending``
    "none" the stream ends before declaring a schema, with "metadata" it sends only app
    metadata."""
    writer, reader = client.do_exchange(
        fl.FlightDescriptor.for_command(command), options=options(headers)
    )
    with writer:
        if ending == "batches":
            writer.begin(given.schema)
            for batch in given.batches:
                writer.write_batch(batch)
        elif ending == "metadata":
            writer.write_metadata(pa.py_buffer(b"no schema, no batch"))
        writer.done_writing()
        return reader.read_all()


def one_essay() -> Input:
    """One valid essay (computed once, then served from the feature store)."""
    table = essays_table([("e1", "Phones help us learn at school.", "Phones")])
    return Input(table.schema, table.to_batches(), "valid")


@fuzz(150)
@given(
    command=commands,
    ending=st.sampled_from(["batches"] * 4 + ["none", "metadata"]),
    feature_headers=headers,
)
def test_exchange_commands_get_only_documented_errors(fuzzed, command, ending, feature_headers):
    """Commands are served as the contract decodes them, else refused; no schema is invalid."""
    count("exchange_commands")
    if isinstance(command, dict):
        command = json.dumps(fill_fingerprint(dict(command), fuzzed.runtime)).encode()
    try:
        decoded = decode_command(command)
    except ContractError:
        decoded = None
    kind, answer = flight_outcome(
        lambda: exchange(fuzzed.client, command, one_essay(), feature_headers, ending),
        (command.decode(errors="replace"),),
        server_paths(fuzzed),
    )
    tally("exchange_commands", kind)
    if decoded is None:
        assert kind == "invalid", (kind, answer)
    elif decoded.fingerprint not in (None, fuzzed.runtime.fingerprint_for(decoded.feature_set)):
        assert kind == "mismatch", (kind, answer)
    elif ending != "batches":
        assert kind == "invalid", (kind, answer)
    else:
        assert kind == "ok", answer
        assert answer.column("essay_id").to_pylist() == ["e1"]
        meta = answer.schema.metadata
        assert meta[b"hemma.fingerprint"].decode() == fuzzed.runtime.fingerprint_for(
            decoded.feature_set
        )


@fuzz(260)
@given(given_input=inputs(), feature_set=st.sampled_from(FEATURE_SETS), feature_headers=headers)
def test_exchange_inputs_follow_the_input_rules(fuzzed, given_input, feature_set, feature_headers):
    """Tables come back row for row when the input rules accept them, else INVALID_ARGUMENT."""
    count("exchange_inputs")
    rows = expected_rows(given_input, dataset=False)
    command = json.dumps({"type": "extract.v1", "feature_set": feature_set}).encode()
    kind, answer = flight_outcome(
        lambda: exchange(fuzzed.client, command, given_input, feature_headers),
        tuple(str(v) for v in given_input.ids()),
        server_paths(fuzzed),
    )
    tally("exchange_inputs", kind)
    if rows is None:
        assert kind == "invalid", (kind, answer)
    else:
        assert kind == "ok", answer
        assert answer.num_rows == rows
        assert answer.column("essay_id").to_pylist() == given_input.ids()
        assert answer.schema.equals(fuzzed.runtime.schema(feature_set), check_metadata=True)


# -- do_put and get_flight_info ---------------------------------------------------------


@fuzz(200)
@given(
    name=names,
    given_input=st.one_of(inputs(), st.just(None)),
    descriptor_kind=st.sampled_from(["path"] * 8 + ["two", "none", "command"]),
)
def test_put_follows_the_name_and_input_rules(fuzzed, name, given_input, descriptor_kind):
    """Uploads are stored iff name and rows are allowed; get_flight_info then finds them."""
    count("put")
    given_input = given_input or one_essay()
    descriptor = {
        "path": lambda: fl.FlightDescriptor.for_path(name),
        "two": lambda: fl.FlightDescriptor.for_path(name, "x"),
        "none": lambda: fl.FlightDescriptor.for_path(),
        "command": lambda: fl.FlightDescriptor.for_command(name.encode()),
    }[descriptor_kind]()

    def put() -> dict[str, Any]:
        writer, metadata = fuzzed.client.do_put(descriptor, given_input.schema, options=options())
        with writer:
            for batch in given_input.batches:
                writer.write_batch(batch)
            writer.done_writing()
            answer = metadata.read()
        assert answer is not None, "do_put finished without its reply"
        return json.loads(answer.to_pybytes())

    rows = expected_rows(given_input, dataset=True)
    allowed = descriptor_kind == "path" and NAME_RULE.fullmatch(name) is not None
    kind, answer = flight_outcome(
        put, (name, *(str(v) for v in given_input.ids())), server_paths(fuzzed)
    )
    tally("put", kind)
    if rows is None or not allowed:
        assert kind == "invalid", (kind, answer)
        return
    assert kind == "ok", answer
    assert answer["name"] == name and answer["rows"] == rows and len(answer["sha256"]) == 64
    fuzzed.names[name] = rows
    fuzzed.hashes[answer["sha256"]] = rows
    info = fuzzed.client.get_flight_info(
        fl.FlightDescriptor.for_path(name, "handcrafted"), options()
    )
    assert info.total_records == rows
    assert len(info.endpoints) == -(-rows // SHARD_ROWS)


@fuzz(150)
@given(
    parts=weighted(
        (2, st.tuples(st.sampled_from(["base", "Base.2_x-y"]), st.sampled_from(FEATURE_SETS))),
        (2, st.tuples(names, st.one_of(st.sampled_from(FEATURE_SETS), unicode_text))),
        (1, st.lists(names, max_size=3)),
    ),
    command=st.one_of(st.none(), st.binary(max_size=40)),
    feature_headers=headers,
)
def test_flight_info_is_found_or_refused(fuzzed, parts, command, feature_headers):
    """get_flight_info describes uploaded datasets and refuses other descriptors as documented."""
    count("flight_info")
    parts = list(parts)
    if command is not None:
        descriptor = fl.FlightDescriptor.for_command(command)
    else:
        descriptor = fl.FlightDescriptor.for_path(*parts)
    kind, answer = flight_outcome(
        lambda: fuzzed.client.get_flight_info(descriptor, options(feature_headers)),
        tuple(parts),
        server_paths(fuzzed),
    )
    tally("flight_info", kind)
    if command is not None or len(parts) != 2 or parts[1] not in FEATURE_SETS:
        assert kind == "invalid", (kind, answer)
    elif parts[0] not in fuzzed.names:
        assert kind == "not_found", (kind, answer)
    else:
        assert kind == "ok", answer
        assert answer.total_records == fuzzed.names[parts[0]]
        assert [p.decode() for p in answer.descriptor.path] == parts
        for endpoint in answer.endpoints:
            decode_ticket(endpoint.ticket.ticket)


# -- do_get -----------------------------------------------------------------------------


UNKNOWN_HASH = "e" * 64  # well formed, never uploaded
bound_wrong = st.one_of(
    st.sampled_from([-1, -(2**70), 4, 5, 2**31, 2**63 - 1, 2**63, 2**64, 2**70]),
    st.sampled_from(["0", 1.5, None, [0]]),
)
ticket_json = near(
    right={
        "type": st.just("shard.v1"),
        "dataset": st.sampled_from(["BASE", "BASE", "BASE", "OTHER", UNKNOWN_HASH]),
        "name": st.sampled_from(["base", "Base.2_x-y", "x"]),
        "start": st.integers(0, 1),
        "stop": st.integers(1, 3),  # base has 3 rows; another dataset may have fewer
        "feature_set": st.sampled_from(FEATURE_SETS),
        "fingerprint": st.sampled_from(["RIGHT", "RIGHT", "RIGHT", "OTHER"]),
    },
    wrong={
        "type": st.sampled_from(["shard.v2", "extract.v1", "", None, 1]),
        "dataset": st.one_of(
            st.sampled_from(["", "../../etc/passwd", "f" * 65, "F" * 64, 7]),
            st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
            unicode_text,
            long_text,
        ),
        "name": st.one_of(st.integers(), st.none(), names),
        "start": bound_wrong,
        "stop": bound_wrong,
        "feature_set": st.sampled_from(["all", "Combined", "", None, 0]),
        "fingerprint": st.one_of(
            st.sampled_from(["", "0" * 64, None, 5]), unicode_text, long_ascii, long_text
        ),
    },
)
tickets = weighted(
    (4, ticket_json),
    (1, st.binary(max_size=80)),
    (
        1,
        st.dictionaries(unicode_text, json_values, max_size=4).map(
            lambda value: json.dumps(value).encode()
        ),
    ),
)  # near a real ticket, random bytes, random JSON objects


@fuzz(200)
@given(ticket=tickets, feature_headers=headers)
def test_get_serves_or_refuses_tickets(fuzzed, ticket, feature_headers):
    """Tickets are served as the rows they name, or refused: invalid, NOT_FOUND or Failed."""
    count("get")
    if isinstance(ticket, dict):
        ticket = dict(ticket)
        sets = fuzzed.runtime.fingerprint.feature_sets
        hashes = sorted(fuzzed.hashes)
        if ticket.get("dataset") == "BASE":
            ticket["dataset"] = next(h for h, rows in fuzzed.hashes.items() if rows == 3)
        elif ticket.get("dataset") == "OTHER":
            ticket["dataset"] = hashes[-1]
        if ticket.get("fingerprint") == "RIGHT":
            ticket["fingerprint"] = sets.get(str(ticket.get("feature_set")), "")
        elif ticket.get("fingerprint") == "OTHER":
            ticket["fingerprint"] = sets["embeddings" if ticket.get("feature_set") != "embeddings"
                                         else "combined"]  # fmt: skip
        raw = json.dumps(ticket).encode()
    else:
        raw = ticket
    try:
        shard: ShardTicket | None = decode_ticket(raw)
    except ContractError:
        shard = None
    kind, answer = flight_outcome(
        lambda: fuzzed.client.do_get(fl.Ticket(raw), options(feature_headers)).read_all(),
        (raw.decode(errors="replace"),),
        server_paths(fuzzed),
    )
    tally("get", kind)
    if shard is None:
        assert kind == "invalid", (kind, answer)
    elif shard.fingerprint != fuzzed.runtime.fingerprint_for(shard.feature_set):
        assert kind == "mismatch", (kind, answer)
    elif shard.dataset not in fuzzed.hashes:
        assert kind == "not_found", (kind, answer)
    elif not shard.stop <= fuzzed.hashes[shard.dataset]:
        assert kind == "invalid", (kind, answer)
    else:
        assert kind == "ok", answer
        assert answer.num_rows == shard.stop - shard.start
        assert answer.schema.equals(fuzzed.runtime.schema(shard.feature_set))


# -- do_action, list_actions, list_flights ----------------------------------------------


@fuzz(120)
@given(
    action_type=st.one_of(
        st.sampled_from(["health", "fingerprint", "catalogue", "reload"]),
        st.sampled_from(["Health", "health ", "", "list", "shutdown", "../health", "ping"]),
        unicode_text,
        long_text,
    ),
    body=st.binary(max_size=64),
    criteria=st.binary(max_size=32),
    feature_headers=headers,
)
def test_actions_answer_or_refuse(fuzzed, action_type, body, criteria, feature_headers):
    """Known actions answer JSON, others are INVALID_ARGUMENT; listings answer any criteria."""
    count("action")
    client = fuzzed.client
    kind, answer = flight_outcome(
        lambda: list(client.do_action(fl.Action(action_type, body), options(feature_headers))),
        (action_type,),
        server_paths(fuzzed),
    )
    tally("action", kind)
    if action_type == "reload":  # this server has no admin token: the action is off
        assert kind == "denied", (kind, answer)
    elif action_type not in ("health", "fingerprint", "catalogue"):
        assert kind == "invalid", (kind, answer)
    else:
        assert kind == "ok", answer
        [result] = answer
        value = json.loads(result.body.to_pybytes())
        expected = {
            "health": lambda: value == {"status": "ok"},
            "fingerprint": lambda: value["fingerprint"] == fuzzed.runtime.fingerprint.fingerprint,
            "catalogue": lambda: (
                [f["name"] for f in value] == [s.name for s in fuzzed.runtime.catalogue]
            ),
        }[action_type]
        assert expected(), value
    assert {a.type for a in client.list_actions(options(feature_headers))} == {
        "health", "fingerprint", "catalogue", "reload"
    }  # fmt: skip
    listed = list(client.list_flights(criteria, options(feature_headers)))
    assert {info.descriptor.path[0].decode() for info in listed} == set(fuzzed.names)


# -- a server without a store -----------------------------------------------------------


@fuzz(60)
@given(
    verb=st.sampled_from(["put", "info", "get", "list"]),
    name=names,
    ticket=tickets,
    feature_headers=headers,
)
def test_dataset_verbs_without_a_store_are_refused(plain, verb, name, ticket, feature_headers):
    """Without a store, dataset verbs are refused as documented and list_flights is empty."""
    count("no_store")
    if isinstance(ticket, dict):
        ticket = {k: v for k, v in ticket.items() if v not in ("BASE", "OTHER", "RIGHT")}
        raw = json.dumps(ticket).encode()
    else:
        raw = ticket
    table = one_essay()
    calls: dict[str, Callable[[], Any]] = {
        "info": lambda: plain.get_flight_info(
            fl.FlightDescriptor.for_path(name, "combined"), options(feature_headers)
        ),
        "get": lambda: plain.do_get(fl.Ticket(raw), options(feature_headers)).read_all(),
        "list": lambda: list(plain.list_flights(b"", options(feature_headers))),
    }

    def put() -> None:
        writer, metadata = plain.do_put(
            fl.FlightDescriptor.for_path(name), table.schema, options(feature_headers)
        )
        with writer:
            writer.write_batch(table.batches[0])
            writer.done_writing()
            metadata.read()

    calls["put"] = put
    kind, answer = flight_outcome(calls[verb], (name, raw.decode(errors="replace")), server_paths())
    tally("no_store", kind)
    if verb == "list":
        assert kind == "ok" and answer == []
    else:
        assert kind in ("invalid", "not_found", "mismatch"), (kind, answer)


# -- HTTP -------------------------------------------------------------------------------

methods = st.one_of(
    st.sampled_from(["GET"] * 6 + ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"]),
    st.from_regex(r"[A-Z]{1,10}", fullmatch=True),
)
path_suffix = st.text(alphabet=string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%",
                      max_size=12)  # fmt: skip
http_paths = st.one_of(
    st.sampled_from(ROUTES * 3 + DOC_PAGES),
    st.builds(lambda base, suffix: base + suffix, st.sampled_from(ROUTES + ("", "/v1", "/x")),
              path_suffix),
    st.builds(lambda parts: "/" + "/".join(quote(p, safe="") for p in parts),
              st.lists(unicode_text, max_size=3)),
    st.sampled_from(["/", "//", "/../etc/passwd", "/%2e%2e/%2e%2e/", "/v1/config/..",
                     "/healthz%00", "/%ff%fe", "/v1//config", "/HEALTHZ", "/metrics.json",
                     "/schema/", "/schema/nope", "/schema/openapi.json/x", "/schema//x"]),
    st.integers(1000, 20_000).map(lambda n: "/schema/" + "p" * n),
)  # fmt: skip
header_values = st.binary(max_size=40).map(
    lambda raw: bytes(b for b in raw if b >= 0x21 and b != 0x7F or b == 0x20).strip()
)  # what an HTTP client may send: visible ASCII, obs-text, inner spaces
http_headers = st.lists(
    st.tuples(
        st.sampled_from([b"x-correlation-id", b"x-correlation-id", b"authorization", b"accept",
                         b"content-type", b"x-forwarded-for", b"x-fuzz"]),
        st.one_of(header_values, printable.map(lambda s: s.strip().encode())),
    ),
    max_size=3,
    unique_by=lambda item: item[0],
)  # fmt: skip


@pytest.fixture(scope="module")
def http(fuzzed):
    with httpx.Client(base_url=fuzzed.server.http_url, timeout=30) as client:
        yield client


def given_correlation_id(pairs: list[tuple[bytes, bytes]]) -> tuple[str | None, bool]:
    """The correlation id the server must echo (None: it makes one), and whether the
    header is malformed (not printable ASCII: a 400)."""
    for name, value in pairs:
        if name == b"x-correlation-id":
            try:
                text = value.decode("ascii")
            except UnicodeDecodeError:
                return None, True
            if not text.isprintable():
                return None, True
            return (text[:128] or None), False
    return None, False


@st.composite
def http_requests(draw: st.DrawFn) -> tuple[str, str, list[tuple[bytes, bytes]], bytes | None]:
    """(method, path with query, headers, body): a route as documented, or an odd method,
    path or header on one."""
    mode = draw(st.sampled_from(["route", "route", "method", "path", "path", "header"]))
    method = draw(methods) if mode == "method" else "GET"
    path = draw(http_paths) if mode == "path" else draw(st.sampled_from(ROUTES + DOC_PAGES))
    query = draw(st.one_of(st.just(""), st.builds("?{}".format, path_suffix)))
    pairs = draw(http_headers) if mode in ("header", "path") else []
    if mode == "route" and draw(st.booleans()):
        value = draw(st.text(alphabet=string.printable[:95], max_size=300))  # cut at 128
        pairs = [(b"x-correlation-id", value.strip().encode())]
    body = draw(st.one_of(st.none(), st.binary(max_size=64)))
    return method, path + query, pairs, body


@fuzz(320)
@given(request=http_requests())
def test_http_answers_documented_statuses_with_json_errors(http, fuzzed, request):
    """Any request gets a documented status, never 500, with JSON errors and its correlation id."""
    method, path, pairs, body = request
    count("http")
    response = http.request(method, path, headers=pairs, content=body)
    status = response.status_code
    tally("http", str(status))
    echoed, bad_header = given_correlation_id(pairs)
    assert status != 500, response.text
    assert status in (200, 400, 401, 404, 405, 503) or (status == 204 and method == "OPTIONS"), (
        status,
        response.text[:500],
    )
    correlation_id = response.headers.get("x-correlation-id")
    assert correlation_id, response.headers
    if echoed is not None:
        assert correlation_id == echoed
    if bad_header:
        assert status == 400
        assert method == "HEAD" or response.json()["error"] == "bad_header"
    elif method == "GET" and response.url.path in ROUTES:
        assert status == 200, response.text[:500]
    if status >= 300 and method != "HEAD":
        body_json = response.json()
        assert {"error", "detail", "correlation_id"} <= set(body_json), body_json
        assert body_json["correlation_id"] == correlation_id
    if status >= 300:  # a 200 may show paths on purpose (/v1/config shows store_dir)
        echoes = (*(v.decode("latin-1") for _, v in pairs), path)
        assert_clean(response.text, echoes, server_paths(fuzzed))


# -- raw bytes on both ports -----------------------------------------------------------

CRLF = b"\r\n"


@st.composite
def raw_http(draw: st.DrawFn) -> bytes:
    """Bytes an HTTP client library would refuse to send: a request with control or
    non-ASCII bytes in its headers, or a broken request line, version or header."""
    broken = draw(st.sampled_from(["header", "header", "header", "line", "random"]))
    if broken == "random":
        return draw(st.binary(max_size=200))
    method, path, version = (
        b"GET",
        draw(st.sampled_from([*ROUTES, "/nope", "/schema/nope"])).encode(),
        b"HTTP/1.1",
    )
    if broken == "line":
        method = draw(st.sampled_from([b"GET", b"POST", b"HEAD", b"G\x00T", b"", b"\xffGET"]))
        path = draw(st.sampled_from([b"/\xff", b"", b"*", b"/healthz\x01", b"http://x/healthz",
                                     b"/%", b"/healthz#x", b"/a b"]))  # fmt: skip
        version = draw(st.sampled_from([b"HTTP/1.0", b"HTTP/2.0", b"HTTP/9", b"", b"x"]))
    lines = [b" ".join(part for part in (method, path, version) if part), b"Host: 127.0.0.1"]
    for _ in range(draw(st.integers(1, 3))):
        name = draw(
            st.sampled_from(
                [
                    b"x-correlation-id",
                    b"x-correlation-id",
                    b"accept",
                    b"authorization",
                    b"content-length",
                    b"x fuzz",
                    b"\xff",
                ]
            )
        )
        value = draw(st.binary(max_size=20)).replace(b"\r", b"").replace(b"\n", b"")
        lines.append(name + b": " + value)  # fmt: skip
    return CRLF.join(lines) + CRLF + CRLF


def send_raw(port: int, raw: bytes) -> bytes:
    """Send ``raw``, half-close, and read the reply until the server closes (bounded)."""
    reply = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            while len(reply) < 2**20:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass  # refusing garbage by closing the connection is fine
    return reply


@fuzz(60)
@given(
    raw=st.one_of(raw_http(), st.binary(max_size=200)),
    port_kind=st.sampled_from(["http", "flight"]),
)
def test_raw_bytes_never_take_a_plane_down(fuzzed, http, raw, port_kind):
    """Malformed bytes get a 4xx or a closed connection and leave both planes serving."""
    count("raw")
    if port_kind == "http":
        reply = send_raw(fuzzed.server.http_port, raw)
        if reply:
            status_line, _, rest = reply.partition(CRLF)
            assert re.fullmatch(rb"HTTP/1\.[01] [1-4]\d\d .*", status_line), reply[:300]
            head, _, body = rest.partition(CRLF + CRLF)
            error = int(status_line.split()[1]) >= 300
            from_app = b"x-correlation-id:" in head.lower()  # else uvicorn refused the bytes
            if error and from_app and body:
                assert {"error", "detail", "correlation_id"} <= set(json.loads(body))
            if error:
                echoes = (raw.decode("latin-1"),)
                assert_clean(body.decode("latin-1"), echoes, server_paths(fuzzed))
    else:
        send_raw(fuzzed.server.flight.port, raw)
    assert http.get("/healthz").status_code == 200
    [health] = fuzzed.client.do_action(fl.Action("health", b""), options())
    assert json.loads(health.body.to_pybytes()) == {"status": "ok"}


# -- a path element that is not UTF-8 (Flight's protobuf refuses it) --------------------


@fuzz(20)
@given(raw=invalid_utf8, verb=st.sampled_from(["info", "put"]))
def test_a_non_utf8_path_element_leaves_the_server_serving(fuzzed, raw, verb):
    """A non-UTF-8 path element is refused before any handler; the server keeps serving."""
    count("non_utf8_path")
    table = one_essay()
    with pytest.raises((fl.FlightError, pa.ArrowException)) as caught:
        if verb == "info":
            fuzzed.client.get_flight_info(fl.FlightDescriptor.for_path(raw, "combined"), options())
        else:
            writer, metadata = fuzzed.client.do_put(
                fl.FlightDescriptor.for_path(raw), table.schema, options()
            )
            with writer:
                writer.write_batch(table.batches[0])
                writer.done_writing()
                metadata.read()
    assert_clean(str(caught.value), (), server_paths(fuzzed))
    [health] = fuzzed.client.do_action(fl.Action("health", b""), options())
    assert json.loads(health.body.to_pybytes()) == {"status": "ok"}


# -- bugs the fuzzing found, fixed: regression tests -----------------------------------


def test_an_exchange_ended_before_its_schema_is_invalid_argument(fuzzed):
    """An exchange that sends no schema at all is the client's error (INVALID_ARGUMENT)."""
    command = b'{"type": "extract.v1", "feature_set": "handcrafted"}'
    writer, reader = fuzzed.client.do_exchange(fl.FlightDescriptor.for_command(command), options())
    writer.done_writing()
    with pytest.raises(pa.ArrowInvalid):
        reader.read_all()
    with contextlib.suppress(pa.ArrowException):
        writer.close()


def test_a_long_unknown_name_is_still_not_found(fuzzed):
    """get_flight_info of a 9,000-character unknown name is NOT_FOUND."""
    with pytest.raises(KeyError):
        fuzzed.client.get_flight_info(fl.FlightDescriptor.for_path("a" * 9000, "combined"))


def test_a_long_stale_fingerprint_is_still_a_mismatch(fuzzed):
    """A ticket with a 10,000-character fingerprint is refused as fingerprint_mismatch."""
    ticket = {"type": "shard.v1", "dataset": "f" * 64, "name": "x", "start": 0, "stop": 1,
              "feature_set": "combined", "fingerprint": "f" * 10_000}  # fmt: skip
    with pytest.raises(fl.FlightServerError) as caught:
        fuzzed.client.do_get(fl.Ticket(json.dumps(ticket).encode()), options()).read_all()
    info = decode_error_info(caught.value.extra_info)
    assert info is not None and info.code == "fingerprint_mismatch"


def test_a_long_non_ascii_stale_fingerprint_is_still_a_mismatch(fuzzed):
    """Twenty tickets with a 2,000-emoji fingerprint are all refused as fingerprint_mismatch."""
    ticket = {"type": "shard.v1", "dataset": "e" * 64, "name": "x", "start": 0, "stop": 1,
              "feature_set": "combined", "fingerprint": "\U0001f600" * 2000}  # fmt: skip
    for _ in range(20):  # with messages bounded in characters, ~19 in 20 calls failed
        with pytest.raises(fl.FlightServerError) as caught:
            fuzzed.client.do_get(fl.Ticket(json.dumps(ticket).encode()), options()).read_all()
        info = decode_error_info(caught.value.extra_info)
        assert info is not None and info.code == "fingerprint_mismatch"


def test_an_unknown_page_under_schema_is_a_json_error(http):
    """GET /schema/nope is a 404 with the JSON error body."""
    response = http.get("/schema/nope")
    assert response.status_code == 404
    assert {"error", "detail", "correlation_id"} <= set(response.json())


# -- afterwards -------------------------------------------------------------------------


def active_streams(http_url: str) -> float:
    """The ``hemma_flight_active_streams`` gauge on /metrics."""
    text = httpx.get(f"{http_url}/metrics", timeout=30).text
    match = re.search(r"^hemma_flight_active_streams (\S+)$", text, re.M)
    assert match is not None
    return float(match.group(1))


def test_zz_servers_still_serve_after_the_fuzzing(fuzzed, live_server, plain):
    """After 1,000+ generated cases both servers are ready, hold no stream and extract rows."""
    if len(EXAMPLES) < FUZZ_TESTS:
        pytest.skip(f"only {sorted(EXAMPLES)} ran; run the whole file to count the cases")
    assert sum(EXAMPLES.values()) >= 1000, EXAMPLES
    for name in ("exchange_commands", "exchange_inputs", "put", "flight_info", "get", "action"):
        assert OUTCOMES[name, "ok"] >= 3 and OUTCOMES[name, "invalid"] >= 20, OUTCOMES
    for name, kind in (("get", "not_found"), ("get", "mismatch"), ("flight_info", "not_found"),
                       ("exchange_commands", "mismatch"), ("http", "200"), ("http", "400"),
                       ("http", "404"), ("http", "405")):  # fmt: skip
        assert OUTCOMES[name, kind] >= 3, OUTCOMES  # the generators reach every outcome
    for server, client in ((fuzzed.server, fuzzed.client), (live_server, plain)):
        [health] = client.do_action(fl.Action("health", b""), options())
        assert json.loads(health.body.to_pybytes()) == {"status": "ok"}
        assert httpx.get(f"{server.http_url}/readyz", timeout=30).status_code == 200
        assert wait_for(lambda url=server.http_url: active_streams(url) == 0, 30, interval=0.1)
    essays = essays_table([("a1", "A valid essay after the storm.", "p"),
                           ("a2", "Another one, to count rows.", "p"),
                           ("a3", "And a third.", "q")])  # fmt: skip
    command = json.dumps({"type": "extract.v1", "feature_set": "combined"}).encode()
    given_input = Input(essays.schema, essays.to_batches(), "valid")
    out = exchange(fuzzed.client, command, given_input, [])
    assert out.column("essay_id").to_pylist() == ["a1", "a2", "a3"]
    samples = pacsv.read_csv(SAMPLES, parse_options=pacsv.ParseOptions(newlines_in_values=True))
    samples = samples.select(list(INPUT_NAMES))
    out = exchange(plain, command, Input(samples.schema, samples.to_batches(), "valid"), [])
    assert out.num_rows == samples.num_rows == 8
    names_dir = fuzzed.store / "datasets" / "names"  # nothing written outside the rules
    stored = sorted(path.name.removesuffix(".json") for path in names_dir.iterdir())
    assert stored == sorted(fuzzed.names), stored
    assert all(NAME_RULE.fullmatch(name) for name in stored), stored
    info = fuzzed.client.get_flight_info(fl.FlightDescriptor.for_path("base", "combined"))
    shards = [fuzzed.client.do_get(e.ticket, options()).read_all() for e in info.endpoints]
    assert sum(s.num_rows for s in shards) == info.total_records == fuzzed.names["base"]
