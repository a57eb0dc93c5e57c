"""Check: every handcrafted column equals the one another revision of the code computes.

    .venv/bin/python benchmarks/handcrafted_equal.py --essays 2000

Computes the spaCy handcrafted values of the first ``--essays`` ELLIPSE essays twice, each
in a process of its own: once with this checkout's code, once with the code of
``--reference`` (a git revision, by default where HEAD left main), unpacked with ``git
archive`` into a temporary directory and imported through ``PYTHONPATH`` (as
benchmarks/handcrafted_cpu.py compares checkouts). Each side parses as its parse worker
does: one essay per ``TextAnalyzer.features`` call, or one call per ``parallel.batches``
batch (``parse_worker.request_rows`` in older checkouts) where the checkout has it. Prints
the max absolute difference per column and exits 1 unless every one is 0 (NaN equal to
NaN). The reference's values are kept under the
temporary directory by commit, so a second run computes only this checkout's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.checkouts import git, revision_tree  # noqa: E402
from benchmarks.ellipse import read_ellipse  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "hemma-handcrafted-equal"


def compute(essays: int, out: Path) -> None:
    """Write the values of the first ``essays`` essays with the ``hemma_features`` on the
    path to ``out`` (JSON: the column names and one row of floats per essay)."""
    import hemma_features
    from hemma_features.engine.execution import parallel, parse_worker
    from hemma_features.engine.models.spacy_model import TextAnalyzer
    from hemma_features.engine.settings import DEFAULT_SPACY_MODEL

    table = read_ellipse(essays)
    assert table is not None  # the parent checked
    texts = table.column("text").to_pylist()
    analyzer = TextAnalyzer.load(DEFAULT_SPACY_MODEL)
    if hasattr(parallel, "batches"):  # the batches the parent hands its workers
        rows = [row for a, b in parallel.batches(texts) for row in analyzer.features(texts[a:b])]
    elif hasattr(parse_worker, "request_rows"):  # the worker's own loop (until issue 32)
        rows = parse_worker.request_rows(analyzer, texts, lambda start, end: None)
    else:
        rows = [row for text in texts for row in analyzer.features([text])]
    names = list(rows[0])
    values = [[float(row[name]) for name in names] for row in rows]
    code = str(Path(hemma_features.__file__).resolve().parent)
    out.write_text(json.dumps({"code": code, "names": names, "values": values}))


def reference_values(revision: str, essays: int) -> tuple[Path, dict]:
    """The reference revision's values (computed once per commit and essay count)."""
    commit = git("rev-parse", revision)
    out = CACHE / f"{commit}-{essays}.json"
    if not out.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        with revision_tree(commit) as tree:
            _run_compute(essays, out, {"PYTHONPATH": str(tree / "src")})
    return out, json.loads(out.read_text())


def _run_compute(essays: int, out: Path, env: dict[str, str]) -> None:
    command = [sys.executable, __file__, "--compute", str(out), "--essays", str(essays)]
    subprocess.run(command, check=True, env={**os.environ, **env})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--reference", help="git revision to compare with (default: where HEAD left main)"
    )
    parser.add_argument("--essays", type=int, default=2000)
    parser.add_argument("--compute", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if read_ellipse(0) is None:
        return 0
    if args.compute is not None:
        compute(args.essays, args.compute)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        current = Path(tmp) / "current.json"
        _run_compute(args.essays, current, {"PYTHONPATH": str(REPO / "src")})
        new = json.loads(current.read_text())
    reference = args.reference or git("merge-base", "HEAD", "main")
    _, old = reference_values(reference, args.essays)
    print(f"reference: {reference} ({old['code']}); current: {new['code']}")
    print(f"essays: {len(new['values'])}")
    if old["names"] != new["names"]:
        print(f"columns differ: {sorted(set(old['names']) ^ set(new['names']))}")
        return 1
    a = np.asarray(old["values"], dtype=np.float64)
    b = np.asarray(new["values"], dtype=np.float64)
    both_nan = np.isnan(a) & np.isnan(b)
    difference = np.where(both_nan, 0.0, np.abs(a - b))
    difference = np.where(np.isnan(difference), np.inf, difference)  # NaN on one side only
    worst = difference.max(axis=0)
    for name, value, rows in zip(old["names"], worst, (difference > 0).sum(axis=0), strict=True):
        print(f"{name:40s} max abs diff {value:.3g} ({rows} essays differ)")
    unequal = [name for name, value in zip(old["names"], worst, strict=True) if value != 0]
    print(f"columns: {len(worst)}; unequal: {len(unequal)} {unequal}")
    return 1 if unequal else 0


if __name__ == "__main__":
    raise SystemExit(main())
