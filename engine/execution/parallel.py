"""Where spaCy parsing runs: supervised worker processes (or inline, for tests).

The GIL serialises Python Flight handlers (apache/arrow#40360), so parsing leaves the
handler thread for worker processes (``parse_worker``; each loads the spaCy pipeline
once), while the encoder, which releases the GIL, runs in this process
(``encoder_queue``). One request's parse and embedding overlap.

This side cuts each worker's share of a request into ``nlp.pipe`` batches (``batches``)
and hands them over one at a time, so ``parse_deadline`` bounds one batch: a batch past
it is known exactly, its worker is killed (the only way to stop spaCy mid-parse), and its
texts are parsed again one at a time in a fresh worker, so the deadline names the text
that overran and nothing else.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any

import structlog

from hemma_features.engine.errors import ParseDeadlineError, WorkerLostError
from hemma_features.engine.execution.parse_worker import (
    WORKER_START_SECONDS,
    BatchOverdue,
    ParseWorker,
    WorkerDied,
)
from hemma_features.engine.models.spacy_model import TextAnalyzer

log = structlog.get_logger(__name__)


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


BATCH_TEXTS = 8
"""Most texts parsed in one ``nlp.pipe`` batch: batches of 4-16 ELLIPSE essays cost about
10% less CPU than one essay at a time (docs/benchmarks.md, issue 23), with the same values."""
BATCH_CHARS = 20_000
"""Most characters in one batch, so a batch of ordinary essays stays far inside the
deadline (about 0.3 s of parsing); a longer text is a batch of its own."""


def batches(
    texts: list[str], most_texts: int = BATCH_TEXTS, most_chars: int = BATCH_CHARS
) -> list[tuple[int, int]]:
    """(start, end) of consecutive batches of at most ``most_texts`` texts and
    ``most_chars`` characters; a text longer than ``most_chars`` is a batch of its own."""
    spans = []
    start = chars = 0
    for i, text in enumerate(texts):
        if i > start and (i - start >= most_texts or chars + len(text) > most_chars):
            spans.append((start, i))
            start, chars = i, 0
        chars += len(text)
    if start < len(texts):
        spans.append((start, len(texts)))
    return spans


def split_evenly(texts: list[str], parts: int) -> list[tuple[int, list[str]]]:
    """(offset, texts) for at most ``parts`` consecutive slices of near-equal length."""
    size = max(1, -(-len(texts) // max(1, parts)))
    return [(i, texts[i : i + size]) for i in range(0, len(texts), size)]


def _gathered(parts: list[_ParseJob], deadline: float) -> list[dict[str, float]]:
    """The rows of every part, in order; ``ParseDeadlineError`` naming every text a part
    refused (request positions) with every other row; any other failure of a part as is."""
    rows: list[dict[str, float] | None] = []
    refused: list[int] = []
    for part in parts:
        try:
            rows.extend(part.future.result())
        except ParseDeadlineError as exc:  # the part's other rows are kept
            refused.extend(part.offset + i for i in exc.indices)
            rows.extend(exc.partial)
    if refused:
        raise ParseDeadlineError(refused, deadline, rows)
    return rows  # type: ignore[return-value]  # no None without a refusal


class _ParseJob:
    def __init__(self, texts: list[str], offset: int) -> None:
        self.texts = texts
        self.offset = offset
        self.future: Future[list[dict[str, float]]] = Future()


class SupervisedParser:
    """spaCy + the feature read-outs in ``workers`` supervised processes.

    Each worker parses its share of a request in ``nlp.pipe`` batches (``batches``), handed
    over one at a time, and ``deadline`` bounds each batch. A batch past it has its worker
    killed and replaced; its texts are then parsed again one at a time in the fresh worker,
    each under its own deadline, and the rest of the share goes on. A text that overruns
    alone is refused: the request fails with ``ParseDeadlineError`` naming exactly those
    texts and carrying every other row. A text whose worker barely ran meanwhile (less than a
    tenth of the deadline on the CPU: stopped, or starved) is not blamed for it and gets
    one more try. A worker that dies is replaced and the request it held fails
    with ``WorkerLostError`` (retryable). Workers die with the server (see
    ``parse_worker``).

    Args:
        model: spaCy pipeline name or path.
        workers: Worker processes.
        deadline: Seconds a worker may spend on one ``nlp.pipe`` batch.
        on_restart: Called with the reason (``died``, ``deadline``) after each replacement.
        beside_encoder: Workers one request parses on when it also runs the encoder (the
            encoder's threads use the other cores); None: all of them.
        batch_texts: Most texts in one batch.
        batch_chars: Most characters in one batch (a longer text is a batch of its own).
    """

    def __init__(
        self,
        model: str,
        workers: int,
        deadline: float,
        on_restart: Callable[[str], None] | None = None,
        beside_encoder: int | None = None,
        *,
        batch_texts: int = BATCH_TEXTS,
        batch_chars: int = BATCH_CHARS,
    ) -> None:
        self.workers = workers
        self.beside_encoder = min(workers, beside_encoder or workers)
        self.deadline = deadline
        self.batch_texts = batch_texts
        self.batch_chars = batch_chars
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
        ``self.beside_encoder`` of them when the request also runs the encoder).

        The future fails with ``ParseDeadlineError`` naming every text that overran alone
        (in any part) and carrying the rows of all the others."""
        texts = list(texts)
        spread = self.beside_encoder if beside_encoder else self.workers
        parts = [_ParseJob(part, offset) for offset, part in split_evenly(texts, spread)]
        combined: Future[list[dict[str, float]]] = Future()
        once = threading.Lock()  # the last two parts may finish at the same moment

        def gather(_: Future[Any]) -> None:
            with once:
                if not all(part.future.done() for part in parts) or combined.done():
                    return
                try:
                    rows = _gathered(parts, self.deadline)
                except BaseException as exc:  # a part failed: the request fails with it
                    settle = functools.partial(combined.set_exception, exc)
                else:
                    settle = functools.partial(combined.set_result, rows)
                with contextlib.suppress(InvalidStateError):  # cancelled: nobody waits
                    settle()

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
                    self._replace(worker)
                continue
            if job is None:
                return
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                job.future.set_result(self._parse(worker, job.texts))
            except WorkerDied:
                job.future.set_exception(
                    WorkerLostError(
                        "a parse worker died while parsing this request (killed or out of "
                        "memory); it is being replaced: retry the request"
                    )
                )
            except BaseException as exc:  # ParseDeadlineError, or a bug in the worker
                job.future.set_exception(exc)
            if not worker.alive():  # after the answer: the caller does not wait for a start
                self._replace(worker)

    def _parse(self, worker: ParseWorker, texts: list[str]) -> list[dict[str, float]]:
        """Rows for one part, batch by batch, each under the deadline; an overrun batch
        again one text at a time in a fresh worker; ``ParseDeadlineError`` naming the texts
        (positions in ``texts``) that overran alone, with the other rows."""
        rows: list[dict[str, float] | None] = [None] * len(texts)
        refused: list[int] = []
        tried_again: set[int] = set()
        todo = collections.deque(batches(texts, self.batch_texts, self.batch_chars))
        while todo:
            start, end = todo.popleft()
            if not worker.alive():
                self._replace(worker)
            if self._closing.is_set():  # no worker comes back: the request is lost, retryable
                raise WorkerDied
            try:
                rows[start:end] = worker.parse(texts[start:end], self.deadline)
                continue
            except BatchOverdue as overdue:
                starved = overdue.starved
            log.warning(
                "parse.deadline_passed",
                deadline=self.deadline,
                texts=end - start,
                chars=sum(len(text) for text in texts[start:end]),
                starved=starved,
            )
            worker.kill("deadline")  # replaced before its next batch, or after the answer
            if end - start > 1:  # which text made it late: each alone, in order
                todo.extendleft((i, i + 1) for i in reversed(range(start, end)))
            elif starved and start not in tried_again:  # not the text's doing: once more
                tried_again.add(start)
                todo.appendleft((start, end))
            else:
                refused.append(start)
        if refused:
            raise ParseDeadlineError(refused, self.deadline, rows)
        return rows  # type: ignore[return-value]  # every row is set when none was refused

    def _replace(self, worker: ParseWorker) -> None:
        """Start ``worker`` again (killed by us for ``stopped_for``, or else it died)."""
        old = worker.pid
        reason = worker.stopped_for or "died"
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
