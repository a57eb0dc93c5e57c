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

from hemma_features.contract import (
    FEATURE_SETS,
    FINGERPRINT_MISMATCH,
    ID_COLUMN,
    PROMPT_COLUMN,
    TEXT_COLUMN,
    EmbeddingModel,
    EncoderBatching,
    EncoderChoice,
    FeatureEntry,
    FeatureSet,
    Limits,
    RuntimeInfo,
    ServerConfig,
    output_schema,
    specs_for,
)
from hemma_features.engine.errors import (
    DependencyError,
    FingerprintMismatchError,
    ParseDeadlineError,
)
from hemma_features.engine.features import languagetool
from hemma_features.engine.features.assemble import feature_batch
from hemma_features.engine.features.catalogue import (
    SCHEMA_VERSION,
    catalogue,
    feature_versions,
)
from hemma_features.engine.features.embed import Embedder
from hemma_features.engine.features.encoder_queue import EncoderQueue
from hemma_features.engine.features.hardware import detect
from hemma_features.engine.features.nlp import NORMALIZATION, TextAnalyzer
from hemma_features.engine.features.parallel import (
    InlineParser,
    SupervisedParser,
)
from hemma_features.engine.features.pipeline import FeaturePipeline
from hemma_features.engine.fingerprint import build_fingerprint
from hemma_features.engine.languagetool_watch import LanguageToolWatch
from hemma_features.engine.metrics import Metrics
from hemma_features.engine.options import (
    embedding_components,
    embedding_options,
    micro_batch_rows,
    micro_batches_in_flight,
    model_cache_path,
    parse_worker_count,
    parse_workers_beside_encoder,
)
from hemma_features.engine.settings import Settings
from hemma_features.engine.stores import store_view

log = structlog.get_logger(__name__)


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    """What ``/readyz`` reports."""

    problems: list[str]
    """Why the server cannot serve every feature set (503 when any)."""
    degraded: list[str]
    """What works worse than it should while features are still served (200)."""


