"""``hemma-features serve``: both planes in one process over one loaded runtime."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import structlog

from client.cache import write_bytes_atomically
from flight.contract import ReadyInfo
from service.settings import Settings

log = structlog.get_logger(__name__)
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _quiet_exit_server() -> type:
    """uvicorn.Server that stops on SIGINT/SIGTERM without re-raising the signal afterwards.

    uvicorn re-raises a captured signal once it has stopped, which kills the process
    before the Flight server is shut down; here the caller finishes the shutdown.
    """
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return _Server


def uvicorn_config(app: Any, settings: Settings) -> Any:
    """uvicorn settings for the control plane (TLS when a certificate is configured)."""
    import uvicorn

    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        ssl_certfile=settings.tls_cert_file,
        ssl_keyfile=settings.tls_key_file,
    )


def bind_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings, *, ready_file: Path | None = None) -> None:
    """Load the runtime, start Flight and Litestar, block until SIGTERM/SIGINT, stop both.

    Args:
        settings: Effective settings.
        ready_file: Where to write ``ReadyInfo`` JSON once both planes listen.
    """
    # Nothing is ever fetched from a model hub at run time.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    from flight.server import create_flight_server
    from service.app import create_app
    from service.runtime import Runtime

    runtime = Runtime.load(settings)
    flight_server = create_flight_server(runtime, settings.host, settings.flight_port)
    sock = bind_socket(settings.host, settings.http_port)
    http_port = sock.getsockname()[1]
    app = create_app(runtime, flight_port=flight_server.port)
    server = _quiet_exit_server()(uvicorn_config(app, settings))
    info = ReadyInfo(
        pid=os.getpid(),
        host=settings.host,
        http_port=http_port,
        flight_port=flight_server.port,
        fingerprint=runtime.fingerprint.fingerprint,
        tls=settings.tls,
    )
    log.info("serve.started", **msgspec.to_builtins(info))
    if ready_file is not None:
        write_bytes_atomically(ready_file, msgspec.json.encode(info))
    try:
        server.run(sockets=[sock])  # returns on SIGINT or SIGTERM
    finally:
        log.info("serve.stopping")
        flight_server.stopping.set()
        stopper = threading.Thread(target=flight_server.shutdown, daemon=True)
        stopper.start()
        stopper.join(timeout=5.0)
        sock.close()
        runtime.close()
        log.info("serve.stopped", flight_clean=not stopper.is_alive())
