"""How long to wait before another attempt, and when to stop.

A busy server (``ServerBusyError``) is waited for up to ``busy_budget`` seconds, with
exponential backoff jittered so that many clients do not return in step, and never sooner
than the ``retry_after`` the server named. Any other retryable failure gets ``retries``
attempts with exponential backoff. Nothing else is ever retried.
"""

from __future__ import annotations

import random
import time

from hemma_features.client.errors import RetryableError, ServerBusyError, ServerUnavailableError

MAX_DELAY = 15.0


class RetryPolicy:
    """Counts attempts for one request and says how long to wait before the next.

    Args:
        retries: Attempts after the first for transport and dependency failures.
        backoff: First delay in seconds; doubles each attempt.
        busy_budget: Seconds a busy server is waited for in all.
    """

    def __init__(self, retries: int, backoff: float, busy_budget: float) -> None:
        self.retries = retries
        self.backoff = backoff
        self.busy_budget = busy_budget
        self.attempts = 0
        self._busy_since: float | None = None
        self._random = random.Random()

    def next_delay(self, error: RetryableError) -> float:
        """Seconds to wait before the next attempt; raises ``error`` (with the attempts
        named) when the budget is spent."""
        self.attempts += 1
        if (error.retry_after or 0.0) > self.busy_budget:  # come back much later: stop now
            raise error
        base = self.backoff * 2 ** min(self.attempts - 1, 10)
        if isinstance(error, ServerBusyError):
            now = time.monotonic()
            self._busy_since = self._busy_since if self._busy_since is not None else now
            left = self._busy_since + self.busy_budget - now
            if left <= 0:
                raise error
            delay = min(MAX_DELAY, base) * self._random.uniform(0.5, 1.5)
            return min(left, max(delay, error.retry_after or 0.0))
        if self.attempts > self.retries:
            if isinstance(error, ServerUnavailableError):
                raise ServerUnavailableError(
                    error.url, error.reason, attempts=self.attempts, hint=error.hint
                ) from error
            raise error
        return max(min(MAX_DELAY, base), error.retry_after or 0.0)
