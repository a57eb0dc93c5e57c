"""Batch size 1, the CPU default: each token window is its own forward pass, unpadded, and
is pooled here in float64 NumPy. The golden values and the CPU fingerprints are this path's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from hemma_features.engine.models.encoders import Encoder
from hemma_features.engine.models.padded import PassStats, Window


def sorted_runs(spans: Sequence[tuple[int, int]]) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Spans cut into maximal runs of sorted, non-overlapping spans: (index of the run's
    first span, its starts, its ends) each, for a binary search of token offsets."""
    runs: list[tuple[int, np.ndarray, np.ndarray]] = []
    first = 0
    for i in range(1, len(spans) + 1):
        if i == len(spans) or spans[i][0] < spans[i - 1][1]:
            chosen = spans[first:i]
            runs.append((first, np.array([a for a, _ in chosen], dtype=np.int64),
                         np.array([b for _, b in chosen], dtype=np.int64)))  # fmt: skip
            first = i
    return runs


def embed_unpadded(
    encoder: Encoder,
    windows: list[list[Window]],
    spans: Sequence[Sequence[tuple[int, int]]],
    *,
    normalize: bool,
    observe: Callable[[PassStats], None] | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Text vectors and span vectors of distinct texts, one pass per window.

    Args:
        encoder: The backend.
        windows: Each text's token windows.
        spans: Each text's character spans.
        normalize: L2-normalise the text vectors.
        observe: Told of every forward pass.
    """
    dim = encoder.dim
    flat = [(t, w) for t, text_windows in enumerate(windows) for w in text_windows]
    span_sums = [np.zeros((len(s), dim), dtype=np.float64) for s in spans]
    span_counts = [np.zeros(len(s), dtype=np.int64) for s in spans]
    span_runs = [sorted_runs(text_spans) for text_spans in spans]
    chunked = [len(text_windows) > 1 for text_windows in windows]
    window_sums = np.zeros((len(flat), dim), dtype=np.float64)
    window_counts = np.zeros(len(flat), dtype=np.int64)

    def collect(position: int, hidden: np.ndarray) -> None:
        owner, window = flat[position]
        once = np.ones(len(window.ids), dtype=bool)
        once[1 : 1 + window.shared] = False  # the overlap counts in the earlier window
        if chunked[owner]:
            window_sums[position] = hidden[once].astype(np.float64).sum(0)
            window_counts[position] = int(once.sum())
        if span_runs[owner]:
            starts = np.fromiter((a for a, _ in window.offsets), np.int64, len(window.ids))
            ends = np.fromiter((b for _, b in window.offsets), np.int64, len(window.ids))
            real = (ends > starts) & once
            for first, run_starts, run_ends in span_runs[owner]:
                j = np.searchsorted(run_starts, starts, side="right") - 1
                inside = real & (j >= 0)
                inside &= starts < run_ends[np.clip(j, 0, None)]
                if inside.any():
                    rows = first + j[inside]
                    np.add.at(span_sums[owner], rows, hidden[inside].astype(np.float64))
                    np.add.at(span_counts[owner], rows, 1)

    needs_states = any(spans) or any(chunked)
    pooled = _pool_sequences(
        encoder, [w.ids for _, w in flat], normalize, collect if needs_states else None, observe
    )
    vectors = np.zeros((len(windows), dim), dtype=np.float32)
    first = 0
    for t, text_windows in enumerate(windows):
        rows = slice(first, first + len(text_windows))
        first += len(text_windows)
        if not chunked[t]:
            vectors[t] = pooled[rows][0]
        else:  # every token position once: the mean over the text's distinct tokens
            mean = window_sums[rows].sum(0) / window_counts[rows].sum()
            if normalize:
                norm = float(np.linalg.norm(mean))
                mean = mean / norm if norm > 0 else mean
            vectors[t] = mean.astype(np.float32)
    span_vectors = []
    for sums, counts in zip(span_sums, span_counts, strict=True):
        means = np.full(sums.shape, np.nan, dtype=np.float32)
        means[counts > 0] = (sums[counts > 0] / counts[counts > 0][:, None]).astype(np.float32)
        span_vectors.append(means)
    return vectors, span_vectors


def _pool_sequences(
    encoder: Encoder,
    sequences: list[list[int]],
    normalize: bool,
    collect: Callable[[int, np.ndarray], None] | None,
    observe: Callable[[PassStats], None] | None,
) -> np.ndarray:
    """Mean-pooled (optionally normalised) vector per token id sequence, one pass each,
    shortest first. ``collect(position, hidden_states)`` sees each sequence's [L, D] final
    states."""
    out = np.zeros((len(sequences), encoder.dim), dtype=np.float32)
    for position in sorted(range(len(sequences)), key=lambda i: len(sequences[i])):
        ids = sequences[position]
        started = time.perf_counter()
        states = encoder.hidden_states(np.asarray([ids], dtype=np.int64))
        if observe is not None:
            seconds = time.perf_counter() - started
            width = len(ids)
            observe(PassStats(width=width, rows=1, sequences=1, tokens=width, seconds=seconds))
        out[position] = _pool(states, normalize)[0]
        if collect is not None:
            collect(position, states[0])
    return out


def _pool(states: np.ndarray, normalize: bool) -> np.ndarray:
    """[B, L, D] -> [B, D]: the mean over tokens (all real: nothing is padded), then
    optional L2 normalisation; summed in float64 so the order of addition is fixed."""
    pooled = states.astype(np.float64).mean(axis=1)
    if normalize:
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        pooled = pooled / np.where(norms > 0, norms, 1.0)
    return pooled.astype(np.float32)
