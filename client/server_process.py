"""Run ``hemma-features serve`` as a child process on free ports (demo, tests, benchmarks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import msgspec

from hemma_features.client.errors import ServerUnavailableError
from hemma_features.contract import ReadyInfo
from hemma_features.contract.locations import WILDCARD_HOSTS, flight_url, http_url


class ServerProcess:
    """A feature server child process; a context manager that stops it on exit.

    Args:
        env: Extra environment (``HEMMA_*`` settings) for the child.
        startup_timeout: Seconds to wait for the ready file.
        log_path: Where the child's stderr goes (a temp file when None).
        host: Interface both planes bind to; the URLs dial 127.0.0.1 for a wildcard.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        startup_timeout: float = 300.0,
        log_path: Path | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self._workdir = tempfile.TemporaryDirectory(prefix="hemma-serve-")
        self.ready_file = Path(self._workdir.name) / "ready.json"
        self.log_path = log_path or Path(self._workdir.name) / "server.log"
        self._env = {**os.environ, **(env or {})}
        self._startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: ReadyInfo | None = None

    @property
    def http_url(self) -> str:
        assert self.info is not None, "server not started"
        return http_url(self._dial_host, self.info.http_port, tls=self.info.tls)

    @property
    def flight_url(self) -> str:
        assert self.info is not None, "server not started"
        return flight_url(self._dial_host, self.info.flight_port, tls=self.info.tls)

    @property
    def _dial_host(self) -> str:
        assert self.info is not None, "server not started"
        return "127.0.0.1" if self.info.host in WILDCARD_HOSTS else self.info.host

    def start(self) -> ReadyInfo:
        """Start the child and wait (bounded) until both planes listen."""
        command = [
            sys.executable,
            "-m",
            "hemma_features.cli",
            "serve",
            "--host",
            self.host,
            "--http-port",
            "0",
            "--flight-port",
            "0",
            "--ready-file",
            str(self.ready_file),
        ]
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(command, env=self._env, stdout=log_file, stderr=log_file)
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self.ready_file.exists():
                self.info = msgspec.json.decode(self.ready_file.read_bytes(), type=ReadyInfo)
                return self.info
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        self.stop()
        raise ServerUnavailableError(
            "local server process",
            f"did not become ready within {self._startup_timeout:.0f}s:\n{tail}",
        )

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        return self.proc.returncode

    def log_text(self) -> str:
        """Everything the child wrote to stderr/stdout so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self._workdir.cleanup()
