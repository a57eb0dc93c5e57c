"""``RayEngine``: the client's extract run with Ray Data computing what the cache lacks.

Everything but the compute is the Flight path's own code (``FeatureClient.extract``):
reading and checking the essays, content keys, which keys the cache holds, combined rows
from cached components, segments committed every few seconds, the report. Only where the
rows are computed changes: ``fetch`` streams the missing essays through ``HemmaFeatures``
actors on a Ray cluster and hands each finished block to the cache as it arrives, so a
killed driver loses at most the blocks in flight and the uncommitted segment.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec
import pyarrow as pa

from hemma_features.client.combined import OnBatch
from hemma_features.client.errors import HemmaClientError, ProtocolError
from hemma_features.client.feature_client import FeatureClient
from hemma_features.client.report import RunStats
from hemma_features.contract import (
    INPUT_SCHEMA,
    KEY_COLUMN,
    FeatureSet,
    FingerprintInfo,
    ServerConfig,
)
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


class RayEngine(FeatureClient):
    """``FeatureClient.extract`` with Ray Data computing the rows (``--engine ray``).

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
        self.server = RAY_LOCATION if address is None else f"ray at {address}"
        self.settings = settings
        self.concurrency = concurrency
        self.num_gpus = num_gpus
        self.num_cpus = num_cpus
        self.batch_rows = batch_rows
        self.commit_seconds = commit_seconds
        self.stage = stage
        self.last_report = None
        self._info = info

    def close(self) -> None:
        """Nothing to close: the Ray connection outlives one engine (``ray.shutdown``)."""

    def _flight_only(self, what: str) -> HemmaClientError:
        return HemmaClientError(
            f"{what} talks to a feature server over Flight; the Ray engine only extracts "
            "(use FeatureClient for it)"
        )

    def health(self) -> dict[str, Any]:
        raise self._flight_only("health()")

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        raise self._flight_only("stream()")

    def upload(self, *args: Any, **kwargs: Any) -> Any:
        raise self._flight_only("upload()")

    def read_dataset(self, *args: Any, **kwargs: Any) -> Any:
        raise self._flight_only("read_dataset()")

    @property
    def info(self) -> EngineInfo:
        """What the actors compute (asked of the cluster once per engine)."""
        if self._info is None:
            self._info = describe(self.settings, num_gpus=self.num_gpus, num_cpus=self.num_cpus)
        return self._info

    def config(self) -> ServerConfig:
        return self.info.config

    def fingerprint(self) -> FingerprintInfo:
        return self.info.fingerprint

    def flight_location(self, config: ServerConfig | None = None) -> str:
        return RAY_LOCATION

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

    def fetch(
        self,
        essays: pa.Table,
        keys: pa.Array,
        feature_set: FeatureSet,
        *,
        fingerprint: str,
        location: str,
        max_items: int,
        on_batch: OnBatch,
        stats: RunStats,
    ) -> None:
        """Compute ``essays`` on the cluster; hand each finished block (with ``key``) on.

        Blocks come back in the order they finish; each carries its rows' keys, which is
        all the cache needs. Ray replaces an actor that died and reruns its blocks
        (``max_restarts``/``max_task_retries`` -1, Ray Data's defaults for actor pools).
        """
        schema = self.info.schema(feature_set)
        schema = schema.insert(0, pa.field(KEY_COLUMN, pa.string()))
        started = time.perf_counter()
        for block in self.dataset(essays, feature_set, fingerprint).iter_batches(
            batch_size=None, batch_format="pyarrow", prefetch_batches=0
        ):
            table = restore_schema(block, schema)
            now = time.perf_counter()
            stats.latencies.append(now - started)
            started = now
            if stats.first_rows_at is None:
                stats.first_rows_at = now
            on_batch(table)
            stats.rows_fetched += table.num_rows
            stats.bytes_received += table.nbytes


__all__ = ["EngineInfo", "RayEngine", "describe", "restore_schema"]
