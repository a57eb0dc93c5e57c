"""``hemma-features extract --engine ray``: the extract command with ``RayEngine``.

Same cache, progress bar, summary, ``--report`` and "stopped: ... rerun" message as the
Flight path (``client.extract_command``); the actors load the runtime from the
``HEMMA_*`` settings of the driver's environment, as ``serve`` would.
"""

from __future__ import annotations

import argparse
import sys

import ray  # noqa: F401  (without the ray extra, the import fails here: one line in the CLI)

from hemma_features.client.extract_command import run_extract
from hemma_features.engine.errors import HemmaServiceError
from hemma_features.engine.settings import load_settings
from hemma_features.ray_engine.engine import RayEngine
from hemma_features.terminal import shown


def run_ray_extract(args: argparse.Namespace) -> int:
    """Run ``extract`` on Ray; a bad setting or model is one line and exit code 2 (the
    client's errors, Ray's translated among them, are the CLI's to print)."""
    try:
        engine = RayEngine(
            load_settings(),
            address=args.ray_address,
            concurrency=args.ray_actors,
            num_gpus=args.ray_gpus_per_actor,
            num_cpus=args.ray_cpus_per_actor,
            batch_rows=args.ray_batch_rows,
            commit_seconds=args.commit_seconds,
            quiet=True,  # the command prints its own progress and summary
        )
        return run_extract(args, engine)
    except HemmaServiceError as exc:  # a setting or a model the actors cannot load
        notes = "".join(f" ({note})" for note in getattr(exc, "__notes__", []))
        print(f"error: {shown(exc)}{shown(notes)}", file=sys.stderr)
        return 2
