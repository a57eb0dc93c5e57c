"""Padded encoder passes: shapes, token ranges, pooling on the device, the pass planner,
and vectors that do not depend on which texts share a pass (real MiniLM on the CPU)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from benchmarks.samples import mixed_texts
from hemma_features.engine.execution.encoder_queue import EncoderQueue
from hemma_features.engine.features.document import paragraph_spans
from hemma_features.engine.features.nlp import sentence_spans
from hemma_features.engine.models.padded import (
    Buckets,
    Pending,
    WindowResult,
    pool,
    pool_windows,
    prepare,
)
from hemma_features.engine.models.pass_shapes import PassShapes
from tests.conftest import embedder_variant

# [CLS] ab cd . ef [SEP] over the text "ab cd. ef"
IDS = [101, 1, 2, 3, 4, 102]
OFFSETS = [(0, 0), (0, 2), (3, 5), (5, 6), (7, 9), (0, 0)]
SPANS = [(0, 9), (0, 6), (7, 9), (20, 30)]  # paragraph, two sentences, one past the window


def test_widths_are_multiples_up_to_the_window_and_rows_fit_the_budget():
    """Widths 64..512 by 64; rows = budget // width, at most batch_size; one row of a fixed
    pass stays empty, none of a dynamic one."""
    shapes = PassShapes.build(
        mode="fixed", max_length=500, pad_multiple=64, batch_size=128, token_budget=16384
    )
    assert shapes.widths == (64, 128, 192, 256, 320, 384, 448, 500)
    assert shapes.rows == (128, 128, 85, 64, 51, 42, 36, 32)
    assert shapes.width_for(1) == 64 and shapes.width_for(65) == 128
    assert shapes.width_for(500) == 500
    assert shapes.capacity(500) == 31
    with pytest.raises(ValueError, match="longer than the window"):
        shapes.width_for(501)
    dynamic = PassShapes.build(
        mode="dynamic", max_length=500, pad_multiple=64, batch_size=128, token_budget=16384
    )
    assert dynamic.capacity(500) == 32
    tiny = PassShapes.build(
        mode="fixed", max_length=512, pad_multiple=64, batch_size=2, token_budget=64
    )
    assert tiny.rows[-1] == 2  # a fixed pass always has room for one sequence


def test_a_window_becomes_token_ranges_by_hand():
    """Tokens ab(0) cd(3) .(5) ef(7): the paragraph takes positions 1-4 (4 tokens), the
    first sentence 1-3, the second 4; the span past the window takes none and is left out;
    the special tokens count in the mean but in no span."""
    work = prepare(0, IDS, OFFSETS, 0, SPANS)
    assert work.counted.tolist() == [True] * 6
    assert work.spanned.tolist() == [False, True, True, True, True, False]
    assert work.span_ids.tolist() == [0, 1, 2]
    assert work.span_starts.tolist() == [1, 1, 4]
    assert work.span_ends.tolist() == [5, 4, 5]
    assert work.span_counts.tolist() == [4, 3, 1]


def test_a_repeated_overlap_counts_in_no_mean_and_no_span():
    """With 2 tokens shared with the previous window (ab, cd), only '.' and 'ef' count in
    spans, and the window's mean leaves the two out."""
    work = prepare(0, IDS, OFFSETS, 2, SPANS)
    assert work.counted.tolist() == [True, False, False, True, True, True]
    assert work.span_ids.tolist() == [0, 1, 2]
    assert work.span_starts.tolist() == [3, 3, 4]
    assert work.span_ends.tolist() == [5, 4, 5]
    assert work.span_counts.tolist() == [2, 1, 1]


