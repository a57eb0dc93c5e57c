"""Padded encoder passes: token windows of many texts in one forward pass, pooled on the
device, only pooled sums leaving it.

A window becomes a ``WindowWork`` (``prepare``): its token ids, which tokens count in the
window's mean (all but a ``chunk_mean`` overlap), and for each span of its text the range
of token positions whose states the span's mean takes. Windows wait in ``Buckets`` by
padded width (``pass_shapes``); ``run_pass`` pads one bucket's windows into a pass, runs
the encoder and pools on the device in float64: the window sums, and each span's sum as the
difference of two prefix sums (no scatter, no atomics: the same order of additions for
every pass of that shape). ``pool_windows`` divides on the host, in the text order asked.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import msgspec
import numpy as np

from hemma_features.engine.models.pass_shapes import PassShapes


class Window(NamedTuple):
    """One token sequence fed to the encoder, with each token's character offsets."""

    ids: list[int]
    offsets: list[tuple[int, int]]
    shared: int = 0
    """Leading tokens (after the first special token) repeated from the previous window of
    the same text (``chunk_mean``'s overlap): pooled once, in the earlier window."""


class WindowWork(NamedTuple):
    """One token window of one distinct text, ready to be padded into a pass."""

    owner: int
    """The text (index among the request's distinct texts)."""
    ids: np.ndarray
    """[L] int64 token ids, special tokens included."""
    counted: np.ndarray
    """[L] bool: tokens in the window's mean (every token but a repeated overlap)."""
    spanned: np.ndarray
    """[L] bool: tokens a span may take (counted, not special, in text order)."""
    span_ids: np.ndarray
    """[R] int64: which span of the text each range belongs to (spans no token of this
    window starts in are left out)."""
    span_starts: np.ndarray
    """[R] int64: first token position of the range."""
    span_ends: np.ndarray
    """[R] int64: one past its last token position."""
    span_counts: np.ndarray
    """[R] int64: tokens the range takes (``spanned`` ones between start and end)."""


class WindowResult(NamedTuple):
    """What leaves the device for one window."""

    total: np.ndarray
    """[D] float64: the sum of the counted tokens' final states."""
    tokens: int
    """Counted tokens."""
    span_sums: np.ndarray
    """[R] x [D] float64: each range's sum of final states."""


class PassStats(msgspec.Struct, frozen=True, kw_only=True):
    """One encoder pass, for ``/metrics``."""

    width: int
    """Padded sequence length."""
    rows: int
    """Rows of the pass (empty rows included)."""
    sequences: int
    """Rows holding a sequence."""
    tokens: int
    """Real tokens (the rest of rows x width is padding)."""
    seconds: float
    """Wall time of the pass, pooling and copy included."""
    waited: tuple[float, ...] = ()
    """Seconds each sequence waited in the queue before this pass (queue only)."""


def prepare(
    owner: int, ids: Sequence[int], offsets: Sequence[tuple[int, int]], shared: int,
    spans: Sequence[tuple[int, int]],
) -> WindowWork:  # fmt: skip
    """A window as a pass takes it.

    Args:
        owner: The text's index among the request's distinct texts.
        ids: Token ids of the window.
        offsets: Each token's (start, end) character offsets; special tokens are (0, 0).
        shared: Leading tokens (after the first) repeated from the text's previous window.
        spans: The text's character spans (paragraphs, then sentences).
    """
    token_ids = np.asarray(ids, dtype=np.int64)
    places = np.asarray(offsets, dtype=np.int64).reshape(len(token_ids), 2)
    starts, ends = places[:, 0], places[:, 1]
    counted = np.ones(len(token_ids), dtype=bool)
    counted[1 : 1 + shared] = False  # the overlap counts in the earlier window
    spanned = counted & (ends > starts)
    positions = np.flatnonzero(spanned)
    if len(positions) > 1 and (np.diff(starts[positions]) < 0).any():
        # A tokenizer that hands offsets out of order (none known): tokens that step back
        # in the text join no span, so the ranges below stay exact.
        keep = starts[positions] >= np.maximum.accumulate(starts[positions])
        spanned[positions[~keep]] = False
        positions = positions[keep]
    if not spans or not len(positions):
        empty = np.zeros(0, dtype=np.int64)
        return WindowWork(owner, token_ids, counted, spanned, empty, empty, empty, empty)
    bounds = np.asarray(spans, dtype=np.int64).reshape(len(spans), 2)
    in_order = starts[positions]
    first = np.searchsorted(in_order, bounds[:, 0], side="left")
    stop = np.searchsorted(in_order, bounds[:, 1], side="left")
    taken = np.flatnonzero(stop > first)
    return WindowWork(
        owner,
        token_ids,
        counted,
        spanned,
        taken.astype(np.int64),
        positions[first[taken]],
        positions[stop[taken] - 1] + 1,
        (stop - first)[taken].astype(np.int64),
    )


