"""Hot reload: load new settings and models beside the running ones, then switch at once.

The switch is the runtime slot's (``engine.runtime_slot``): streams keep the runtime they
leased. ``Reloader`` builds the new runtime (``SIGHUP`` or the token-protected ``reload`` Flight
action ask it to), switches, and keeps the outcome for ``/v1/config`` and ``/readyz``. A
reload that fails leaves the old runtime serving and says why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog

from hemma_features.contract import ReloadStatus
from hemma_features.engine.errors import ReloadRefusedError
from hemma_features.engine.metrics import Metrics
from hemma_features.engine.runtime import Runtime
from hemma_features.engine.runtime_slot import RuntimeSlot
from hemma_features.engine.settings import Settings

log = structlog.get_logger(__name__)

RESTART_ONLY = (
    "host",
    "http_port",
    "flight_port",
    "auth_token",
    "admin_token",
    "tls_cert_file",
    "tls_key_file",
    "store",
    "store_dir",
    "store_max_bytes",
    "max_streams",
    "stream_queue",
    "stream_queue_timeout",
    "advertise_flight",
    "log_format",
)
"""Settings bound to sockets, the store or admission at start: a reload cannot change them."""


SettingsSource = Callable[[Mapping[str, Any]], Settings]
"""Reads the settings as start-up did, with the given overrides on top."""
Loader = Callable[[Settings, Metrics], Runtime]


def load_runtime(settings: Settings, metrics: Metrics) -> Runtime:
    """The real loader: ``Runtime.load`` keeping the server's metrics registry."""
    return Runtime.load(settings, metrics=metrics)


class Reloader:
    """One reload at a time: read settings, load beside the old runtime, switch, report."""

    def __init__(
        self, slot: RuntimeSlot, settings_source: SettingsSource, load: Loader = load_runtime
    ) -> None:
        self.slot = slot
        self._source = settings_source
        self._load = load
        self._busy = threading.Lock()
        self.overrides: dict[str, Any] = {}
        self.status = ReloadStatus()

    def reload(self, trigger: str, overrides: Mapping[str, Any] | None = None) -> ReloadStatus:
        """Reload now and return the outcome (the old runtime serves until the switch).

        Args:
            trigger: What asked (``sighup``, ``action``), for the log and the status.
            overrides: Settings that win over the environment and the env file; None keeps
                the ones the last reload was given.
        """
        if not self._busy.acquire(blocking=False):
            raise ReloadRefusedError("a reload is already running; wait for it to finish")
        try:
            return self._reload(trigger, overrides)
        finally:
            self._busy.release()

    def _reload(self, trigger: str, overrides: Mapping[str, Any] | None) -> ReloadStatus:
        old = self.slot.current
        started = time.perf_counter()
        base = ReloadStatus(
            state="loading",
            trigger=trigger,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            fingerprint_before=old.fingerprint.fingerprint,
        )
        self.status = base
        log.info("reload.started", trigger=trigger, fingerprint=base.fingerprint_before)
        wanted = dict(self.overrides if overrides is None else overrides)
        changed: list[str] = []
        try:
            settings = self._source(wanted)
            changed = changed_settings(old.settings, settings)
            frozen = [name for name in changed if name in RESTART_ONLY]
            if frozen:
                raise ReloadRefusedError(
                    f"{', '.join(frozen)} changed, which only a restart applies; "
                    "nothing was reloaded"
                )
            new = self._load(settings, old.metrics)
        except Exception as exc:  # the old runtime keeps serving whatever went wrong
            status = msgspec.structs.replace(
                base,
                state="failed",
                seconds=round(time.perf_counter() - started, 2),
                changed=changed,
                error=f"{type(exc).__name__}: {exc}",
            )
            self.status = status
            old.metrics.reloads.labels("failed").inc()
            log.error("reload.failed", trigger=trigger, error=status.error)
            return status
        self.overrides = wanted
        self.slot.swap(new)
        status = msgspec.structs.replace(
            base,
            state="ok",
            seconds=round(time.perf_counter() - started, 2),
            fingerprint_after=new.fingerprint.fingerprint,
            changed=changed,
        )
        self.status = status
        new.metrics.reloads.labels("ok").inc()
        log.info(
            "reload.switched",
            trigger=trigger,
            fingerprint_before=status.fingerprint_before,
            fingerprint_after=status.fingerprint_after,
            changed=changed,
            seconds=status.seconds,
        )
        return status

    def problem(self) -> str | None:
        """The last reload's failure, for readiness (the old runtime still serves)."""
        status = self.status
        if status.state != "failed":
            return None
        return (
            f"the last reload ({status.trigger}) failed and the old runtime serves: {status.error}"
        )


def changed_settings(old: Settings, new: Settings) -> list[str]:
    """Flat names of the settings whose values differ (``embedding_max_length``)."""
    before, after = old.flat(), new.flat()
    return sorted(name for name in after if before.get(name) != after.get(name))
