"""A slow essay through the server: refused by name, nothing else lost, the rest resumable.

The slow essay takes 10x the parse deadline alone and the ordinary ones a thousandth of it
(``tests/engine/execution/test_parallel.py`` says why); the server's parser lets the slow
one share a parse batch with ordinary essays, and its length limit lets it in.
"""

from __future__ import annotations

from concurrent.futures import Future

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from hemma_features.engine.errors import InputError, ParseDeadlineError
from hemma_features.engine.execution.parallel import SupervisedParser
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.step_loop import StoreBackedFeatures
from tests.conftest import essays_table, settings_for_tests
from tests.engine.execution.test_parallel import DEADLINE, SLOW
from tests.servers import LiveServer, counter

ESSAYS = [
    ("e0", "The cat sat on the mat. It slept all day."),
    ("e1", "Do you like school? However, we do."),
    ("e2", "Hello there. This is a short essay."),
    ("e3", "Phones help us call our parents."),
    ("e4", SLOW),
    ("e5", "Fine. That is all I have to say."),
]


@pytest.fixture(scope="module")
def slow_runtime(runtime, tmp_path_factory):
    """Two parse workers, one of them beside the encoder (so ``combined`` parses every text
    in one), micro-batches of three, a store, and room for the slow essay."""
    settings = settings_for_tests(
        store_dir=str(tmp_path_factory.mktemp("store")),
        max_text_chars=2 * len(SLOW),
        micro_batch_rows=3,
        parse_deadline=DEADLINE,
    )
    parser = SupervisedParser(
        settings.parsing.spacy_model, 2, DEADLINE, beside_encoder=1, batch_chars=2 * len(SLOW)
    )
    slow = Runtime.from_models(settings, runtime.analyzer, runtime.embedder, parser)
    yield slow
    parser.close()


def write_essays(path, rows):
    pacsv.write_csv(
        pa.table({"essay_id": [r[0] for r in rows], "text": [r[1] for r in rows]}), path
    )
    return path


def test_a_slow_essay_is_refused_by_name_and_a_rerun_without_it_computes_nothing_again(
    slow_runtime, tmp_path, capsys
):
    """``combined``: the second micro-batch fails naming row 4 exactly; the first is in the
    client's cache, rows 3 and 5 in the server store, and the CLI says what to do. A rerun
    without row 4 computes nothing: the cache and the store hold every row."""
    from hemma_features.cli import main

    server = LiveServer(slow_runtime)
    try:
        cache = tmp_path / "cache"
        command = ["extract", "--server", server.http_url, "--cache", str(cache), "--quiet",
                   "--feature-set", "combined"]  # fmt: skip
        assert (
            main([*command[:1], str(write_essays(tmp_path / "all.csv", ESSAYS)), *command[1:]]) == 2
        )
        err = capsys.readouterr().err
        assert "row 4 (essay_id='e4'): this essay took longer to parse than the deadline" in err
        assert "row 3" not in err and "row 0" not in err and "'e0'" not in err
        assert "the other 2 essays of its micro-batch were computed and kept" in err
        assert "stopped: 3 of 6 essays are in" in err and "leave out or fix" in err
        assert "Traceback" not in err
        computed = counter(server.http_url, "hemma_extract_rows_total", "combined")
        assert computed == 5  # all but the slow one
        without = [row for row in ESSAYS if row[0] != "e4"]
        assert (
            main([*command[:1], str(write_essays(tmp_path / "rest.csv", without)), *command[1:]])
            == 0
        )
        assert counter(server.http_url, "hemma_extract_rows_total", "combined") == computed
        assert counter(server.http_url, "hemma_store_hits_total", "combined") == 2
    finally:
        server.close()


def test_without_a_store_the_refusal_says_the_other_rows_are_computed_again(slow_runtime):
    """``handcrafted`` with the store off: the micro-batch's error names the slow essay by
    its row in the request and says the others were not kept."""
    features = StoreBackedFeatures(slow_runtime, use_store=False)
    batch = essays_table([(i, t, "") for i, t in ESSAYS]).to_batches()[0]
    plan = features.plan(batch, "handcrafted", first_row=100)
    with pytest.raises(InputError) as caught:
        features.compute(plan, 3, 6)
    message = str(caught.value)
    assert message.startswith("row 104 (essay_id='e4'): this essay took longer to parse")
    assert "the other 2 essays of its micro-batch were computed but not kept" in message
    assert "rows count from 0" in message


class RefusingParser:
    """A parser that refuses every text for the deadline: a seam for the case where no row
    of a micro-batch is left (the refusals themselves are real in the tests above)."""

    def submit(self, texts, *, beside_encoder=False):
        future: Future = Future()
        future.set_exception(ParseDeadlineError(range(len(texts)), 1.0, [None] * len(texts)))
        return future

    def alive_workers(self):
        return None

    def close(self):
        pass


def test_a_micro_batch_with_every_essay_refused_names_each_and_keeps_nothing(runtime):
    """``combined`` with both essays refused: both named in order, no other rows mentioned,
    nothing stored."""
    refusing = Runtime.from_models(
        settings_for_tests(), runtime.analyzer, runtime.embedder, parser=RefusingParser()
    )
    features = StoreBackedFeatures(refusing, use_store=False)
    batch = essays_table([("a", "One essay.", ""), ("b", "Another essay.", "p")]).to_batches()[0]
    with pytest.raises(InputError) as caught:
        features.compute(features.plan(batch, "combined", first_row=0), 0, 2)
    message = str(caught.value)
    assert message.startswith(
        "row 0 (essay_id='a'); row 1 (essay_id='b'): these essays took longer to parse"
    )
    assert "leave them out" in message and "other" not in message
