"""``hemma-features cache ls|verify|compact|gc|export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from hemma_features.client import cache_admin
from hemma_features.client.errors import CacheError
from hemma_features.client.partition import CLI, Candidate, pick_partition, short_fingerprints
from hemma_features.contract import FEATURE_SETS
from hemma_features.terminal import printable, printable_json


def add_cache_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``cache`` and its subcommands."""
    cache = sub.add_parser("cache", help="inspect and maintain a local feature cache")
    actions = cache.add_subparsers(dest="cache_command", required=True)
    ls = actions.add_parser(
        "ls",
        help="per fingerprint (a unique prefix, which every command takes; --json has it "
        "whole): feature set, embedding model, rows, files, bytes and last write",
    )
    ls.add_argument("dir", type=Path, help="cache directory")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    verify = actions.add_parser(
        "verify",
        help="check every file against the checksum in its name, that schemas agree and no "
        "key repeats, that rows of damaged files moved aside are back and that every combined "
        "row has its embeddings and handcrafted rows; exit 1 naming exactly the bad files or "
        "short partitions and the command that mends each (nothing is moved)",
    )
    verify.add_argument("dir", type=Path, help="cache directory")
    compact = actions.add_parser(
        "compact", help="merge each partition's files into one without changing the rows"
    )
    compact.add_argument("dir", type=Path, help="cache directory")
    gc = actions.add_parser(
        "gc",
        help="remove every fingerprint except the kept ones and the components of their "
        "combined rows; refuses a --keep the cache does not hold",
    )
    gc.add_argument("dir", type=Path, help="cache directory")
    gc.add_argument(
        "--keep",
        action="append",
        required=True,
        metavar="FP",
        help="fingerprint to keep, or a prefix only it starts with (repeat)",
    )
    gc.add_argument(
        "--dry-run", action="store_true", help="print what would be removed; remove nothing"
    )
    path = actions.add_parser(
        "path",
        help="print the directory holding every row of one feature set and fingerprint",
        description="Print CACHE/fingerprint=<fp>/feature_set=<fs>: read that whole directory "
        "(every part-*.arrow in it). With several fingerprints for the set, name one with "
        "--fingerprint or take the newest with --latest.",
    )
    path.add_argument("dir", type=Path, help="cache directory")
    add_partition_options(path)
    export = actions.add_parser(
        "export",
        help="write one feature set's rows (optionally joined to labels) to one file, "
        "or copy the whole cache into a new one in another format",
        description="With --feature-set: the rows of one fingerprint (only the essays of "
        "--ids-from, when given), optionally inner-joined to --labels on --on, written to "
        "--out (.parquet or .arrow). Without it: DIR copied into the new cache OUT in --format.",
    )
    export.add_argument("dir", type=Path, help="cache directory to read")
    export.add_argument(
        "target", type=Path, nargs="?", default=None, metavar="OUT",
        help="new cache directory, empty or absent (copying the whole cache)",
    )  # fmt: skip
    export.add_argument(
        "--format", choices=("ipc", "parquet"), default=None,
        help="file format of the copied cache",
    )  # fmt: skip
    add_partition_options(export, required=False)
    export.add_argument(
        "--labels", type=Path, default=None,
        help="CSV or Parquet file of labels joined to the rows (inner join on --on)",
    )  # fmt: skip
    add_on_option(export)
    add_scope_options(export)
    export.add_argument(
        "--out", type=Path, default=None, help="file to write: .parquet, or .arrow (Arrow IPC)"
    )


