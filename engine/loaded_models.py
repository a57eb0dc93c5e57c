"""The models runtimes compute with, started once and shared: parse workers, the encoder
queue, the LanguageTool watch.

A layer below ``engine.runtime``: a runtime holds its ``LoadedModels``; they know their
runtimes only as the objects that use them.
"""

from __future__ import annotations

import threading

from hemma_features.engine.execution.encoder_queue import EncoderQueue
from hemma_features.engine.execution.parallel import InlineParser, SupervisedParser
from hemma_features.engine.languagetool import client as languagetool
from hemma_features.engine.languagetool.watch import LanguageToolWatch
from hemma_features.engine.metrics import Metrics
from hemma_features.engine.models.embed import Embedder
from hemma_features.engine.models.hardware import detect
from hemma_features.engine.models.spacy_model import TextAnalyzer
from hemma_features.engine.settings import Settings


class LoadedModels:
    """What runtimes compute with, started once and shared by every runtime built over it:
    the parse workers, the encoder queue and the LanguageTool watch (with the metrics they
    count into and the CPU seen at start).

    LanguageTool's arrival builds a new runtime over the same models rather than loading
    them again; the models stop when the last runtime over them closes.
    """

    def __init__(
        self,
        settings: Settings,
        analyzer: TextAnalyzer,
        embedder: Embedder,
        parser: InlineParser | SupervisedParser | None,
        metrics: Metrics | None,
        languagetool_info: languagetool.LanguageToolInfo | None,
        languagetool_problem: str | None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.hardware = detect(cuda=False)
        """The CPU as seen at start (shown on ``/v1/config`` and in the start-up log)."""
        if embedder.options.device == "cuda":
            import torch

            self.metrics.watch_gpu(torch.cuda.memory_allocated, torch.cuda.max_memory_allocated)
        self.parser = parser or InlineParser(analyzer)
        self.encoder_queue = EncoderQueue(
            embedder,
            on_pass=self.metrics.observe_pass,
            on_wait=self.metrics.encoder_queue_seconds.observe,
        )
        self.start_problem = languagetool_problem
        """Why LanguageTool did not answer at start, else None."""
        self.watch: LanguageToolWatch | None = None
        if settings.languagetool.url:
            self.watch = LanguageToolWatch(
                settings.languagetool.url,
                interval=settings.languagetool.probe_interval,
                read_seconds=max(3.0, settings.languagetool.timeout),
                max_chars=settings.languagetool.max_chars,
                info=languagetool_info,
                problem=languagetool_problem,
            )
        self._lock = threading.Lock()
        self._users: set[object] = set()  # the runtimes (``engine.runtime``) over them

    def use(self, runtime: object) -> None:
        """``runtime`` computes with these models (they stay up until it closes)."""
        with self._lock:
            self._users.add(runtime)

    def release(self, runtime: object) -> None:
        """``runtime`` closed; the last one to close stops the models."""
        with self._lock:
            if runtime not in self._users:
                return
            self._users.discard(runtime)
            if self._users:
                return
        if self.watch is not None:
            self.watch.close()
        self.parser.close()
        self.encoder_queue.close()
