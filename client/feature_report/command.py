"""``hemma-features report CACHE --out report.html``: the CLI of the feature report."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from hemma_features.client.cache_command import add_on_option, add_scope_options
from hemma_features.contract import FEATURE_SETS
from hemma_features.terminal import printable


def add_report_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``report`` on the top-level parser."""
    parser = sub.add_parser(
        "report",
        help="write one self-contained HTML report of a cached feature set "
        "(distributions, flags, correlations with labels)",
        description="Read one fingerprint and feature set of a cache column by column (only "
        "the essays of --ids-from, when given) and write an HTML file that opens offline: "
        "provenance, every feature's definition, histogram, counts and flags; with --labels, "
        "Spearman correlations, a heat map and an embedding projection coloured by a label "
        "(`hemma-features evaluate --html` adds cross-validated predictions).",
    )
    parser.add_argument("cache", type=Path, help="cache directory (extract --cache)")
    parser.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="CSV or Parquet with an id column and numeric score columns, joined on --on",
    )
    add_on_option(parser)
    add_scope_options(parser)
    parser.add_argument(
        "--label-columns",
        default=None,
        help="comma-separated score columns of --labels [every column but the id column]",
    )
    parser.add_argument(
        "--feature-set",
        choices=FEATURE_SETS,
        default=None,
        help="[the one the cache holds; combined first]",
    )
    parser.add_argument(
        "--fingerprint",
        default=None,
        help="the fingerprint, or a prefix only it starts with [the only one the cache holds "
        "for the set]",
    )
    parser.add_argument(
        "--colour-by",
        default=None,
        help="label or feature colouring the embedding projection [the first label, else n_words]",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("report.html"), help="HTML file to write [report.html]"
    )


def run_report(args: argparse.Namespace) -> int:
    """Write the report; one line saying where and how long it took."""
    from hemma_features.client.feature_report.build import report  # numpy only when run

    started = time.perf_counter()
    columns = (
        [c.strip() for c in args.label_columns.split(",") if c.strip()]
        if args.label_columns
        else None
    )
    path = report(
        args.cache,
        args.out,
        labels=args.labels,
        feature_set=args.feature_set,
        fingerprint=args.fingerprint,
        label_columns=columns,
        colour_by=args.colour_by,
        command=shlex.join(["hemma-features", *sys.argv[1:]]),
        on=args.on,
        ids=args.ids_from,
        id_column=args.id_column,
    )
    size = path.stat().st_size
    print(printable(f"wrote {path} ({size / 1e3:.0f} kB) in {time.perf_counter() - started:.1f}s"))
    return 0
