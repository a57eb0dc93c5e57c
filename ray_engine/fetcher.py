"""``RaySource``: a ``RayCluster`` as a ``RowSource``; ``RayFetcher``: one run's missing
essays through its actor pool, each block into the cache as it arrives.

Blocks come back in the order they finish; each carries its rows' keys, which is all the
cache needs. While the driver waits for a block, ``ClusterWatch`` may end the wait when
the cluster has gone silent (``ClusterLostError``); what Ray recovered on its own (lost
actors restarted, their blocks computed again) is read from the run's ledger into the
report.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from hemma_features.client.errors import ServerInternalError
from hemma_features.client.run_report import RunStats
from hemma_features.client.source import FetchRequest, OnBatch
from hemma_features.contract import FingerprintInfo, ServerConfig
from hemma_features.engine.errors import FingerprintMismatchError
from hemma_features.logs import library_logger
from hemma_features.ray_engine.cluster import RayCluster
from hemma_features.ray_engine.errors import ClusterLostError
from hemma_features.ray_engine.translate import restore_schema, translated
from hemma_features.ray_engine.watch import ClusterWatch, answers

log = library_logger(__name__)

_ABANDONED: list[Any] = []
"""Block iterators of runs whose cluster was lost: never closed (closing one asks the
lost cluster to stop its actors, and waits)."""


class RayFetcher:
    """One run's fetcher on the cluster.

    Blocks come back in the order they finish; each carries its rows' keys, which is all
    the cache needs. Ray replaces an actor that died and reruns its blocks
    (``max_restarts``/``max_task_retries`` -1, Ray Data's defaults for actor pools); the
    run's ledger counts both into the report (``retries``, ``lost_actors``).

    Args:
        cluster: The cluster the blocks are computed on.
        stats: The run's counters.
    """

    def __init__(self, cluster: RayCluster, stats: RunStats) -> None:
        self.cluster = cluster
        self.location = cluster.location
        """Where the rows were computed (the summary's "computed by")."""
        if not cluster.joined:  # the cache remembered the cluster's answer
            self.location += "; not joined, as every row was in the cache"
        self.stats = stats

    def __call__(self, request: FetchRequest, on_batch: OnBatch) -> None:
        cluster = self.cluster
        cluster.connect()
        self.location = cluster.location
        schema = cluster.schema(request.feature_set)
        ledger = cluster.start_ledger()
        watch = cluster.watch()
        count_within: float | None = 10.0  # seconds the ledger may take to answer (ok run)
        try:
            dataset = cluster.dataset(
                request.essays, request.feature_set, request.fingerprint, ledger
            )
            blocks = iter(
                dataset.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0)
            )
            self._stream(blocks, schema, watch, on_batch)
        except (ClusterLostError, KeyboardInterrupt):
            count_within = None  # nothing left to ask, or no time: Ctrl-C saves first
            raise
        except FingerprintMismatchError as exc:
            if cluster.remembered:  # the cluster changed since the memory was written
                cluster.forget()
                exc.add_note(
                    "the cluster computes another fingerprint than at the last run with these "
                    "settings, which the cache remembered; forgotten now: rerun the same "
                    "command to ask the cluster again"
                )
            count_within = 2.0
            raise
        except BaseException:
            count_within = 2.0
            raise
        finally:
            watch.close()
            if count_within is not None:
                self._count(cluster.read_ledger(ledger, count_within), failed=count_within < 10.0)

    def _stream(
        self, blocks: Iterator[Any], schema: pa.Schema, watch: ClusterWatch, on_batch: OnBatch
    ) -> None:
        import ray.exceptions

        stats = self.stats
        started = time.perf_counter()
        while True:
            try:
                with watch.waiting(), translated("computing features"):
                    block = next(blocks, None)
            except KeyboardInterrupt:
                if watch.lost is None:
                    raise  # Ctrl-C
                raise self._lost(blocks, watch.lost) from None
            except (ServerInternalError, ray.exceptions.RayError) as exc:
                silent = self._silent(watch)
                if silent is not None:
                    raise self._lost(blocks, silent) from exc
                raise
            if watch.lost is not None:
                raise self._lost(blocks, watch.lost)
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

    def _silent(self, watch: ClusterWatch) -> str | None:
        """Which watched address does not answer now (a Ray error may be the first sign)."""
        if watch.lost is not None:
            return watch.lost
        for address, what in watch.addresses.items():
            if not answers(address, timeout=2.0):
                return f"{what} at {address} does not answer"
        return None

    def _lost(self, blocks: Iterator[Any], reason: str) -> ClusterLostError:
        _ABANDONED.append(blocks)
        return self.cluster.lost(reason)

    def _count(self, counts: tuple[int, int] | None, failed: bool) -> None:
        if counts is None:
            if not failed:  # a failed run's one line is about its failure
                log.warning("ray.ledger_unread", note="retried blocks and lost actors not counted")
            return
        retried, lost_actors = counts
        self.stats.retries += retried
        self.stats.lost_actors += lost_actors


class RaySource:
    """A ``RayCluster`` as a ``RowSource``: fingerprints and limits from what its actors
    compute (remembered in the cache, or asked of it once), rows through its actor pool.

    Args:
        cluster: The cluster, held by the ``RayEngine`` that hands it out.
    """

    def __init__(self, cluster: RayCluster) -> None:
        self.cluster = cluster

    def config(self) -> ServerConfig:
        """The settings and limits the actors run with (as ``/v1/config``)."""
        return self.cluster.info.config

    def fingerprint(self) -> FingerprintInfo:
        """The fingerprints the actors compute (as ``/v1/fingerprint``)."""
        return self.cluster.info.fingerprint

    def fetcher(self, config: ServerConfig, stats: RunStats) -> RayFetcher:
        """A run's fetcher: blocks through the cluster's actor pool."""
        return RayFetcher(self.cluster, stats)

    def close(self) -> None:
        """Nothing to release: the Ray connection outlives a run (``ray.shutdown``)."""
