"""Parsing in supervised worker processes and embeddings batched across requests."""

from __future__ import annotations

import os
import signal

import pytest

from hemma_features.engine.errors import ParseDeadlineError, WorkerLostError
from hemma_features.engine.features.parallel import (
    InlineParser,
    SupervisedParser,
)
from hemma_features.engine.features.parse_worker import BATCH_CHARS, BATCH_TEXTS, batches
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
    parser = SupervisedParser(runtime.settings.spacy_model, 1, 60.0, restarts.append)
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


def test_a_parse_past_the_deadline_names_the_essay_and_replaces_the_worker(runtime):
    """With a tiny deadline the request fails naming the text it was on; a new worker serves."""
    restarts: list[str] = []
    parser = SupervisedParser(runtime.settings.spacy_model, 1, 0.3, restarts.append)
    try:
        [pid] = parser.worker_pids()
        texts = ["Short one.", " ".join(["A long sentence with many words"] * 2000)]
        with pytest.raises(ParseDeadlineError, match="deadline of 0.3 s") as caught:
            parser.submit(texts).result(timeout=120)
        assert caught.value.index == 1
        assert wait_for(lambda: parser.alive_workers() == 1)
        assert parser.worker_pids() != [pid] and restarts == ["deadline"]
        assert len(parser.submit(["Fine."]).result(timeout=120)) == 1
    finally:
        parser.close()


def test_a_long_essay_among_short_ones_is_named_exactly_past_the_deadline(runtime):
    """Short essays share a parse batch, a long one is parsed alone: the deadline names it."""
    parser = SupervisedParser(runtime.settings.spacy_model, 1, 0.3)
    try:
        long = " ".join(["A long sentence with many words"] * 2000)
        texts = ["Short one.", "Short two.", "Short three.", long, "Short four."]
        with pytest.raises(ParseDeadlineError) as caught:
            parser.submit(texts).result(timeout=120)
        assert caught.value.index == 3
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
