"""``hemma-features cache ls|verify|compact|gc|export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from hemma_features.client import cache_admin


def add_cache_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``cache`` and its subcommands."""
    cache = sub.add_parser("cache", help="inspect and maintain a local feature cache")
    actions = cache.add_subparsers(dest="cache_command", required=True)
    ls = actions.add_parser("ls", help="fingerprints, feature sets, rows, files and bytes")
    ls.add_argument("dir", type=Path, help="cache directory")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    verify = actions.add_parser(
        "verify",
        help="check every file against the checksum in its name, then that schemas agree and "
        "no key repeats; exit 1 naming exactly the bad files (nothing is moved)",
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
        "--keep", action="append", required=True, metavar="FP", help="fingerprint to keep (repeat)"
    )
    gc.add_argument(
        "--dry-run", action="store_true", help="print what would be removed; remove nothing"
    )
    export = actions.add_parser("export", help="copy the cache into a new one in another format")
    export.add_argument("dir", type=Path, help="cache directory to read")
    export.add_argument("out", type=Path, help="new cache directory (must be empty or absent)")
    export.add_argument(
        "--format", choices=("ipc", "parquet"), required=True, help="file format of the copy"
    )


def run_cache(args: argparse.Namespace) -> int:
    """Run one cache subcommand; non-zero exit when verify finds problems."""
    match args.cache_command:
        case "ls":
            rows = cache_admin.list_partitions(args.dir)
            if args.json:
                print(msgspec.json.encode(rows).decode())
            else:
                header = ("fingerprint", "feature_set", "rows", "files", "bytes")
                print("{:64s}  {:11s} {:>9s} {:>5s} {:>12s}".format(*header))
                for row in rows:
                    print(
                        f"{row.fingerprint:64s}  {row.feature_set:11s} {row.rows:9d} "
                        f"{row.files:5d} {row.bytes:12d}"
                    )
            return 0
        case "verify":
            problems = cache_admin.verify(args.dir)
            for problem in problems:
                print(f"{problem.path}: {problem.problem}", file=sys.stderr)
            if not problems:
                print(f"{args.dir}: ok")
            return 1 if problems else 0
        case "compact":
            print(f"removed {cache_admin.compact(args.dir)} file(s) by merging")
            return 0
        case "gc":
            plan = cache_admin.gc(args.dir, args.keep, dry_run=args.dry_run)
            verb = "would remove" if args.dry_run else "removed"
            print(f"{verb} {len(plan.remove)} fingerprint(s): {', '.join(plan.remove) or '-'}")
            print(f"kept {len(plan.keep)}: {', '.join(plan.keep)}")
            for fingerprint in plan.unknown_components:
                print(
                    f"note: combined rows under {fingerprint} do not record their embeddings "
                    "and handcrafted fingerprints (written by an older version); keep those "
                    "with --keep if you want them",
                    file=sys.stderr,
                )
            return 0
        case "export":
            exported = cache_admin.export(args.dir, args.out, args.format)
            print(f"exported {exported} rows to {args.out} ({args.format})")
            return 0
    raise AssertionError(f"unhandled cache command {args.cache_command}")
