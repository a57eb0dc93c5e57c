"""The runtime slot: which loaded runtime new requests get, and the leases that keep a
replaced one alive until its streams end.

A stream *leases* the runtime it started with and keeps it to its end, so a new runtime
never changes a stream's fingerprint half-way; a replaced runtime is closed when its last
lease ends. A runtime changes one way, by a swap: a hot reload (``engine.reload``) loads a
new one, and LanguageTool's first answer after a start without it builds one over the same
loaded models (``Runtime.with_languagetool``), which the slot swaps in itself.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import structlog

from hemma_features.engine.runtime import Runtime

log = structlog.get_logger(__name__)


class RuntimeSlot:
    """The runtime new requests get, and the leases that keep replaced ones alive."""

    def __init__(self, runtime: Runtime) -> None:
        self._current = runtime
        self._lock = threading.Lock()
        self._leases: dict[int, int] = {}
        self._retired: dict[int, Runtime] = {}
        self._closed = False
        self._follow(runtime)

    @classmethod
    def of(cls, runtime: Runtime | RuntimeSlot) -> RuntimeSlot:
        """``runtime`` itself when it is a slot, else a slot holding it (no reload)."""
        return runtime if isinstance(runtime, RuntimeSlot) else cls(runtime)

    @property
    def current(self) -> Runtime:
        """The runtime a request starting now uses."""
        return self._current

    @contextlib.contextmanager
    def lease(self) -> Iterator[Runtime]:
        """The current runtime, kept open until the block ends (even across a switch)."""
        with self._lock:
            runtime = self._current
            self._leases[id(runtime)] = self._leases.get(id(runtime), 0) + 1
        try:
            yield runtime
        finally:
            self._release(runtime)

    def _release(self, runtime: Runtime) -> None:
        with self._lock:
            left = self._leases[id(runtime)] - 1
            if left:
                self._leases[id(runtime)] = left
                return
            del self._leases[id(runtime)]
            retired = self._retired.pop(id(runtime), None)
        if retired is not None:
            self._close(retired, "reload.retired")

    def swap(self, runtime: Runtime) -> Runtime:
        """Make ``runtime`` current; the old one closes once its streams have ended."""
        with self._lock:
            old = self._current
            idle = self._switch(old, runtime)
        if idle:
            self._close(old, "reload.retired")
        self._follow(runtime)
        return old

    def _switch(self, old: Runtime, new: Runtime) -> bool:
        """Make ``new`` current in place of ``old`` (the lock held); whether no stream
        holds ``old`` (the caller closes it), else its last lease closes it."""
        self._current = new
        if self._leases.get(id(old), 0) > 0:
            self._retired[id(old)] = old
            return False
        return True

    def _follow(self, runtime: Runtime) -> None:
        """Swap in the runtime with LanguageTool once a runtime started without it first
        hears from it."""
        runtime.on_languagetool_arrival(lambda arrived: self._arrived(runtime, arrived))

    def _arrived(self, pending: Runtime, arrived: Runtime) -> None:
        """Make ``arrived`` (``pending`` with LanguageTool, over the same loaded models)
        current, unless a reload replaced ``pending`` meanwhile (then nothing changes)."""
        with self._lock:
            swapped = self._current is pending and not self._closed
            idle = swapped and self._switch(pending, arrived)
        if not swapped:
            arrived.close()
            return
        log.info(
            "languagetool.arrived",
            fingerprint_before=pending.fingerprint.fingerprint,
            fingerprint_after=arrived.fingerprint.fingerprint,
        )
        if idle:
            self._close(pending, "reload.retired")

    @property
    def retired(self) -> int:
        """Replaced runtimes still finishing streams."""
        with self._lock:
            return len(self._retired)

    def close(self) -> None:
        """Close the current runtime and any replaced one still open."""
        with self._lock:
            self._closed = True
            runtimes = [self._current, *self._retired.values()]
            self._retired.clear()
        for runtime in runtimes:
            self._close(runtime, "runtime.closed")

    @staticmethod
    def _close(runtime: Runtime, event: str) -> None:
        """Close ``runtime``, logged as ``reload.retired`` (replaced) or ``runtime.closed``
        (the server stopping)."""
        log.info(event, fingerprint=runtime.fingerprint.fingerprint)
        runtime.close()
