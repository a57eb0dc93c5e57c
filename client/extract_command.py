"""``hemma-features extract``: progress bar, summary and JSON run report around the client."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

import msgspec

from hemma_features.client.cli_options import client_from
from hemma_features.client.feature_client import FeatureClient
from hemma_features.client.inputs import Columns
from hemma_features.client.report import ExtractReport


class ProgressBar:
    """tqdm bar on a terminal: rows done of total, essays/s, cache hits."""

    def __init__(self, file: TextIO | None = None) -> None:
        from tqdm import tqdm

        self._bar = tqdm(unit="essay", desc="extract", file=file or sys.stderr)
        self._hits = 0

    def update(self, rows: int, hits: int, total: int) -> None:
        self._bar.total = total
        self._hits += hits
        self._bar.set_postfix(cache_hits=self._hits, refresh=False)
        self._bar.update(rows)

    def close(self) -> None:
        self._bar.close()


def run_extract(args: argparse.Namespace, engine: FeatureClient | None = None) -> int:
    """Extract into the cache, then print a summary (unless --quiet) and write --report.

    ``engine`` computes the missing rows: the server of ``--server`` by default, or
    another engine with the same interface (``--engine ray`` passes a ``RayEngine``).
    """
    columns = Columns(essay_id=args.id_column, text=args.text_column, prompt=args.prompt_column)
    bar = ProgressBar() if not args.quiet and sys.stderr.isatty() else None
    with engine if engine is not None else client_from(args) as client:
        try:
            table = client.extract(
                args.input,
                feature_set=args.feature_set,
                cache=args.cache,
                columns=columns,
                progress=bar.update if bar is not None else None,
                cache_format=args.format,
            )
        except BaseException as exc:
            if bar is not None:
                bar.close()
            partial = client.last_report
            if partial is not None and not partial.complete:
                if args.report:
                    write_report(args.report, partial)
                if isinstance(exc, KeyboardInterrupt):  # nothing else will be printed
                    print(unfinished(partial, args.cache), file=sys.stderr)
                elif partial.essays_in_cache:  # the error's one line says it too
                    exc.add_note(unfinished(partial, args.cache))
            raise
        if bar is not None:
            bar.close()
        report = client.last_report
    assert report is not None  # set by every successful extract
    if not args.quiet:
        print(summary(report, table.num_columns, args.cache))
    if args.report:
        write_report(args.report, report)
    return 0


def unfinished(report: ExtractReport, cache: Path) -> str:
    """What a run that stopped early saved, and that a rerun resumes."""
    return (
        f"stopped: {report.essays_in_cache} of {report.unique_essays} essays are in {cache}; "
        "rerun the same command to fetch the rest"
    )


def summary(report: ExtractReport, n_columns: int, cache: Path) -> str:
    """A few lines a person reads after a run."""
    return (
        f"rows: {report.rows_requested} (cache hits {report.cache_hits}, fetched "
        f"{report.rows_fetched}, reused components {report.reused_components})\n"
        f"columns: {n_columns}\n"
        f"fingerprint: {report.fingerprint}\n"
        f"feature set: {report.feature_set}\n"
        f"essays/s: {report.essays_per_second}\n"
        f"cache: {cache}"
    )


def write_report(path: Path, report: ExtractReport) -> None:
    """Write the run report as JSON."""
    path.write_bytes(msgspec.json.format(msgspec.json.encode(report)) + b"\n")