def test_pooling_sums_each_row_and_range_like_numpy():
    """Row sums over counted tokens and range sums from prefix sums equal plain sums."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    hidden = rng.normal(size=(2, 6, 5)).astype(np.float32)
    counted = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=bool)
    spanned = np.array([[0, 1, 1, 0, 0, 0], [0, 1, 0, 1, 1, 0]], dtype=bool)
    rows, starts, ends = np.array([0, 1, 1]), np.array([1, 1, 3]), np.array([3, 5, 5])
    totals, sums = pool(torch.from_numpy(hidden), counted, spanned, rows, starts, ends)
    h = hidden.astype(np.float64)
    np.testing.assert_allclose(totals[0], h[0, :4].sum(0), rtol=1e-12)
    np.testing.assert_allclose(totals[1], h[1].sum(0), rtol=1e-12)
    np.testing.assert_allclose(sums[0], h[0, 1] + h[0, 2], rtol=1e-12)
    np.testing.assert_allclose(sums[1], h[1, 1] + h[1, 3] + h[1, 4], rtol=1e-12)
    np.testing.assert_allclose(sums[2], h[1, 3] + h[1, 4], rtol=1e-12)


def test_windows_of_one_text_are_averaged_over_their_counted_tokens():
    """Two windows: sums 2 and 4 over 1 and 3 tokens -> mean 1.5; the span summed over both
    windows; a span no token starts in is NaN; normalising gives a unit vector."""
    first = prepare(0, IDS, OFFSETS, 0, SPANS)
    second = prepare(0, IDS, OFFSETS, 2, SPANS)
    results = [
        WindowResult(np.array([2.0, 0.0]), 1, np.ones((3, 2))),
        WindowResult(np.array([4.0, 0.0]), 3, np.full((3, 2), 2.0)),
    ]
    vectors, spans = pool_windows([first, second], results, [4], 2, normalize=False)
    assert vectors.tolist() == [[1.5, 0.0]]
    # paragraph: (1 + 2) summed over 4 + 2 tokens -> 0.5
    np.testing.assert_allclose(spans[0][0], [0.5, 0.5])
    assert np.isnan(spans[0][3]).all()
    unit, _ = pool_windows([first, second], results, [4], 2, normalize=True)
    assert unit.tolist() == [[1.0, 0.0]]


def _pending(length: int, since: float, name: str) -> Pending:
    return Pending(prepare(0, list(range(length)), [(0, 0)] * length, 0, []), since, name)


def test_full_buckets_go_first_but_no_window_waits_past_max_wait():
    """Widths 4 and 8, two sequences a pass: the full width-8 bucket runs before the older
    width-4 one, unless that one has waited past max_wait; each take is oldest first."""
    shapes = PassShapes.build(
        mode="fixed", max_length=8, pad_multiple=4, batch_size=3, token_budget=100
    )
    buckets = Buckets(shapes, max_wait=10.0)
    buckets.add(_pending(3, 0.0, "a"))
    buckets.add(_pending(7, 1.0, "b"))
    buckets.add(_pending(6, 2.0, "c"))
    buckets.add(_pending(8, 3.0, "d"))
    width, taken = buckets.take(now=5.0)
    assert (width, [p.ticket for p in taken]) == (8, ["b", "c"])
    width, taken = buckets.take(now=5.0)  # nothing full: the oldest window's bucket
    assert (width, [p.ticket for p in taken]) == (4, ["a"])
    buckets.add(_pending(2, 4.0, "e"))
    buckets.add(_pending(7, 5.0, "f"))
    width, taken = buckets.take(now=20.0)  # 'e' (and 'd') waited past max_wait: oldest first
    assert (width, [p.ticket for p in taken]) == (8, ["d", "f"])
    assert [p.ticket for p in buckets.take(now=20.0)[1]] == ["e"]
    assert buckets.take() is None and len(buckets) == 0


def spans_of(texts: list[str]) -> list[list[tuple[int, int]]]:
    return [paragraph_spans(t) + sentence_spans(t) for t in texts]


@pytest.fixture(scope="module")
def padded(runtime):
    """The session's MiniLM with padded passes of fixed shapes (16 rows, widths by 32)."""
    return embedder_variant(runtime.embedder, batch_size=16, pad_multiple=32)


def test_a_vector_does_not_depend_on_what_shares_its_pass(padded):
    """An essay's vector and span vectors are the same bytes alone, with 63 others of mixed
    lengths, and in reverse order."""
    texts = mixed_texts(64)
    spans = spans_of(texts)
    together, together_spans = padded.embed_with_spans(texts, spans)
    reverse, reverse_spans = padded.embed_with_spans(texts[::-1], spans[::-1])
    for i in (0, 17, 40, 63):
        alone, alone_spans = padded.embed_with_spans([texts[i]], [spans[i]])
        assert alone[0].tobytes() == together[i].tobytes() == reverse[63 - i].tobytes()
        assert alone_spans[0].tobytes() == together_spans[i].tobytes()
        assert reverse_spans[63 - i].tobytes() == together_spans[i].tobytes()


