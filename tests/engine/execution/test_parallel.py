"""Parsing in supervised worker processes and embeddings batched across requests."""

from __future__ import annotations

import os
import signal
import time

import pytest

from hemma_features.engine.errors import ParseDeadlineError, WorkerLostError
from hemma_features.engine.execution.parallel import (
    BATCH_CHARS,
    BATCH_TEXTS,
    InlineParser,
    SupervisedParser,
    batches,
)
from tests.conftest import wait_for

TEXTS = ["The cat sat on the mat.\n\nIt slept.", "Do you like it? However, we do.", "Hello"]


def test_worker_processes_parse_exactly_like_the_request_thread(runtime):
    """The default runtime parses in another process, with identical values."""
    assert isinstance(runtime.parser, SupervisedParser)
    [worker_pid] = runtime.parser.worker_pids()
    assert worker_pid != os.getpid()
    assert (
        runtime.parser.submit(TEXTS).result()
        == InlineParser(runtime.analyzer).submit(TEXTS).result()
    )
    assert runtime.parser.submit([]).result() == []


@pytest.fixture()
def supervised(runtime):
    restarts: list[str] = []
    parser = SupervisedParser(runtime.settings.parsing.spacy_model, 1, 60.0, restarts.append)
    parser.restarts = restarts  # type: ignore[attr-defined]
    yield parser
    parser.close()


def test_a_killed_worker_is_replaced_and_the_request_in_flight_is_retryable(supervised, runtime):
    """SIGKILL of the worker mid-request: WorkerLostError, a new worker, the next request ok."""
    [pid] = supervised.worker_pids()
    long_texts = [" ".join(["Essays are long."] * 400)] * 30
    future = supervised.submit(long_texts)
    assert wait_for(lambda: supervised.busy_workers() == 1)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(WorkerLostError, match="died"):
        future.result(timeout=120)
    assert wait_for(lambda: supervised.alive_workers() == 1)
    assert supervised.worker_pids() != [pid]
    assert supervised.restarts == ["died"]
    expected = InlineParser(runtime.analyzer).submit(TEXTS).result()
    assert supervised.submit(TEXTS).result(timeout=120) == expected


def test_an_idle_killed_worker_is_replaced_without_a_request(supervised):
    """A worker killed while idle comes back by itself; readiness sees 0 alive meanwhile."""
    [pid] = supervised.worker_pids()
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: supervised.alive_workers() == 0 or supervised.worker_pids() != [pid])
    assert wait_for(lambda: supervised.alive_workers() == 1 and supervised.worker_pids() != [pid])
    assert supervised.restarts == ["died"]


# Deadline tests: a slow text far past the deadline, ordinary ones far inside it. Parsing
# is linear in the characters (docs/benchmarks.md): SLOW takes about 10 s alone on a
# 2-core host, 10x DEADLINE (and the test never waits for it: its worker is killed at the
# deadline), NORMAL texts about 1 ms, a thousandth of it. A batch limit raised above
# SLOW's length lets it share a batch with ordinary texts, as a 17,000-character essay
# shares one with two ordinary essays under the default limits.
DEADLINE = 1.0
SLOW = " ".join(["A long sentence with many words"] * 20_000)
NORMAL = ["The cat sat on the mat.", "Do you like it? However, we do.", "Hello there.", "Fine."]


def deadline_parser(runtime, workers=1, **options):
    restarts: list[str] = []
    options.setdefault("batch_chars", 10 * len(SLOW))
    parser = SupervisedParser(
        runtime.settings.parsing.spacy_model, workers, DEADLINE, restarts.append, **options
    )
    parser.restarts = restarts  # type: ignore[attr-defined]
    return parser


