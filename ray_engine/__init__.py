"""Computing a corpus on a Ray cluster: the same runtime, rows and cache as Flight.

- ``HemmaFeatures`` (``stage``): the ``Dataset.map_batches`` class; each actor loads the
  runtime ``serve`` loads and returns the Flight plane's feature batches.
- ``RayEngine`` (``engine``): ``FeatureClient.extract`` with Ray computing what the cache
  lacks (``hemma-features extract --engine ray``); ``describe`` and ``restore_schema``
  give a notebook the fingerprint and the schema metadata Ray may drop, and
  ``decided_settings`` the settings with the cluster's embedding decisions pinned.
- ``RayCluster`` (``cluster``): what the engine asks of the cluster, handed to each run's
  ``RaySource`` (``fetcher``), whose ``RayFetcher`` streams the blocks into the cache.
- Joining a cluster within a bounded time (``connect``), a cluster lost mid-run
  (``watch``), what Ray recovered (``ledger``), what a cache remembers of the cluster
  (``memory``), Ray's own output (``ray_log``): each a module of its own.

Needs ``hemma-features[server,ray]``; the client alone never imports this package.
"""

from __future__ import annotations

from hemma_features.ray_engine.engine import RayEngine, restore_schema
from hemma_features.ray_engine.errors import ClusterLostError, RayClusterError
from hemma_features.ray_engine.info import EngineInfo, decided_settings, describe, forwarded_env
from hemma_features.ray_engine.stage import HemmaFeatures, settings_mapping

__all__ = [
    "ClusterLostError",
    "EngineInfo",
    "HemmaFeatures",
    "RayClusterError",
    "RayEngine",
    "decided_settings",
    "describe",
    "forwarded_env",
    "restore_schema",
    "settings_mapping",
]
