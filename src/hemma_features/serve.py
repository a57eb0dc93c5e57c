"""``hemma-features serve``: both planes in one process over one loaded runtime.

Signals are handled here, in the main thread: the control plane (uvicorn) runs in its own
thread, where uvicorn leaves signal handlers alone, and is stopped through its public
``should_exit`` flag; then the Flight server and the runtime are shut down.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from hemma_features.arrowfiles.atomic import write_bytes_atomically
from hemma_features.contract import ReadyInfo
from hemma_features.contract.locations import WILDCARD_HOSTS
from hemma_features.engine.errors import (
    HemmaServiceError,
    PortInUseError,
    ReloadRefusedError,
    SettingsError,
)
from hemma_features.engine.settings import Settings
from hemma_features.engine.settings_env import FIELDS, help_text, load_settings, read_env_file
from hemma_features.extras import server_extra_hint
from hemma_features.logs import configure_logging

if TYPE_CHECKING:
    from hemma_features.engine.reload import SettingsSource

log = structlog.get_logger(__name__)
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
ENV_FILE_VARIABLE = "HEMMA_ENV_FILE"


def build_parser() -> argparse.ArgumentParser:
    """``serve``'s options: one flag per setting (its flat name), plus ``--env-file`` and
    ``--ready-file``; the help is each field's declared description."""
    parser = argparse.ArgumentParser(
        prog="hemma-features serve",
        description="Run both planes in one process until SIGTERM/Ctrl-C. Every option also "
        "reads HEMMA_<NAME> from the environment; a flag wins over the variable.",
    )
    for field in FIELDS.values():
        if isinstance(field.default, bool):
            parser.add_argument(
                field.flag,
                dest=field.name,
                default=None,
                action=argparse.BooleanOptionalAction,
                help=help_text(field),
            )
        else:
            parser.add_argument(
                field.flag,
                dest=field.name,
                default=None,
                metavar=field.name.upper(),
                help=help_text(field),
            )
    parser.add_argument(
        "--env-file",
        type=Path,
        default=None,
        help="HEMMA_NAME=value lines layered over the environment (flags still win); "
        "SIGHUP or the reload action re-reads it and switches to the new settings without "
        f"downtime [env {ENV_FILE_VARIABLE}]",
    )
    parser.add_argument(
        "--ready-file",
        type=Path,
        default=None,
        help="write JSON {pid, host, http_port, flight_port, fingerprint} here once both "
        "planes listen",
    )
    return parser


def main(argv: Sequence[str]) -> int:
    """Parse ``serve``'s arguments, load the settings and serve until stopped."""
    args = build_parser().parse_args(list(argv))
    hint = server_extra_hint("serve")
    if hint:
        print(f"error: {hint}", file=sys.stderr)
        return 2
    flags: dict[str, Any] = {name: getattr(args, name) for name in FIELDS}
    env_file = args.env_file or os.environ.get(ENV_FILE_VARIABLE) or None

    def settings_source(overrides: Mapping[str, Any]) -> Settings:
        """Settings as at start, read afresh: environment < env file < flags < overrides."""
        environ = {**os.environ, **(read_env_file(env_file) if env_file else {})}
        given = {name: value for name, value in flags.items() if value is not None}
        return load_settings(environ, overrides={**given, **overrides})

    try:
        settings = settings_source({})
        configure_logging(settings.server.log_format)
        serve(settings, ready_file=args.ready_file, settings_source=settings_source)
    except HemmaServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def check_files(settings: Settings) -> None:
    """The files the settings name exist (checked at start, not when settings are read)."""
    for name, path in (
        ("HEMMA_TLS_CERT_FILE", settings.server.tls_cert_file),
        ("HEMMA_TLS_KEY_FILE", settings.server.tls_key_file),
    ):
        if path is not None and not os.path.isfile(path):
            raise SettingsError(name, path, "an existing PEM file")


def uvicorn_config(app: Any, settings: Settings) -> Any:
    """uvicorn settings for the control plane (TLS when a certificate is configured)."""
    import uvicorn

    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        ssl_certfile=settings.server.tls_cert_file,
        ssl_keyfile=settings.server.tls_key_file,
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class ControlPlaneThread:
    """uvicorn serving the Litestar app in a thread; stopped with its public ``should_exit``."""

    def __init__(self, app: Any, settings: Settings, sock: socket.socket) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn_config(app, settings))
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="control-plane", daemon=True
        )

    def start(self, timeout: float = 30.0) -> None:
        """Start serving; return once uvicorn has started (bounded by ``timeout``)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the control plane did not start within {timeout:.0f}s")
            time.sleep(0.02)
        if not self.server.started:
            raise RuntimeError("the control plane stopped while starting")

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and wait (bounded) for its thread."""
        self.server.should_exit = True
        self._thread.join(timeout=timeout)


