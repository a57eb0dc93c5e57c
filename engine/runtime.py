"""The loaded runtime both planes share: models, fingerprint, schemas, metrics.

``Runtime.load`` is called once at startup; nothing heavy happens at import time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
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
    FeatureSet,
    output_schema,
    specs_for,
)
from hemma_features.engine.errors import (
    DependencyError,
    FingerprintMismatchError,
    ParseDeadlineError,
)
from hemma_features.engine.execution.parallel import (
    InlineParser,
    SupervisedParser,
)
from hemma_features.engine.execution.pipeline import FeaturePipeline
from hemma_features.engine.execution.record_batch import feature_batch
from hemma_features.engine.features.api import (
    NORMALIZATION,
    SCHEMA_VERSION,
    catalogue,
    feature_versions,
)
from hemma_features.engine.fingerprint import build_fingerprint
from hemma_features.engine.languagetool import client as languagetool
from hemma_features.engine.loaded_models import LoadedModels
from hemma_features.engine.metrics import Metrics
from hemma_features.engine.models.embed import Embedder
from hemma_features.engine.models.spacy_model import TextAnalyzer
from hemma_features.engine.options import (
    embedding_components,
    micro_batch_rows,
    micro_batches_in_flight,
    model_cache_path,
    parse_worker_count,
    parse_workers_beside_encoder,
)
from hemma_features.engine.settings import Settings

log = structlog.get_logger(__name__)


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    """What ``/readyz`` reports."""

    problems: list[str]
    """Why the server cannot serve every feature set (503 when any)."""
    degraded: list[str]
    """What works worse than it should while features are still served (200)."""


class Runtime:
    """Everything loaded once and shared by the HTTP and Flight servers.

    A built runtime never changes: its catalogue, fingerprint and schemas are fixed when it
    is built (setting an attribute afterwards raises ``AttributeError``). A new fingerprint
    comes with a new runtime, swapped in through the ``RuntimeSlot``: a hot reload loads one,
    and LanguageTool's first answer builds one over the same loaded models
    (``with_languagetool``). With LanguageTool configured but down at start, embeddings are
    served at once and handcrafted/combined fail fast naming it, their fingerprints absent
    from ``/v1/fingerprint``, until that runtime is swapped in.
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
        models: LoadedModels | None = None,
    ) -> None:
        if models is None:
            models = LoadedModels(
                settings,
                analyzer,
                embedder,
                parser,
                metrics,
                languagetool_info,
                languagetool_problem,
            )
        self.settings = settings
        self.analyzer = analyzer
        self.embedder = embedder
        self.models = models
        self.metrics = models.metrics
        self.hardware = models.hardware
        """The CPU as seen at start (shown on ``/v1/config`` and in the start-up log)."""
        self.watch = models.watch
        self._schemas: dict[str, pa.Schema] = {}
        self._schemas_lock = threading.Lock()
        pending = bool(settings.languagetool.url) and languagetool_info is None
        self.languagetool_info = languagetool_info
        self.languagetool_pending = pending
        """LanguageTool is configured but has not answered: handcrafted waits for the
        runtime ``with_languagetool`` builds."""
        lt_client = (
            languagetool.LanguageToolClient(
                settings.languagetool.url,
                concurrency=settings.languagetool.concurrency,
                read_timeout=settings.languagetool.timeout,
                max_chars=settings.languagetool.max_chars,
            )
            if settings.languagetool.url and languagetool_info is not None
            else None
        )
        features = catalogue(languagetool=lt_client is not None or pending)
        self.catalogue = features
        self.feature_names = tuple(spec.name for spec in features)
        self.pipeline = FeaturePipeline(
            parser=models.parser,
            encoder_queue=models.encoder_queue,
            languagetool=lt_client,
            catalogue=features,
        )
        device = embedder.options.device
        self.micro_batch_rows = micro_batch_rows(
            settings, device=device, workers=getattr(models.parser, "workers", 0)
        )
        """Essays per micro-batch (the setting, or sized from the host)."""
        self.micro_batches_in_flight = micro_batches_in_flight(settings, device=device)
        """Micro-batches one stream keeps in flight."""
        if languagetool_info is not None:
            lt_component: dict[str, Any] = {
                "enabled": True,
                **msgspec.to_builtins(languagetool_info),
            }
        else:
            lt_component = {"enabled": True, "pending": True} if pending else {"enabled": False}
        self.fingerprint = build_fingerprint(
            schema_version=SCHEMA_VERSION,
            feature_names=[spec.name for spec in features],
            embedding_features=[spec.name for spec in specs_for("embeddings", features)],
            feature_versions=feature_versions(features),
            embedding=embedding_components(embedder, settings),
            spacy_model=analyzer.versions,
            languagetool=lt_component,
            text_normalization=NORMALIZATION,
            unavailable=(
                dict.fromkeys(("handcrafted", "combined"), self._pending_reason())
                if pending
                else None
            ),
        )
        models.use(self)
        self._built = True

    def __setattr__(self, name: str, value: object) -> None:
        if getattr(self, "_built", False):
            raise AttributeError(
                f"a built Runtime does not change (setting {name!r}): build a new one and "
                "swap it through the RuntimeSlot, as a reload does"
            )
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a built Runtime does not change (deleting {name!r})")

    def with_languagetool(self, info: languagetool.LanguageToolInfo) -> Runtime:
        """A new runtime over the same loaded models, now with LanguageTool (its version
        ``info`` in the fingerprint and its features in the catalogue); this one is
        unchanged, and its streams finish with it."""
        return Runtime(
            settings=self.settings,
            analyzer=self.analyzer,
            embedder=self.embedder,
            languagetool_info=info,
            models=self.models,
        )

    def on_languagetool_arrival(self, callback: Callable[[Runtime], None]) -> None:
        """When this runtime waits for LanguageTool, call ``callback`` once with the runtime
        ``with_languagetool`` builds at its first answer (in the watch's thread); else never.
        The runtime slot swaps it in."""
        watch = self.watch
        if self.languagetool_pending and watch is not None:
            watch.on_first_info(lambda info: callback(self.with_languagetool(info)))

    def _pending_reason(self) -> str:
        watch = self.models.watch
        problem = watch.problem if watch is not None else self.models.start_problem
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
        embedder = Embedder.load(settings.embedding, model_cache_path(settings))
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
        runtime = cls.from_models(settings, analyzer, embedder, parser, metrics=metrics)
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
    def from_models(
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
        """Stop this runtime's LanguageTool thread, and the parse workers, the embedding
        thread and the LanguageTool watch when no other runtime computes with them."""
        self.pipeline.close()
        self.models.release(self)

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
        with self._schemas_lock:
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
        with self._schemas_lock:  # a cache of what the fixed catalogue gives, not a change
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
