"""``hemma-features extract --engine ray``: the extract command with ``RayEngine``.

Same cache, progress bar, summary, ``--report`` and "stopped: ... rerun" message as the
Flight path (``client.extract_command``); the actors load the runtime from the
``HEMMA_*`` settings of the driver's environment, as ``serve`` would.
"""

from __future__ import annotations

import argparse
import sys

import ray
import ray.exceptions

from hemma_features.client.extract_command import run_extract
from hemma_features.contract import ContractError
from hemma_features.engine.errors import HemmaServiceError
from hemma_features.engine.settings import load_settings
from hemma_features.ray_engine.engine import RayEngine


def actors(value: str) -> int | tuple[int, int]:
    """``--ray-actors``: ``N`` actors, or ``MIN-MAX`` for Ray's autoscaling pool."""
    low, _, high = value.partition("-")
    try:
        counts = (int(low), int(high or low))
    except ValueError:
        counts = (0, 0)
    if not 1 <= counts[0] <= counts[1]:
        raise HemmaServiceError(
            f"--ray-actors takes N or MIN-MAX with 1 <= MIN <= MAX, given: {value!r}"
        )
    return counts[0] if not high else counts


def cause(exc: BaseException) -> BaseException:
    """The project's own error under Ray's wrappers (``RayTaskError``, ``UserCodeException``)."""
    todo: list[BaseException] = [exc]
    for _ in range(20):  # wrappers nest a few levels at most
        if not todo:
            break
        seen = todo.pop(0)
        if isinstance(seen, HemmaServiceError | ContractError):
            return seen
        # RayTaskError keeps the error in .cause, ActorDiedError the RayTaskError in args.
        inner = [getattr(seen, "cause", None), seen.__cause__, *seen.args]
        todo += [e for e in inner if isinstance(e, BaseException)]
    return exc


def run_ray_extract(args: argparse.Namespace) -> int:
    """Run ``extract`` on Ray; a bad setting or input is one line and exit code 2."""
    try:
        engine = RayEngine(
            load_settings(),
            address=args.ray_address,
            concurrency=actors(args.ray_actors),
            num_gpus=args.ray_gpus_per_actor,
            num_cpus=args.ray_cpus_per_actor,
            batch_rows=args.ray_batch_rows,
            commit_seconds=args.commit_seconds,
            quiet=True,  # the command prints its own progress and summary
        )
        return run_extract(args, engine)
    except (HemmaServiceError, ray.exceptions.RayError) as exc:
        found = cause(exc)
        notes = "".join(f" ({note})" for note in getattr(exc, "__notes__", []))
        text = str(found) if found is not exc or isinstance(exc, HemmaServiceError) else (
            str(exc).strip().splitlines()[-1])  # fmt: skip
        print(f"error: {text}{notes}", file=sys.stderr)
        return 2
