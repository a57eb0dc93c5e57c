"""``RayCluster``: the Ray cluster a ``RayEngine`` computes on, and everything asked of it.

Joining within a bound (``connect``), what the cluster computes and the embedding decision
pinned for every actor (``info``; remembered in the run's cache, ``memory``), the Ray
Dataset through the actor pool (``dataset``), the run's ledger of lost actors and retried
blocks (``ledger``), and the error of a cluster gone silent (``lost``). A ``RayEngine``
holds one and hands it to each run's ``RaySource``; nothing here knows who holds it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path
from typing import Any

import pyarrow as pa

from hemma_features.contract import INPUT_SCHEMA, KEY_COLUMN, FeatureSet
from hemma_features.engine.settings import Settings
from hemma_features.logs import library_logger
from hemma_features.ray_engine.connect import Target, join, largest_node, resolve
from hemma_features.ray_engine.errors import ClusterLostError
from hemma_features.ray_engine.info import EngineInfo, decided_settings, describe
from hemma_features.ray_engine.ledger import counted, read_ledger, start_ledger
from hemma_features.ray_engine.memory import RunMemory, key_material
from hemma_features.ray_engine.stage import HemmaFeatures
from hemma_features.ray_engine.translate import translated
from hemma_features.ray_engine.watch import ClusterWatch, watched_addresses

log = library_logger(__name__)


def actor_pool(concurrency: int | tuple[int, int]) -> Any:
    """Ray Data's actor pool: ``N`` actors, or ``(min, max)`` autoscaling between them."""
    import ray.data

    if isinstance(concurrency, tuple):
        return ray.data.ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
    return ray.data.ActorPoolStrategy(size=concurrency)


class RayCluster:
    """One Ray cluster and the actors a run asks of it (``RayEngine``'s arguments, which
    it documents).

    Args:
        settings: Runtime settings for every actor.
        address: Ray cluster address, or None (``connect.resolve``); ignored when this
            process already called ``ray.init``.
        concurrency: Actors (an int) or an autoscaling range ``(min, max)``.
        num_gpus: GPUs per actor.
        num_cpus: CPUs per actor.
        resources: Custom Ray resources per actor.
        batch_rows: Essays per Ray block.
        stage: The ``map_batches`` class.
        info: What the actors compute, when already known.
        quiet: Keep Ray's own INFO lines and Ray Data's notices off the terminal.
        connect_timeout: Seconds joining may take, and the cluster may stay silent mid-run.
        env: The environment every actor gets.
        log_path: Where the command keeps Ray's own output (named in messages).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        address: str | None,
        concurrency: int | tuple[int, int],
        num_gpus: float,
        num_cpus: float,
        resources: Mapping[str, float],
        batch_rows: int,
        stage: type[HemmaFeatures],
        info: EngineInfo | None,
        quiet: bool,
        connect_timeout: float,
        env: Mapping[str, str],
        log_path: Path | None,
    ) -> None:
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
        self.resources = dict(resources)
        self.batch_rows = batch_rows
        self.stage = stage
        self.quiet = quiet
        self.connect_timeout = connect_timeout
        self.env = dict(env)
        self.log_path = log_path
        self.location = self.target.location + (f" (Ray's log: {log_path})" if log_path else "")
        """Where rows are computed (the summary's "computed by")."""
        self._info = info
        self.join_guard: Callable[[], ContextManager[None]] = contextlib.nullcontext
        """Wraps joining (the command ends the process when it hangs)."""
        self._memory: RunMemory | None = None
        self.remembering: str | None = None
        """The cache the cluster's answer is remembered in (``remember_in``)."""
        self.remembered = False
        """The info came from the cache's memory, not from asking the cluster."""

    # -- joining ----------------------------------------------------------------------
    @property
    def joined(self) -> bool:
        """This process is on the cluster (``ray.init`` ran)."""
        import ray

        return bool(ray.is_initialized())

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

    def watch(self) -> ClusterWatch:
        """A started watch on the head and this driver's node (``watch``)."""
        return ClusterWatch(watched_addresses(), lost_after=self.connect_timeout).start()

    def lost(self, reason: str, during: str = "mid-run") -> ClusterLostError:
        """The error of a cluster that went silent ``during`` something."""
        where = f" while {during}" if during != "mid-run" else " mid-run"
        log_note = f"; Ray's log: {self.log_path}" if self.log_path else ""
        return ClusterLostError(
            f"the Ray cluster at {self.target.address} was lost{where}: {reason}{log_note}"
        )

    # -- what it computes -------------------------------------------------------------
    def remember_in(self, cache: Path | str, *, use_remembered: bool = True) -> None:
        """Remember what the cluster computes in ``cache``, and take it from there when an
        earlier run with the same settings and cluster left it (``memory``), unless
        ``use_remembered`` is False (``--ray-refresh``: ask, and remember the answer)."""
        import ray

        material = key_material(
            self.settings, self.target.address, self.num_gpus, ray.__version__, self.resources
        )
        self._memory = RunMemory(cache, material)
        self.remembering = str(cache)
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
        watch = self.watch()
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

    @property
    def actor_settings(self) -> Settings:
        """The settings every actor runs with: the driver's, with the cluster's decisions
        pinned (``info.decided_settings``)."""
        return decided_settings(self.settings, self.info)

    def schema(self, feature_set: FeatureSet) -> pa.Schema:
        """The rows of ``feature_set`` as the actors answer them, ``key`` first."""
        return self.info.schema(feature_set).insert(0, pa.field(KEY_COLUMN, pa.string()))

    # -- computing --------------------------------------------------------------------
    def start_ledger(self) -> Any:
        """A run's ledger of lost actors and retried blocks (``ledger.start_ledger``)."""
        return start_ledger()

    def read_ledger(self, ledger: Any, within: float) -> tuple[int, int] | None:
        """(retried blocks, lost actors) of a run, or None unanswered ``within`` seconds."""
        return read_ledger(ledger, within)

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


__all__ = ["RayCluster", "actor_pool"]
