"""Numbers behind the report, one column at a time: summaries, flags, ranks, PCA.

Pure numpy over arrays already read; ``build`` decides what is read when, so at most one
feature column (plus the labels) is in memory at once, and the embedding is streamed.
"""

from __future__ import annotations

from collections.abc import Callable
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
                     "nominals", "log10 count")
    },
}  # fmt: skip
"""The values a unit allows; a value outside is flagged."""
UNBOUNDED: dict[str, str] = {
    "score": "Flesch reading ease falls below 0 for long words and sentences; LIX and RIX "
    "have no upper bound",
    "grade": "a grade formula's value, not clipped: below 0 for very short words and "
    "sentences, above 16 for long ones",
    "bits": "PMI is negative for a pair rarer than chance",
}
"""The units whose values no range bounds, and why; every catalogue unit is here or in
``RANGES`` (a test checks)."""


class Summary(NamedTuple):
    """One feature column. Counts, quantiles, the histogram and the flags describe its
    measured rows: finite and not at its undefined case."""

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
    """Measured rows at 0 (real zeros; with ``undecided``, perhaps undefined too)."""
    undefined: int | None
    """Rows at the catalogue's undefined case, where no value could be measured (None: the
    feature has none, or its catalogue does not record it)."""
    undefined_rule: str
    """How ``undefined`` was counted, and what ``undecided`` leaves open."""
    counts: np.ndarray
    edges: np.ndarray
    clipped: tuple[int, int]
    """Rows below and above the histogram's range (shown in its first and last bins)."""
    flags: list[str]
    undecided: bool = False
    """The undefined case also arises where no column records it: a zero may be one."""

    @property
    def measured(self) -> int:
        """Rows whose value is a measurement (finite, not at the undefined case)."""
        return self.rows - self.missing - (self.undefined or 0)


class UndefinedRows(NamedTuple):
    """Which rows of a column are at its undefined case, and how that was decided."""

    mask: np.ndarray | None
    """True where undefined (None: the feature has no undefined case it can tell)."""
    rule: str
    undecided: bool
    """Rows at the undefined value beyond ``mask`` may be undefined too."""


def undefined_rows(
    values: np.ndarray, spec: FeatureSpec | None, column: Callable[[str], np.ndarray | None]
) -> UndefinedRows:
    """The rows at ``spec``'s undefined case (``FeatureSpec.undefined``).

    Args:
        values: The feature's column.
        spec: Its catalogue entry.
        column: Another column of the partition by name (None when absent).
    """
    policy = spec.undefined if spec is not None else None
    if policy is None:
        return UndefinedRows(None, "", False)
    if policy.column is None:
        if not policy.exact:
            return UndefinedRows(None, f"undefined {policy.case}: no column records it", True)
        return UndefinedRows(
            values == policy.value, f"rows at {policy.value:g}: {policy.case}", False
        )
    basis = column(policy.column)
    if basis is None:
        rule = f"undefined {policy.case}; {policy.column} is not in this partition"
        return UndefinedRows(None, rule, True)
    rule = f"{policy.tells()}: {policy.case}"
    if not policy.exact:
        rule += (
            f"; a row at {policy.value:g} elsewhere is a real {policy.value:g} or undefined in "
            "a way no column records"
        )
    return UndefinedRows(basis < policy.below, rule, not policy.exact)


def summarize(
    values: np.ndarray,
    spec: FeatureSpec | None,
    undefined: UndefinedRows | None = None,
) -> Summary:
    """Counts, quantiles, a histogram and the flags of one column's measured rows.

    Args:
        values: The column, one value per row (NaN for null).
        spec: Its catalogue entry (None: not in the catalogue).
        undefined: Its rows at the undefined case (``undefined_rows``), left out of every
            figure but their own count: their value is not a measurement.
    """
    undefined = undefined or UndefinedRows(None, "", False)
    rows = int(values.size)
    present = np.isfinite(values)
    missing = rows - int(present.sum())
    at_case = np.zeros(rows, dtype=bool) if undefined.mask is None else (undefined.mask & present)
    finite = values[present & ~at_case]
    count_undefined = None if undefined.mask is None else int(at_case.sum())
    flags: list[str] = []
    if missing:
        flags.append(f"{missing} null or non-finite value(s)")
    if spec is None:
        flags.append("not in the catalogue")
    if not finite.size:
        flags.append("no measured values" if count_undefined else "no finite values")
        nan = float("nan")
        return Summary(rows, missing, nan, nan, nan, nan, nan, nan, nan, 0, count_undefined,
                       undefined.rule, np.zeros(0), np.zeros(1), (0, 0), flags,
                       undefined.undecided)  # fmt: skip
    p01, q1, median, q3, p99 = np.percentile(finite, [1, 25, 50, 75, 99])
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        flags.append(f"constant ({lo:g})")
    else:
        uniques, counts = np.unique(finite, return_counts=True)
        top = int(counts.argmax())
        if counts[top] > DOMINANT_SHARE * finite.size:
            flags.append(f"{counts[top] / finite.size:.1%} of rows are {uniques[top]:g}")
        iqr = q3 - q1
        if iqr > 0:
            far = int(((finite < q1 - OUTLIER_IQR * iqr) | (finite > q3 + OUTLIER_IQR * iqr)).sum())
            if far > max(OUTLIER_SHARE * finite.size, OUTLIER_MIN_ROWS - 1):
                flags.append(
                    f"heavy outliers: {far} row(s) ({far / finite.size:.1%}) beyond "
                    f"{OUTLIER_IQR:g} IQR of the quartiles"
                )
    if spec is not None and spec.unit in RANGES:
        low, high = RANGES[spec.unit]
        outside = int(((finite < low) | (finite > high)).sum())
        if outside:
            flags.append(f"{outside} value(s) outside [{low:g}, {high:g}] ({spec.unit})")
    counts, edges, clipped = _histogram(finite, lo, hi, float(p01), float(p99))
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
        undefined=count_undefined,
        undefined_rule=undefined.rule,
        counts=counts,
        edges=edges,
        clipped=clipped,
        flags=flags,
        undecided=undefined.undecided,
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
