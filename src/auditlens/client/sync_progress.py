"""What a sync reports: its phases, progress snapshots for a progress bar, and its result."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from auditlens.core.checkpoint import Checkpoint
from auditlens.core.errors import Finding


class SyncStatus(StrEnum):
    SYNCED = "synced"  # new entries verified and stored
    UP_TO_DATE = "up_to_date"  # the checkpoint was already trusted; users refreshed
    CANCELLED = "cancelled"  # stopped on request; nothing unverified was stored


class SyncPhase(StrEnum):
    CHECKPOINT = "checkpoint"
    CONSISTENCY = "consistency"
    ENTRIES = "entries"
    INDEXES = "indexes"
    COMMIT = "commit"


@dataclass(frozen=True)
class SyncProgress:
    """A snapshot for a progress bar: ``done`` of ``total`` new events, speed and time left."""

    phase: SyncPhase
    done: int
    total: int
    events_per_second: float
    eta_seconds: float | None
    message: str


@dataclass(frozen=True)
class SyncResult:
    """The outcome of one run; ``findings`` holds PRUNED_BY_POLICY / EVENT_MISSING if any."""

    status: SyncStatus
    checkpoint: Checkpoint | None
    checkpoint_note: str | None
    previous_size: int
    new_entries: int
    seconds: float
    findings: tuple[Finding, ...] = field(default=())
    #: seconds per step (fetch_wait, verify, steps, indexes, search, commit), for benchmarks
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def failed_findings(self) -> tuple[Finding, ...]:
        """Findings that are failures (everything but the informational PRUNED_BY_POLICY)."""
        return tuple(f for f in self.findings if not f.code.informational)

    @property
    def events_per_second(self) -> float:
        return self.new_entries / self.seconds if self.seconds > 0 else 0.0


ProgressCallback = Callable[[SyncProgress], None]


class Rate:
    """Progress bookkeeping: throttled callbacks with speed and time left."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self.start = time.perf_counter()
        self.last = 0.0

    def report(self, phase: SyncPhase, done: int, message: str, *, force: bool = False) -> None:
        if self.callback is None:
            return
        now = time.perf_counter()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 and self.total >= done else None
        self.callback(SyncProgress(phase, done, self.total, rate, eta, message))
