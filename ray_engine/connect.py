"""Joining a Ray cluster within a bounded time, or one line saying why not.

``ray.init`` alone retries an address where nothing listens for minutes, answers a wrong
token with twenty log lines and a traceback, and ``ray://`` with a missing package.
``join`` checks first, within ``timeout`` seconds in all, and raises ``RayClusterError``
naming the address, where it came from and what to do:

1. the address: ``ray://`` (Ray Client) is refused, since the driver itself writes the
   cache and so runs on a node of the cluster; ``auto`` and no address resolve as Ray
   resolves them (``RAY_ADDRESS``, the last ``ray start`` on this machine, a running
   local instance), and the message says which one was used;
2. something listens at HOST:PORT (a TCP connect, refused or unanswered);
3. a Ray GCS answers there and accepts this driver's token;
4. this host runs a node of that cluster (a driver attaches to a local node);

then it calls ``ray.init``. With no address and no cluster to find, a local Ray instance
is started, as ``ray.init()`` does.

The resolution and the probes use Ray 2.60's own helpers (``ray._private.services``,
``ray._raylet.GcsClient``); the ``ray`` extra pins that version.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from hemma_features.ray_engine.errors import RayClusterError

DEFAULT_CONNECT_TIMEOUT = 15.0
"""Seconds a run waits for a cluster to answer, at joining and when it stops answering."""
RAY_CLIENT_REFUSED = (
    "is Ray Client (ray://), which --engine ray does not use: the driver writes the cache "
    "itself, so run extract on a node of the cluster (the head, or a host where `ray start "
    "--address=HEAD:6379` runs) and give the head's GCS address, --ray-address HEAD:6379"
)
TOKEN_HELP = (
    "give this driver the cluster's token: RAY_AUTH_MODE=token and RAY_AUTH_TOKEN=<token> "
    "(or RAY_AUTH_TOKEN_PATH=<file>, or the file ~/.ray/auth_token), the same on the driver "
    "and every node (docs/scale-out.md, 'Token authentication')"
)


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """The cluster a run joins, and where its address came from (for messages)."""

    address: str | None
    """``host:port`` of the head's GCS; None: start a local Ray instance."""
    source: str
    """``--ray-address``, ``RAY_ADDRESS``, or the file of the last ``ray start`` here."""
    recorded: bool = False
    """The address was read from the last ``ray start`` on this machine (a stale record
    outlives a cluster that was stopped uncleanly)."""
    given: str | None = None
    """The address as given, when Ray dials another form of it (``127.0.0.1`` becomes the
    host's own address)."""

    @property
    def named(self) -> str:
        """The address and its source, as messages name them."""
        dialed = f"; Ray dials it as {self.address}" if self.given else ""
        return f"{self.given or self.address} ({self.source}{dialed})"

    @property
    def location(self) -> str:
        """How the summary and the report name it."""
        return "ray (a local instance)" if self.address is None else f"ray at {self.address}"


def resolve(address: str | None) -> Target:
    """The cluster ``address`` (``--ray-address``; None: ``RAY_ADDRESS``, else the last
    ``ray start`` on this machine, else a new local instance) names, as Ray resolves it."""
    from ray._common.utils import get_ray_address_file
    from ray._private import services

    from_env = os.environ.get("RAY_ADDRESS") or None
    given = address if address not in (None, "auto") else from_env
    source = "--ray-address" if address not in (None, "auto") else "RAY_ADDRESS"
    if given is not None and "://" in given:
        raise RayClusterError(f"{source}={given} {RAY_CLIENT_REFUSED}")
    recorded = given is None and os.path.exists(get_ray_address_file(None))
    if given is None:
        source = (
            f"the last `ray start` on this machine, recorded in {get_ray_address_file(None)}"
            if recorded
            else "a Ray instance running on this machine (--ray-address auto)"
        )
    try:
        resolved = services.canonicalize_bootstrap_address(address)  # type: ignore[arg-type]
    except ConnectionError as exc:
        raise RayClusterError(
            "--ray-address auto found no running Ray cluster (RAY_ADDRESS is unset and no "
            "`ray start` ran on this machine): start one (`ray start --head --port=6379`), "
            "give its address (--ray-address HEAD:6379), or leave --ray-address out to start "
            "a local instance"
        ) from exc
    except ValueError as exc:
        raise RayClusterError(
            f"{source}={given or address} is not a Ray address: expected HOST:PORT (the head's "
            "GCS port, 6379 by default), auto, or nothing for a local instance"
        ) from exc
    if resolved is None:
        return Target(address=None, source="none given: a local instance")
    typed = given if given is not None else address
    return Target(
        address=resolved,
        source=source,
        recorded=recorded,
        given=typed if typed not in (None, "auto", resolved) else None,
    )


def join(
    target: Target,
    *,
    timeout: float = DEFAULT_CONNECT_TIMEOUT,
    logging_level: int = logging.WARNING,
) -> None:
    """Check ``target`` answers as a cluster this driver may join, then ``ray.init``.

    Raises ``RayClusterError`` within about ``timeout`` seconds when it does not.
    """
    import ray
    import ray.exceptions

    if target.address is not None:
        deadline = time.monotonic() + timeout
        check_listening(target, deadline, timeout)
        nodes = check_gcs(target, deadline, timeout)
        check_local_node(target, nodes)
    try:
        ray.init(
            address=target.address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging_level,
        )
    except (ConnectionError, RuntimeError, ray.exceptions.RayError) as exc:
        where = target.named if target.address else "a new local instance"
        raise RayClusterError(
            f"joining the Ray cluster at {where} failed: {_last_line(exc)}"
        ) from exc


