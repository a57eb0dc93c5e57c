"""What the control plane answers (HTTP bodies) and what ``serve --ready-file`` writes."""

from __future__ import annotations

import msgspec

from hemma_features.contract.server_config import ReloadStatus, RuntimeInfo, SettingsView


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
    unavailable: dict[str, str] = {}
    """Feature sets the server cannot compute now (e.g. LanguageTool has not answered since
    it started), with the reason; they have no entry in ``feature_sets`` meanwhile."""

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


class EmbeddingModel(msgspec.Struct, frozen=True, kw_only=True):
    """The embedding model the server resolved ``HEMMA_EMBEDDING_MODEL`` to."""

    model_id: str
    """The model's id (``sentence-transformers/all-MiniLM-L6-v2``), as the fingerprint and
    the schema metadata name it."""
    revision: str
    """Which files: the package release it came from, the Hugging Face snapshot commit, or
    ``local`` for a directory."""
    weights_sha256: str
    """sha256 of its weight, config and tokenizer files (the fingerprint hashes it)."""
    setting: str
    """``HEMMA_EMBEDDING_MODEL`` as given (a package name, an id or a directory)."""


class ServerConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/config``: effective settings (redacted) and where the data plane listens."""

    settings: SettingsView
    """Effective settings under their flat names, secrets redacted."""
    flight_port: int
    """Port the Flight server listens on (the server's view, not a tunnel's)."""
    limits: Limits
    """Limits enforced on every request."""
    model: EmbeddingModel | None = None
    """The embedding model in use, resolved from the setting (None: an older server)."""
    flight_location: str | None = None
    """Where clients should dial Flight, as the server knows it (``HEMMA_ADVERTISE_FLIGHT``
    or its concrete listening address); None when it listens on a wildcard address and was
    told no better: clients then use the host they reached this plane on."""
    runtime: RuntimeInfo = msgspec.field(default_factory=RuntimeInfo)
    """What the server chose for this machine at start: embedding backend, precision,
    quantisation, threads, agreement with torch float32, parse workers, CPU and its flags,
    and every requested setting it could not follow (``notes``)."""
    reload: ReloadStatus = msgspec.field(default_factory=ReloadStatus)
    """The last hot reload (``SIGHUP`` or the ``reload`` Flight action): state (never,
    loading, ok, failed), trigger, when, seconds, fingerprint before and after, the settings
    it changed, and its error (``never`` where the server does not reload)."""


class Health(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``GET /healthz`` and a ready ``GET /readyz``."""

    status: str
    """``ok`` (live), ``ready``, or ``degraded`` (ready, but something works worse)."""
    fingerprint: str
    """The server fingerprint."""
    degraded: list[str] = []
    """What works worse than it should while features are still served."""


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Body of every non-2xx control-plane response."""

    error: str
    """Short machine-readable error name."""
    detail: str
    """What went wrong, for a person."""
    correlation_id: str
    """Id of this request in the server's logs."""
    reasons: list[str] | None = None
    """Individual reasons, when there are several (readiness)."""


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
