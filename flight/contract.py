"""The wire contract shared by server and client: commands, schemas, metadata, input rules.

Imports only pyarrow and msgspec, so the client (no torch, no spaCy) can load it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Literal

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FeatureSet = Literal["handcrafted", "embeddings", "combined"]
FEATURE_SETS: tuple[FeatureSet, ...] = ("handcrafted", "embeddings", "combined")

# Schema metadata keys (bytes, as Arrow stores them).
META_FINGERPRINT = b"hemma.fingerprint"
META_SCHEMA_VERSION = b"hemma.schema_version"
META_FEATURE_SET = b"hemma.feature_set"
META_CATALOGUE = b"hemma.catalogue"
META_EMBEDDING_MODEL = b"hemma.embedding_model"
# Field metadata key on every handcrafted column.
FIELD_META_SPEC = b"hemma.feature"

# Prefix of the error a server gives when a request pins another fingerprint.
FINGERPRINT_MISMATCH = "fingerprint mismatch"

ID_COLUMN = "essay_id"
TEXT_COLUMN = "text"
PROMPT_COLUMN = "prompt"
KEY_COLUMN = "key"
EMBEDDING_COLUMN = "embedding"

INPUT_SCHEMA = pa.schema(
    [
        pa.field(ID_COLUMN, pa.string(), nullable=False),
        pa.field(TEXT_COLUMN, pa.string(), nullable=False),
        pa.field(PROMPT_COLUMN, pa.string(), nullable=False),
    ]
)
_STRING_TYPES = (pa.string(), pa.large_string())


class FeatureSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One named handcrafted feature, as listed in the catalogue."""

    name: str
    """Column name, stable across versions of the same ``schema_version``."""
    tier: int
    """1 surface/readability/errors, 2 syntax and embedding-derived, 3 lexical/structure."""
    group: str
    """Family of the feature (``surface``, ``readability``, ``syntax``...)."""
    definition: str
    """What is computed, precisely enough to recompute it by hand."""
    unit: str
    """Unit of the value (``words``, ``grade``, ``ratio``...)."""
    source: str
    """Library that computes it (``spacy``, ``textdescriptives``, ``transformers``...)."""


class ExtractCommand(
    msgspec.Struct,
    tag="extract.v1",
    tag_field="type",
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
):
    """``do_exchange`` command: stream essays in, get feature batches back."""

    feature_set: FeatureSet
    """Which columns to compute."""
    fingerprint: str | None = None
    """Fingerprint the caller expects; the server refuses to serve a different one."""


Command = ExtractCommand
_COMMAND_DECODER = msgspec.json.Decoder(Command)


class ShardTicket(
    msgspec.Struct,
    tag="shard.v1",
    tag_field="type",
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
):
    """``do_get`` ticket: everything any replica with the same store needs to serve it."""

    dataset: str
    """Content hash (sha256) of the uploaded dataset."""
    name: str
    """Dataset name at the time of get_flight_info (for messages and logs)."""
    start: int
    """First row of the shard."""
    stop: int
    """One past the last row of the shard."""
    feature_set: FeatureSet
    """Columns to serve."""
    fingerprint: str
    """Fingerprint of ``feature_set`` the ticket was issued for; another one is refused."""

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.stop:
            raise ValueError(
                f"shard bounds must satisfy 0 <= start <= stop, given: {self.start}, {self.stop}"
            )


_TICKET_DECODER = msgspec.json.Decoder(ShardTicket)


def encode_ticket(ticket: ShardTicket) -> bytes:
    """Ticket bytes for a ``FlightEndpoint``."""
    return msgspec.json.encode(ticket)


def decode_ticket(raw: bytes) -> ShardTicket:
    """Decode a ticket, naming what was wrong."""
    try:
        return _TICKET_DECODER.decode(raw)
    except (msgspec.DecodeError, ValueError) as exc:
        raise CommandError(
            f"invalid ticket ({exc}); tickets come from get_flight_info and look like "
            '{"type": "shard.v1", "dataset": "<sha256>", "start": 0, "stop": 512, ...}'
        ) from exc


class CommandError(ValueError):
    """A Flight command descriptor could not be decoded."""


def encode_command(command: Command) -> bytes:
    """Encode a command for a ``FlightDescriptor.for_command``."""
    return msgspec.json.encode(command)


def decode_command(raw: bytes) -> Command:
    """Decode a command descriptor, naming what was wrong."""
    try:
        return _COMMAND_DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise CommandError(
            f"invalid command descriptor ({exc}); expected JSON like "
            '{"type": "extract.v1", "feature_set": "combined"} with feature_set one of '
            f"{', '.join(FEATURE_SETS)}"
        ) from exc


# --- HTTP control-plane responses (decoded by the client) -----------------------------


