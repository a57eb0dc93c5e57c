"""``HemmaFeatures``: the Ray Data stage, essays in, the Flight plane's feature batches out.

Each actor loads the same ``Runtime`` as ``hemma-features serve`` (spaCy and its parse
workers, the embedder, the LanguageTool client) from the same settings, checks every
batch with the same input rules and computes it in the same micro-batches through the same
step loop (``engine.step_loop``): for the same essays and settings the rows are the Flight
plane's, bit for bit, with the same schema, metadata and fingerprint. Imports no Ray:
Ray only calls it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa
import structlog

from hemma_features.contract import (
    FINGERPRINT_MISMATCH,
    KEY_COLUMN,
    FeatureSet,
    as_input_batch,
    content_key_array,
)
from hemma_features.engine.errors import FingerprintMismatchError, ModelLoadError
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.settings import Settings
from hemma_features.engine.settings_env import load_settings
from hemma_features.engine.step_loop import InputBatch, StoreBackedFeatures, record_batch
from hemma_features.logs import configure_logging

log = structlog.get_logger(__name__)


def settings_from(settings: Settings | Mapping[str, Any] | None) -> Settings:
    """Settings as given, from a mapping of field values, or from ``HEMMA_*`` (``None``)."""
    if isinstance(settings, Settings):
        return settings
    return load_settings(overrides=dict(settings) if settings is not None else None)


class HemmaFeatures:
    """Callable class for ``Dataset.map_batches``: one loaded runtime per actor.

    Use with ``batch_format="pyarrow"``; input batches need ``essay_id``, ``text`` and
    ``prompt`` string columns (others are ignored)::

        ds.map_batches(
            HemmaFeatures,
            fn_constructor_kwargs={"feature_set": "combined", "settings": {...}},
            batch_format="pyarrow", batch_size=64, concurrency=2, num_gpus=1,
        )

    Args:
        feature_set: ``handcrafted``, ``embeddings`` or ``combined``.
        settings: ``Settings``, a mapping of setting names to values (applied over the
            worker's ``HEMMA_*`` variables), or ``None`` for the worker's ``HEMMA_*``
            variables alone, as ``serve`` reads them.
        fingerprint: The fingerprint the run expects; an actor that computes another
            (another model, library or kernel class on that host) refuses to start with
            ``FingerprintMismatchError`` rather than mix rows of two fingerprints.
        with_key: Put the content key (``key``) first, as the cache stores rows.
        expected_components: The fingerprint's components the run expects
            (``FingerprintInfo.components``); a refusal then names each that differs on
            this host (``embedding.kernels is avx2 here, avx512 in the run``).

    An actor that cannot load what the settings name (a model, or the embedding backend
    the run decided on) refuses with ``ModelLoadError``; both refusals name the host.
    """

    def __init__(
        self,
        feature_set: FeatureSet = "combined",
        settings: Settings | Mapping[str, Any] | None = None,
        *,
        fingerprint: str | None = None,
        with_key: bool = False,
        expected_components: Mapping[str, Any] | None = None,
    ) -> None:
        resolved = settings_from(settings)
        configure_logging(resolved.server.log_format)
        try:
            runtime = Runtime.load(resolved)
        except ModelLoadError as exc:
            raise ModelLoadError(
                f"host {socket.gethostname()} cannot load what the run computes with "
                f"(embedding backend {resolved.embedding.backend}, dtype "
                f"{resolved.embedding.dtype}, device {resolved.embedding.device}): {exc}"
            ) from exc
        try:
            self._use(runtime, feature_set, fingerprint, with_key, expected_components)
        except BaseException:
            runtime.close()
            raise

    @classmethod
    def on_runtime(
        cls,
        runtime: Runtime,
        feature_set: FeatureSet = "combined",
        *,
        fingerprint: str | None = None,
        with_key: bool = False,
        expected_components: Mapping[str, Any] | None = None,
    ) -> HemmaFeatures:
        """The stage over a runtime already loaded in this process (closed by its owner)."""
        stage = cls.__new__(cls)
        stage._use(runtime, feature_set, fingerprint, with_key, expected_components)
        stage.owns_runtime = False
        return stage

    def _use(
        self,
        runtime: Runtime,
        feature_set: FeatureSet,
        fingerprint: str | None,
        with_key: bool,
        expected_components: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            runtime.check_fingerprint(feature_set, fingerprint)
        except FingerprintMismatchError as exc:
            raise FingerprintMismatchError(
                refusal(runtime, feature_set, fingerprint, expected_components)
            ) from exc
        self.runtime = runtime
        self.owns_runtime = True
        self.feature_set: FeatureSet = feature_set
        self.with_key = with_key
        # The run's sink is the driver's cache: an actor keeps a server store only where
        # HEMMA_STORE_DIR names one (a shared store reuses rows across runs and hosts).
        self.features = StoreBackedFeatures(
            runtime,
            use_store=runtime.settings.store.enabled and runtime.settings.store.dir is not None,
        )
        self.schema = runtime.schema(feature_set)

    def __call__(self, batch: pa.Table | pa.RecordBatch) -> pa.Table:
        """The feature rows of ``batch``, same rows and order, in the set's output schema.

        Raises ``InputRuleError`` naming the row (within the batch) and the essay id for a
        row that breaks an input rule, as the Flight plane does.
        """
        rows = as_input_batch(record_batch(batch))
        keys = content_key_array(rows) if self.with_key else None
        answers = self.features.answers(
            InputBatch(rows=rows, feature_set=self.feature_set, keys=keys)
        )
        table = pa.Table.from_batches(list(answers), schema=self.schema)
        if keys is not None:
            table = table.add_column(0, KEY_COLUMN, keys)
        return table

    def __del__(self) -> None:
        # Ray ends an actor without a hook; the parse workers also die with their parent.
        runtime = getattr(self, "runtime", None)
        if runtime is not None and getattr(self, "owns_runtime", False):
            runtime.close()


def refusal(
    runtime: Runtime,
    feature_set: FeatureSet,
    expected: str | None,
    components: Mapping[str, Any] | None,
) -> str:
    """Why this host refuses the run's fingerprint: the host, both fingerprints, what
    differs from the run's components, and what its embedding loader could not follow."""
    text = (
        f"{FINGERPRINT_MISMATCH}: the request expects {expected}, host {socket.gethostname()} "
        f"computes {runtime.fingerprint_for(feature_set)} for {feature_set}"
    )
    if components is not None:
        here = dict(_flat(runtime.fingerprint.components))
        there = dict(_flat(components))
        keys = sorted(here.keys() | there.keys())
        differing = [key for key in keys if here.get(key) != there.get(key)]
        shown = [
            f"{key} is {_short(here.get(key, 'absent'))} here, "
            f"{_short(there.get(key, 'absent'))} in the run"
            for key in differing[:6]
        ]
        more = f" and {len(differing) - 6} more" if len(differing) > 6 else ""
        if shown:
            text += ": " + "; ".join(shown) + more
    report = runtime.embedder.report
    if report is not None and report.notes:
        text += "; its embedding loader: " + "; ".join(report.notes)
    return text + "; pin each the same on every host (docs/scale-out.md)"


def _short(value: Any, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _flat(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted paths of a nested mapping's leaves (lists stay whole)."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _flat(inner, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), value


def settings_mapping(settings: Settings) -> dict[str, Any]:
    """Settings as plain values by flat name, to hand to actors on other hosts."""
    return settings.flat()
