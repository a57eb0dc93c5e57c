"""``hemma-features``: serve, extract, health, fingerprint, demo.

Only ``serve`` needs the server extra; it is imported when that subcommand runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from client.errors import HemmaClientError
from flight.contract import FEATURE_SETS, InputRuleError

DEFAULT_SERVER = "http://127.0.0.1:9000"


def _serve_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from service.settings import ENV_PREFIX, Settings, field_docs

    parser = sub.add_parser(
        "serve",
        help="run the feature server (control plane + Flight) until SIGTERM/Ctrl-C",
        description="Run both planes in one process. Every option also reads HEMMA_<NAME> "
        "from the environment; a flag wins over the variable.",
    )
    docs = field_docs()
    for field in msgspec.structs.fields(Settings):
        flag = "--" + field.name.replace("_", "-")
        env = ENV_PREFIX + field.name.upper()
        help_text = f"{docs.get(field.name, '')} [env {env}; default {field.default!r}]"
        if field.type is bool:
            parser.add_argument(
                flag,
                dest=field.name,
                default=None,
                action=argparse.BooleanOptionalAction,
                help=help_text,
            )
        else:
            parser.add_argument(
                flag, dest=field.name, default=None, metavar=field.name.upper(), help=help_text
            )
    parser.add_argument(
        "--ready-file",
        type=Path,
        default=None,
        help="write JSON {pid, host, http_port, flight_port, fingerprint} here once both "
        "planes listen",
    )


def _add_server(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        help=f"control-plane URL (through a tunnel, the local end) [default {DEFAULT_SERVER}]",
    )
    parser.add_argument(
        "--token",
        default=None,
        help="bearer token sent to both planes (env HEMMA_TOKEN) when the server requires one",
    )
    parser.add_argument(
        "--ca-cert",
        type=Path,
        default=None,
        help="PEM CA certificate to trust for https:// and grpc+tls:// servers",
    )


def client_from(args: argparse.Namespace) -> Any:
    """A FeatureClient built from --server, --token, --ca-cert (and extract's options)."""
    from client.feature_client import FeatureClient

    return FeatureClient(
        args.server,
        flight=getattr(args, "flight", None),
        chunk_rows=getattr(args, "chunk_rows", 64),
        token=args.token,
        tls_root_certs=args.ca_cert,
    )


def _add_extract_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--flight",
        default=None,
        help="Flight location grpc://HOST:PORT overriding the advertised one "
        "(env HEMMA_FLIGHT_URL); by default the --server host with the advertised port",
    )
    parser.add_argument(
        "--feature-set",
        choices=FEATURE_SETS,
        default="combined",
        help="columns to fetch [combined]",
    )
    parser.add_argument("--id-column", default="essay_id", help="input column with the essay id")
    parser.add_argument("--text-column", default="text", help="input column with the essay text")
    parser.add_argument("--prompt-column", default="prompt", help="input column with the prompt")
    parser.add_argument("--chunk-rows", type=int, default=64, help="essays per Flight batch [64]")
    parser.add_argument(
        "--report", type=Path, default=None, help="write the run report (JSON) here"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    parser.add_argument(
        "--format",
        choices=("ipc", "parquet"),
        default=None,
        help="file format of a new cache: ipc (Arrow IPC, default, memory-mappable) or "
        "parquet (zstd); an existing cache keeps its own",
    )


def build_parser() -> argparse.ArgumentParser:
    """The full command-line parser."""
    parser = argparse.ArgumentParser(
        prog="hemma-features",
        description="NLP feature factory for essay scoring: the server computes, "
        "the client caches.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)

    extract = sub.add_parser(
        "extract",
        help="fetch features for essays into a local Arrow cache",
        description="Send the essays the cache lacks to the server and store the answers under "
        "CACHE/fingerprint=<fp>/feature_set=<fs>/ as Arrow IPC files.",
    )
    extract.add_argument("input", type=Path, help="essays: .csv, .parquet, .jsonl or .arrow")
    _add_server(extract)
    extract.add_argument(
        "--cache", type=Path, required=True, help="cache directory (created if absent)"
    )
    _add_extract_options(extract)

    health = sub.add_parser("health", help="print liveness and readiness; exit 1 when not ready")
    _add_server(health)

    fingerprint = sub.add_parser("fingerprint", help="print the server fingerprint and components")
    _add_server(fingerprint)

    from client.cache_cli import add_cache_parser

    add_cache_parser(sub)

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
        default=Path("samples/essays.csv"),
        help="essays CSV [samples/essays.csv]",
    )
    demo.add_argument(
        "--cache", type=Path, default=Path(".hemma-cache"), help="cache directory [.hemma-cache]"
    )
    demo.add_argument("--feature-set", choices=FEATURE_SETS, default="combined", help="[combined]")
    demo.add_argument(
        "--startup-timeout", type=float, default=300.0, help="seconds to wait for the server [300]"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hemma-features`` console script."""
    args = build_parser().parse_args(argv)
    if args.command != "serve":
        import logging

        from service.logs import configure_logging

        configure_logging("auto", level=logging.WARNING)
    try:
        return _dispatch(args)
    except (HemmaClientError, InputRuleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    match args.command:
        case "serve":
            return _run_serve(args)
        case "extract":
            from client.run import run_extract

            return run_extract(args)
        case "health":
            return _run_health(args)
        case "fingerprint":
            return _run_fingerprint(args)
        case "demo":
            from client.demo import run_demo

            return run_demo(args)
        case "cache":
            from client.cache_cli import run_cache

            return run_cache(args)
    raise AssertionError(f"unhandled command {args.command}")  # argparse rejects others


def _run_serve(args: argparse.Namespace) -> int:
    from service.errors import HemmaServiceError
    from service.logs import configure_logging
    from service.settings import Settings, load_settings

    names = [field.name for field in msgspec.structs.fields(Settings)]
    overrides: dict[str, Any] = {name: getattr(args, name) for name in names}
    try:
        settings = load_settings(overrides=overrides)
        configure_logging(settings.log_format)
        from service.serve import serve

        serve(settings, ready_file=args.ready_file)
    except HemmaServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _run_health(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        answer = client.health()
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(answer)).decode() + "\n")
    return 0 if answer["ready"] else 1


def _run_fingerprint(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        info = client.fingerprint()
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(info)).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
