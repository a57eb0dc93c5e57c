"""Check: every range the README, docs/features.md and the catalogue's units state for the
feature values holds on the ELLIPSE essays.

    .venv/bin/python benchmarks/value_ranges.py --essays 2000
    .venv/bin/python benchmarks/value_ranges.py --essays 2000 --reference 901df02

Computes the spaCy handcrafted values of the first ``--essays`` ELLIPSE essays (as
benchmarks/handcrafted_equal.py does, in a process of its own), prints each stated range
with the values' minimum and maximum and exits 1 naming any range a value breaks. With
``--reference`` (a git revision), also prints, for every column whose values moved, its
maximum and 99th percentile before and after (the reference's values are cached by
commit, as handcrafted_equal.py keeps them). ``STATED`` is the one list of promises: the
realism test (tests/integration/test_realism.py) checks the same list on its sample.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ellipse import read_ellipse  # noqa: E402


class Stated(NamedTuple):
    """A range the documentation states for some columns' values."""

    names: tuple[str, ...]
    low: float
    high: float
    where: str
    """Where it is stated (file and section)."""
    digits: int | None = None
    """Decimals the range is printed with: a value is held to it as rounded so (the docs
    say 19.5 for 19.499); None: exact."""

    def breaks(self, value: float) -> bool:
        """The value lies outside the range (NaN and infinity always do)."""
        if not math.isfinite(value):
            return True
        shown = value if self.digits is None else round(value, self.digits)
        return not self.low <= shown <= self.high


GRADES = ("flesch_kincaid_grade", "smog", "gunning_fog", "automated_readability_index",
          "coleman_liau_index")  # fmt: skip
PER_SENTENCE = ("clauses_per_sentence", "subordinate_clauses_per_sentence",
                "relative_clauses_per_sentence", "punctuation_per_sentence")  # fmt: skip
STATED: tuple[Stated, ...] = (
    Stated(GRADES, 0.8, 19.5, "README.md, Research families; docs/features.md, Run-on text", 1),
    Stated(
        ("flesch_kincaid_grade", "smog", "coleman_liau_index"),
        0.0,
        16.0,
        "README.md, Research families (past 16 only for Gunning fog and ARI)",
    ),
    Stated(
        ("sentence_length_mean", "mean_tunit_length"),
        0.0,
        40.0,
        "README.md, Research families (no mean of sentence or T-unit lengths passes 40)",
    ),
    Stated(PER_SENTENCE, 0.0, 6.0, "docs/features.md, Run-on text (no count per sentence past 6)"),
    Stated(("bigram_coverage",), 0.45, 0.96, "docs/features.md, Phraseology", 2),
    Stated(("bigram_pmi_mean",), 1.6, 4.3, "docs/features.md, Phraseology", 1),
)
"""The value ranges stated on the 2,000 shared ELLIPSE essays. ``unit_ranges`` adds the
catalogue's: every column of a unit the feature report bounds (ratio in [0, 1], cosine in
[-1, 1], counts at least 0), and every column finite (docs/features.md)."""


def unit_ranges(names: list[str]) -> list[Stated]:
    """The catalogue's ranges for ``names``: each column's unit as the feature report
    bounds it (``client/feature_report/stats.RANGES``), and finite for every column."""
    from hemma_features.client.feature_report.stats import RANGES
    from hemma_features.engine.features.catalogue import LANGUAGETOOL, catalogue

    units = {spec.name: spec.unit for spec in (*catalogue(languagetool=False), *LANGUAGETOOL)}
    ranges = [Stated(tuple(names), -math.inf, math.inf, "docs/features.md (every value finite)")]
    for unit, (low, high) in RANGES.items():
        columns = tuple(name for name in names if units.get(name) == unit)
        if columns:
            ranges.append(Stated(columns, low, high, f"catalogue unit {unit!r}"))
    return ranges


def broken(column: Callable[[str], np.ndarray], names: list[str]) -> list[str]:
    """One line per (range, column) that a value breaks; only columns in ``names`` are read.

    Args:
        column: The values of one column by name.
        names: The columns there are.
    """
    problems = []
    for stated in (*STATED, *unit_ranges(names)):
        for name in stated.names:
            if name not in names:
                continue
            values = np.asarray(column(name), dtype=np.float64)
            bad = [float(v) for v in values if stated.breaks(float(v))]
            if bad:
                problems.append(
                    f"{name}: {len(bad)} value(s) outside [{stated.low:g}, {stated.high:g}] "
                    f"stated in {stated.where} (e.g. {bad[0]:.4g}; min {values.min():.4g}, "
                    f"max {values.max():.4g})"
                )
    return problems


def _values(revision: str | None, essays: int) -> dict:
    from benchmarks import handcrafted_equal

    if revision is not None:
        return handcrafted_equal.reference_values(revision, essays)[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "current.json"
        handcrafted_equal._run_compute(essays, out, {"PYTHONPATH": str(REPO / "src")})
        return json.loads(out.read_text())


def _moved(old: dict, new: dict) -> None:
    """Print max and p99 before and after for each column whose values moved."""
    a = np.asarray(old["values"], dtype=np.float64)
    b = np.asarray(new["values"], dtype=np.float64)
    print(f"{'column':36s} {'moved':>6s} {'max before':>11s} {'max after':>10s} "
          f"{'p99 before':>11s} {'p99 after':>10s}")  # fmt: skip
    for i, name in enumerate(new["names"]):
        if name not in old["names"]:
            print(f"{name:36s} new column")
            continue
        before, after = a[:, old["names"].index(name)], b[:, i]
        moved = int((~np.isclose(before, after, rtol=1e-9, atol=0.0)).sum())
        if moved:
            print(
                f"{name:36s} {moved:6d} {before.max():11.2f} {after.max():10.2f} "
                f"{np.quantile(before, 0.99):11.2f} {np.quantile(after, 0.99):10.2f}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--essays", type=int, default=2000)
    parser.add_argument("--reference", help="git revision to compare the values with")
    args = parser.parse_args()
    if read_ellipse(0) is None:
        return 0
    new = _values(None, args.essays)
    names, values = new["names"], np.asarray(new["values"], dtype=np.float64)
    print(f"essays: {len(values)}; columns: {len(names)} ({new['code']})")
    for stated in (*STATED, *unit_ranges(names)[1:]):
        for name in stated.names:
            column = values[:, names.index(name)]
            print(f"{name:36s} [{stated.low:g}, {stated.high:g}] {stated.where}: "
                  f"min {column.min():.4g}, max {column.max():.4g}")  # fmt: skip
    if args.reference:
        _moved(_values(args.reference, args.essays), new)
    problems = broken(lambda name: values[:, names.index(name)], names)
    print("\n".join(problems) or "every stated range holds")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
