"""``Engine``: what both planes serve from, composed once per server.

The runtime slot (which loaded runtime new requests get; a hot reload switches it), the
stores (which outlive every runtime) and the reloader (whose last outcome readiness and
``/v1/config`` show). The Flight plane and the control plane each take the one engine of
their server; neither builds a runtime or opens a store of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import msgspec

from hemma_features.contract import ServerConfig
from hemma_features.engine.config_views import server_config
from hemma_features.engine.reload import Reloader
from hemma_features.engine.runtime import Readiness, Runtime
from hemma_features.engine.runtime_slot import RuntimeSlot
from hemma_features.engine.step_loop import StoreBackedFeatures
from hemma_features.engine.storage import Stores


class Engine:
    """The runtime slot, the stores and the reloader of one server.

    Args:
        slot: The runtime new requests get.
        stores: The feature store and datasets; opened from the runtime's settings when
            None.
        reloader: Hot reload, when the server offers it.
    """

    def __init__(
        self, slot: RuntimeSlot, stores: Stores | None = None, reloader: Reloader | None = None
    ) -> None:
        self.slot = slot
        self.stores = stores if stores is not None else Stores(slot.current.settings)
        self.reloader = reloader

    @classmethod
    def of(cls, served: Runtime | RuntimeSlot | Engine) -> Engine:
        """``served`` itself when it is an engine, else one over it (no reload)."""
        if isinstance(served, Engine):
            return served
        return cls(served if isinstance(served, RuntimeSlot) else RuntimeSlot(served))

    @property
    def runtime(self) -> Runtime:
        """The runtime a request starting now uses."""
        return self.slot.current

    @contextlib.contextmanager
    def features(self) -> Iterator[StoreBackedFeatures]:
        """The stores with the current runtime, leased until the block ends (a replaced
        runtime is freed once its streams end)."""
        with self.slot.lease() as runtime:
            yield StoreBackedFeatures(runtime, self.stores)

    def readiness(self) -> Readiness:
        """The runtime's problems, plus what works worse than it should: a store that cannot
        keep rows, a reload that failed (the old runtime still serves)."""
        readiness = self.runtime.readiness()
        extra = [self.stores.problem, self.reloader.problem() if self.reloader else None]
        degraded = [*readiness.degraded, *(reason for reason in extra if reason)]
        return msgspec.structs.replace(readiness, degraded=degraded)

    def server_config(self, flight_port: int, flight_location: str | None) -> ServerConfig:
        """``/v1/config``: the runtime's view plus the last reload's outcome."""
        config = server_config(self.runtime, flight_port, flight_location)
        if self.reloader is None:
            return config
        return msgspec.structs.replace(config, reload=self.reloader.status)

    def close(self) -> None:
        """Close the current runtime and any replaced one still open."""
        self.slot.close()
