"""``hemma-features``: one entry point for both sides.

The client's subcommands (extract, health, fingerprint, cache, demo, report, evaluate) run on
the base install. ``serve`` belongs to the server (``hemma_features.serve``): its
arguments are handed over untouched and the server code is imported only then, so a
client-only install answers ``serve`` with a one-line hint instead of a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence

from hemma_features.client.commands import add_client_commands, run_client_command
from hemma_features.client.errors import HemmaClientError
from hemma_features.client.losses import RowsLostWarning
from hemma_features.contract import ContractError
from hemma_features.logs import configure_logging
from hemma_features.terminal import shown


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser (``serve`` takes its own arguments; see ``serve --help``)."""
    parser = argparse.ArgumentParser(
        prog="hemma-features",
        description="NLP feature factory for essay scoring: the server computes, "
        "the client caches.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the feature server (control plane + Flight) until SIGTERM/Ctrl-C "
        "(needs hemma-features[server]; see `serve --help`)",
        add_help=False,
    )
    serve.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    add_client_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hemma-features`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:
        return _serve(args[1:])
    parsed = build_parser().parse_args(args)
    configure_logging("auto", level=logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RowsLostWarning)
        try:
            if parsed.command == "extract" and parsed.engine == "ray":
                return _extract_with_ray(parsed)
            return run_client_command(parsed)
        except (HemmaClientError, ContractError) as exc:
            notes = "".join(f" ({note})" for note in getattr(exc, "__notes__", []))
            print(f"error: {shown(exc)}{shown(notes)}", file=sys.stderr)  # one line, escaped
            return 2
        except KeyboardInterrupt:
            return 130
        finally:
            _show(caught)


def _show(caught: list[warnings.WarningMessage]) -> None:
    """Rows a read left out as one ``warning:`` line each; other warnings as Python shows
    them."""
    for warning in caught:
        if issubclass(warning.category, RowsLostWarning):
            print(f"warning: {shown(warning.message)}", file=sys.stderr)
        else:
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )


def _extract_with_ray(args: argparse.Namespace) -> int:
    # Ray and the server side are imported only here; a missing extra is one line.
    try:
        from hemma_features.ray_engine.command import run_ray_extract
    except ImportError as exc:
        print(
            f"error: --engine ray needs the server and ray extras (missing: {exc.name}): "
            "pip install 'hemma-features[server,ray]'",
            file=sys.stderr,
        )
        return 2
    return run_ray_extract(args)


def _serve(argv: list[str]) -> int:
    # The server side is imported only here; it checks for the server extra itself.
    from hemma_features.serve import main as serve_main

    return serve_main(argv)


if __name__ == "__main__":
    sys.exit(main())
