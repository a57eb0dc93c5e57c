"""Options the client subcommands share, and the ``FeatureClient`` they describe."""

from __future__ import annotations

import argparse
from pathlib import Path

from hemma_features.arrowfiles.segments import COMMIT_SECONDS
from hemma_features.client.feature_client import (
    DEFAULT_CHUNK_ROWS,
    FeatureClient,
    check_flight_url,
    check_server_url,
)
from hemma_features.contract import FEATURE_SETS

DEFAULT_SERVER = "http://127.0.0.1:9000"
RAY_FORWARDED_ENV = (
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "TOKENIZERS_PARALLELISM",
)
"""The driver's variables every ``--engine ray`` actor gets (Ray's ``runtime_env``): where
models and caches are, offline mode and thread counts. The ``HEMMA_*`` settings travel as
settings, read once on the driver."""
RAY_LOG_LEVELS = ("debug", "info", "warning", "error", "fatal")


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """--server, --token and --ca-cert."""
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


def add_extract_options(parser: argparse.ArgumentParser) -> None:
    """What ``extract`` takes besides the input, the server and the cache."""
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
    parser.add_argument(
        "--id-column", default="essay_id", help="input column with the essay id [essay_id]"
    )
    parser.add_argument(
        "--text-column", default="text", help="input column with the essay text [text]"
    )
    parser.add_argument(
        "--prompt-column",
        default="prompt",
        help="input column with the prompt title or text; prompt_similarity compares each "
        "essay with it [prompt]",
    )
    parser.add_argument(
        "--chunk-rows",
        type=positive_int,
        default=DEFAULT_CHUNK_ROWS,
        help=f"essays per Flight batch [{DEFAULT_CHUNK_ROWS}]",
    )
    parser.add_argument(
        "--commit-seconds",
        type=float,
        default=COMMIT_SECONDS,
        help="longest fetched rows wait in memory before they are committed to the cache; "
        f"a killed run refetches at most these [{COMMIT_SECONDS:g}]",
    )
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        metavar="N",
        help="only the input's first N essays: try a few of a large file first (the full run "
        "later fetches only the rest) [every essay]",
    )
    parser.add_argument(
        "--report", type=Path, default=None, help="write the run report (JSON) here"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    parser.add_argument(
        "--engine",
        choices=("flight", "ray"),
        default="flight",
        help="who computes the rows the cache lacks: the server of --server over Flight, or "
        "HemmaFeatures actors on a Ray cluster loading the runtime from the HEMMA_* settings "
        "(needs hemma-features[server,ray]) [flight]",
    )
    ray = parser.add_argument_group("--engine ray")
    ray.add_argument(
        "--ray-address",
        default=None,
        help="Ray cluster to join: HOST:PORT of the head's GCS port (6379 unless `ray start "
        "--head --port` said otherwise), or auto; by default $RAY_ADDRESS, else the last "
        "`ray start` on this machine, else a Ray instance started here. Run extract on a node "
        "of the cluster (Ray Client, ray://, is not used)",
    )
    ray.add_argument(
        "--ray-actors",
        type=actor_count,
        default=1,
        help="actors computing features: N, or MIN-MAX to autoscale [1]",
    )
    ray.add_argument(
        "--ray-gpus-per-actor", type=float, default=0.0, help="GPUs per actor (1: one per GPU) [0]"
    )
    ray.add_argument("--ray-cpus-per-actor", type=float, default=1.0, help="CPUs per actor [1]")
    ray.add_argument(
        "--ray-resource",
        type=resource_amount,
        action="append",
        default=[],
        metavar="NAME=AMOUNT",
        help="a custom Ray resource each actor takes (hosts announce theirs with `ray start "
        "--resources`): keeps actors on hosts of one CPU kernel class or GPU model, so every "
        "actor computes the same fingerprint (docs/scale-out.md)",
    )
    ray.add_argument(
        "--ray-batch-rows",
        type=positive_int,
        default=64,
        help="essays per Ray block; a killed driver recomputes at most the blocks in flight [64]",
    )
    ray.add_argument(
        "--ray-connect-timeout",
        type=positive_seconds,
        default=15.0,
        help="seconds joining the cluster may take, and its head or this driver's Ray node may "
        "stay silent mid-run before the run stops with what it saved [15]",
    )
    ray.add_argument(
        "--ray-env",
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="another variable every actor gets (NAME alone: this driver's value); always "
        f"forwarded when set here: {', '.join(RAY_FORWARDED_ENV)} (HF_HUB_OFFLINE and "
        "TRANSFORMERS_OFFLINE are 1 unless set, as under serve); the HEMMA_* settings "
        "travel as settings, so paths in them must hold on every host",
    )
    ray.add_argument(
        "--ray-log",
        type=Path,
        default=None,
        metavar="FILE",
        help="file for Ray's own output (its core's log lines, the cluster's notices) [a new "
        "file under $TMPDIR/hemma-features]",
    )
    ray.add_argument(
        "--ray-log-level",
        choices=RAY_LOG_LEVELS,
        default="error",
        help="what of Ray's own output the terminal shows too [error]",
    )
    ray.add_argument(
        "--ray-refresh",
        action="store_true",
        help="ask the cluster what it computes even when the cache remembers its answer "
        "from an earlier run with the same settings (the new answer is remembered)",
    )
    parser.add_argument(
        "--format",
        choices=("ipc", "parquet"),
        default=None,
        help="file format of a new cache: ipc (Arrow IPC, default, memory-mappable) or "
        "parquet (zstd); an existing cache keeps its own",
    )


def positive_int(value: str) -> int:
    """A count of at least 1 (argparse names the flag in its error)."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number of at least 1, not {value!r}")
    return number


def positive_seconds(value: str) -> float:
    """A duration above 0 s (argparse names the flag in its error)."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"takes a number of seconds above 0, not {value!r}")
    return seconds


def resource_amount(value: str) -> tuple[str, float]:
    """``--ray-resource NAME=AMOUNT``: a custom resource and the share an actor takes."""
    name, _, amount = value.partition("=")
    try:
        share = float(amount)
    except ValueError:
        share = 0.0
    if not name or not share > 0 or share == float("inf"):
        raise argparse.ArgumentTypeError(f"takes NAME=AMOUNT with AMOUNT above 0, not {value!r}")
    return name, share


def actor_count(value: str) -> int | tuple[int, int]:
    """``--ray-actors``: ``N`` actors, or ``MIN-MAX`` for Ray's autoscaling pool."""
    low, _, high = value.partition("-")
    try:
        counts = (int(low), int(high or low))
    except ValueError:
        counts = (0, 0)
    if not 1 <= counts[0] <= counts[1]:
        raise argparse.ArgumentTypeError(f"takes N or MIN-MAX with 1 <= MIN <= MAX, not {value!r}")
    return counts[0] if not high else counts


def client_from(args: argparse.Namespace) -> FeatureClient:
    """A FeatureClient built from --server, --token, --ca-cert (and extract's options);
    a bad location is named by its flag."""
    check_server_url(args.server, "--server")
    if getattr(args, "flight", None):
        check_flight_url(args.flight, "--flight")
    return FeatureClient(
        args.server,
        flight=getattr(args, "flight", None),
        chunk_rows=getattr(args, "chunk_rows", DEFAULT_CHUNK_ROWS),
        commit_seconds=getattr(args, "commit_seconds", COMMIT_SECONDS),
        token=args.token,
        tls_root_certs=args.ca_cert,
    )
