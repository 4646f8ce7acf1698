"""Failed-login limiting per (email, client IP): slow down, then refuse with Retry-After.

Decisions:

* Keyed by the lower-cased email *and* the client IP, so one attacker cannot lock a real user
  out from the user's own address, and one address cannot hammer many accounts unnoticed
  (each pair is limited separately; the argon2 cost bounds the total rate).
* After ``max_failures`` failures within ``window`` seconds the pair gets 429 until the oldest
  counted failure leaves the window; ``Retry-After`` says when. A success clears the pair.
* State is in memory: the reference server is one process. It is bounded (stale pairs are
  dropped when the table grows) so a flood of random emails cannot exhaust memory.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

_MAX_TRACKED = 10_000


class LoginLimiter:
    """Counts recent failed logins per (email, IP)."""

    def __init__(
        self,
        max_failures: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, email: str, ip: str) -> int | None:
        """Seconds until this pair may try again, or None when it may try now."""
        with self._lock:
            now = self.clock()
            times = self._recent((email, ip), now)
            if len(times) < self.max_failures:
                return None
            return max(1, math.ceil(times[0] + self.window - now))

    def failures(self, email: str, ip: str) -> int:
        with self._lock:
            return len(self._recent((email, ip), self.clock()))

    def record_failure(self, email: str, ip: str) -> int:
        """Count a failure; return the number of recent failures including it."""
        with self._lock:
            now = self.clock()
            if len(self._failures) >= _MAX_TRACKED:
                for key in list(self._failures):
                    self._recent(key, now)
            times = self._failures.setdefault((email, ip), deque())
            times.append(now)
            return len(times)

    def clear(self, email: str, ip: str) -> None:
        with self._lock:
            self._failures.pop((email, ip), None)
