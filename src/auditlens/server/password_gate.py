"""Password checks on a few threads of their own, with a short queue that refuses the rest.

An argon2id check takes ~64 MiB and ~0.1 s of a core (the RFC 9106 low-memory profile). Run on
the shared thread pool that also serves reads, a flood of logins with random emails took the
server from 0.5 to 3 GiB and made ``/v1/health`` answer in 7 s. So every login runs here:

* ``workers`` threads (default: the number of cores) check passwords, so hashing never holds
  more than ``workers`` × 64 MiB, and reads keep the shared pool and the event loop to
  themselves.
* At most ``queue`` more logins wait (default: 4 per worker, under a second of work). Beyond
  that a login is refused at once, before any database or hashing work, with 503 and
  ``Retry-After: 1``: a waiting line longer than a client's patience only holds memory.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

RETRY_AFTER_SECONDS = 1


class GateFullError(Exception):
    """Every worker is busy and the queue is full; the caller should answer 503."""


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class PasswordGate:
    """A bounded executor for login work: ``workers`` threads plus ``queue`` waiting calls."""

    def __init__(self, workers: int = 0, queue: int = 0) -> None:
        self.workers = workers if workers > 0 else default_workers()
        self.capacity = self.workers + (queue if queue > 0 else 4 * self.workers)
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="password-check")
        self._admitted = 0
        self._lock = threading.Lock()

    @property
    def admitted(self) -> int:
        """Calls running or waiting now."""
        return self._admitted

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on a gate thread; GateFullError at once when the gate is full."""
        with self._lock:
            if self._admitted >= self.capacity:
                raise GateFullError
            self._admitted += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        finally:
            with self._lock:
                self._admitted -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