class Runtime:
    """Everything loaded once and shared by the HTTP and Flight servers.

    With LanguageTool configured but down at start, embeddings are served at once and
    handcrafted/combined wait for LanguageTool's first answer: until then they fail fast
    naming it, and their fingerprints are absent from ``/v1/fingerprint``.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        analyzer: TextAnalyzer,
        embedder: Embedder,
        languagetool_info: languagetool.LanguageToolInfo | None,
        languagetool_problem: str | None = None,
        metrics: Metrics | None = None,
        parser: InlineParser | SupervisedParser | None = None,
    ) -> None:
        self.settings = settings
        self.analyzer = analyzer
        self.embedder = embedder
        self.metrics = metrics or Metrics()
        self._lock = threading.Lock()
        self._schemas: dict[str, pa.Schema] = {}
        self.hardware = detect(cuda=False)
        """The CPU as seen at start (shown on ``/v1/config`` and in the start-up log)."""
        if embedder.options.device == "cuda":
            import torch

            self.metrics.watch_gpu(torch.cuda.memory_allocated, torch.cuda.max_memory_allocated)
        self.pipeline = FeaturePipeline(
            parser=parser or InlineParser(analyzer),
            encoder_queue=EncoderQueue(
                embedder,
                on_pass=self.metrics.observe_pass,
                on_wait=self.metrics.encoder_queue_seconds.observe,
            ),
            languagetool=None,
            catalogue=catalogue(languagetool=False),
        )
        device = embedder.options.device
        self.micro_batch_rows = micro_batch_rows(
            settings, device=device, workers=getattr(self.parser, "workers", 0)
        )
        """Essays per micro-batch (the setting, or sized from the host)."""
        self.micro_batches_in_flight = micro_batches_in_flight(settings, device=device)
        """Micro-batches one stream keeps in flight."""
        self.watch: LanguageToolWatch | None = None
        self._start_problem = languagetool_problem
        self._use_languagetool(languagetool_info)
        if settings.languagetool.url:
            self.watch = LanguageToolWatch(
                settings.languagetool.url,
                interval=settings.languagetool.probe_interval,
                read_seconds=max(3.0, settings.languagetool.timeout),
                max_chars=settings.languagetool.max_chars,
                info=languagetool_info,
                problem=languagetool_problem,
                on_first_info=self._use_languagetool,
            )

    def _use_languagetool(self, info: languagetool.LanguageToolInfo | None) -> None:
        """Set the catalogue, the LanguageTool client and the fingerprint for ``info``."""
        settings = self.settings
        pending = bool(settings.languagetool.url) and info is None
        lt_client = (
            languagetool.LanguageToolClient(
                settings.languagetool.url,
                concurrency=settings.languagetool.concurrency,
                read_timeout=settings.languagetool.timeout,
                max_chars=settings.languagetool.max_chars,
            )
            if settings.languagetool.url and info is not None
            else None
        )
        features = catalogue(languagetool=lt_client is not None or pending)
        if info is not None:
            lt_component: dict[str, Any] = {"enabled": True, **msgspec.to_builtins(info)}
        else:
            lt_component = {"enabled": True, "pending": True} if pending else {"enabled": False}
        fingerprint = build_fingerprint(
            schema_version=SCHEMA_VERSION,
            feature_names=[spec.name for spec in features],
            embedding_features=[spec.name for spec in specs_for("embeddings", features)],
            feature_versions=feature_versions(features),
            embedding=embedding_components(self.embedder, settings),
            spacy_model=self.analyzer.versions,
            languagetool=lt_component,
            text_normalization=NORMALIZATION,
            unavailable=(
                dict.fromkeys(("handcrafted", "combined"), self._pending_reason())
                if pending
                else None
            ),
        )
        with self._lock:
            self.languagetool_info = info
            self.catalogue = features
            self.feature_names = tuple(spec.name for spec in features)
            self.pipeline.use(languagetool=lt_client, catalogue=features)
            self.fingerprint = fingerprint
            self._schemas = {}

    def _pending_reason(self) -> str:
        problem = self.watch.problem if self.watch is not None else self._start_problem
        return (
            "handcrafted features need LanguageTool, which has not answered since the "
            f"server started ({problem or 'no answer yet'}); embeddings are served"
        )

    @classmethod
    def load(cls, settings: Settings, *, metrics: Metrics | None = None) -> Runtime:
        """Load the models named in ``settings`` and compute the fingerprint.

        Each stage logs a line with its duration, so a slow start shows where it is.

        Args:
            settings: Effective settings.
            metrics: The registry to count into (a reload keeps the server's); a new one
                when None.
        """
        started = time.perf_counter()
        stage = started

        def done(name: str, **fields: Any) -> None:
            nonlocal stage
            now = time.perf_counter()
            log.info("runtime.stage", stage=name, seconds=round(now - stage, 2), **fields)
            stage = now

        analyzer = TextAnalyzer.load(settings.parsing.spacy_model)
        done("spacy", model=settings.parsing.spacy_model)
        embedder = Embedder.load(
            settings.embedding.model,
            embedding_options(settings),
            model_cache_path(settings),
            expected_sha256=settings.embedding.model_sha256,
        )
        report = embedder.report
        assert report is not None
        done(
            "embedding",
            model=embedder.model_id,
            **msgspec.to_builtins(msgspec.structs.replace(report, notes=[])),
        )
        for note in report.notes:
            log.warning("embedding.setting_not_followed", note=note)
        metrics = metrics or Metrics()
        workers = parse_worker_count(settings, device=embedder.options.device)
        parser = (
            SupervisedParser(
                settings.parsing.spacy_model,
                workers,
                settings.parsing.deadline,
                on_restart=lambda reason: metrics.parse_worker_restarts.labels(reason).inc(),
                beside_encoder=parse_workers_beside_encoder(
                    settings, device=embedder.options.device
                ),
            )
            if workers
            else None
        )
        done("parse_workers", workers=workers)
        runtime = cls.assemble(settings, analyzer, embedder, parser, metrics=metrics)
        log.info(
            "runtime.loaded",
            fingerprint=runtime.fingerprint.fingerprint,
            embedding_model=embedder.model_id,
            device=embedder.options.device,
            cpu=runtime.hardware.cpu_model,
            cpu_flags=",".join(runtime.hardware.shown_flags()),
            seconds=round(time.perf_counter() - started, 2),
        )
        return runtime

    @classmethod
    def assemble(
        cls,
        settings: Settings,
        analyzer: TextAnalyzer,
        embedder: Embedder,
        parser: InlineParser | SupervisedParser | None = None,
        *,
        metrics: Metrics | None = None,
    ) -> Runtime:
        """Probe LanguageTool (if configured) and fingerprint already-loaded models.

        LanguageTool down at start is not fatal: it is reported, embeddings are served,
        and handcrafted features start when it first answers.
        """
        lt_info = None
        problem = None
        if settings.languagetool.url:
            try:
                lt_info = languagetool.probe(
                    settings.languagetool.url, max_chars=settings.languagetool.max_chars
                )
            except DependencyError as exc:
                problem = str(exc)
                log.warning("languagetool.unavailable_at_start", reason=problem)
        return cls(
            settings=settings,
            analyzer=analyzer,
            embedder=embedder,
            languagetool_info=lt_info,
            languagetool_problem=problem,
            metrics=metrics,
            parser=parser,
        )

    @property
    def parser(self) -> InlineParser | SupervisedParser:
        """Where spaCy parsing runs."""
        return self.pipeline.parser

    def close(self) -> None:
        """Stop the parse workers, the embedding thread and the LanguageTool threads."""
        if self.watch is not None:
            self.watch.close()
        self.pipeline.close()

    def machine_view(self) -> RuntimeInfo:
        """What was chosen for this machine at start (``/v1/config``'s ``runtime``)."""
        hardware = self.hardware
        workers = getattr(self.parser, "workers", 0)
        report = self.embedder.report
        return RuntimeInfo(
            embedding=(
                msgspec.convert(msgspec.to_builtins(report), EncoderChoice) if report else None
            ),
            embedding_batch_size=self.embedder.options.batch_size,
            encoder_batching=msgspec.convert(self.pipeline.encoder_queue.view(), EncoderBatching),
            micro_batch_rows=self.micro_batch_rows,
            micro_batches_in_flight=self.micro_batches_in_flight,
            parse_workers=workers,
            parse_workers_beside_encoder=getattr(self.parser, "beside_encoder", 0),
            cores=hardware.cores,
            cpu=hardware.cpu_model,
            cpu_flags=hardware.shown_flags(),
            store=store_view(self.settings),
        )

    def server_config(self, flight_port: int, flight_location: str | None) -> ServerConfig:
        """``/v1/config``: effective settings (redacted), what was chosen for this machine,
        where Flight listens and the request limits (the Ray engine answers the same)."""
        settings = self.settings
        return ServerConfig(
            settings=settings.public_view(),
            runtime=self.machine_view(),
            flight_port=flight_port,
            flight_location=flight_location,
            limits=Limits(
                max_items=settings.limits.max_items,
                max_text_chars=settings.limits.max_text_chars,
                max_streams=settings.streams.max_streams,
                shard_rows=settings.limits.shard_rows,
                batch_rows=settings.limits.batch_rows,
            ),
            model=EmbeddingModel(
                model_id=self.embedder.model_id,
                revision=self.embedder.revision,
                weights_sha256=self.embedder.weights_sha256,
                setting=settings.embedding.model,
            ),
        )

    def feature_entries(self) -> list[FeatureEntry]:
        """``/v1/features``: every named feature in catalogue order, with its version."""
        versions = feature_versions(self.catalogue)
        return [
            FeatureEntry(**msgspec.structs.asdict(spec), version=versions[spec.name])
            for spec in self.catalogue
        ]

    def available_feature_sets(self) -> list[FeatureSet]:
        """Feature sets this server can compute now."""
        return [fs for fs in FEATURE_SETS if fs not in self.fingerprint.unavailable]

    def fingerprint_for(self, feature_set: FeatureSet) -> str:
        """The feature set's fingerprint; ``DependencyError`` while it cannot be computed."""
        fingerprint = self.fingerprint
        if feature_set in fingerprint.unavailable:
            raise DependencyError("LanguageTool", self._pending_reason())
        return fingerprint.for_set(feature_set)

    def check_fingerprint(self, feature_set: FeatureSet, expected: str | None) -> None:
        """``FingerprintMismatchError`` when a caller pinned another fingerprint than the
        one this runtime computes for ``feature_set``."""
        current = self.fingerprint_for(feature_set)
        if expected is not None and expected != current:
            raise FingerprintMismatchError(
                f"{FINGERPRINT_MISMATCH}: the request expects {expected}, this server computes "
                f"{current} for {feature_set}; refetch the fingerprint (or flight info) and "
                "start a new run"
            )

    def schema(self, feature_set: FeatureSet) -> pa.Schema:
        """Output schema for a feature set (built once, then reused)."""
        with self._lock:
            cached = self._schemas.get(feature_set)
        if cached is not None:
            return cached
        schema = output_schema(
            feature_set=feature_set,
            embedding_dim=self.embedder.dim,
            catalogue=self.catalogue,
            fingerprint=self.fingerprint_for(feature_set),
            schema_version=self.fingerprint.schema_version,
            embedding_model=self.embedder.model_id,
        )
        with self._lock:
            self._schemas[feature_set] = schema
        return schema

    def extract(self, batch: pa.RecordBatch, feature_set: FeatureSet) -> pa.RecordBatch:
        """Compute one output batch for a validated input batch (same rows, same order).

        Rows whose parse passed the deadline raise ``ParseDeadlineError`` carrying the
        output batch of all the other rows (in order), so they need not be computed again.
        """
        schema = self.schema(feature_set)
        texts: list[str] = batch.column(TEXT_COLUMN).to_pylist()
        ids = batch.column(ID_COLUMN)
        started = time.perf_counter()
        uses_lt = feature_set != "embeddings" and self.pipeline.languagetool is not None
        try:
            embeddings, handcrafted = self.pipeline.compute(
                texts, batch.column(PROMPT_COLUMN).to_pylist(), feature_set
            )
        except DependencyError as exc:
            if self.watch is not None and exc.dependency == "LanguageTool":
                self.watch.record_failure(str(exc))
            raise
        except ParseDeadlineError as exc:  # LanguageTool answered for the others too
            refused = set(exc.indices)
            kept = pa.array([i for i in range(batch.num_rows) if i not in refused], pa.int64())
            others = feature_batch(schema, ids.take(kept), *exc.partial)
            self._answered(feature_set, uses_lt, others.num_rows, started)
            raise exc.with_partial(others) from None
        out = feature_batch(schema, ids, embeddings, handcrafted)
        self._answered(feature_set, uses_lt, out.num_rows, started)
        return out

    def _answered(self, feature_set: FeatureSet, uses_lt: bool, rows: int, started: float) -> None:
        if uses_lt and self.watch is not None:
            self.watch.record_success()
        self.metrics.extract_batch_seconds.labels(feature_set).observe(
            time.perf_counter() - started
        )
        self.metrics.extract_rows.labels(feature_set).inc(rows)

    def readiness(self) -> Readiness:
        """Problems (not ready) and degradations (ready, but worse), from state in hand."""
        problems = []
        if self.watch is not None and self.watch.problem is not None:
            problems.append(self.watch.problem)
        alive = self.parser.alive_workers()
        if alive == 0:
            problems.append(
                "no parse worker is alive (they are being replaced); handcrafted features "
                "wait for them"
            )
        return Readiness(problems=problems, degraded=[])
