"""``hemma-features demo``: the main job end to end on the embedded default models."""

from __future__ import annotations

import argparse
import sys
import time
from importlib import resources
from pathlib import Path

from hemma_features.client.cache import open_features
from hemma_features.client.errors import InputFileError
from hemma_features.client.extract_command import summary
from hemma_features.client.feature_client import FeatureClient
from hemma_features.client.partition import pick_partition
from hemma_features.client.server_process import ServerProcess
from hemma_features.extras import server_extra_hint
from hemma_features.terminal import printable


def sample_essays() -> Path:
    """The sample essays shipped inside the package (works from any directory)."""
    return Path(str(resources.files("hemma_features.client") / "samples" / "essays.csv"))


def run_demo(args: argparse.Namespace) -> int:
    """Start a server, extract the sample essays into the cache, read it back, stop.

    What can be checked without a server is checked first: the server extra is installed
    and the essays file exists (the server takes tens of seconds to start).
    """
    hint = server_extra_hint("demo")
    if hint:
        raise InputFileError(hint)
    essays = args.essays or sample_essays()
    if not essays.is_file():
        raise InputFileError(
            f"essays file {essays} does not exist (leave --essays out for the shipped samples)"
        )
    essays = essays.resolve()
    started = time.perf_counter()
    _say(f"starting the feature server (offline models) for {essays} ...")
    with ServerProcess(startup_timeout=args.startup_timeout) as server:
        assert server.info is not None
        _say(
            f"server ready in {time.perf_counter() - started:.1f}s: http {server.http_url}, "
            f"flight {server.flight_url}"
        )
        with FeatureClient(server.http_url) as client:
            table, report = client.extract_with_report(
                essays, feature_set=args.feature_set, cache=args.cache
            )
        _say(summary(report, table.num_columns, args.cache))
        chosen = pick_partition(args.cache, args.feature_set, report.fingerprint)
        back = open_features(args.cache, args.feature_set, report.fingerprint)
        _say(
            f"read back with open_features: {back.num_rows} rows x {back.num_columns} columns "
            f"from {chosen.files} file(s) in {chosen.directory}"
        )
        preview = [n for n in PREVIEW if n in back.column_names]
        _say(f"a few of its {back.num_columns - 2} columns (docs/features.md defines each):")
        _say(
            back.select(preview).slice(0, 5).to_pandas().to_string(index=False)
            if _has_pandas()
            else back.select(preview).slice(0, 5)
        )
    _say(f"server stopped; total {time.perf_counter() - started:.1f}s")
    _say(next_steps(args.cache))
    return 0


PREVIEW = (
    "essay_id",
    "n_words",
    "flesch_kincaid_grade",
    "mtld",
    "misspelled_words_per_100_words",
    "clauses_per_sentence",
    "prompt_similarity",
)
"""The demo's preview: named handcrafted features of several families (length,
readability, diversity, errors, complexity) and one embedding-derived one."""


def next_steps(cache: Path) -> str:
    """The three commands a researcher runs next, on their own essays."""
    return (
        "next, with your own essays (a CSV with essay_id, text and optionally prompt; name "
        "other columns with --id-column, --text-column and --prompt-column):\n"
        "  hemma-features serve   # on the GPU host, or here; leave it running\n"
        "  hemma-features extract essays.csv --server http://127.0.0.1:9000 "
        f"--cache {cache} --limit 20   # a few first; then without --limit\n"
        f"  hemma-features report {cache} --labels scores.csv --out report.html"
    )


def _has_pandas() -> bool:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def _say(text: object, *, error: bool = False) -> None:
    """Print lines with every character of data a terminal would act on escaped."""
    print(printable(str(text)), file=sys.stderr if error else sys.stdout, flush=True)
