"""Where spaCy parsing runs: supervised worker processes (or inline, for tests).

The GIL serialises Python Flight handlers (apache/arrow#40360), so parsing leaves the
handler thread for worker processes (``parse_worker``; each loads the spaCy pipeline
once), while the encoder, which releases the GIL, runs in this process
(``encoder_queue``). One request's parse and embedding overlap.
"""

from __future__ import annotations

import os
import queue
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import structlog

from hemma_features.engine.errors import ParseDeadlineError, WorkerLostError
from hemma_features.engine.features.nlp import TextAnalyzer
from hemma_features.engine.features.parse_worker import read_frame, write_frame

log = structlog.get_logger(__name__)
WORKER_START_SECONDS = 300.0


class InlineParser:
    """Parses in the calling thread (``parse_workers=0``, and tests)."""

    def __init__(self, analyzer: TextAnalyzer) -> None:
        self._analyzer = analyzer

    def submit(
        self, texts: Sequence[str], *, beside_encoder: bool = False
    ) -> Future[list[dict[str, float]]]:
        future: Future[list[dict[str, float]]] = Future()
        try:
            future.set_result(self._analyzer.features(list(texts)))
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)
        return future

    def alive_workers(self) -> int | None:
        """None: no worker processes to supervise."""
        return None

    def close(self) -> None:
        """Nothing to release."""


class _Died(Exception):
    """The worker process ended or its pipe broke."""


class _Overdue(Exception):
    """The worker passed the deadline; ``index`` is the text it was on (the first of the
    batch it was parsing; a text longer than ``parse_worker.BATCH_CHARS`` is alone)."""

    def __init__(self, index: int) -> None:
        self.index = index


class ParseWorker:
    """One worker process (``parse_worker``) and the pipes to it."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = False
        self.busy = False
        """True while a request is in the worker's hands."""

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        """Start the process and wait (bounded) until its pipeline is loaded."""
        self.kill()
        command = [
            sys.executable, "-m", "hemma_features.engine.features.parse_worker",
            self.model, str(os.getpid()),
        ]  # fmt: skip
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        message = self._receive(time.monotonic() + WORKER_START_SECONDS)
        if message.get("ready") is not True:
            raise RuntimeError(f"parse worker {self.pid} did not start: {message}")
        self.ready = True

    def alive(self) -> bool:
        return self.ready and self.proc is not None and self.proc.poll() is None

    def parse(self, texts: list[str], deadline: float) -> list[dict[str, float]]:
        """Rows for ``texts``; ``_Overdue`` past ``deadline`` (monotonic), ``_Died`` if it died."""
        assert self.proc is not None and self.proc.stdin is not None
        self.busy = True
        try:
            return self._parse(texts, deadline)
        finally:
            self.busy = False

    def _parse(self, texts: list[str], deadline: float) -> list[dict[str, float]]:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            write_frame(self.proc.stdin, {"texts": texts})
        except OSError as exc:  # BrokenPipeError included: the worker is gone
            raise _Died from exc
        current = 0
        while True:
            try:
                message = self._receive(deadline)
            except TimeoutError:
                raise _Overdue(current) from None
            if "progress" in message:
                current = int(message["progress"])
            elif "rows" in message:
                return list(message["rows"])
            else:
                raise RuntimeError(f"parse worker {self.pid} failed: {message.get('error')}")

    def _receive(self, deadline: float) -> dict[str, Any]:
        message = read_frame(lambda size: self._read(size, deadline))
        if message is None:  # _read raises _Died at end of stream; this is a cut frame
            raise _Died
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
                raise _Died
            data += piece
        return data

    def kill(self) -> None:
        """Stop the process now (SIGKILL) and reap it."""
        self.ready = False
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