def serve(
    settings: Settings,
    *,
    ready_file: Path | None = None,
    settings_source: SettingsSource | None = None,
) -> None:
    """Load the runtime, start Flight and Litestar, block until SIGTERM/SIGINT, stop both.

    ``SIGHUP`` (or the ``reload`` Flight action) reloads without downtime: new settings and
    models load beside the running ones, new requests switch to them at once, running
    streams finish on the old runtime, and a failed reload leaves the old one serving.

    Ports are taken before the models load, so a port in use fails at once. Stopping
    takes at most ``shutdown_grace`` seconds: running streams end at their next
    micro-batch; if the Flight server still waits on a client then, the process exits
    anyway.

    Args:
        settings: Effective settings.
        ready_file: Where to write ``ReadyInfo`` JSON once both planes listen.
        settings_source: Reads the settings afresh for a reload (with the reload action's
            overrides on top); by default the environment and ``overrides`` alone.
    """
    # Nothing is ever fetched from a model hub at run time.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    settings.register_secrets()
    check_files(settings)
    warn_if_exposed(settings)
    warn_if_flight_unadvertised(settings)
    sock = bind_port("HEMMA_HTTP_PORT", settings.server.host, settings.server.http_port)
    check_port_free("HEMMA_FLIGHT_PORT", settings.server.host, settings.server.flight_port)

    from hemma_features.control.app import create_app
    from hemma_features.engine.composition import Engine
    from hemma_features.engine.reload import Reloader
    from hemma_features.engine.runtime import Runtime
    from hemma_features.engine.runtime_slot import RuntimeSlot
    from hemma_features.engine.storage import Stores
    from hemma_features.flight.server import create_flight_server

    runtime = Runtime.load(settings)
    slot = RuntimeSlot(runtime)
    reloader = Reloader(
        slot, settings_source or (lambda overrides: load_settings(overrides=overrides))
    )
    engine = Engine(slot, Stores(settings), reloader)
    stop = threading.Event()
    reload_asked = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda *_: reload_asked.set())
    flight_server = create_flight_server(engine, settings.server.host, settings.server.flight_port)
    app = create_app(engine, flight_port=flight_server.port, flight_location=flight_server.location)
    control_plane = ControlPlaneThread(app, settings, sock)
    try:
        control_plane.start()
        info = ReadyInfo(
            pid=os.getpid(),
            host=settings.server.host,
            http_port=sock.getsockname()[1],
            flight_port=flight_server.port,
            fingerprint=runtime.fingerprint.fingerprint,
            tls=settings.server.tls,
        )
        log.info("serve.started", **msgspec.to_builtins(info))
        if ready_file is not None:
            write_bytes_atomically(ready_file, msgspec.json.encode(info))
        while not stop.wait(0.5) and control_plane.is_alive():
            if reload_asked.is_set():
                reload_asked.clear()
                _reload_in_background(reloader)
    finally:
        clean = _stop(settings, flight_server, control_plane, engine)
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("serve.stopped", flight_clean=clean)
    if not clean:
        # A client still holds a Flight call open; pyarrow's shutdown has no deadline, so
        # the grace period ends here rather than when that client goes away.
        sys.stderr.flush()
        os._exit(0)


def _reload_in_background(reloader: Any) -> None:
    """Run a ``SIGHUP`` reload in a thread (serving and stopping go on meanwhile)."""

    def run() -> None:
        try:
            reloader.reload("sighup")
        except ReloadRefusedError as exc:
            log.warning("reload.refused", trigger="sighup", reason=str(exc))

    threading.Thread(target=run, name="reload", daemon=True).start()


def _stop(
    settings: Settings, flight_server: Any, control_plane: ControlPlaneThread, engine: Any
) -> bool:
    """Stop both planes and the engine's runtimes within ``shutdown_grace``; True if Flight
    stopped."""
    log.info("serve.stopping", grace_seconds=settings.server.shutdown_grace)
    deadline = time.monotonic() + settings.server.shutdown_grace
    flight_server.stopping.set()
    control_plane.stop(timeout=max(0.1, min(5.0, deadline - time.monotonic())))
    stopper = threading.Thread(target=flight_server.shutdown, name="flight-shutdown", daemon=True)
    stopper.start()
    stopper.join(timeout=max(0.1, deadline - time.monotonic()))
    engine.close()
    return not stopper.is_alive()


def warn_if_exposed(settings: Settings) -> None:
    """Warn when both planes listen beyond loopback without a token or without TLS."""
    if is_loopback(settings.server.host):
        return
    checks = (("a token (HEMMA_AUTH_TOKEN)", settings.auth.token), ("TLS", settings.server.tls))
    missing = [what for what, present in checks if not present]
    if missing:
        log.warning(
            "serve.exposed",
            host=settings.server.host,
            missing=missing,
            detail=f"listening on {settings.server.host} beyond loopback without "
            f"{' or '.join(missing)}: anyone who reaches this host can use and read the server",
        )


def warn_if_flight_unadvertised(settings: Settings) -> None:
    """Bound to a wildcard address with no ``advertise_flight``: say what clients will do."""
    if settings.server.host not in WILDCARD_HOSTS or settings.server.advertise_flight:
        return
    log.warning(
        "serve.flight_location_unadvertised",
        host=settings.server.host,
        detail="listening on a wildcard address without HEMMA_ADVERTISE_FLIGHT: clients dial "
        f"Flight on the host they reached HTTP on, port {settings.server.flight_port}; through a "
        "tunnel whose local ports differ they need --flight (or HEMMA_FLIGHT_URL)",
    )


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def bind_port(variable: str, host: str, port: int) -> socket.socket:
    """``bind_socket``, with a port in use named by its setting."""
    try:
        return bind_socket(host, port)
    except OSError as exc:
        raise PortInUseError(variable, host, port, exc.strerror or str(exc)) from exc


def check_port_free(variable: str, host: str, port: int) -> None:
    """Fail now, before the models load, if ``port`` cannot be bound."""
    if port == 0:
        return
    bind_port(variable, host, port).close()
