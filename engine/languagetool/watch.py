"""Whether LanguageTool answers, known without making a caller wait.

A background thread probes ``/v2/info`` every ``languagetool_probe_interval`` seconds;
real checks report their outcome too. Readiness reads the last result. The first success
after a start with LanguageTool down hands its version to whoever asked for it
(``on_first_info``): the runtime slot, which builds a new runtime with LanguageTool and swaps
it in as a reload does, so handcrafted features (and their fingerprint) are served from that
moment on while streams already running keep the runtime they started with.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from hemma_features.engine.errors import DependencyError
from hemma_features.engine.languagetool import client as languagetool

log = structlog.get_logger(__name__)


class LanguageToolWatch:
    """Last known state of one LanguageTool server.

    Args:
        url: LanguageTool base URL.
        interval: Seconds between probes.
        read_seconds: How long one probe may wait for an answer.
        max_chars: The client's piece size (recorded in the fingerprint).
        info: Version info when the start-up probe succeeded, else None.
        problem: Why the start-up probe failed, else None.
    """

    def __init__(
        self,
        url: str,
        *,
        interval: float,
        read_seconds: float,
        max_chars: int,
        info: languagetool.LanguageToolInfo | None,
        problem: str | None,
    ) -> None:
        self.url = url
        self.interval = interval
        self.read_seconds = read_seconds
        self.max_chars = max_chars
        self.info = info
        self.problem = problem
        self._lock = threading.Lock()
        self._waiting: list[Callable[[languagetool.LanguageToolInfo], None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="languagetool-watch", daemon=True)
        self._thread.start()

    def record_success(self) -> None:
        """A real check succeeded."""
        self.problem = None

    def record_failure(self, reason: str) -> None:
        """A real check failed."""
        self.problem = reason

    def probe_now(self) -> None:
        """Probe once, in the calling thread."""
        try:
            info = languagetool.probe(
                self.url, read_seconds=self.read_seconds, max_chars=self.max_chars
            )
        except DependencyError as exc:
            if self.problem != str(exc):
                log.warning("languagetool.unavailable", reason=str(exc))
            self.problem = str(exc)
            return
        if self.problem is not None:
            log.info("languagetool.available", version=info.version)
        self.problem = None
        with self._lock:
            if self.info is not None:
                return
            self.info = info
            waiting, self._waiting = self._waiting, []
        for callback in waiting:
            callback(info)

    def on_first_info(self, callback: Callable[[languagetool.LanguageToolInfo], None]) -> None:
        """Call ``callback`` once with the version info when LanguageTool first answers (in
        the probing thread), or at once when it has answered already."""
        with self._lock:
            info = self.info
            if info is None:
                self._waiting.append(callback)
                return
        callback(info)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.probe_now()

    def close(self) -> None:
        """Stop probing (a probe in flight is not waited for: the thread is a daemon)."""
        self._stop.set()
        self._thread.join(timeout=1.0)
