"""``hemma-features extract``: progress bar, summary and JSON run report around the client."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from client.feature_client import ExtractReport, FeatureClient
from client.inputs import Columns


def run_extract(args: argparse.Namespace) -> int:
    """Extract into the cache, then print a summary (unless --quiet) and write --report."""
    columns = Columns(essay_id=args.id_column, text=args.text_column, prompt=args.prompt_column)
    show_bar = not args.quiet and sys.stderr.isatty()
    bar = None
    if show_bar:
        from tqdm import tqdm

        bar = tqdm(unit="essay", desc="extract", file=sys.stderr)
    with FeatureClient(args.server, flight=args.flight, chunk_rows=args.chunk_rows) as client:
        try:
            table = client.extract(
                args.input,
                feature_set=args.feature_set,
                cache=args.cache,
                columns=columns,
                progress=bar.update if bar is not None else None,
            )
        finally:
            if bar is not None:
                bar.close()
        report = client.last_report
    assert report is not None  # set by every successful extract
    if not args.quiet:
        print(summary(report, table.num_columns, args.cache))
    if args.report:
        write_report(args.report, report)
    return 0


def summary(report: ExtractReport, n_columns: int, cache: Path) -> str:
    """A few lines a person reads after a run."""
    return (
        f"rows: {report.rows_requested} (cache hits {report.cache_hits}, fetched "
        f"{report.rows_fetched})\n"
        f"columns: {n_columns}\n"
        f"fingerprint: {report.fingerprint}\n"
        f"feature set: {report.feature_set}\n"
        f"essays/s: {report.essays_per_second}\n"
        f"cache: {cache}"
    )


def write_report(path: Path, report: ExtractReport) -> None:
    """Write the run report as JSON."""
    path.write_bytes(msgspec.json.format(msgspec.json.encode(report)) + b"\n")
