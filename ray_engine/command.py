"""``hemma-features extract --engine ray``: the extract command with ``RayEngine``.

Same cache, progress bar, summary, ``--report`` and "stopped: ... rerun" message as the
Flight path (``client.extract_command``); the actors load the runtime from the
``HEMMA_*`` settings of the driver's environment, as ``serve`` would, with the embedding
decisions the cluster's first runtime made pinned for all of them.

What a cluster does wrong is one line and exit status 2, within ``--ray-connect-timeout``:
an address where nothing listens, a head that is down, a token it refuses, no cluster for
``auto``, Ray Client (``connect``); a head or driver node lost mid-run stops the run with
what it saved (``watch``). Ray's own output goes to ``--ray-log`` and, at
``--ray-log-level``, to the terminal (``ray_log``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import warnings
from collections.abc import Iterator

import ray  # noqa: F401  (without the ray extra, the import fails here: one line in the CLI)

from hemma_features.client.extract_command import run_extract
from hemma_features.engine.errors import HemmaServiceError
from hemma_features.engine.settings_env import load_settings
from hemma_features.ray_engine.engine import RayEngine
from hemma_features.ray_engine.errors import ClusterLostError
from hemma_features.ray_engine.info import forwarded_env
from hemma_features.ray_engine.ray_log import RayLog, default_log_path
from hemma_features.terminal import shown

JOIN_GRACE = 20.0
"""Seconds ``ray.init`` may take beyond ``--ray-connect-timeout`` once the checks before
it passed (a driver attaching to its node, registering its job), before the command gives
up on it."""


def run_ray_extract(args: argparse.Namespace) -> int:
    """Run ``extract`` on Ray; a bad setting, model or cluster is one line and exit code 2
    (the client's errors, Ray's translated among them, are the CLI's to print)."""
    # Ray warns at every start that its accelerator defaults will change; the actors keep
    # today's (a CPU actor on a GPU host sees no GPU), so the notice is not the user's.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"ray\.")
    # Ray ends a driver whose head is gone after 60 s; the run's own watch must come
    # first, so the driver waits for the head a while longer than the watch does.
    os.environ.setdefault(
        "RAY_gcs_rpc_server_reconnect_timeout_s", str(int(max(60, 3 * args.ray_connect_timeout)))
    )
    log = RayLog(args.ray_log or default_log_path(), args.ray_log_level)
    log.start()
    try:
        try:
            env = forwarded_env(args.ray_env)
        except ValueError as exc:
            print(f"error: {shown(exc)}", file=sys.stderr)
            return 2
        engine = RayEngine(
            load_settings(),
            address=args.ray_address,
            concurrency=args.ray_actors,
            num_gpus=args.ray_gpus_per_actor,
            num_cpus=args.ray_cpus_per_actor,
            resources=dict(args.ray_resource),
            batch_rows=args.ray_batch_rows,
            commit_seconds=args.commit_seconds,
            quiet=False,  # Ray's INFO lines go to its log; the relay shows what was asked
            connect_timeout=args.ray_connect_timeout,
            env=env,
            log_path=log.path,
        )
        joined = engine.target.address
        if joined is not None:  # starting a local instance is Ray's own affair
            engine.cluster.join_guard = lambda: join_watchdog(
                args.ray_connect_timeout + JOIN_GRACE, joined
            )
        engine.remember_in(args.cache, use_remembered=not args.ray_refresh)
        return run_extract(args, engine)
    except HemmaServiceError as exc:  # a setting or a model the actors cannot load
        notes = "".join(f" ({note})" for note in getattr(exc, "__notes__", []))
        print(f"error: {shown(exc)}{shown(notes)}", file=sys.stderr)
        return 2
    except ClusterLostError as exc:
        # What arrived is committed and the report written (run_extract); leaving now
        # skips ray.shutdown, which would wait on the lost cluster.
        notes = "".join(f" ({note})" for note in getattr(exc, "__notes__", []))
        print(f"error: {shown(exc)}{shown(notes)}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(2)
    finally:
        if not ray.is_initialized():
            log.stop()


@contextlib.contextmanager
def join_watchdog(seconds: float, where: str) -> Iterator[None]:
    """End the process with the CLI's one line and status 2 when ``ray.init`` has not
    returned within ``seconds`` (it blocks in Ray's core, where nothing can interrupt it;
    the checks before it make this rare)."""
    done = threading.Event()

    def give_up() -> None:
        if done.wait(seconds):
            return
        print(
            f"error: joining the Ray cluster at {shown(where)} did not finish within "
            f"{seconds:g} s although its head answered: check `ray status` on the head and "
            "this host's Ray node (--ray-log has Ray's own lines)",
            file=sys.stderr,
        )
        sys.stderr.flush()
        os._exit(2)

    threading.Thread(target=give_up, name="hemma-ray-join-watchdog", daemon=True).start()
    try:
        yield
    finally:
        done.set()
