"""``RayEngine``: a ``RowSource`` whose rows are computed by Ray Data actors.

Everything but the compute is the Flight path's own code (``client.extraction``): reading
and checking the essays, content keys, which keys the cache holds, combined rows from
cached components, segments committed every few seconds, the report. Only where the rows
are computed changes: ``RayFetcher`` streams the missing essays through ``HemmaFeatures``
actors on a Ray cluster and hands each finished block to the cache as it arrives, so a
killed driver loses at most the blocks in flight and the uncommitted segment.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pyarrow as pa

from hemma_features.client.cache import CacheFormat
from hemma_features.client.cache_fill import Progress
from hemma_features.client.errors import ProtocolError, ServerInternalError
from hemma_features.client.extraction import ExtractResult, OnPartial, extract, extract_options
from hemma_features.client.inputs import Columns
from hemma_features.client.report import RunStats
from hemma_features.client.source import FetchRequest, OnBatch
from hemma_features.contract import (
    INPUT_SCHEMA,
    KEY_COLUMN,
    ContractError,
    FeatureSet,
    FingerprintInfo,
    ServerConfig,
)
from hemma_features.engine.errors import HemmaServiceError
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.settings import Settings
from hemma_features.logs import library_logger
from hemma_features.ray_engine.stage import HemmaFeatures

log = library_logger(__name__)

RAY_LOCATION = "ray"
"""What the report and messages name as the place rows were computed."""


class EngineInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What one runtime loaded on the cluster answers, as the control plane would."""

    fingerprint: FingerprintInfo
    """``/v1/fingerprint``: the fingerprints every actor must compute."""
    config: ServerConfig
    """``/v1/config``: effective settings and the request limits."""
    schemas: dict[str, bytes]
    """Each available feature set's output schema (Arrow IPC bytes, metadata included)."""

    def schema(self, feature_set: FeatureSet) -> pa.Schema:
        """The Flight plane's output schema of ``feature_set``, metadata included."""
        return pa.ipc.read_schema(pa.py_buffer(self.schemas[feature_set]))

    @classmethod
    def of(cls, runtime: Runtime) -> EngineInfo:
        """What a loaded runtime computes."""
        return cls(
            fingerprint=runtime.fingerprint,
            config=runtime.server_config(0, None),
            schemas={
                fs: runtime.schema(fs).serialize().to_pybytes()
                for fs in runtime.available_feature_sets()
            },
        )


def describe_runtime(settings: Settings) -> EngineInfo:
    """Load a runtime (parsing inline: no workers) and say what it computes."""
    runtime = Runtime.load(msgspec.structs.replace(settings, parse_workers=0))
    try:
        return EngineInfo.of(runtime)
    finally:
        runtime.close()


def describe(settings: Settings, *, num_gpus: float = 0, num_cpus: float = 1) -> EngineInfo:
    """What the actors will compute, asked of one runtime loaded on the cluster.

    Runs as a Ray task with the actors' resources, so the fingerprint is that of a host
    where actors run (device and kernel class enter it), not the driver's.
    """
    import ray

    task = ray.remote(num_gpus=num_gpus, num_cpus=num_cpus, max_retries=1)(describe_runtime)
    return msgspec.convert(ray.get(task.remote(settings)), EngineInfo)


def cause(exc: BaseException) -> BaseException:
    """The project's own error under Ray's wrappers (``RayTaskError``, ``UserCodeException``);
    ``exc`` itself when there is none."""
    todo: list[BaseException] = [exc]
    for _ in range(20):  # wrappers nest a few levels at most
        if not todo:
            break
        seen = todo.pop(0)
        if isinstance(seen, HemmaServiceError | ContractError):
            return seen
        # RayTaskError keeps the error in .cause, ActorDiedError the RayTaskError in args.
        inner = [getattr(seen, "cause", None), seen.__cause__, *seen.args]
        todo += [e for e in inner if isinstance(e, BaseException)]
    return exc


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Ray's errors leave as the project's, once, at this boundary: the project error an
    actor raised (a bad row, a model that does not load), else ``ServerInternalError``."""
    import ray.exceptions

    try:
        yield
    except ray.exceptions.RayError as exc:
        found = cause(exc)
        if isinstance(found, HemmaServiceError | ContractError):
            raise found from exc
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ServerInternalError(f"the Ray cluster failed while {what}: {last}") from exc


def restore_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` in ``schema`` with its metadata (Ray may drop schema metadata when it
    moves blocks); names and types must already match."""
    if table.column_names != schema.names:
        raise ProtocolError(
            f"a Ray block has columns {table.column_names}, the feature set has {schema.names}"
        )
    return pa.Table.from_arrays(table.columns, schema=schema)


def actor_pool(concurrency: int | tuple[int, int]) -> Any:
    """Ray Data's actor pool: ``N`` actors, or ``(min, max)`` autoscaling between them."""
    import ray.data

    if isinstance(concurrency, tuple):
        return ray.data.ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
    return ray.data.ActorPoolStrategy(size=concurrency)


