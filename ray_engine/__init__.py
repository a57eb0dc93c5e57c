"""Computing a corpus on a Ray cluster: the same runtime, rows and cache as Flight.

- ``HemmaFeatures`` (``stage``): the ``Dataset.map_batches`` class; each actor loads the
  runtime ``serve`` loads and returns the Flight plane's feature batches.
- ``RayEngine`` (``engine``): ``FeatureClient.extract`` with Ray computing what the cache
  lacks (``hemma-features extract --engine ray``); ``describe`` and ``restore_schema``
  give a notebook the fingerprint and the schema metadata Ray may drop.

Needs ``hemma-features[server,ray]``; the client alone never imports this package.
"""

from __future__ import annotations

from hemma_features.ray_engine.engine import EngineInfo, RayEngine, describe, restore_schema
from hemma_features.ray_engine.stage import HemmaFeatures, settings_mapping

__all__ = [
    "EngineInfo",
    "HemmaFeatures",
    "RayEngine",
    "describe",
    "restore_schema",
    "settings_mapping",
]
