"""``hemma-features evaluate CACHE --labels scores.csv``: how well the cached features
predict the researcher's own scores (Markdown on stdout; ``--html`` adds the feature
report with an evaluation section)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from hemma_features.client.cache_command import add_on_option, add_scope_options
from hemma_features.client.cli_options import positive_int
from hemma_features.contract import FEATURE_SETS
from hemma_features.terminal import printable


def add_evaluate_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``evaluate`` on the top-level parser."""
    parser = sub.add_parser(
        "evaluate",
        help="cross-validate ridge and LightGBM on your own scores from the cached features: "
        "RMSE and QWK against baselines, family ablation, drop-column importance",
        description="Join --labels to one cached feature set (only the essays of --ids-from, "
        "when given), fit ridge (penalty by leave-one-out), LightGBM (the evaluate extra) and "
        "two baselines in k folds with fixed seeds, stratified by the first target or grouped "
        "by --group-by (unseen prompts), and print RMSE and QWK per target, what each feature "
        "family adds and which features carry the scores (with their stability over folds) "
        "as Markdown.",
    )
    parser.add_argument("cache", type=Path, help="cache directory (extract --cache)")
    parser.add_argument(
        "--labels", type=Path, required=True,
        help="CSV, Parquet or Arrow file of an id column and scores (may be the essays file)",
    )  # fmt: skip
    add_on_option(parser)
    parser.add_argument(
        "--target", action="append", default=None, metavar="COLUMN",
        help="a score column to predict (repeat, or comma-separated) [every number column "
        "of --labels but --group-by]",
    )  # fmt: skip
    parser.add_argument(
        "--group-by", default=None, metavar="COLUMN",
        help="test folds hold whole groups of COLUMN (of --labels, else of --ids-from): "
        "prompt measures how the features carry to unseen prompts [folds stratified by "
        "the first target]",
    )  # fmt: skip
    add_scope_options(parser)
    parser.add_argument(
        "--feature-set", choices=FEATURE_SETS, default=None,
        help="[the one the cache holds; combined first]",
    )  # fmt: skip
    parser.add_argument(
        "--fingerprint", default=None, metavar="FP",
        help="[the only one the cache holds for the set]",
    )  # fmt: skip
    parser.add_argument(
        "--latest", action="store_true", help="with several fingerprints, take the newest"
    )
    parser.add_argument("--folds", type=positive_int, default=5, help="folds [5]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the folds [0]")
    parser.add_argument(
        "--no-importance", action="store_true",
        help="skip the family ablation and drop-column importance (a ridge fit per feature "
        "and fold)",
    )  # fmt: skip
    parser.add_argument("--no-lightgbm", action="store_true", help="ridge and the baselines only")
    parser.add_argument(
        "--top", type=positive_int, default=20, help="features in the importance table [20]"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="write the Markdown here instead of stdout"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write every figure as JSON here"
    )
    parser.add_argument(
        "--html", type=Path, default=None,
        help="also write the feature report of the same essays and labels, with the "
        "evaluation as a section (plots included)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate, then print or write the Markdown (and the JSON and HTML asked for)."""
    import msgspec

    from hemma_features.arrowfiles.atomic import write_bytes_atomically
    from hemma_features.client.evaluation import evaluate, markdown
    from hemma_features.client.partition import CLI

    def say(line: str) -> None:
        if not args.quiet:
            print(printable(line), file=sys.stderr, flush=True)

    targets = None
    if args.target:
        targets = [t.strip() for item in args.target for t in item.split(",") if t.strip()]
    result = evaluate(
        args.cache, args.labels, on=args.on, targets=targets, group_by=args.group_by,
        ids=args.ids_from, id_column=args.id_column, feature_set=args.feature_set,
        fingerprint=args.fingerprint, latest=args.latest, folds=args.folds, seed=args.seed,
        importance=not args.no_importance, lightgbm=False if args.no_lightgbm else None,
        say=say, choose=CLI,
    )  # fmt: skip
    text = markdown(result, top=args.top)
    if args.out is not None:
        write_bytes_atomically(args.out.expanduser(), text.encode())
        say(f"wrote {args.out}")
    else:
        sys.stdout.write(printable(text))
    if args.json is not None:
        write_bytes_atomically(args.json.expanduser(), msgspec.json.format(
            msgspec.json.encode(result)) + b"\n")  # fmt: skip
        say(f"wrote {args.json}")
    if args.html is not None:
        from hemma_features.client.feature_report import report

        path = report(
            args.cache, args.html, labels=args.labels, on=args.on,
            label_columns=[t.name for t in result.targets], feature_set=result.feature_set,
            fingerprint=result.fingerprint, ids=args.ids_from, id_column=args.id_column,
            evaluation=result, command=shlex.join(["hemma-features", *sys.argv[1:]]),
        )  # fmt: skip
        say(f"wrote {path}")
    return 0