def add_partition_options(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """--feature-set, --fingerprint and --latest: which partition a command reads."""
    parser.add_argument(
        "--feature-set", choices=FEATURE_SETS, required=required, default=None,
        help="combined, embeddings or handcrafted",
    )  # fmt: skip
    parser.add_argument(
        "--fingerprint", default=None, metavar="FP",
        help="the set's fingerprint (`hemma-features fingerprint`), or a prefix only it "
        "starts with; needed when the cache holds several for the set, unless --latest",
    )  # fmt: skip
    parser.add_argument(
        "--latest", action="store_true",
        help="with several fingerprints for the set, take the one written last",
    )  # fmt: skip


def add_on_option(parser: argparse.ArgumentParser) -> None:
    """--on: the labels' id column, met with the rows' essay_id."""
    parser.add_argument(
        "--on", default=None, metavar="COLUMN",
        help="the labels' id column, joined to the rows' essay_id [essay_id, or the "
        "--id-column extract was given, when the labels have it]",
    )  # fmt: skip


def add_scope_options(parser: argparse.ArgumentParser) -> None:
    """--ids-from and --id-column: read only the essays of one input."""
    parser.add_argument(
        "--ids-from", type=Path, default=None, metavar="FILE",
        help="read only the essays of FILE: the essays file given to extract (rows matched "
        "by text and prompt, with its ids) or a file of ids (.csv, .parquet, .jsonl, .arrow)",
    )  # fmt: skip
    parser.add_argument(
        "--id-column", default=None, metavar="COLUMN",
        help="the id column of --ids-from [the one its extract used, else essay_id]",
    )  # fmt: skip


def run_cache(args: argparse.Namespace) -> int:
    """Run one cache subcommand; non-zero exit when verify finds problems."""
    match args.cache_command:
        case "ls":
            rows = cache_admin.list_partitions(args.dir)
            if args.json:
                print(printable_json(msgspec.json.encode(rows).decode()))
            else:
                _say(_listing(rows))
            return 0
        case "verify":
            verdict = cache_admin.check(args.dir)
            for problem in verdict.problems:
                _say(f"{problem.path}: {problem.problem}", error=True)
            for note in verdict.notes:
                _say(f"note: {note}", error=True)
            if args.dir.is_dir():
                _say(verified(args.dir, verdict.problems))
            return 1 if verdict.problems else 0
        case "compact":
            _say(f"removed {cache_admin.compact(args.dir)} file(s) by merging")
            return 0
        case "gc":
            plan = cache_admin.gc(args.dir, args.keep, dry_run=args.dry_run)
            verb = "would remove" if args.dry_run else "removed"
            _say(f"{verb} {len(plan.remove)} fingerprint(s): {', '.join(plan.remove) or '-'}")
            _say(f"kept {len(plan.keep)}: {', '.join(plan.keep)}")
            for fingerprint in plan.unknown_components:
                _say(
                    f"note: combined rows under {fingerprint} do not record their embeddings "
                    "and handcrafted fingerprints (written by an older version); keep those "
                    "with --keep if you want them",
                    error=True,
                )
            return 0
        case "path":
            _say(_chosen(args).directory)
            return 0
        case "export":
            if args.feature_set is not None:
                return _export_rows(args)
            if (
                args.target is None or args.format is None or args.labels or args.out
                or args.ids_from
            ):  # fmt: skip
                raise CacheError(
                    "cache export takes DIR OUT --format ipc|parquet (a copy of the whole "
                    "cache), or DIR --feature-set SET --out FILE [--labels FILE] [--ids-from "
                    "FILE] (one set's rows in one file)"
                )
            exported = cache_admin.export(args.dir, args.target, args.format)
            _say(f"exported {exported} rows to {args.target} ({args.format})")
            return 0
    raise AssertionError(f"unhandled cache command {args.cache_command}")


def _listing(rows: list[cache_admin.PartitionInfo]) -> str:
    """The ``cache ls`` table: fingerprints by a unique prefix (every command takes one)."""
    short = short_fingerprints(row.fingerprint for row in rows)
    fp_width = max([len("fingerprint"), *(len(v) for v in short.values())])
    model_width = max([len("model"), *(len(row.embedding_model) for row in rows)])
    lines = [
        f"{'fingerprint':{fp_width}s}  {'feature_set':11s}  {'model':{model_width}s} "
        f"{'rows':>9s} {'files':>5s} {'bytes':>12s}  last write"
    ]
    for row in rows:
        lines.append(
            f"{short[row.fingerprint]:{fp_width}s}  {row.feature_set:11s}  "
            f"{row.embedding_model or '-':{model_width}s} {row.rows:9d} {row.files:5d} "
            f"{row.bytes:12d}  {row.written or '-'}"
        )
    return "\n".join(lines)


def _chosen(args: argparse.Namespace) -> Candidate:
    return pick_partition(
        args.dir, args.feature_set, args.fingerprint, latest=args.latest, choose=CLI
    )


_OUT_FORMATS = {".parquet": "parquet", ".arrow": "ipc", ".feather": "ipc", ".ipc": "ipc"}


def _export_rows(args: argparse.Namespace) -> int:
    """One partition (joined to --labels) to one file; says what matched."""
    import pyarrow.parquet as pq

    from hemma_features.arrowfiles.atomic import atomic_path
    from hemma_features.client.cache import open_features
    from hemma_features.client.fingerprint_record import read_inputs
    from hemma_features.client.labels import join_labels
    from hemma_features.client.scope import limit_to

    out: Path | None = args.out
    if out is None or out.suffix.lower() not in _OUT_FORMATS or args.target is not None:
        given = f"--out {out}" if out is not None else "no --out"
        raise CacheError(
            f"cache export --feature-set writes one file: give --out FILE.parquet or "
            f"FILE.arrow (given: {given}{f', and OUT {args.target}' if args.target else ''})"
        )
    chosen = _chosen(args)
    table = open_features(args.dir, args.feature_set, chosen.fingerprint)
    inputs = read_inputs(args.dir, chosen.fingerprint)
    scope = match = None
    if args.ids_from is not None:
        table, scope = limit_to(
            table, args.ids_from, id_column=args.id_column, inputs=inputs, warn=False
        )
    if args.labels is not None:
        table, match = join_labels(
            table, args.labels, args.on, warn=False, id_columns=[r.id_column for r in inputs]
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as staged:  # a reader never sees half a file
        if _OUT_FORMATS[out.suffix.lower()] == "parquet":
            pq.write_table(table, staged, compression="zstd")
        else:
            import pyarrow.feather as feather

            feather.write_feather(table, str(staged), compression="uncompressed")
    _say(
        f"wrote {table.num_rows} rows x {table.num_columns} columns of {args.feature_set} "
        f"{chosen.fingerprint} to {out}"
    )
    if scope is not None:
        _say(f"essays: {scope.summary()}")
    if match is not None:
        _say(f"labels: {match.summary()}")
    return 0


def verified(root: Path, problems: list[cache_admin.Problem]) -> str:
    """Per partition: files, rows, bytes and ok or its problems; then the whole cache."""
    rows = cache_admin.list_partitions(root)
    lines = []
    for row in rows:
        directory = str(root / f"fingerprint={row.fingerprint}" / f"feature_set={row.feature_set}")
        bad = sum(1 for p in problems if (p.partition or p.path).startswith(directory))
        state = f"{bad} problem(s)" if bad else "ok"
        lines.append(
            f"{row.fingerprint}  {row.feature_set:11s} {row.files:5d} files {row.rows:9d} rows "
            f"{row.bytes:12d} bytes  {state}"
        )
    files, count, size = (sum(getattr(r, f) for r in rows) for f in ("files", "rows", "bytes"))
    verdict = f"{len(problems)} problem(s), named above" if problems else "ok"
    lines.append(
        f"{root}: {verdict} ({len(rows)} partitions, {files} files, {count} rows, {size} bytes)"
    )
    return "\n".join(lines)


def _say(text: object, *, error: bool = False) -> None:
    """Print lines with every character of data a terminal would act on escaped."""
    print(printable(str(text)), file=sys.stderr if error else sys.stdout, flush=True)
