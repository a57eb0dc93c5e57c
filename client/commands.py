"""The client's subcommands of ``hemma-features``: extract, health, fingerprint, cache, demo,
report, evaluate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from hemma_features.client.cache_command import add_cache_parser
from hemma_features.client.cli_options import (
    add_extract_options,
    add_server_options,
    client_from,
)
from hemma_features.client.evaluate_command import add_evaluate_parser
from hemma_features.client.feature_report.command import add_report_parser
from hemma_features.contract import FEATURE_SETS, FingerprintInfo
from hemma_features.terminal import printable, printable_json

COMMANDS = ("extract", "health", "fingerprint", "cache", "demo", "report", "evaluate")


def add_client_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the client's subcommands on the top-level parser."""
    extract = sub.add_parser(
        "extract",
        help="fetch features for essays into a local Arrow cache",
        description="Send the essays the cache lacks to the server and store the answers under "
        "CACHE/fingerprint=<fp>/feature_set=<fs>/ as Arrow IPC files.",
    )
    extract.add_argument("input", type=Path, help="essays: .csv, .parquet, .jsonl or .arrow")
    add_server_options(extract)
    extract.add_argument(
        "--cache", type=Path, required=True, help="cache directory (created if absent)"
    )
    add_extract_options(extract)

    health = sub.add_parser("health", help="print liveness and readiness; exit 1 when not ready")
    add_server_options(health)

    fingerprint = sub.add_parser(
        "fingerprint",
        help="print each feature set's fingerprint and what it covers",
        description="One line per feature set (the fingerprint its rows are cached under), "
        "then the models and services behind them; --json prints every component.",
    )
    add_server_options(fingerprint)
    fingerprint.add_argument(
        "--json", action="store_true", help="print the whole /v1/fingerprint answer as JSON"
    )

    add_cache_parser(sub)
    add_report_parser(sub)
    add_evaluate_parser(sub)

    demo = sub.add_parser(
        "demo",
        help="start a server on free ports, extract the sample essays into a cache, "
        "read it back, stop",
        description="The main job end to end on the embedded default models "
        "(no GPU, no LanguageTool).",
    )
    demo.add_argument(
        "--essays",
        type=Path,
        default=None,
        help="essays file [the sample essays shipped with the package]",
    )
    demo.add_argument(
        "--cache", type=Path, default=Path(".hemma-cache"), help="cache directory [.hemma-cache]"
    )
    demo.add_argument("--feature-set", choices=FEATURE_SETS, default="combined", help="[combined]")
    demo.add_argument(
        "--startup-timeout", type=float, default=300.0, help="seconds to wait for the server [300]"
    )


def run_client_command(args: argparse.Namespace) -> int:
    """Run one client subcommand; returns the exit code."""
    match args.command:
        case "extract":
            from hemma_features.client.extract_command import run_extract

            return run_extract(args)
        case "health":
            return _run_health(args)
        case "fingerprint":
            return _run_fingerprint(args)
        case "demo":
            from hemma_features.client.demo import run_demo

            return run_demo(args)
        case "cache":
            from hemma_features.client.cache_command import run_cache

            return run_cache(args)
        case "report":
            from hemma_features.client.feature_report.command import run_report

            return run_report(args)
        case "evaluate":
            from hemma_features.client.evaluate_command import run_evaluate

            return run_evaluate(args)
    raise AssertionError(f"unhandled command {args.command}")  # argparse rejects others


def _run_health(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        answer = client.health()
    sys.stdout.write(_json(answer))
    return 0 if answer["ready"] else 1


def _run_fingerprint(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        info = client.fingerprint()
    if args.json:
        sys.stdout.write(_json(info))
    else:
        sys.stdout.write(printable(fingerprint_summary(info)))
    return 0


def _json(answer: object) -> str:
    """A server's answer as indented JSON, safe to print (``terminal.printable_json``)."""
    return printable_json(msgspec.json.format(msgspec.json.encode(answer)).decode()) + "\n"


def fingerprint_summary(info: FingerprintInfo) -> str:
    """A few lines: the fingerprint of each feature set, then what stands behind them."""
    lines = [f"schema {info.schema_version}"]
    for feature_set in FEATURE_SETS:
        if feature_set in info.feature_sets:
            lines.append(f"{feature_set:<12} {info.feature_sets[feature_set]}")
        else:
            reason = info.unavailable.get(feature_set, "not offered")
            lines.append(f"{feature_set:<12} (unavailable: {reason})")
    parts = info.components
    embedding = parts.get("embedding")
    if isinstance(embedding, dict):
        lines.append(
            "embedding    {model_id}, {dim}-d, max_length {max_length}, {backend} {precision} "
            "on {device}".format_map({k: embedding.get(k, "?") for k in (
                "model_id", "dim", "max_length", "backend", "precision", "device")})
        )  # fmt: skip
    spacy = parts.get("spacy_model")
    if isinstance(spacy, dict):
        lines.append(f"spaCy        {spacy.get('name', '?')} {spacy.get('version', '?')}")
    lt = parts.get("languagetool")
    if isinstance(lt, dict):
        state = f"{lt.get('version')} (build {lt.get('build') or '?'})" if lt.get("version") else (
            "pending" if lt.get("pending") else "disabled")  # fmt: skip
        lines.append(f"LanguageTool {state}")
    lines.append("(--json prints every component)")
    return "\n".join(lines) + "\n"
