"""Noticing mid-run that the cluster is gone, and stopping the run like Ctrl-C does.

Ray alone ends a driver whose head (GCS) stopped answering after 60 seconds, with a line
of its core's log and exit status 1: no summary, no report, no "stopped: N of M essays
are in CACHE" line. ``ClusterWatch`` probes, once a second, that the head's GCS port and
this driver's own Ray node (its raylet) accept TCP connections; when one has not for
``lost_after`` seconds it interrupts the main thread while it waits for a block, and the
fetcher raises ``ClusterLostError``: the run then ends as an interrupted one does, with
what arrived committed to the cache and the report written.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

PROBE_SECONDS = 1.0
"""Between two probes of each address."""
INTERRUPT = signal.SIGUSR1
"""Sent to the main thread to end its wait for a block (Ray checks for signals while it
waits); never to another process."""


def answers(address: str, timeout: float) -> bool:
    """Something accepts a TCP connection at ``host:port`` within ``timeout``."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def watched_addresses() -> dict[str, str]:
    """The addresses whose silence means this process's cluster is lost: the head's GCS
    and this driver's own Ray node (raylet)."""
    import ray
    from ray._private import worker

    addresses = {}
    gcs = ray.get_runtime_context().gcs_address
    if gcs:
        addresses[gcs] = "the Ray head (GCS)"
    node = worker.global_worker.node
    if node is not None and node.node_manager_port:
        addresses[f"{node.node_ip_address}:{node.node_manager_port}"] = (
            "this driver's Ray node (raylet)"
        )
    return addresses


class ClusterWatch:
    """Probes ``addresses`` (what each is, by ``host:port``) from a daemon thread.

    Args:
        addresses: ``{"host:port": "the head (GCS)", ...}``.
        lost_after: Seconds an address may stay unanswered before the cluster is lost.
    """

    def __init__(self, addresses: dict[str, str], lost_after: float) -> None:
        self.addresses = addresses
        self.lost_after = lost_after
        self.lost: str | None = None
        """Why the cluster is lost, once it is (the message's middle)."""
        self._stop = threading.Event()
        self._waiting = False
        self._thread = threading.Thread(target=self._run, name="hemma-ray-watch", daemon=True)
        self._main: int | None = threading.main_thread().ident
        self._previous: Any = None

    def start(self) -> ClusterWatch:
        """Start probing; in the main thread, also take ``INTERRUPT`` until ``close``."""
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(INTERRUPT, self._interrupted)
        else:  # a run off the main thread is left to Ray's own ending
            self._main = None
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop probing, then give ``INTERRUPT`` back (never while a probe may still send
        it: its default action ends the process)."""
        self._stop.set()
        self._thread.join(PROBE_SECONDS + 3.0)
        if self._main is not None and not self._thread.is_alive():
            signal.signal(INTERRUPT, self._previous or signal.SIG_DFL)

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Within the block the main thread only waits for Ray, so the watch may interrupt
        it (``KeyboardInterrupt``, which the caller turns into the loss); outside it
        (writing the cache) it is never interrupted."""
        self._waiting = True
        try:
            yield
        finally:
            self._waiting = False

    def _interrupted(self, signum: int, frame: FrameType | None) -> None:
        if self._waiting and self.lost is not None:
            raise KeyboardInterrupt

    def _run(self) -> None:
        down_since: dict[str, float] = {}
        while not self._stop.wait(PROBE_SECONDS):
            now = time.monotonic()
            for address, what in self.addresses.items():
                if answers(address, timeout=min(2.0, self.lost_after)):
                    down_since.pop(address, None)
                    continue
                since = down_since.setdefault(address, now)
                if self.lost is None and now - since >= self.lost_after:
                    self.lost = f"{what} at {address} has not answered for {now - since:.0f} s"
            if self.lost is not None and self._waiting and self._main is not None:
                with contextlib.suppress(OSError, ValueError):
                    signal.pthread_kill(self._main, INTERRUPT)