def pool(
    hidden: Any, counted: np.ndarray, spanned: np.ndarray, rows: np.ndarray,
    starts: np.ndarray, ends: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Sums of final states on the states' device, in float64.

    Args:
        hidden: [B, W, D] torch tensor of final states (any float dtype and device).
        counted: [B, W] bool: tokens each row's sum takes.
        spanned: [B, W] bool: tokens span sums take.
        rows, starts, ends: [R] ranges: row, first and one-past-last token position.

    Returns:
        ([B, D] row sums, [R, D] range sums), float64 NumPy arrays on the host.
    """
    import torch

    device = hidden.device
    states = hidden.to(torch.float64)
    weights = torch.from_numpy(counted).to(device=device, dtype=torch.float64)
    totals = (states * weights.unsqueeze(-1)).sum(dim=1)
    if not len(rows):
        return totals.cpu().numpy(), np.zeros((0, states.shape[-1]), dtype=np.float64)
    weights = torch.from_numpy(spanned).to(device=device, dtype=torch.float64)
    prefix = torch.cumsum(states * weights.unsqueeze(-1), dim=1)
    prefix = torch.nn.functional.pad(prefix, (0, 0, 1, 0))  # prefix[:, i] sums tokens < i
    at = torch.from_numpy(rows).to(device)
    sums = (
        prefix[at, torch.from_numpy(ends).to(device)]
        - prefix[at, torch.from_numpy(starts).to(device)]
    )
    return totals.cpu().numpy(), sums.cpu().numpy()


def run_pass(
    forward: Callable[[np.ndarray, np.ndarray], Any],
    shapes: PassShapes,
    width: int,
    works: Sequence[WindowWork],
    pad_id: int,
) -> tuple[list[WindowResult], PassStats]:
    """One forward pass over ``works`` (at most ``shapes.capacity(width)`` windows of at
    most ``width`` tokens), pooled on the device.

    Args:
        forward: The encoder's ``forward(ids, mask)`` -> [B, W, D] torch tensor.
        shapes: The pass shapes (``fixed``: ``rows_at(width)`` rows, empty ones filled).
        width: The bucket's padded width.
        works: The windows, in the order they take the rows.
        pad_id: The tokenizer's padding id (empty rows and padding hold it).
    """
    import torch

    started = time.perf_counter()
    longest = max(len(w.ids) for w in works)
    if shapes.mode == "fixed":
        rows, columns = shapes.rows_at(width), width
    else:
        rows, columns = len(works), longest
    ids = np.full((rows, columns), pad_id, dtype=np.int64)
    mask = np.zeros((rows, columns), dtype=np.int64)
    counted = np.zeros((rows, columns), dtype=bool)
    spanned = np.zeros((rows, columns), dtype=bool)
    mask[len(works) :, 0] = 1  # an empty row attends to one token: no row is all padding
    for row, work in enumerate(works):
        n = len(work.ids)
        ids[row, :n] = work.ids
        mask[row, :n] = 1
        counted[row, :n] = work.counted
        spanned[row, :n] = work.spanned
    range_rows = np.concatenate(
        [np.full(len(w.span_ids), row, dtype=np.int64) for row, w in enumerate(works)]
    )
    range_starts = np.concatenate([w.span_starts for w in works])
    range_ends = np.concatenate([w.span_ends for w in works])
    with torch.inference_mode():
        hidden = forward(ids, mask)
        totals, sums = pool(hidden, counted, spanned, range_rows, range_starts, range_ends)
    results = []
    at = 0
    for row, work in enumerate(works):
        taken = len(work.span_ids)
        results.append(WindowResult(totals[row], int(work.counted.sum()), sums[at : at + taken]))
        at += taken
    stats = PassStats(
        width=columns,
        rows=rows,
        sequences=len(works),
        tokens=sum(len(w.ids) for w in works),
        seconds=time.perf_counter() - started,
    )
    return results, stats


def pool_windows(
    works: Sequence[WindowWork],
    results: Sequence[WindowResult],
    span_counts: Sequence[int],
    dim: int,
    normalize: bool,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per text: the mean over its counted tokens (L2-normalised when asked), and each
    span's mean (NaN where no token of any window starts in it).

    Args:
        works: Every window of the request, each text's windows in order.
        results: What each window's pass returned, in the same order.
        span_counts: Spans per distinct text.
        dim: Hidden size.
        normalize: L2-normalise the text vectors.
    """
    texts = len(span_counts)
    totals = np.zeros((texts, dim), dtype=np.float64)
    counts = np.zeros(texts, dtype=np.int64)
    span_sums = [np.zeros((n, dim), dtype=np.float64) for n in span_counts]
    span_tokens = [np.zeros(n, dtype=np.int64) for n in span_counts]
    for work, result in zip(works, results, strict=True):
        totals[work.owner] += result.total
        counts[work.owner] += result.tokens
        span_sums[work.owner][work.span_ids] += result.span_sums
        span_tokens[work.owner][work.span_ids] += work.span_counts
    means = totals / np.maximum(counts, 1)[:, None]
    if normalize:
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        means = means / np.where(norms > 0, norms, 1.0)
    span_vectors = []
    for sums, tokens in zip(span_sums, span_tokens, strict=True):
        out = np.full(sums.shape, np.nan, dtype=np.float32)
        some = tokens > 0
        out[some] = (sums[some] / tokens[some][:, None]).astype(np.float32)
        span_vectors.append(out)
    return means.astype(np.float32), span_vectors


class Pending(NamedTuple):
    """A window waiting for a pass."""

    work: WindowWork
    since: float
    """``time.monotonic()`` when it was queued."""
    ticket: Any = None
    """Whoever waits for it (the queue's job and the window's place in it)."""


class Buckets:
    """Windows waiting for a pass, by padded width; which pass runs next.

    Next is, in this order: the bucket whose oldest window has waited past ``max_wait``
    (no window waits for ever behind fuller buckets); a full bucket (a pass with no empty
    row), oldest first; otherwise the bucket with the oldest window (an idle encoder never
    waits for a bucket to fill: under load buckets fill while a pass runs).

    Args:
        shapes: The pass shapes.
        max_wait: Seconds a window may wait while fuller buckets go first.
    """

    def __init__(self, shapes: PassShapes, max_wait: float = 0.05) -> None:
        self.shapes = shapes
        self.max_wait = max_wait
        self._waiting: dict[int, deque[Pending]] = {}

    def __len__(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    def add(self, item: Pending) -> None:
        width = self.shapes.width_for(len(item.work.ids))
        self._waiting.setdefault(width, deque()).append(item)

    def take(self, now: float | None = None) -> tuple[int, list[Pending]] | None:
        """The next pass's width and windows (oldest first), or None when none waits."""
        queues = [(q[0].since, width) for width, q in self._waiting.items() if q]
        if not queues:
            return None
        now = time.monotonic() if now is None else now
        oldest, width = min(queues)
        if now - oldest <= self.max_wait:
            full = [
                (since, w)
                for since, w in queues
                if len(self._waiting[w]) >= self.shapes.capacity(w)
            ]
            if full:
                width = min(full)[1]
        queue = self._waiting[width]
        taken = [queue.popleft() for _ in range(min(len(queue), self.shapes.capacity(width)))]
        return width, taken

    def drop(self, keep: Callable[[Pending], bool]) -> None:
        """Forget the windows ``keep`` says no to (their request failed)."""
        for width, queue in self._waiting.items():
            self._waiting[width] = deque(item for item in queue if keep(item))
