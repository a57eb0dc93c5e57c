"""The loaded runtime both planes share: models, fingerprint, schemas, metrics.

``Runtime.load`` is called once at startup; nothing heavy happens at import time.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import msgspec
import pyarrow as pa
import structlog

from flight.contract import (
    ID_COLUMN,
    TEXT_COLUMN,
    FeatureSet,
    FingerprintInfo,
    output_schema,
)
from service.errors import DependencyError
from service.features import languagetool
from service.features.assemble import feature_batch
from service.features.catalogue import HANDCRAFTED, HANDCRAFTED_NAMES, SCHEMA_VERSION
from service.features.embed import Embedder
from service.features.nlp import TextAnalyzer
from service.fingerprint import build_fingerprint
from service.metrics import Metrics
from service.settings import Settings

log = structlog.get_logger(__name__)


class Runtime:
    """Everything loaded once and shared by the HTTP and Flight servers."""

    def __init__(
        self,
        *,
        settings: Settings,
        analyzer: TextAnalyzer,
        embedder: Embedder,
        fingerprint: FingerprintInfo,
        languagetool_info: languagetool.LanguageToolInfo | None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.analyzer = analyzer
        self.embedder = embedder
        self.fingerprint = fingerprint
        self.languagetool_info = languagetool_info
        self.metrics = metrics or Metrics()
        self.catalogue = HANDCRAFTED
        self.started_at = time.time()
        # spaCy pipelines and torch modules are not safe to drive from several gRPC
        # threads at once; one extraction at a time per process.
        self._compute_lock = threading.Lock()
        self._schemas: dict[str, pa.Schema] = {}

    @classmethod
    def load(cls, settings: Settings) -> Runtime:
        """Load the models named in ``settings`` and compute the fingerprint."""
        started = time.perf_counter()
        analyzer = TextAnalyzer.load(settings.spacy_model)
        embedder = Embedder.load(
            settings.embedding_model,
            max_length=settings.embedding_max_length,
            batch_size=settings.embedding_batch_size,
            normalize=settings.embedding_normalize,
            device=settings.device,
        )
        runtime = cls.assemble(settings, analyzer, embedder)
        log.info(
            "runtime.loaded",
            fingerprint=runtime.fingerprint.fingerprint,
            embedding_model=embedder.model_id,
            device=embedder.device,
            seconds=round(time.perf_counter() - started, 2),
        )
        return runtime

    @classmethod
    def assemble(cls, settings: Settings, analyzer: TextAnalyzer, embedder: Embedder) -> Runtime:
        """Probe LanguageTool (if configured) and fingerprint already-loaded models."""
        lt_info = (
            languagetool.probe(settings.languagetool_url) if settings.languagetool_url else None
        )
        fingerprint = build_fingerprint(
            schema_version=SCHEMA_VERSION,
            feature_names=list(HANDCRAFTED_NAMES),
            embedding=embedding_components(embedder, settings),
            spacy_model=analyzer.versions,
            languagetool=(
                {"enabled": True, **msgspec.to_builtins(lt_info)} if lt_info else {"enabled": False}
            ),
        )
        return cls(
            settings=settings,
            analyzer=analyzer,
            embedder=embedder,
            fingerprint=fingerprint,
            languagetool_info=lt_info,
        )

    def schema(self, feature_set: FeatureSet) -> pa.Schema:
        """Output schema for a feature set (built once, then reused)."""
        if feature_set not in self._schemas:
            self._schemas[feature_set] = output_schema(
                feature_set=feature_set,
                embedding_dim=self.embedder.dim,
                catalogue=self.catalogue,
                fingerprint=self.fingerprint.fingerprint,
                schema_version=self.fingerprint.schema_version,
                embedding_model=self.embedder.model_id,
            )
        return self._schemas[feature_set]

    def extract(self, batch: pa.RecordBatch, feature_set: FeatureSet) -> pa.RecordBatch:
        """Compute one output batch for a validated input batch (same rows, same order)."""
        texts: list[str] = batch.column(TEXT_COLUMN).to_pylist()
        started = time.perf_counter()
        with self._compute_lock:
            embeddings = (
                self.embedder.embed(texts) if feature_set in ("embeddings", "combined") else None
            )
            handcrafted = (
                self.analyzer.features(texts)
                if feature_set in ("handcrafted", "combined")
                else None
            )
        out = feature_batch(
            self.schema(feature_set), batch.column(ID_COLUMN), embeddings, handcrafted
        )
        self.metrics.extract_batch_seconds.labels(feature_set).observe(
            time.perf_counter() - started
        )
        self.metrics.extract_rows.labels(feature_set).inc(batch.num_rows)
        return out

    def readiness_problems(self) -> list[str]:
        """Reasons the server is not ready; empty when it is."""
        problems = []
        if self.settings.languagetool_url:
            try:
                languagetool.probe(self.settings.languagetool_url, read_seconds=3.0)
            except DependencyError as exc:
                problems.append(str(exc))
        return problems


def embedding_components(embedder: Embedder, settings: Settings) -> dict[str, Any]:
    """The embedding settings that change a value, for the fingerprint."""
    return {
        "model_id": embedder.model_id,
        "weights_sha256": embedder.weights_sha256,
        "dim": embedder.dim,
        "pooling": settings.embedding_pooling,
        "max_length": embedder.max_length,
        "batch_size": embedder.batch_size,
        "long_text": settings.embedding_long_text,
        "normalize": settings.embedding_normalize,
        "dtype": "float32",
        "device": embedder.device,
    }
