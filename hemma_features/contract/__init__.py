"""The wire contract shared by server and client: schemas, commands, tickets, rules, errors.

Imports only pyarrow, msgspec and numpy, so the client (no torch, no spaCy) loads it. It
sits at the bottom of the import layers (docs/architecture.md): it imports nothing else
of this project.
"""

from hemma_features.contract.commands import (
    Command,
    ExtractCommand,
    ShardTicket,
    decode_command,
    decode_ticket,
    encode_command,
    encode_ticket,
)
from hemma_features.contract.control_plane import (
    ErrorBody,
    FingerprintInfo,
    Health,
    Limits,
    ReadyInfo,
    ServerConfig,
)
from hemma_features.contract.errors import (
    FINGERPRINT_MISMATCH,
    CommandError,
    ContractError,
    FlightInvalidArgumentError,
    FlightNotFoundError,
    InputRuleError,
)
from hemma_features.contract.keys import content_key, content_keys
from hemma_features.contract.rules import check_input_batch, check_input_schema
from hemma_features.contract.schema import (
    EMBEDDING_COLUMN,
    FEATURE_SETS,
    FIELD_META_SPEC,
    ID_COLUMN,
    INPUT_SCHEMA,
    KEY_COLUMN,
    META_CATALOGUE,
    META_EMBEDDING_MODEL,
    META_FEATURE_SET,
    META_FINGERPRINT,
    META_SCHEMA_VERSION,
    PROMPT_COLUMN,
    TEXT_COLUMN,
    FeatureSet,
    FeatureSpec,
    decode_catalogue,
    output_schema,
    schema_fingerprint,
)

__all__ = [
    "EMBEDDING_COLUMN",
    "FEATURE_SETS",
    "FIELD_META_SPEC",
    "FINGERPRINT_MISMATCH",
    "ID_COLUMN",
    "INPUT_SCHEMA",
    "KEY_COLUMN",
    "META_CATALOGUE",
    "META_EMBEDDING_MODEL",
    "META_FEATURE_SET",
    "META_FINGERPRINT",
    "META_SCHEMA_VERSION",
    "PROMPT_COLUMN",
    "TEXT_COLUMN",
    "Command",
    "CommandError",
    "ContractError",
    "ErrorBody",
    "ExtractCommand",
    "FeatureSet",
    "FeatureSpec",
    "FingerprintInfo",
    "FlightInvalidArgumentError",
    "FlightNotFoundError",
    "Health",
    "InputRuleError",
    "Limits",
    "ReadyInfo",
    "ServerConfig",
    "ShardTicket",
    "check_input_batch",
    "check_input_schema",
    "content_key",
    "content_keys",
    "decode_catalogue",
    "decode_command",
    "decode_ticket",
    "encode_command",
    "encode_ticket",
    "output_schema",
    "schema_fingerprint",
]
