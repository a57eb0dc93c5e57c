"""Flight commands and tickets: versioned, tagged msgspec structs and their codecs."""

from __future__ import annotations

import msgspec

from hemma_features.contract.errors import CommandError
from hemma_features.contract.schema import FEATURE_SETS, FeatureSet


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


class ReloadRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of the ``reload`` Flight action (JSON)."""

    token: str = ""
    """The server's admin token (``HEMMA_ADMIN_TOKEN``)."""
    settings: dict[str, object] | None = None
    """Settings by field name (``{"embedding_max_length": 256}``) that win over the
    environment and the env file; None keeps the last reload's."""


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
