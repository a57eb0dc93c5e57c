"""The loaded runtime both planes share: models, fingerprint, schemas, metrics.

``Runtime.load`` is called once at startup; nothing heavy happens at import time.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import pyarrow as pa
import structlog
from hemma_features.service.errors import DependencyError
from hemma_features.service.features import languagetool
from hemma_features.service.features.assemble import feature_batch
from hemma_features.service.features.catalogue import SCHEMA_VERSION, catalogue
from hemma_features.service.features.embed import Embedder, EmbeddingOptions
from hemma_features.service.features.nlp import TextAnalyzer
from hemma_features.service.features.parallel import EmbeddingBatcher, InlineParser, ProcessParser
from hemma_features.service.features.pipeline import FeaturePipeline
from hemma_features.service.fingerprint import build_fingerprint
from hemma_features.service.metrics import Metrics
from hemma_features.service.settings import Settings

from hemma_features.contract import (
    ID_COLUMN,
    PROMPT_COLUMN,
    TEXT_COLUMN,
    FeatureSet,
    FingerprintInfo,
    output_schema,
)

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
        parser: InlineParser | ProcessParser | None = None,
    ) -> None:
        self.settings = settings
        self.analyzer = analyzer
        self.embedder = embedder
        self.fingerprint = fingerprint
        self.languagetool_info = languagetool_info
        lt_client = (
            languagetool.LanguageToolClient(
                settings.languagetool_url,
                concurrency=settings.languagetool_concurrency,
                read_timeout=settings.languagetool_timeout,
                max_chars=settings.languagetool_max_chars,
            )
            if settings.languagetool_url and languagetool_info
            else None
        )
        self.metrics = metrics or Metrics()
        self.catalogue = catalogue(languagetool=lt_client is not None)
        self.feature_names = tuple(spec.name for spec in self.catalogue)
        self.pipeline = FeaturePipeline(
            parser=parser or InlineParser(analyzer),
            batcher=EmbeddingBatcher(embedder),
            languagetool=lt_client,
            catalogue=self.catalogue,
        )
        self._schemas: dict[str, pa.Schema] = {}

    @classmethod
    def load(cls, settings: Settings) -> Runtime:
        """Load the models named in ``settings`` and compute the fingerprint."""
        started = time.perf_counter()
        analyzer = TextAnalyzer.load(settings.spacy_model)
        embedder = Embedder.load(settings.embedding_model, embedding_options(settings))
        parser = (
            ProcessParser(settings.spacy_model, settings.parse_workers)
            if settings.parse_workers
            else None
        )
        runtime = cls.assemble(settings, analyzer, embedder, parser)
        log.info(
            "runtime.loaded",
            fingerprint=runtime.fingerprint.fingerprint,
            embedding_model=embedder.model_id,
            device=embedder.options.device,
            seconds=round(time.perf_counter() - started, 2),
        )
        return runtime

    @classmethod
    def assemble(
        cls,
        settings: Settings,
        analyzer: TextAnalyzer,
        embedder: Embedder,
        parser: InlineParser | ProcessParser | None = None,
    ) -> Runtime:
        """Probe LanguageTool (if configured) and fingerprint already-loaded models."""
        lt_info = (
            languagetool.probe(settings.languagetool_url, max_chars=settings.languagetool_max_chars)
            if settings.languagetool_url
            else None
        )
        fingerprint = build_fingerprint(
            schema_version=SCHEMA_VERSION,
            feature_names=[spec.name for spec in catalogue(languagetool=lt_info is not None)],
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
            parser=parser,
        )

    @property
    def parser(self) -> InlineParser | ProcessParser:
        """Where spaCy parsing runs."""
        return self.pipeline.parser

    def close(self) -> None:
        """Stop the parse workers, the embedding thread and the LanguageTool thread."""
        self.pipeline.close()

    def schema(self, feature_set: FeatureSet) -> pa.Schema:
        """Output schema for a feature set (built once, then reused)."""
        if feature_set not in self._schemas:
            self._schemas[feature_set] = output_schema(
                feature_set=feature_set,
                embedding_dim=self.embedder.dim,
                catalogue=self.catalogue,
                fingerprint=self.fingerprint.for_set(feature_set),
                schema_version=self.fingerprint.schema_version,
                embedding_model=self.embedder.model_id,
            )
        return self._schemas[feature_set]

    def extract(self, batch: pa.RecordBatch, feature_set: FeatureSet) -> pa.RecordBatch:
        """Compute one output batch for a validated input batch (same rows, same order)."""
        texts: list[str] = batch.column(TEXT_COLUMN).to_pylist()
        started = time.perf_counter()
        embeddings, handcrafted = self.pipeline.compute(
            texts, batch.column(PROMPT_COLUMN).to_pylist(), feature_set
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


def embedding_options(settings: Settings) -> EmbeddingOptions:
    """The embedding settings as the embedder takes them."""
    return EmbeddingOptions(
        max_length=settings.embedding_max_length,
        batch_size=settings.embedding_batch_size,
        normalize=settings.embedding_normalize,
        device=settings.device,
        long_text=settings.embedding_long_text,
        chunk_overlap=settings.embedding_chunk_overlap,
        token_budget=settings.embedding_token_budget,
        dtype=settings.embedding_dtype,
    )


def embedding_components(embedder: Embedder, settings: Settings) -> dict[str, Any]:
    """The embedding settings that change a value, for the fingerprint.

    Read from the loaded embedder's effective options (device resolved, max_length capped),
    not from the settings they came from.
    """
    options = embedder.options
    return {
        "model_id": embedder.model_id,
        "revision": embedder.revision,
        "weights_sha256": embedder.weights_sha256,
        "dim": embedder.dim,
        "pooling": settings.embedding_pooling,
        "max_length": options.max_length,
        "batch_size": options.batch_size,
        "long_text": options.long_text,
        "chunk_overlap": options.chunk_overlap if options.long_text == "chunk_mean" else None,
        "token_budget": options.token_budget,
        "weights_dtype": options.dtype,
        "normalize": options.normalize,
        "dtype": "float32",
        "device": options.device,
    }
