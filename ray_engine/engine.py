"""``RayEngine``: a ``RowSource`` whose rows are computed by Ray Data actors.

Everything but the compute is the Flight path's own code (``client.extraction``): reading
and checking the essays, content keys, which keys the cache holds, combined rows from
cached components, segments committed every few seconds, the report. Only where the rows
are computed changes: ``RayFetcher`` streams the missing essays through ``HemmaFeatures``
actors on a Ray cluster and hands each finished block to the cache as it arrives, so a
killed driver loses at most the blocks in flight and the uncommitted segment.

The engine joins the cluster only when it must (``connect``): to ask what it computes
(unless a cache remembers it, ``memory``) and to compute rows the cache lacks. Joining is
bounded and says in one line what is wrong (``connect``); a cluster lost mid-run stops the
run as Ctrl-C does (``watch``); what Ray recovered on its own is counted (``ledger``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path
from typing import Any

import pyarrow as pa

from hemma_features.client.extraction import ExtractFacade
from hemma_features.client.run_report import RunStats
from hemma_features.contract import (
    INPUT_SCHEMA,
    FeatureSet,
    FingerprintInfo,
    ServerConfig,
)
from hemma_features.engine.settings import Settings
from hemma_features.logs import library_logger
from hemma_features.ray_engine.connect import (
    DEFAULT_CONNECT_TIMEOUT,
    Target,
    join,
    largest_node,
    resolve,
)
from hemma_features.ray_engine.errors import ClusterLostError
from hemma_features.ray_engine.fetcher import RayFetcher
from hemma_features.ray_engine.info import EngineInfo, decided_settings, describe, forwarded_env
from hemma_features.ray_engine.ledger import counted
from hemma_features.ray_engine.memory import RunMemory, key_material
from hemma_features.ray_engine.stage import HemmaFeatures
from hemma_features.ray_engine.translate import cause, restore_schema, translated
from hemma_features.ray_engine.watch import ClusterWatch, watched_addresses

log = library_logger(__name__)

RAY_LOCATION = "ray"
"""What the report and messages name as the place rows were computed."""


def actor_pool(concurrency: int | tuple[int, int]) -> Any:
    """Ray Data's actor pool: ``N`` actors, or ``(min, max)`` autoscaling between them."""
    import ray.data

    if isinstance(concurrency, tuple):
        return ray.data.ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
    return ray.data.ActorPoolStrategy(size=concurrency)


