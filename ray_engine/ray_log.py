"""Ray's own output of an ``extract --engine ray`` driver: to a log file, and to the
terminal only at ``--ray-log-level``.

Three kinds reach a driver's terminal unasked: Ray's core writes its log lines to file
descriptor 2 (an ``E`` line about constructor arguments on every run, ray#53727; a
warning every few seconds while a head is gone); Ray's Python loggers write to the
``sys.stderr`` of import time; and Ray's error listener prints what the cluster reports
(``(raylet) A worker died ...``) to stdout, between the summary's lines. ``RayLog``
pipes descriptor 2 into the relay process (``log_relay``), which keeps every line in
the log file and passes on only those at the chosen level; the command's own output
(``sys.stderr`` from then on, the progress bar, the summary on stdout) goes to the
terminal directly; and the listener's lines join Ray's on descriptor 2.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from hemma_features.ray_engine.log_relay import LEVELS

RELAY = Path(__file__).with_name("log_relay.py")
DEFAULT_LEVEL = "error"
"""What of Ray's own output the terminal shows by default: errors (a task that failed,
a fatal error of Ray's core); warnings and the cluster's notices go to the log only."""


def default_log_path() -> Path:
    """Where a run keeps Ray's output when ``--ray-log`` names no file."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.gettempdir()) / "hemma-features" / f"ray-{stamp}-{os.getpid()}.log"


class RayLog:
    """Ray's output of this process into ``path``, and at ``level`` or above to the
    terminal, from ``start`` until the process ends (or ``stop``).

    Args:
        path: The log file (its directory is made; lines are appended).
        level: ``debug``, ``info``, ``warning``, ``error`` or ``fatal``.
    """

    def __init__(self, path: Path, level: str = DEFAULT_LEVEL) -> None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, given: {level!r}")
        self.path = path
        self.level = level
        self._relay: subprocess.Popen[bytes] | None = None
        self._terminal = -1
        self._stderr: IO[str] | None = None

    def start(self) -> None:
        """Route descriptor 2 through the relay; ``sys.stderr`` stays on the terminal."""
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        sys.stderr.flush()
        self._terminal = os.dup(2)
        read, write = os.pipe()
        try:
            self._relay = subprocess.Popen(
                [sys.executable, "-I", str(RELAY), str(self.path), self.level],
                stdin=read,
                stdout=self._terminal,
                stderr=self._terminal,
                close_fds=True,
            )
        finally:
            os.close(read)
        os.dup2(write, 2)
        os.close(write)
        self._stderr = sys.stderr  # bound to descriptor 2, so now to the relay
        sys.stderr = open(  # noqa: SIM115 - the process's stderr until it ends
            os.dup(self._terminal), "w", buffering=1, encoding="utf-8", errors="backslashreplace"
        )
        quiet_cluster_notices(self._stderr)
        python_logs_to(self._stderr)

    def stop(self, wait: float = 5.0) -> None:
        """Put descriptor 2 and ``sys.stderr`` back and let the relay finish (before
        Ray ever joined a cluster; afterwards Ray's threads keep writing until exit)."""
        if self._relay is None:
            return
        sys.stderr.flush()
        if self._stderr is not None:
            sys.stderr.close()
            sys.stderr = self._stderr
        os.dup2(self._terminal, 2)  # closes the pipe's last write end: the relay ends
        os.close(self._terminal)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._relay.wait(wait)
        self._relay = None


def python_logs_to(sink: IO[str]) -> None:
    """Ray's and Ray Data's Python loggers write to ``sink`` (Ray's console handler writes
    to whatever ``sys.stderr`` is when it emits, which is now the terminal)."""
    import ray.data  # noqa: F401  (configures the "ray.data" logger on import)
    from ray._private.log import PlainRayHandler

    for name in ("ray", "ray.data"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if isinstance(handler, PlainRayHandler):
                kept = logging.StreamHandler(sink)
                kept.setLevel(handler.level)
                kept.setFormatter(_Indented(handler.formatter or logging.Formatter()))
                for gate in handler.filters:
                    kept.addFilter(gate)
                logger.removeHandler(handler)
                logger.addHandler(kept)


class _Indented(logging.Formatter):
    """A record's later lines (a traceback, a table) indented, so the relay files them
    under the record's level."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return self.inner.format(record).replace("\n", "\n    ")


def quiet_cluster_notices(sink: IO[str]) -> None:
    """Send what Ray's error listener prints to stdout (the cluster's notices: a worker
    died, a node was lost, a task will be retried) to ``sink`` instead, one line each
    with the ``(raylet)`` prefix the relay files under ``warning``."""
    from ray._private import worker

    def to_sink(data: dict[str, Any], ignore_prefix: bool) -> None:
        label = data.get("pid") or "raylet"
        try:
            for line in data.get("lines", []):
                sink.write(f"({label}) {line}\n")
            sink.flush()
        except (OSError, ValueError):  # the relay is gone: the notice is not worth a crash
            pass

    worker.print_to_stdstream = to_sink
