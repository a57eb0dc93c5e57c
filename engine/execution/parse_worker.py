"""A parse worker process (spaCy + the feature read-outs over stdin/stdout frames), and
``ParseWorker``, the server's handle on one.

Started by ``parallel.SupervisedParser`` as ``python -m hemma_features.engine.execution.
parse_worker MODEL PARENT_PID``. Frames are a 4-byte big-endian length and a msgpack map:
in ``{"texts": [...]}``, one ``nlp.pipe`` batch (the parent cuts a request into batches,
``parallel.batches``, and times each); out ``{"ready": true}`` once, then per batch
``{"rows": [...]}`` (or ``{"error": "..."}``).

The worker dies with its parent: Linux kills it when the parent dies (parent-death
signal), and a watchdog thread exits when the parent is gone on any system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import msgspec

_HEADER = struct.Struct(">I")
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder()
_PR_SET_PDEATHSIG = 1


def frame(message: Any) -> bytes:
    """One frame: length, then the msgpack body."""
    body = _ENCODER.encode(message)
    return _HEADER.pack(len(body)) + body


def write_frame(stream: IO[bytes], message: Any) -> None:
    """Write one frame and flush it."""
    stream.write(frame(message))
    stream.flush()


def read_frame(read: Callable[[int], bytes]) -> Any | None:
    """The next frame from ``read(n)`` (up to n bytes), or None at end of stream."""
    header = read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    body = read(size)
    if len(body) < size:
        return None
    return _DECODER.decode(body)


def die_with_parent(parent_pid: int) -> None:
    """Exit when ``parent_pid`` is gone: parent-death signal on Linux, a watchdog anywhere."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:  # re-parented: the server is gone
                os._exit(0)
            time.sleep(1.0)

    if os.getppid() != parent_pid:  # it died before the signal was armed
        os._exit(0)
    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def main(argv: list[str]) -> int:
    """Serve parse requests until stdin closes."""
    model, parent_pid = argv[0], int(argv[1])
    die_with_parent(parent_pid)
    # Frames own the original stdout; anything a library prints goes to stderr instead.
    sink = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from hemma_features.engine.models.spacy_model import TextAnalyzer

    analyzer = TextAnalyzer.load(model)
    analyzer.features(["Warm up."])
    source = sys.stdin.buffer
    write_frame(sink, {"ready": True})
    while (request := read_frame(source.read)) is not None:
        try:
            rows = analyzer.features(request["texts"])
        except Exception as exc:  # reported to the parent, which fails the request
            write_frame(sink, {"error": f"{type(exc).__name__}: {exc}"})
            continue
        write_frame(sink, {"rows": rows})
    return 0


# -- the server's side: one worker process and the pipes to it -------------------------

WORKER_START_SECONDS = 300.0
"""Longest a worker may take to load its pipeline and say it is ready."""


class WorkerDied(Exception):
    """The worker process ended or its pipe broke."""


STARVED_SHARE = 0.1
"""A worker that spent less than this share of the deadline on the CPU while its batch
overran barely ran (stopped, swapped out, or starved by a host with ten times more work
than cores): the batch's texts are not what made it late."""


class BatchOverdue(Exception):
    """The worker passed the deadline on the batch it was handed; ``starved``: it spent less
    than ``STARVED_SHARE`` of the deadline on the CPU meanwhile."""

    def __init__(self, starved: bool) -> None:
        self.starved = starved


def cpu_seconds(pid: int | None) -> float | None:
    """CPU seconds (user + system) process ``pid`` has spent, or None where unknown (no
    ``/proc``, or the process is gone)."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ParseWorker:
    """One worker process (``parse_worker``) and the pipes to it."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = False
        self.busy = False
        """True while a request is in the worker's hands."""
        self.stopped_for: str | None = None
        """Why the supervisor killed it (``deadline``), until it is started again."""

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        """Start the process and wait (bounded) until its pipeline is loaded."""
        self.kill()
        command = [
            sys.executable, "-m", "hemma_features.engine.execution.parse_worker",
            self.model, str(os.getpid()),
        ]  # fmt: skip
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdin is not None
        # Batches are written under the deadline too: a stopped worker leaves the pipe full.
        os.set_blocking(self.proc.stdin.fileno(), False)
        message = self._receive(time.monotonic() + WORKER_START_SECONDS)
        if message.get("ready") is not True:
            raise RuntimeError(f"parse worker {self.pid} did not start: {message}")
        self.ready = True
        self.stopped_for = None

    def alive(self) -> bool:
        return self.ready and self.proc is not None and self.proc.poll() is None

    def parse(self, texts: list[str], seconds: float) -> list[dict[str, float]]:
        """Rows for ``texts``, parsed as one ``nlp.pipe`` batch; ``BatchOverdue`` when they take
        longer than ``seconds``, ``WorkerDied`` if the worker dies."""
        self.busy = True
        cpu = cpu_seconds(self.pid)
        deadline = time.monotonic() + seconds
        try:
            self._write(frame({"texts": texts}), deadline)
            message = self._receive(deadline)
        except TimeoutError:  # before OSError, its base class
            spent = cpu_seconds(self.pid)
            ran = None if cpu is None or spent is None else spent - cpu
            raise BatchOverdue(ran is not None and ran < seconds * STARVED_SHARE) from None
        except OSError as exc:  # BrokenPipeError included: the worker is gone
            raise WorkerDied from exc
        finally:
            self.busy = False
        if "rows" not in message:
            raise RuntimeError(f"parse worker {self.pid} failed: {message.get('error')}")
        rows = list(message["rows"])
        if len(rows) != len(texts):
            raise RuntimeError(f"parse worker {self.pid}: {len(rows)} rows for {len(texts)} texts")
        return rows

    def _write(self, data: bytes, deadline: float) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        fd = self.proc.stdin.fileno()
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            _, writable, _ = select.select([], [fd], [], remaining)
            if not writable:
                raise TimeoutError
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:  # the pipe filled up between select and write
                continue

    def _receive(self, deadline: float) -> dict[str, Any]:
        message = read_frame(lambda size: self._read(size, deadline))
        if message is None:  # _read raises WorkerDied at end of stream; this is a cut frame
            raise WorkerDied
        return dict(message)

    def _read(self, size: int, deadline: float) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        data = b""
        while len(data) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                raise TimeoutError
            piece = os.read(fd, size - len(data))
            if not piece:
                self.ready = False
                raise WorkerDied
            data += piece
        return data

    def kill(self, reason: str | None = None) -> None:
        """Stop the process now (SIGKILL) and reap it; ``reason``: why, for its replacement."""
        self.ready = False
        self.stopped_for = reason or self.stopped_for
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