def test_padded_passes_agree_with_one_sequence_a_pass(runtime, padded):
    """Padded and unpadded vectors (and span vectors) agree to float32 rounding, for
    truncated and for chunk_mean texts."""
    texts = mixed_texts(12)
    spans = spans_of(texts)
    unpadded, unpadded_spans = runtime.embedder.embed_with_spans(texts, spans)
    vectors, span_vectors = padded.embed_with_spans(texts, spans)
    np.testing.assert_allclose(vectors, unpadded, atol=1e-5)
    for got, want in zip(span_vectors, unpadded_spans, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    long_text = " ".join(texts) * 3
    chunked = embedder_variant(
        runtime.embedder, long_text="chunk_mean", max_length=64, chunk_overlap=16
    )
    chunked_padded = embedder_variant(chunked, batch_size=8, pad_multiple=16)
    want = chunked.embed_with_spans([long_text], spans_of([long_text]))
    got = chunked_padded.embed_with_spans([long_text], spans_of([long_text]))
    np.testing.assert_allclose(got[0], want[0], atol=1e-5)
    np.testing.assert_allclose(got[1][0], want[1][0], atol=1e-5)


def test_every_fixed_pass_has_its_shape_and_an_empty_row(padded, monkeypatch):
    """Each pass at width W has rows_at(W) rows; at least one row attends to one token only
    (so the mask always has zeros and the attention path never changes)."""
    seen = []
    original = padded.encoder.forward

    def recording(ids, mask):
        seen.append((ids.shape, mask.copy()))
        return original(ids, mask)

    monkeypatch.setattr(padded.encoder, "forward", recording)
    passes = []
    texts = mixed_texts(40)
    padded.embed_with_spans(texts, [[] for _ in texts], passes.append)
    assert seen and len(passes) == len(seen)
    shapes = padded.shapes
    for (rows, width), mask in seen:
        assert width in shapes.widths and rows == shapes.rows_at(width)
        assert (mask.sum(axis=1) == 1).any()
    assert sum(p.sequences for p in passes) == 40
    assert all(p.tokens <= p.rows * p.width for p in passes)


def test_the_queue_fills_passes_across_requests_with_the_same_bytes(padded):
    """Eight threads' requests share the queue's passes; each gets the bytes the embedder
    gives its texts on their own."""
    texts = mixed_texts(48)
    passes = []
    queue = EncoderQueue(padded, on_pass=passes.append)
    results: dict[int, np.ndarray] = {}

    def request(i: int) -> None:
        chunk = texts[i * 6 : (i + 1) * 6]
        results[i] = queue.embed_with_spans(chunk, spans_of(chunk))[0]

    threads = [threading.Thread(target=request, args=(i,)) for i in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        queue.close()
    assert sorted(results) == list(range(8))
    expected = padded.embed(texts)
    for i, vectors in results.items():
        assert vectors.tobytes() == expected[i * 6 : (i + 1) * 6].tobytes()
    assert sum(p.sequences for p in passes) == 48
    assert all(len(p.waited) == p.sequences for p in passes)


def test_dynamic_shapes_pad_to_the_longest_and_fill_no_rows(runtime, monkeypatch):
    """Dynamic passes hold only sequences, as wide as the longest; values agree."""
    dynamic = embedder_variant(runtime.embedder, batch_size=16, batch_shapes="dynamic")
    shapes = []
    original = dynamic.encoder.forward
    monkeypatch.setattr(
        dynamic.encoder,
        "forward",
        lambda ids, mask: shapes.append((ids.shape, int(mask.sum(1).max()))) or original(ids, mask),
    )
    texts = mixed_texts(10)
    vectors = dynamic.embed(texts)
    np.testing.assert_allclose(vectors, runtime.embedder.embed(texts), atol=1e-5)
    assert sum(rows for (rows, _), _ in shapes) == 10
    assert all(width == longest for (_, width), longest in shapes)


def test_torch_padded_passes_are_batch_invariant_too(runtime, torch_minilm):
    """The torch backend (what runs on CUDA), on this CPU: the same bytes alone, among 31
    others and in reverse order."""
    from hemma_features.engine.models.embed import Embedder
    from hemma_features.engine.models.encoders import TorchEncoder

    base = runtime.embedder
    encoder = TorchEncoder(
        torch_minilm, device="cpu", dtype="float32", threads=None, hardware=runtime.hardware
    )
    padded = Embedder(
        encoder=encoder,
        tokenizer=base._tokenizer,
        model_id=base.model_id,
        weights_sha256=base.weights_sha256,
        options=embedder_variant(base, batch_size=8, pad_multiple=32).options,
    )
    texts = mixed_texts(32)
    together = padded.embed(texts)
    reverse = padded.embed(texts[::-1])
    for i in (3, 30):
        assert padded.embed([texts[i]])[0].tobytes() == together[i].tobytes()
        assert reverse[31 - i].tobytes() == together[i].tobytes()


def test_warm_up_runs_one_pass_per_width_on_cuda(runtime, monkeypatch):
    """On CUDA with padded passes, start-up runs every width once (here the options say
    cuda while the encoder runs on this CPU); elsewhere one short text."""
    cuda = embedder_variant(runtime.embedder, batch_size=4, pad_multiple=128, device="cuda")
    widths = []
    original = cuda.run_pass
    monkeypatch.setattr(cuda, "run_pass", lambda w, works: widths.append(w) or original(w, works))
    cuda.warm_up()
    assert widths == [128, *cuda.shapes.widths]  # "warm-up" itself, then each width
    cpu = embedder_variant(runtime.embedder, batch_size=4, pad_multiple=128)
    monkeypatch.setattr(cpu, "run_pass", lambda w, works: widths.append(w) or original(w, works))
    widths.clear()
    cpu.warm_up()
    assert widths == [128]
