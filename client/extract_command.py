"""``hemma-features extract``: progress bar, summary and JSON run report around a run."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import msgspec

from hemma_features.client.cli_options import client_from
from hemma_features.client.errors import ServerRejectedError
from hemma_features.client.extraction import ExtractFacade, ExtractOptions, extract
from hemma_features.client.inputs import Columns
from hemma_features.client.interrupts import stop_on_ctrl_c
from hemma_features.client.run_report import ExtractReport, essays_per_second
from hemma_features.terminal import printable


class ProgressBar:
    """tqdm bar on a terminal: rows done of total (cache hits included), the run's one
    essays/s figure (essays computed, cache hits not counted, per second since the start:
    the summary's too) and the cache hits apart."""

    FORMAT = (
        "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
    )
    """tqdm's own rate would count cache hits as essays/s: the bar leaves it out."""

    def __init__(
        self, file: TextIO | None = None, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        from tqdm import tqdm

        self._bar = tqdm(unit="essay", desc="extract", file=file or sys.stderr,
                         bar_format=self.FORMAT)  # fmt: skip
        self._clock = clock
        self._started = clock()
        self._hits = 0
        self._computed = 0

    def update(self, rows: int, hits: int, total: int) -> None:
        self._bar.total = total
        self._hits += hits
        self._computed += rows - hits
        rate = essays_per_second(self._computed, self._clock() - self._started)
        self._bar.set_postfix_str(
            f"{rate:.1f} essays/s computed, {self._hits} cache hits apart", refresh=False
        )
        self._bar.update(rows)

    def close(self) -> None:
        self._bar.close()


def run_extract(args: argparse.Namespace, engine: ExtractFacade | None = None) -> int:
    """Extract into the cache, then print a summary (unless --quiet) and write --report.

    ``engine`` computes the missing rows: the server of ``--server`` by default, or
    another engine (``--engine ray`` passes a ``RayEngine``).
    """
    options = ExtractOptions(
        feature_set=args.feature_set,
        cache=str(args.cache),
        cache_format=args.format,
        columns=Columns(essay_id=args.id_column, text=args.text_column, prompt=args.prompt_column),
        commit_seconds=args.commit_seconds,
        limit=args.limit,
    )
    bar = ProgressBar() if not args.quiet and sys.stderr.isatty() else None
    partial: list[ExtractReport] = []
    engine = engine if engine is not None else client_from(args)
    try:
        with stop_on_ctrl_c():
            result = extract(
                engine.row_source(options.cache),
                args.input,
                options,
                progress=bar.update if bar is not None else None,
                on_partial=partial.append,
            )
    except BaseException as exc:
        if bar is not None:
            bar.close()
        if partial:
            if args.report:
                write_report(args.report, partial[0])
            if isinstance(exc, KeyboardInterrupt):  # nothing else will be printed
                print(printable(unfinished(partial[0], args.cache)), file=sys.stderr)
            elif partial[0].essays_in_cache:  # the error's one line says it too
                exc.add_note(unfinished(partial[0], args.cache, exc))
        raise
    finally:
        engine.close()
    if bar is not None:
        bar.close()
    if not args.quiet:
        print(printable(summary(result.report, result.table.num_columns, args.cache, args.input)))
    elif result.report.moved_aside:  # rows lost and found are news even in --quiet
        print(printable(moved_aside_lines(result.report, args.cache, args.input)), file=sys.stderr)
    if args.report:
        write_report(args.report, result.report)
    return 0


def unfinished(report: ExtractReport, cache: Path, error: BaseException | None = None) -> str:
    """What a run that stopped early saved, and how a rerun resumes: the same command, or,
    after the server refused essays (``error`` says which), one without them."""
    saved = f"stopped: {report.essays_in_cache} of {report.unique_essays} essays are in {cache}"
    if isinstance(error, ServerRejectedError):  # the same input would be refused again
        return (
            f"{saved}; leave out or fix what the error names, then rerun: the essays in the "
            "cache are not fetched again"
        )
    return f"{saved}; rerun the same command to fetch the rest"


def summary(
    report: ExtractReport, n_columns: int, cache: Path, essays: Path | str = "ESSAYS"
) -> str:
    """A few lines a person reads after a run (and one per damaged file it moved aside)."""
    cut = (
        f", cut from cached combined rows {report.cut_from_combined}"
        if report.cut_from_combined
        else ""
    )
    lines = (
        f"rows: {report.rows_requested} (cache hits {report.cache_hits}, fetched "
        f"{report.rows_fetched}, reused components {report.reused_components}{cut})\n"
        f"columns: {n_columns}\n"
        f"fingerprint: {report.fingerprint}\n"
        f"feature set: {report.feature_set}\n"
        f"{speed(report)}\n"
        f"computed by: {report.location}\n"
        f"cache: {cache}"
    )
    if report.lost_actors:
        lines += (
            f"\nrecovered: {report.lost_actors} lost actor(s) restarted by Ray, "
            f"{report.retries} block(s) computed again; every row is in the cache once"
        )
    if report.moved_aside:
        lines += "\n" + moved_aside_lines(report, cache, essays)
    return lines


def moved_aside_lines(report: ExtractReport, cache: Path, essays: Path | str = "ESSAYS") -> str:
    """One line per damaged file the run moved aside: where, why, and its rows' fate."""
    return "\n".join(f"damaged: {m.line(cache, str(essays))}" for m in report.moved_aside)


def speed(report: ExtractReport) -> str:
    """How fast the rows came, or, when nothing was fetched, that the cache held them."""
    if report.rows_fetched == 0:
        joined = (
            f", {report.reused_components} joined from cached embeddings and handcrafted rows"
            if report.reused_components
            else ""
        )
        return f"fetched: nothing, all {report.rows_requested} rows from the cache{joined}"
    hits = f"; {report.cache_hits} cache hits counted apart" if report.cache_hits else ""
    return (
        f"essays/s: {report.essays_per_second:g} computed ({report.rows_fetched} fetched in "
        f"{report.seconds:.1f} s{hits})"
    )


def write_report(path: Path, report: ExtractReport) -> None:
    """Write the run report as JSON."""
    path.write_bytes(msgspec.json.format(msgspec.json.encode(report)) + b"\n")