def split_evenly(texts: list[str], parts: int) -> list[tuple[int, list[str]]]:
    """(offset, texts) for at most ``parts`` consecutive slices of near-equal length."""
    size = max(1, -(-len(texts) // max(1, parts)))
    return [(i, texts[i : i + size]) for i in range(0, len(texts), size)]


class _ParseJob:
    def __init__(self, texts: list[str], offset: int) -> None:
        self.texts = texts
        self.offset = offset
        self.future: Future[list[dict[str, float]]] = Future()


class SupervisedParser:
    """spaCy + TextDescriptives in ``workers`` supervised processes.

    A worker that dies is replaced and the request it held fails with ``WorkerLostError``
    (retryable); a worker past ``deadline`` seconds on one request is killed, replaced,
    and the request fails with ``ParseDeadlineError`` naming the text it was on (a worker
    parses a few short texts per ``nlp.pipe`` batch and names a batch by its first text; a
    text longer than ``parse_worker.BATCH_CHARS``, the kind that stalls, is alone). Workers
    die with the server (see ``parse_worker``).

    Args:
        model: spaCy pipeline name or path.
        workers: Worker processes.
        deadline: Seconds a worker may spend on one part of a request.
        beside_encoder: Workers one request parses on when it also runs the encoder (the
            encoder's threads use the other cores); None: all of them.
        on_restart: Called with the reason (``died``, ``deadline``) after each replacement.
    """

    def __init__(
        self,
        model: str,
        workers: int,
        deadline: float,
        on_restart: Callable[[str], None] | None = None,
        beside_encoder: int | None = None,
    ) -> None:
        self.workers = workers
        self.beside_encoder = min(workers, beside_encoder or workers)
        self.deadline = deadline
        self._on_restart = on_restart
        self._jobs: queue.Queue[_ParseJob | None] = queue.Queue()
        self._closing = threading.Event()
        self._workers = [ParseWorker(model) for _ in range(workers)]
        # Each worker is started by the thread that serves it for its whole life: Linux
        # sends the parent-death signal when the *thread* that started a child ends.
        self._started: list[threading.Event] = [threading.Event() for _ in self._workers]
        self._threads = [
            threading.Thread(target=self._serve, args=(i,), name=f"parse-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()
        for started in self._started:
            started.wait(WORKER_START_SECONDS + 10)
        if not all(w.alive() for w in self._workers):
            self.close()
            raise RuntimeError("parse workers did not start (see the log above)")

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers."""
        return [w.pid for w in self._workers if w.alive() and w.pid is not None]

    def alive_workers(self) -> int:
        """Workers ready to parse now (0 while every one is being replaced)."""
        return sum(1 for w in self._workers if w.alive())

    def busy_workers(self) -> int:
        """Workers holding a request now."""
        return sum(1 for w in self._workers if w.busy)

    def submit(
        self, texts: Sequence[str], *, beside_encoder: bool = False
    ) -> Future[list[dict[str, float]]]:
        """Parse in the workers; the texts are split evenly between them (between
        ``self.beside_encoder`` of them when the request also runs the encoder)."""
        texts = list(texts)
        spread = self.beside_encoder if beside_encoder else self.workers
        parts = [_ParseJob(part, offset) for offset, part in split_evenly(texts, spread)]
        combined: Future[list[dict[str, float]]] = Future()

        def gather(_: Future[Any]) -> None:
            if not all(part.future.done() for part in parts) or combined.done():
                return
            try:
                combined.set_result([row for part in parts for row in part.future.result()])
            except BaseException as exc:  # a part failed: the request fails with it
                combined.set_exception(exc)

        if not parts:
            combined.set_result([])
        for part in parts:
            part.future.add_done_callback(gather)
            self._jobs.put(part)
        return combined

    def _serve(self, index: int) -> None:
        worker = self._workers[index]
        try:
            worker.start()
        except Exception as exc:  # reported by __init__, which sees the worker is not alive
            log.error("parse.worker_start_failed", error=str(exc))
        finally:
            self._started[index].set()
        while not self._closing.is_set():
            try:
                job = self._jobs.get(timeout=1.0)
            except queue.Empty:  # idle: a worker killed meanwhile is replaced now
                if not worker.alive():
                    self._replace(worker, "died")
                continue
            if job is None:
                return
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                if not worker.alive():
                    self._replace(worker, "died")
                job.future.set_result(worker.parse(job.texts, time.monotonic() + self.deadline))
            except _Overdue as overdue:
                error = ParseDeadlineError(job.offset + overdue.index, self.deadline)
                job.future.set_exception(error)
                self._replace(worker, "deadline")
            except _Died:
                job.future.set_exception(
                    WorkerLostError(
                        "a parse worker died while parsing this request (killed or out of "
                        "memory); it is being replaced: retry the request"
                    )
                )
                self._replace(worker, "died")
            except BaseException as exc:  # a bug in the worker: the request fails with it
                job.future.set_exception(exc)

    def _replace(self, worker: ParseWorker, reason: str) -> None:
        old = worker.pid
        worker.kill()
        delay = 1.0
        while not self._closing.is_set():
            try:
                worker.start()
            except Exception as exc:  # keep trying: readiness reports the missing worker
                log.error("parse.worker_start_failed", error=str(exc), retry_in=delay)
                worker.kill()
                self._closing.wait(delay)
                delay = min(delay * 2, 30.0)
                continue
            log.warning("parse.worker_replaced", reason=reason, old_pid=old, new_pid=worker.pid)
            if self._on_restart is not None:
                self._on_restart(reason)
            return

    def close(self) -> None:
        """Stop the workers and their threads."""
        self._closing.set()
        for _ in getattr(self, "_threads", []):
            self._jobs.put(None)
        for worker in self._workers:
            worker.kill()
        deadline = time.monotonic() + 5.0  # bounded: shutdown has a grace period to keep
        for thread in getattr(self, "_threads", []):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