def check_listening(target: Target, deadline: float, timeout: float) -> None:
    """Something accepts TCP connections at the target's address."""
    assert target.address is not None
    host, _, port = target.address.rpartition(":")
    stale = (
        "; the address is the last `ray start` on this machine: if that cluster was stopped, "
        "forget it with `ray stop` (on this machine) or give --ray-address"
        if target.recorded
        else ""
    )
    try:
        with socket.create_connection((host, int(port)), timeout=_left(deadline)):
            return
    except ConnectionRefusedError as exc:
        raise RayClusterError(
            f"nothing listens at {target.named}: the Ray head is down or "
            f"this is not its GCS port; start it (`ray start --head --port={port}`) or give the "
            f"head's address{stale}"
        ) from exc
    except TimeoutError as exc:
        raise RayClusterError(
            f"{target.named} did not answer within {timeout:g} s "
            "(--ray-connect-timeout): the head host is down, or a firewall drops the port"
            f"{stale}"
        ) from exc
    except OSError as exc:
        raise RayClusterError(f"cannot reach {target.named}: {exc.strerror or exc}{stale}") from exc


def check_gcs(target: Target, deadline: float, timeout: float) -> dict[str, Any]:
    """A Ray GCS answers at the address and accepts this driver's token; its alive nodes
    by id (hex). ``GcsClient`` blocks without a bound of its own, so it runs in a thread."""
    from ray.exceptions import AuthenticationError

    answer: dict[str, Any] = {}

    def probe() -> None:
        try:
            from ray._raylet import GcsClient  # type: ignore[attr-defined]
            from ray.core.generated.gcs_pb2 import GcsNodeInfo  # type: ignore[attr-defined]

            client = GcsClient(address=target.address)
            nodes = client.get_all_node_info(
                timeout=max(1, int(_left(deadline))),
                state_filter=GcsNodeInfo.GcsNodeState.ALIVE,
            )
            answer["nodes"] = {node_id.hex(): info for node_id, info in nodes.items()}
        except BaseException as exc:  # handed to the caller's thread
            answer["error"] = exc

    thread = threading.Thread(target=probe, name="hemma-ray-gcs-probe", daemon=True)
    thread.start()
    thread.join(_left(deadline))
    error = answer.get("error")
    if isinstance(error, AuthenticationError):
        raise RayClusterError(
            f"the Ray cluster at {target.named} refused this driver's "
            f"token ({_auth_mode()}): {TOKEN_HELP}"
        ) from error
    if "nodes" not in answer:
        reason = f": {_last_line(error)}" if error is not None else ""
        raise RayClusterError(
            f"{target.named} accepts connections, but no Ray GCS answered "
            f"there within {timeout:g} s (--ray-connect-timeout){reason}: is it the head's GCS "
            "port (6379 unless `ray start --head --port` said otherwise)?"
        ) from error
    nodes: dict[str, Any] = answer["nodes"]
    return nodes


def check_local_node(target: Target, nodes: dict[str, Any]) -> None:
    """This host runs an alive node of the cluster (``ray.init`` waits a minute for one,
    then fails with a traceback)."""
    from ray._private import services

    local = set(services.find_node_ids())
    if not local & set(nodes):
        raise RayClusterError(
            f"this host runs no node of the Ray cluster at {target.named}, "
            f"and a driver attaches to one on its own host: run `ray start "
            f"--address={target.address}` here first (with the cluster's token), or run "
            "extract on the head"
        )


def largest_node(wanted: Mapping[str, float]) -> str | None:
    """None when an alive node of the joined cluster has every resource of ``wanted`` (an
    actor's share: ``{"CPU": 1, "GPU": 0, ...}``); else what the nodes have. A run whose
    actors fit no node waits (for an autoscaler, or a node someone starts), silently in
    Ray."""
    import ray

    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    needed = {name: amount for name, amount in wanted.items() if amount}
    if any(all(have.get(name, 0) >= amount for name, amount in needed.items()) for have in nodes):
        return None
    shown = ", ".join(
        f"{name} {max((have.get(name, 0) for have in nodes), default=0):g}" for name in needed
    )
    return f"{len(nodes)} alive node(s), the most any has: {shown}"


def _left(deadline: float) -> float:
    return max(0.05, deadline - time.monotonic())


def _auth_mode() -> str:
    mode = os.environ.get("RAY_AUTH_MODE")
    if mode != "token":
        return f"RAY_AUTH_MODE is {mode or 'unset'} here, so none was sent"
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN here differs from the cluster's"
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return f"the token in RAY_AUTH_TOKEN_PATH={os.environ['RAY_AUTH_TOKEN_PATH']} differs"
    return "the token in ~/.ray/auth_token differs, or there is none"


def _last_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[-1] if text else type(error).__name__


__all__ = ["DEFAULT_CONNECT_TIMEOUT", "Target", "check_gcs", "join", "resolve"]
