"""``RayEngine``: the ``extract`` facade over a Ray cluster, whose rows are computed by Ray
Data actors.

Everything but the compute is the Flight path's own code (``client.extraction``): reading
and checking the essays, content keys, which keys the cache holds, combined rows from
cached components, segments committed every few seconds, the report. Only where the rows
are computed changes: the engine holds a ``RayCluster`` (``cluster``) and hands it to each
run's ``RaySource`` (``fetcher``), whose ``RayFetcher`` streams the missing essays through
``HemmaFeatures`` actors and hands each finished block to the cache as it arrives, so a
killed driver loses at most the blocks in flight and the uncommitted segment.

The cluster is joined only when it must be (``connect``): to ask what it computes
(unless a cache remembers it, ``memory``) and to compute rows the cache lacks. Joining is
bounded and says in one line what is wrong (``connect``); a cluster lost mid-run stops the
run as Ctrl-C does (``watch``); what Ray recovered on its own is counted (``ledger``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hemma_features.client.extraction import ExtractFacade
from hemma_features.contract import FingerprintInfo, ServerConfig
from hemma_features.engine.settings import Settings
from hemma_features.ray_engine.cluster import RayCluster
from hemma_features.ray_engine.connect import DEFAULT_CONNECT_TIMEOUT, Target
from hemma_features.ray_engine.fetcher import RayFetcher, RaySource
from hemma_features.ray_engine.info import EngineInfo, describe, forwarded_env
from hemma_features.ray_engine.stage import HemmaFeatures
from hemma_features.ray_engine.translate import cause, restore_schema

RAY_LOCATION = "ray"
"""What the report and messages name as the place rows were computed."""


class RayEngine(ExtractFacade):
    """Extraction on a Ray cluster (``extract --engine ray``): the ``extract`` /
    ``extract_with_report`` of every engine (``client.extraction.ExtractFacade``) over a
    ``RayCluster`` it holds and hands to each run's ``RaySource``.

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
        self.cluster = RayCluster(
            settings,
            address=address,
            concurrency=concurrency,
            num_gpus=num_gpus,
            num_cpus=num_cpus,
            resources=dict(resources or {}),
            batch_rows=batch_rows,
            stage=stage,
            info=info,
            quiet=quiet,
            connect_timeout=connect_timeout,
            env=dict(forwarded_env() if env is None else env),
            log_path=log_path,
        )
        """The cluster, handed to each run's ``RaySource``."""
        self.commit_seconds = commit_seconds

    def close(self) -> None:
        """Nothing to close: the Ray connection outlives one engine (``ray.shutdown``)."""

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def target(self) -> Target:
        """The cluster joined, and where its address came from."""
        return self.cluster.target

    @property
    def remembered(self) -> bool:
        """What the actors compute came from the cache's memory, not from the cluster."""
        return self.cluster.remembered

    def remember_in(self, cache: Path | str, *, use_remembered: bool = True) -> None:
        """Remember what the cluster computes in ``cache``, and take it from there when an
        earlier run with the same settings and cluster left it (``RayCluster.remember_in``),
        unless ``use_remembered`` is False (``--ray-refresh``)."""
        self.cluster.remember_in(cache, use_remembered=use_remembered)

    @property
    def info(self) -> EngineInfo:
        """What the actors compute (known, remembered, or asked of the cluster once)."""
        return self.cluster.info

    def config(self) -> ServerConfig:
        """The settings and limits the actors run with (as ``/v1/config``)."""
        return self.info.config

    def fingerprint(self) -> FingerprintInfo:
        """The fingerprints the actors compute (as ``/v1/fingerprint``)."""
        return self.info.fingerprint

    def row_source(self, cache: str | None) -> RaySource:
        """The cluster as one run's ``RowSource``, remembering what it computes in ``cache``
        when a run has one (``remember_in``; unless it already does, as ``extract --engine
        ray`` asks)."""
        if cache is not None and cache != self.cluster.remembering:
            self.remember_in(cache)
        return RaySource(self.cluster)


__all__ = [
    "EngineInfo",
    "RayEngine",
    "RayFetcher",
    "RaySource",
    "cause",
    "describe",
    "restore_schema",
]