def test_a_slow_text_at_every_position_of_a_batch_is_named_exactly(runtime):
    """Batches of three with the slow text first, in the middle and last, spread over two
    workers; then one worker parsing every text, as beside the encoder (``combined``). Each
    overrun batch is parsed again one text at a time in a fresh worker, so exactly the slow
    texts are named, every other row is parsed (with an unbatched parse's values) and the
    replaced workers serve the next request."""
    parser = deadline_parser(runtime, workers=2, beside_encoder=1, batch_texts=3)
    inline = InlineParser(runtime.analyzer)

    def expected(texts):
        return [None if t is SLOW else inline.submit([t]).result()[0] for t in texts]

    try:
        pids = parser.worker_pids()
        first, middle, last = [SLOW, *NORMAL[:2]], [NORMAL[2], SLOW, NORMAL[3]], [*NORMAL[:2], SLOW]
        texts = [*first, *middle, *last, *NORMAL[1:]]  # two parts of six: one per worker
        assert batches(texts[:6], 3, parser.batch_chars) == [(0, 3), (3, 6)]
        with pytest.raises(ParseDeadlineError, match="deadline of 1 s") as caught:
            parser.submit(texts).result(timeout=300)
        assert caught.value.indices == [0, 4, 8]
        assert caught.value.partial == expected(texts)
        # each slow text: its batch's worker, then its own (one more if it was starved); the
        # last is replaced after the answer, so the caller does not wait for it
        assert wait_for(lambda: parser.alive_workers() == 2 and len(parser.restarts) >= 6)
        assert set(parser.restarts) == {"deadline"}
        assert not set(parser.worker_pids()) & set(pids)
        one_worker = [NORMAL[0], SLOW, NORMAL[1]]
        with pytest.raises(ParseDeadlineError) as caught:
            parser.submit(one_worker, beside_encoder=True).result(timeout=300)
        assert caught.value.indices == [1]
        assert caught.value.partial == expected(one_worker)
        assert parser.submit(NORMAL).result(timeout=120) == expected(NORMAL)
    finally:
        parser.close()


def test_the_deadline_bounds_one_batch_not_a_workers_whole_share(runtime, sample_essays):
    """A share of 32 batches, together several deadlines long, each a tenth of one (two
    3,000-character essays, about 0.1 s), parses in full: the deadline starts again at
    every batch."""
    essay = "\n\n".join(sample_essays.column("text").to_pylist())
    text = (essay * (3_000 // len(essay) + 1))[:3_000]
    texts = [f"{i}. {text}" for i in range(64)]
    parser = deadline_parser(runtime, batch_texts=2, batch_chars=BATCH_CHARS)
    try:
        started = time.monotonic()
        rows = parser.submit(texts).result(timeout=300)
        elapsed = time.monotonic() - started
        assert len(rows) == 64 and parser.restarts == []
        assert elapsed > DEADLINE  # the whole share took longer than one deadline
    finally:
        parser.close()


def test_a_frozen_worker_is_replaced_and_blames_no_text(runtime):
    """A worker stopped with SIGSTOP passes the deadline without using the CPU: it is
    replaced, the texts are parsed in the fresh worker and no essay is refused, in a batch
    of several texts and in a batch of one."""
    parser = deadline_parser(runtime)
    try:
        inline = InlineParser(runtime.analyzer)
        for texts in (NORMAL[:3], NORMAL[3:]):
            [pid] = parser.worker_pids()
            os.kill(pid, signal.SIGSTOP)
            assert parser.submit(texts).result(timeout=120) == inline.submit(texts).result()
            assert parser.worker_pids() != [pid]
        assert parser.restarts == ["deadline", "deadline"]
    finally:
        parser.close()


def test_worker_batches_keep_short_texts_together_and_long_ones_alone():
    """At most BATCH_TEXTS texts and BATCH_CHARS characters per batch, in order."""
    short, long = "x" * 100, "y" * (BATCH_CHARS + 1)
    assert batches([]) == []
    n = BATCH_TEXTS
    assert batches([short] * (n + 1)) == [(0, n), (n, n + 1)]
    assert batches([short, long, short, short]) == [(0, 1), (1, 2), (2, 4)]
    assert batches([long]) == [(0, 1)]
    assert batches([short] * 3, 2, 250) == [(0, 2), (2, 3)]
    assert batches([short] * 3, 8, 250) == [(0, 2), (2, 3)]
