"""The Ray log relay: Ray's own output of the driver into a file, and on to the terminal
only at the level the user chose.

Ray's core writes its log lines straight to the process's stderr (file descriptor 2):
every run prints an ``E ... core_worker.cc`` line about constructor arguments that is no
error (ray-project/ray#53727), and a cluster that stops answering prints a warning every
few seconds. The driver pipes its descriptor 2 into this process (``ray_engine.ray_log``),
which writes every line to the log file and passes on to its stdout, the terminal, only
lines at or above the chosen level. It is a process of its own so the last lines of a
driver that Ray ends at once (a fatal error of its core) still reach both.

Run by path, never imported by the package: ``python -I log_relay.py LOGFILE LEVEL``.
Standard library only.
"""

from __future__ import annotations

import re
import sys
from typing import BinaryIO

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "fatal": 50}
"""``--ray-log-level`` names, lowest first."""
_CORE = re.compile(rb"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[,.]\d+ ([DIWEFC]) \d+ \d+\]")
_CORE_LEVELS = {b"D": 10, b"I": 20, b"W": 30, b"E": 40, b"F": 50, b"C": 50}
_PYTHON = re.compile(
    rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[,.]\d+\s+(DEBUG|INFO|WARNING|ERROR|CRITICAL)\s"
)
_PYTHON_LEVELS = {b"DEBUG": 10, b"INFO": 20, b"WARNING": 30, b"ERROR": 40, b"CRITICAL": 50}
_FROM_CLUSTER = re.compile(rb"^(\x1b\[[0-9;]*m)*\((raylet|[^)]*pid=[^)]*)\)")
"""What Ray's error listener relays from the cluster: ``(raylet) A worker died ...``."""
NOT_ERRORS = (
    # ray-project/ray#53727: every Ray Data actor pool's actors are created with their
    # constructor arguments in the object store; logged as an error, harmless here.
    b"has constructor arguments in the object store and max_restarts > 0",
)
"""Lines Ray logs as errors that are not, kept at ``info``."""
CLUSTER_SILENT = (
    # While the head is gone the driver cannot report a failed task to it; the run's own
    # one line says the cluster was lost.
    b"Failed to push error to driver",
)
"""Errors Ray logs while its head does not answer, kept at ``warning``: what matters of
them is the run's own line."""


def level_of(line: bytes, previous: int) -> int:
    """The level of one line of Ray's output; a line that continues the one before it (a
    stack frame, a wrapped message) has that line's level, anything unknown ``error``."""
    if any(marker in line for marker in NOT_ERRORS):
        return LEVELS["info"]
    if any(marker in line for marker in CLUSTER_SILENT):
        return LEVELS["warning"]
    core = _CORE.match(line)
    if core:
        return _CORE_LEVELS[core.group(1)]
    python = _PYTHON.match(line)
    if python:
        return _PYTHON_LEVELS[python.group(1)]
    if _FROM_CLUSTER.match(line):
        return LEVELS["warning"]
    if line[:1].isspace() or line.startswith((b"*** ", b"PC: ")):
        return previous
    return LEVELS["error"]


def relay(source: BinaryIO, log: BinaryIO | None, terminal: BinaryIO, threshold: int) -> None:
    """Copy ``source``'s lines to ``log``, and those at ``threshold`` or above to
    ``terminal``, until end of input (binary streams; ``log`` may be None)."""
    previous = LEVELS["error"]
    for line in iter(source.readline, b""):
        previous = level_of(line, previous)
        if log is not None:
            try:
                log.write(line)
                log.flush()
            except OSError:  # a full disk loses the file, never the terminal's lines
                log = None
        if previous >= threshold:
            try:
                terminal.write(line)
                terminal.flush()
            except OSError:  # the terminal is gone: keep draining into the file
                pass


def main(argv: list[str]) -> int:
    path, level = argv
    try:
        log: BinaryIO | None = open(path, "ab")  # noqa: SIM115 - open until the driver is gone
    except OSError as exc:
        sys.stdout.write(f"warning: cannot write Ray's log to {path}: {exc}\n")
        sys.stdout.flush()
        log = None
    relay(sys.stdin.buffer, log, sys.stdout.buffer, LEVELS[level])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
