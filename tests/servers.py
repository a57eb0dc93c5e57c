"""Real servers on 127.0.0.1 port 0 for tests: the feature server in-process, LT-compatible."""

from __future__ import annotations

import re
import threading

import httpx

from hemma_features.contract.locations import flight_url, http_url
from hemma_features.control.app import create_app
from hemma_features.engine.composition import Engine
from hemma_features.engine.reload import Reloader
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.runtime_slot import RuntimeSlot
from hemma_features.flight.server import FeatureFlightServer, create_flight_server
from hemma_features.serve import ControlPlaneThread, bind_socket


class LiveServer:
    """Both planes over one engine (a runtime, or a hot-reload slot, and its stores), in this
    process, on free ports; stop with ``close``."""

    def __init__(
        self, runtime: Runtime | RuntimeSlot | Engine, reloader: Reloader | None = None
    ) -> None:
        self.engine = Engine.of(runtime)
        if reloader is not None:
            self.engine = Engine(self.engine.slot, self.engine.stores, reloader)
        self.slot = self.engine.slot
        self.runtime = self.slot.current
        self.flight: FeatureFlightServer = create_flight_server(self.engine, "127.0.0.1", 0)
        sock = bind_socket("127.0.0.1", 0)
        self.http_port = sock.getsockname()[1]
        app = create_app(
            self.engine, flight_port=self.flight.port, flight_location=self.flight.location
        )
        self._control_plane = ControlPlaneThread(app, self.runtime.settings, sock)
        self._control_plane.start()

    @property
    def http_url(self) -> str:
        return http_url("127.0.0.1", self.http_port, tls=self.runtime.settings.server.tls)

    @property
    def flight_url(self) -> str:
        return flight_url("127.0.0.1", self.flight.port, tls=self.runtime.settings.server.tls)

    def close(self, timeout: float = 60.0) -> None:
        """Stop both planes; a client still holding a stream cannot hang the tests."""
        self._control_plane.stop()
        stopper = threading.Thread(target=self.flight.shutdown, daemon=True)
        stopper.start()
        stopper.join(timeout)


def counter(http_url: str, name: str, feature_set: str) -> float:
    """Sum of a counter's samples for one feature set, read from /metrics."""
    text = httpx.get(f"{http_url}/metrics").text
    total = 0.0
    for match in re.finditer(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.M):
        if f'feature_set="{feature_set}"' in match.group(1):
            total += float(match.group(2))
    return total
