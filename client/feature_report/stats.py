"""Numbers behind the report, one column at a time: summaries, flags, ranks, PCA.

Pure numpy over arrays already read; ``build`` decides what is read when, so at most one
feature column (plus the labels) is in memory at once, and the embedding is streamed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from hemma_features.contract import FeatureSpec

BINS = 30
OUTLIER_IQR = 3.0
"""A value beyond this many IQRs outside the quartiles is an outlier (Tukey's far out)."""
OUTLIER_SHARE = 0.01
"""A column with more outliers than this share of its rows is flagged..."""
OUTLIER_MIN_ROWS = 3
"""...and at least this many (one far value among eight essays is not a heavy tail)."""
DOMINANT_SHARE = 0.95
"""A column where one value holds more than this share of rows is flagged."""
RANGES: dict[str, tuple[float, float]] = {
    "ratio": (0.0, 1.0),
    "cosine": (-1.0, 1.0),
    **{
        unit: (0.0, np.inf)
        for unit in ("words", "sentences", "paragraphs", "characters", "syllables", "tokens",
                     "edges", "clauses", "matches", "per 100 words", "zipf", "phrases",
                     "nominals")
    },
}  # fmt: skip
"""The values a unit allows; a value outside is flagged (units not listed are unbounded)."""


class Summary(NamedTuple):
    """One feature column."""

    rows: int
    missing: int
    """Null or non-finite values."""
    minimum: float
    p01: float
    median: float
    mean: float
    std: float
    p99: float
    maximum: float
    zeros: int
    undefined: int | None
    """Rows at the documented undefined case (None: the definition documents none)."""
    undefined_rule: str
    """How ``undefined`` was counted."""
    counts: np.ndarray
    edges: np.ndarray
    clipped: tuple[int, int]
    """Rows below and above the histogram's range (shown in its first and last bins)."""
    flags: list[str]


def undefined_rule(spec: FeatureSpec | None, columns: set[str]) -> tuple[str, str | None]:
    """How to count a feature's documented undefined case: (description, the column whose
    value decides, or None to count the feature's own zeros); ("", None) when none."""
    if spec is None:
        return "", None
    text = spec.definition
    if "embedded_paragraphs says when" in text and "embedded_paragraphs" in columns:
        return "embedded_paragraphs < 2", "embedded_paragraphs"
    if "0 for a text without words" in text and "n_words" in columns:
        return "n_words = 0", "n_words"
    if "without a prompt" in text:
        return "rows at 0: no prompt", None
    if "0 when undefined" in text or "; 0 for" in text:
        return "rows at 0, the undefined value (a real 0 counts too)", None
    return "", None


def summarize(
    values: np.ndarray,
    spec: FeatureSpec | None,
    undefined_mask: np.ndarray | None,
    rule: str,
    *,
    exact: bool = False,
) -> Summary:
    """Counts, quantiles, a histogram and the flags of one column.

    Args:
        values: The column, one value per row (NaN for null).
        spec: Its catalogue entry (None: not in the catalogue).
        undefined_mask: Rows at the documented undefined case (None: none documented).
        rule: How ``undefined_mask`` was found, for the reader.
        exact: The mask is exact (decided by another column), so the outlier check looks
            at the defined rows only: the undefined case's 0 is not an outlier.
    """
    rows = int(values.size)
    finite = values[np.isfinite(values)]
    missing = rows - int(finite.size)
    flags: list[str] = []
    if missing:
        flags.append(f"{missing} null or non-finite value(s)")
    if spec is None:
        flags.append("not in the catalogue")
    if not finite.size:
        flags.append("no finite values")
        nan = float("nan")
        return Summary(rows, missing, nan, nan, nan, nan, nan, nan, nan, 0, None, rule,
                       np.zeros(0), np.zeros(1), (0, 0), flags)  # fmt: skip
    p01, q1, median, q3, p99 = np.percentile(finite, [1, 25, 50, 75, 99])
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        flags.append(f"constant ({lo:g})")
    else:
        uniques, counts = np.unique(finite, return_counts=True)
        top = int(counts.argmax())
        if counts[top] > DOMINANT_SHARE * finite.size:
            flags.append(f"{counts[top] / finite.size:.1%} of rows are {uniques[top]:g}")
        defined = finite
        if exact and undefined_mask is not None:
            defined = values[np.isfinite(values) & ~undefined_mask]
        q1, q3 = np.percentile(defined, [25, 75]) if defined.size else (q1, q3)
        iqr = q3 - q1
        if iqr > 0:
            far = int(
                ((defined < q1 - OUTLIER_IQR * iqr) | (defined > q3 + OUTLIER_IQR * iqr)).sum()
            )
            if far > max(OUTLIER_SHARE * defined.size, OUTLIER_MIN_ROWS - 1):
                flags.append(
                    f"heavy outliers: {far} row(s) ({far / defined.size:.1%}) beyond "
                    f"{OUTLIER_IQR:g} IQR of the quartiles"
                )
    if spec is not None and spec.unit in RANGES:
        low, high = RANGES[spec.unit]
        outside = int(((finite < low) | (finite > high)).sum())
        if outside:
            flags.append(f"{outside} value(s) outside [{low:g}, {high:g}] ({spec.unit})")
    counts, edges, clipped = _histogram(finite, lo, hi, float(p01), float(p99))
    undefined = None if undefined_mask is None else int(undefined_mask.sum())
    return Summary(
        rows=rows,
        missing=missing,
        minimum=lo,
        p01=float(p01),
        median=float(median),
        mean=float(finite.mean()),
        std=float(finite.std()),
        p99=float(p99),
        maximum=hi,
        zeros=int((finite == 0).sum()),
        undefined=undefined,
        undefined_rule=rule,
        counts=counts,
        edges=edges,
        clipped=clipped,
        flags=flags,
    )


def _histogram(
    finite: np.ndarray, lo: float, hi: float, p01: float, p99: float
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    # A long tail would squeeze the body into one bar: clip to the 1st-99th percentiles
    # when the full range is far wider, and say how many rows the edge bins hold extra.
    if hi > lo and p99 > p01 and (hi - lo) > 8 * (p99 - p01):
        below, above = int((finite < p01).sum()), int((finite > p99).sum())
        counts, edges = np.histogram(np.clip(finite, p01, p99), bins=BINS, range=(p01, p99))
        return counts, edges, (below, above)
    if hi == lo:
        return np.array([finite.size]), np.array([lo - 0.5, hi + 0.5]), (0, 0)
    counts, edges = np.histogram(finite, bins=BINS, range=(lo, hi))
    return counts, edges, (0, 0)


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1 with ties averaged (what Spearman's rho needs)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1], [True])))
    average = (starts[:-1] + starts[1:] - 1) / 2.0 + 1.0
    out = np.empty(values.size, dtype=np.float64)
    out[order] = np.repeat(average, np.diff(starts))
    return out


class Correlation(NamedTuple):
    """Spearman's rho of one feature with one label."""

    rho: float
    low: float
    high: float
    """95% interval (Fisher z with the Fieller-Hartley-Pearson variance 1.06 / (n - 3))."""
    n: int


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r of two equally long arrays (NaN when either is constant)."""
    a = a - a.mean()
    b = b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else float("nan")


def spearman(feature_ranks: np.ndarray, label_ranks: np.ndarray) -> Correlation:
    """rho from ranks over the same rows, with its 95% interval."""
    n = int(feature_ranks.size)
    rho = pearson(feature_ranks, label_ranks) if n > 2 else float("nan")
    if not np.isfinite(rho) or n <= 3:
        return Correlation(rho, float("nan"), float("nan"), n)
    z = np.arctanh(np.clip(rho, -0.999999, 0.999999))
    half = 1.96 * np.sqrt(1.06 / (n - 3))
    return Correlation(rho, float(np.tanh(z - half)), float(np.tanh(z + half)), n)


class Projection(NamedTuple):
    """The embedding's first two principal components."""

    points: np.ndarray
    """Projected sample rows (k x 2)."""
    rows: np.ndarray
    """Which rows of the partition the points are."""
    explained: tuple[float, float]
    """Share of the variance each component explains."""
    dim: int
    rows_total: int


class Moments:
    """Running sum and cross-product of embedding batches, for PCA without holding them."""

    def __init__(self, dim: int) -> None:
        self.n = 0
        self.total = np.zeros(dim)
        self.cross = np.zeros((dim, dim))

    def add(self, block: np.ndarray) -> None:
        """Take one batch (rows x dim) into the moments."""
        block = block.astype(np.float64, copy=False)
        self.n += block.shape[0]
        self.total += block.sum(axis=0)
        self.cross += block.T @ block

    def components(self) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
        """(mean, the top two eigenvectors as columns, their explained shares)."""
        mean = self.total / max(self.n, 1)
        covariance = (self.cross - self.n * np.outer(mean, mean)) / max(self.n - 1, 1)
        values, vectors = np.linalg.eigh(covariance)
        top = np.argsort(values)[::-1][:2]
        total = float(values.clip(min=0).sum()) or 1.0
        shares = tuple(float(max(values[i], 0.0) / total) for i in top)
        return mean, vectors[:, top], (shares + (0.0, 0.0))[:2]  # type: ignore[return-value]
