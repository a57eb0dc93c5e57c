"""Real servers on 127.0.0.1 port 0 for tests: the feature server in-process, LT-compatible."""

from __future__ import annotations

import re
import threading
import time

import httpx
import uvicorn

from flight.server import FeatureFlightServer, create_flight_server
from service.app import create_app
from service.runtime import Runtime
from service.serve import bind_socket, uvicorn_config


class LiveServer:
    """Both planes over one runtime, in this process, on free ports; stop with ``close``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.flight: FeatureFlightServer = create_flight_server(runtime, "127.0.0.1", 0)
        sock = bind_socket("127.0.0.1", 0)
        self.http_port = sock.getsockname()[1]
        app = create_app(runtime, flight_port=self.flight.port)
        self._uvicorn = uvicorn.Server(uvicorn_config(app, runtime.settings))
        self._thread = threading.Thread(
            target=self._uvicorn.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._uvicorn.started and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self._uvicorn.started:
            raise RuntimeError("uvicorn did not start within 30s")

    @property
    def http_url(self) -> str:
        scheme = "https" if self.runtime.settings.tls else "http"
        return f"{scheme}://127.0.0.1:{self.http_port}"

    @property
    def flight_url(self) -> str:
        scheme = "grpc+tls" if self.runtime.settings.tls else "grpc"
        return f"{scheme}://127.0.0.1:{self.flight.port}"

    def close(self) -> None:
        self._uvicorn.should_exit = True
        self._thread.join(timeout=10)
        self.flight.shutdown()


def counter(http_url: str, name: str, feature_set: str) -> float:
    """Sum of a counter's samples for one feature set, read from /metrics."""
    text = httpx.get(f"{http_url}/metrics").text
    total = 0.0
    for match in re.finditer(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.M):
        if f'feature_set="{feature_set}"' in match.group(1):
            total += float(match.group(2))
    return total
