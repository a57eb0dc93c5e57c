"""The server's stores: computed feature rows and uploaded datasets, on disk.

They outlive any one runtime (a hot reload switches the runtime, never the stores), and so
does what they know of their own health: a store that could not keep rows stays reported
as degraded across a reload until a write succeeds again.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import structlog

from hemma_features.contract import FeatureSet, StoreInfo
from hemma_features.engine.datasets import DatasetStore
from hemma_features.engine.feature_store import FeatureStore
from hemma_features.engine.metrics import Metrics
from hemma_features.engine.settings import Settings

log = structlog.get_logger(__name__)


def store_path(settings: Settings) -> Path | None:
    """The server store's directory: None when ``store`` is off, else the setting, else
    ``store`` under the per-user data directory."""
    if not settings.store.enabled:
        return None
    if settings.store.dir:
        return Path(settings.store.dir).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("hemma-features")) / "store"


def store_view(settings: Settings) -> StoreInfo:
    """Where the server store lives and its size bound (``None`` path: no store)."""
    path = store_path(settings)
    return StoreInfo(
        enabled=path is not None,
        path=str(path) if path is not None else None,
        max_bytes=settings.store.max_bytes,
    )


class Stores:
    """One server's feature store and uploaded datasets (both None when the store is off).

    Args:
        settings: Where the store lives and its size bound.
        use_store: False opens none (every row is computed).
    """

    def __init__(self, settings: Settings, *, use_store: bool = True) -> None:
        root = store_path(settings) if use_store else None
        self.store = FeatureStore(root, settings.store.max_bytes) if root else None
        self.datasets = DatasetStore(root) if root else None
        self._problem: str | None = None
        self._lock = threading.Lock()

    @property
    def problem(self) -> str | None:
        """Why the feature store cannot keep new rows now (None: it can), for readiness."""
        with self._lock:
            return self._problem

    def keep(
        self, fingerprint: str, feature_set: FeatureSet, computed: pa.Table, metrics: Metrics
    ) -> None:
        """Store computed rows; a store that cannot take them never fails the request."""
        if self.store is None:
            return
        try:
            self.store.add(fingerprint, feature_set, computed)
        except OSError as exc:
            reason = (
                f"the feature store at {self.store.root} cannot keep new rows "
                f"({exc.strerror or exc}); features are computed and served but not stored"
            )
            metrics.store_write_errors.inc()
            with self._lock:
                first = self._problem != reason
                self._problem = reason
            if first:
                log.error("store.write_failed", store=str(self.store.root), error=str(exc))
        else:
            with self._lock:
                self._problem = None