class FingerprintInfo(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/fingerprint``."""

    fingerprint: str
    """sha256 hex of the canonical JSON of ``components``."""
    schema_version: str
    """Version of the feature schema (names, order, types)."""
    components: dict[str, object]
    """Everything that changes a feature value."""
    feature_sets: dict[str, str]
    """Fingerprint of each feature set: ``embeddings`` covers only what changes the
    embedding; ``handcrafted`` and ``combined`` cover everything (the semantic features
    use the embedding model) and equal ``fingerprint``."""

    def for_set(self, feature_set: str) -> str:
        """The fingerprint rows of ``feature_set`` are stored and served under."""
        return self.feature_sets[feature_set]


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Request limits the server enforces."""

    max_items: int
    """Most essays in one request (an exchange or an uploaded dataset)."""
    max_text_chars: int
    """Most characters in one essay text."""
    max_streams: int = 8
    """Most Flight streams served at once."""
    shard_rows: int = 512
    """Rows per ``get_flight_info`` endpoint."""
    batch_rows: int = 128
    """Rows per record batch the server sends on ``do_get``."""


class ServerConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/config``: effective settings (redacted) and where the data plane listens."""

    settings: dict[str, object]
    """Effective settings, secrets redacted."""
    flight_port: int
    """Port the Flight server listens on (the server's view, not a tunnel's)."""
    limits: Limits
    """Limits enforced on every request."""


class ReadyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Written by ``serve --ready-file`` once both planes accept connections."""

    pid: int
    """Server process id."""
    host: str
    """Interface both planes listen on."""
    http_port: int
    """Actual control-plane port (useful with port 0)."""
    flight_port: int
    """Actual Flight port (useful with port 0)."""
    fingerprint: str
    """The server fingerprint."""
    tls: bool = False
    """Both planes serve TLS (https://, grpc+tls://)."""


# --- input rules -----------------------------------------------------------------------


class InputRuleError(ValueError):
    """A row breaks an input rule. The message names the row, the essay id and the rule."""

    def __init__(self, row: int | None, essay_id: str | None, rule: str) -> None:
        self.row = row
        self.essay_id = essay_id
        self.rule = rule
        where = "input" if row is None else f"row {row}"
        if essay_id is not None:
            where += f" (essay_id={essay_id!r})"
        super().__init__(f"{where}: {rule}")


def check_input_schema(schema: pa.Schema) -> None:
    """Require string columns ``essay_id``, ``text`` and ``prompt``."""
    for name in INPUT_SCHEMA.names:
        index = schema.get_field_index(name)
        if index < 0:
            raise InputRuleError(
                None, None, f"missing column {name!r}; expected columns {INPUT_SCHEMA.names}"
            )
        if schema.field(index).type not in _STRING_TYPES:
            raise InputRuleError(
                None,
                None,
                f"column {name!r} has type {schema.field(index).type}; expected string",
            )


def check_input_batch(batch: pa.RecordBatch, *, max_text_chars: int, first_row: int = 0) -> None:
    """Check every row of an input batch; raise on the first row that breaks a rule.

    Args:
        batch: Record batch with the input columns.
        max_text_chars: Longest text allowed, in characters.
        first_row: Index of the batch's first row in the whole request (for messages).
    """
    check_input_schema(batch.schema)
    ids = batch.column(ID_COLUMN)
    text = batch.column(TEXT_COLUMN)
    prompt = batch.column(PROMPT_COLUMN)
    rules: list[tuple[pa.Array, str]] = [
        (pc.is_null(ids), "essay_id is missing"),
        (pc.equal(pc.utf8_length(ids), 0), "essay_id is empty"),
        (pc.is_null(text), "text is missing"),
        (
            pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0),
            "text is empty or only whitespace",
        ),
        (
            pc.greater(pc.utf8_length(text), max_text_chars),
            f"text is longer than the limit of {max_text_chars} characters (max_text_chars)",
        ),
        (pc.is_null(prompt), "prompt is missing (a prompt string is required)"),
    ]
    for mask, rule in rules:
        bad = np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))
        if bad.size:
            i = int(bad[0])
            essay_id = ids[i].as_py()
            detail = rule
            if rule.startswith("text is longer"):
                detail = (
                    f"text has {len(text[i].as_py())} characters, over the limit of "
                    f"{max_text_chars} (max_text_chars)"
                )
            raise InputRuleError(first_row + i, essay_id, detail)


def content_key(text: str, prompt: str) -> str:
    """sha256 hex of the exact text and prompt: the cache key of one essay's features."""
    return hashlib.sha256(msgspec.json.encode([text, prompt])).hexdigest()


def content_keys(texts: Iterable[str], prompts: Iterable[str]) -> list[str]:
    """Content keys for parallel sequences of texts and prompts."""
    return [content_key(t, p) for t, p in zip(texts, prompts, strict=True)]


def output_schema(
    *,
    feature_set: FeatureSet,
    embedding_dim: int,
    catalogue: Sequence[FeatureSpec],
    fingerprint: str,
    schema_version: str,
    embedding_model: str,
) -> pa.Schema:
    """Schema of the feature batches for one feature set, with the contract in metadata."""
    fields = [pa.field(ID_COLUMN, pa.string(), nullable=False)]
    if feature_set in ("embeddings", "combined"):
        fields.append(
            pa.field(EMBEDDING_COLUMN, pa.list_(pa.float32(), embedding_dim), nullable=False)
        )
    specs = catalogue if feature_set in ("handcrafted", "combined") else ()
    for spec in specs:
        fields.append(
            pa.field(
                spec.name,
                pa.float32(),
                nullable=False,
                metadata={FIELD_META_SPEC: msgspec.json.encode(spec)},
            )
        )
    metadata = {
        META_FINGERPRINT: fingerprint.encode(),
        META_SCHEMA_VERSION: schema_version.encode(),
        META_FEATURE_SET: feature_set.encode(),
        META_CATALOGUE: msgspec.json.encode(list(specs)),
        META_EMBEDDING_MODEL: embedding_model.encode(),
    }
    return pa.schema(fields, metadata=metadata)


def schema_fingerprint(schema: pa.Schema) -> str | None:
    """The fingerprint recorded in a feature schema, or None."""
    meta = schema.metadata or {}
    value = meta.get(META_FINGERPRINT)
    return value.decode() if value is not None else None


def decode_catalogue(schema: pa.Schema) -> list[FeatureSpec]:
    """The feature catalogue recorded in a feature schema's metadata."""
    raw = (schema.metadata or {}).get(META_CATALOGUE, b"[]")
    return msgspec.json.decode(raw, type=list[FeatureSpec])