class RayEngine:
    """A ``RowSource`` computing on a Ray cluster (``extract --engine ray``).

    Args:
        settings: Runtime settings for every actor (``HEMMA_*`` on the driver plus flags).
        address: Ray cluster address (``ray.init(address=...)``); ``None`` joins the
            cluster ``RAY_ADDRESS`` names, else starts a local one.
        concurrency: Actors (an int) or an autoscaling range ``(min, max)``.
        num_gpus: GPUs per actor (1: one actor per GPU).
        num_cpus: CPUs per actor.
        batch_rows: Essays per Ray block; a killed driver recomputes at most the blocks in
            flight.
        commit_seconds: Longest computed rows wait in memory before they are committed.
        stage: The ``map_batches`` class (tests pass a subclass of ``HemmaFeatures``).
        info: What the actors compute, when already known (``EngineInfo.of`` a runtime
            loaded with the same settings on the same kind of host); else asked of the
            cluster once (``describe``: one more runtime load).
        quiet: Keep Ray's own INFO lines and Ray Data's notices off the terminal (the CLI);
            its warnings and errors still show.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        address: str | None = None,
        concurrency: int | tuple[int, int] = 1,
        num_gpus: float = 0,
        num_cpus: float = 1,
        batch_rows: int = 64,
        commit_seconds: float = 5.0,
        stage: type[HemmaFeatures] = HemmaFeatures,
        info: EngineInfo | None = None,
        quiet: bool = False,
    ) -> None:
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, given: {batch_rows}")
        import ray
        import ray.data

        if quiet:
            logging.getLogger("ray.data").setLevel(logging.ERROR)
        if not ray.is_initialized():
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING if quiet else logging.INFO,
            )
        # The extract command draws its own progress bar; Ray Data's would interleave.
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        self.location = RAY_LOCATION if address is None else f"ray at {address}"
        self.settings = settings
        self.concurrency = concurrency
        self.num_gpus = num_gpus
        self.num_cpus = num_cpus
        self.batch_rows = batch_rows
        self.commit_seconds = commit_seconds
        self.stage = stage
        self._info = info

    def close(self) -> None:
        """Nothing to close: the Ray connection outlives one engine (``ray.shutdown``)."""

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def info(self) -> EngineInfo:
        """What the actors compute (asked of the cluster once per engine)."""
        if self._info is None:
            with translated("loading the runtime"):
                self._info = describe(self.settings, num_gpus=self.num_gpus, num_cpus=self.num_cpus)
        return self._info

    def config(self) -> ServerConfig:
        """The settings and limits the actors run with (as ``/v1/config``)."""
        return self.info.config

    def fingerprint(self) -> FingerprintInfo:
        """The fingerprints the actors compute (as ``/v1/fingerprint``)."""
        return self.info.fingerprint

    def fetcher(self, config: ServerConfig, stats: RunStats) -> RayFetcher:
        """A run's fetcher (``RowSource``): blocks through the actor pool."""
        return RayFetcher(self, stats)

    def extract(
        self,
        data: Any,
        *,
        feature_set: FeatureSet = "combined",
        cache: str | None = None,
        columns: Columns | None = None,
        progress: Progress | None = None,
        cache_format: CacheFormat | None = None,
    ) -> pa.Table:
        """Features for every input row, in input order, computed on the cluster where the
        cache lacks them (as ``FeatureClient.extract``)."""
        return self.extract_with_report(
            data, feature_set=feature_set, cache=cache, columns=columns, progress=progress,
            cache_format=cache_format,
        ).table  # fmt: skip

    def extract_with_report(
        self,
        data: Any,
        *,
        feature_set: FeatureSet = "combined",
        cache: str | None = None,
        columns: Columns | None = None,
        progress: Progress | None = None,
        cache_format: CacheFormat | None = None,
        on_partial: OnPartial | None = None,
    ) -> ExtractResult:
        """As ``extract``, returning the rows and the run's report."""
        options = extract_options(
            feature_set, cache, columns, cache_format, commit_seconds=self.commit_seconds
        )
        return extract(self, data, options, progress=progress, on_partial=on_partial)

    def dataset(self, essays: pa.Table, feature_set: FeatureSet, fingerprint: str) -> Any:
        """The Ray Dataset of ``essays``' feature rows, each with its ``key`` first."""
        import ray.data

        rows = essays.select(INPUT_SCHEMA.names)
        step = self.batch_rows
        blocks = [rows.slice(at, step) for at in range(0, rows.num_rows, step)]
        return ray.data.from_arrow(blocks).map_batches(
            self.stage,
            fn_constructor_kwargs={
                "feature_set": feature_set,
                "settings": self.settings,  # exactly what describe() fingerprinted
                "fingerprint": fingerprint,
                "with_key": True,
            },
            batch_format="pyarrow",
            batch_size=self.batch_rows,
            compute=actor_pool(self.concurrency),
            num_gpus=self.num_gpus or None,
            num_cpus=self.num_cpus,
        )


class RayFetcher:
    """One run's fetcher on the cluster.

    Blocks come back in the order they finish; each carries its rows' keys, which is all
    the cache needs. Ray replaces an actor that died and reruns its blocks
    (``max_restarts``/``max_task_retries`` -1, Ray Data's defaults for actor pools).
    """

    def __init__(self, engine: RayEngine, stats: RunStats) -> None:
        self.engine = engine
        self.location = engine.location
        self.stats = stats

    def __call__(self, request: FetchRequest, on_batch: OnBatch) -> None:
        stats = self.stats
        schema = self.engine.info.schema(request.feature_set)
        schema = schema.insert(0, pa.field(KEY_COLUMN, pa.string()))
        started = time.perf_counter()
        dataset = self.engine.dataset(request.essays, request.feature_set, request.fingerprint)
        blocks = iter(
            dataset.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0)
        )
        while True:
            with translated("computing features"):
                block = next(blocks, None)
            if block is None:
                return
            table = restore_schema(block, schema)
            now = time.perf_counter()
            stats.latencies.append(now - started)
            started = now
            if stats.first_rows_at is None:
                stats.first_rows_at = now
            on_batch(table)
            stats.rows_fetched += table.num_rows
            stats.bytes_received += table.nbytes


__all__ = ["EngineInfo", "RayEngine", "RayFetcher", "cause", "describe", "restore_schema"]