class RayEngine(ExtractFacade):
    """A ``RowSource`` computing on a Ray cluster (``extract --engine ray``), with the
    ``extract`` / ``extract_with_report`` of every engine (``client.extraction.ExtractFacade``).

    Args:
        settings: Runtime settings for every actor (``HEMMA_*`` on the driver plus flags);
            what they leave to the host (``auto`` backend, precision, device) is decided
            once, by the cluster's first runtime, and pinned for every actor.
        address: Ray cluster address (``HOST:PORT`` of the head's GCS, or ``auto``);
            ``None`` joins the cluster ``RAY_ADDRESS`` names, else the last ``ray start``
            on this machine, else starts a local instance. Ignored when this process
            already called ``ray.init``.
        concurrency: Actors (an int) or an autoscaling range ``(min, max)``.
        num_gpus: GPUs per actor (1: one actor per GPU).
        num_cpus: CPUs per actor.
        resources: Custom Ray resources per actor (``{"avx512": 1}``): keeps actors, and
            the runtime that decides what they compute, on hosts that announce them
            (``ray start --resources``), e.g. hosts of one kernel class or GPU model.
        batch_rows: Essays per Ray block; a killed driver recomputes at most the blocks in
            flight.
        commit_seconds: Longest computed rows wait in memory before they are committed.
        stage: The ``map_batches`` class (tests pass a subclass of ``HemmaFeatures``).
        info: What the actors compute, when already known (``EngineInfo.of`` a runtime
            loaded with the same settings on the same kind of host); else remembered by
            the cache (``remember_in``) or asked of the cluster once (``describe``: one
            more runtime load).
        quiet: Keep Ray's own INFO lines and Ray Data's notices off the terminal; its
            warnings and errors still show.
        connect_timeout: Seconds joining may take, and a head or this driver's Ray node
            may stay silent mid-run before the run stops (``ClusterLostError``).
        env: The environment every actor gets (``info.forwarded_env()`` by default).
        log_path: Where the command keeps Ray's own output (named in messages).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        address: str | None = None,
        concurrency: int | tuple[int, int] = 1,
        num_gpus: float = 0,
        num_cpus: float = 1,
        resources: Mapping[str, float] | None = None,
        batch_rows: int = 64,
        commit_seconds: float = 5.0,
        stage: type[HemmaFeatures] = HemmaFeatures,
        info: EngineInfo | None = None,
        quiet: bool = False,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, given: {batch_rows}")
        if connect_timeout <= 0:
            raise ValueError(f"connect_timeout must be above 0 s, given: {connect_timeout}")
        import ray

        self.target = (
            Target(address=ray.get_runtime_context().gcs_address, source="joined already")
            if ray.is_initialized()
            else resolve(address)
        )
        self.settings = settings
        self.concurrency = concurrency
        self.num_gpus = num_gpus
        self.num_cpus = num_cpus
        self.resources = dict(resources or {})
        self.batch_rows = batch_rows
        self.commit_seconds = commit_seconds
        self.stage = stage
        self.quiet = quiet
        self.connect_timeout = connect_timeout
        self.env = dict(forwarded_env() if env is None else env)
        self.log_path = log_path
        self.location = self.target.location + (f" (Ray's log: {log_path})" if log_path else "")
        self._info = info
        self.join_guard: Callable[[], ContextManager[None]] = contextlib.nullcontext
        """Wraps joining (the command ends the process when it hangs)."""
        self._memory: RunMemory | None = None
        self._remembering: str | None = None  # the cache self._memory is in
        self.remembered = False
        """The info came from the cache's memory, not from asking the cluster."""

    def close(self) -> None:
        """Nothing to close: the Ray connection outlives one engine (``ray.shutdown``)."""

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Join the cluster (once per process; bounded, ``RayClusterError`` otherwise)."""
        import ray
        import ray.data

        if not ray.is_initialized():
            level = logging.WARNING if self.quiet else logging.INFO
            with self.join_guard():
                join(self.target, timeout=self.connect_timeout, logging_level=level)
            share = {"CPU": self.num_cpus, "GPU": self.num_gpus, **self.resources}
            short = largest_node(share)
            if short is not None:
                log.warning(
                    "ray.no_node_fits_an_actor",
                    cluster=self.target.address or "local",
                    actor=", ".join(f"{name} {amount:g}" for name, amount in share.items()),
                    cluster_has=short,
                    note="the run waits until a node that fits joins (an autoscaler, or "
                    "`ray start --address=HEAD:PORT --num-cpus=N --num-gpus=N` on a host); "
                    "or ask less per actor (--ray-cpus-per-actor, --ray-gpus-per-actor, "
                    "--ray-resource)",
                )
        if self.quiet:
            logging.getLogger("ray.data").setLevel(logging.ERROR)
        # The extract command draws its own progress bar; Ray Data's would interleave.
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False

    def remember_in(self, cache: Path | str, *, use_remembered: bool = True) -> None:
        """Remember what the cluster computes in ``cache``, and take it from there when an
        earlier run with the same settings and cluster left it (``memory``), unless
        ``use_remembered`` is False (``--ray-refresh``: ask, and remember the answer)."""
        import ray

        material = key_material(
            self.settings, self.target.address, self.num_gpus, ray.__version__, self.resources
        )
        self._memory = RunMemory(cache, material)
        self._remembering = str(cache)
        if self._info is None and use_remembered:
            self._info = self._memory.read()
            self.remembered = self._info is not None

    def forget(self) -> None:
        """Drop what the cache remembers (the cluster computes something else now)."""
        if self._memory is not None:
            self._memory.forget()

    @property
    def info(self) -> EngineInfo:
        """What the actors compute (known, remembered, or asked of the cluster once)."""
        if self._info is None:
            self.connect()
            self._info = self._describe()
            if self._memory is not None:
                self._memory.write(self._info)
        return self._info

    def _describe(self) -> EngineInfo:
        """``describe``, stopped with ``ClusterLostError`` when the cluster goes silent."""
        watch = ClusterWatch(watched_addresses(), lost_after=self.connect_timeout).start()
        try:
            with watch.waiting(), translated("loading the runtime"):
                return describe(
                    self.settings,
                    num_gpus=self.num_gpus,
                    num_cpus=self.num_cpus,
                    env=self.env,
                    resources=self.resources,
                )
        except KeyboardInterrupt:
            if watch.lost is None:
                raise  # Ctrl-C
            raise self.lost(watch.lost, "loading the runtime on it") from None
        finally:
            watch.close()

    def lost(self, reason: str, during: str = "mid-run") -> ClusterLostError:
        """The error of a cluster that went silent ``during`` something."""
        where = f" while {during}" if during != "mid-run" else " mid-run"
        log_note = f"; Ray's log: {self.log_path}" if self.log_path else ""
        return ClusterLostError(
            f"the Ray cluster at {self.target.address} was lost{where}: {reason}{log_note}"
        )

    @property
    def actor_settings(self) -> Settings:
        """The settings every actor runs with: the driver's, with the cluster's decisions
        pinned (``info.decided_settings``)."""
        return decided_settings(self.settings, self.info)

    def config(self) -> ServerConfig:
        """The settings and limits the actors run with (as ``/v1/config``)."""
        return self.info.config

    def fingerprint(self) -> FingerprintInfo:
        """The fingerprints the actors compute (as ``/v1/fingerprint``)."""
        return self.info.fingerprint

    def fetcher(self, config: ServerConfig, stats: RunStats) -> RayFetcher:
        """A run's fetcher (``RowSource``): blocks through the actor pool."""
        return RayFetcher(self, stats)

    def row_source(self, cache: str | None) -> RayEngine:
        """This engine, remembering what the cluster computes in ``cache`` when a run has
        one (``remember_in``; unless it already does, as ``extract --engine ray`` asks)."""
        if cache is not None and cache != self._remembering:
            self.remember_in(cache)
        return self

    def dataset(
        self, essays: pa.Table, feature_set: FeatureSet, fingerprint: str, ledger: Any = None
    ) -> Any:
        """The Ray Dataset of ``essays``' feature rows, each with its ``key`` first."""
        import ray.data

        rows = essays.select(INPUT_SCHEMA.names)
        step = self.batch_rows
        blocks = [rows.slice(at, step) for at in range(0, rows.num_rows, step)]
        remote_args: dict[str, Any] = {"num_gpus": self.num_gpus or None, "num_cpus": self.num_cpus}
        if self.env:
            remote_args["runtime_env"] = {"env_vars": self.env}
        if self.resources:
            remote_args["resources"] = self.resources
        return ray.data.from_arrow(blocks).map_batches(
            counted(self.stage) if ledger is not None else self.stage,
            fn_constructor_kwargs={
                "feature_set": feature_set,
                "settings": self.actor_settings,
                "fingerprint": fingerprint,
                "with_key": True,
                "expected_components": self.info.fingerprint.components,
                **({"ledger": ledger} if ledger is not None else {}),
            },
            batch_format="pyarrow",
            batch_size=self.batch_rows,
            compute=actor_pool(self.concurrency),
            **remote_args,
        )


__all__ = [
    "EngineInfo",
    "RayEngine",
    "RayFetcher",
    "cause",
    "describe",
    "restore_schema",
]
