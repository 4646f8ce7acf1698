"""The values the mirror's read side returns: table rows, entries, checkpoints, counts.

Plain immutable values with no SQL and no Qt, so the viewer, the exports and the CLI can hold
and pass them without a database at hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["Buckets", "CheckpointInfo", "EventRecord", "MirrorStatus", "Row", "User"]


class Row(NamedTuple):
    """One table row: the indexed columns of an entry (not its raw bytes)."""

    idx: int
    id: str
    ts: int
    type: str | None
    category: str | None
    user_id: str | None
    task_id: str | None
    agent_id: str | None
    outcome: str | None  # the signed outcome
    summary: str | None
    verdict: str | None = None  # success | failure | denied: what the viewer shows
    ip: str | None = None  # event.request.ip
    user_agent: str | None = None  # event.request.user_agent


@dataclass(frozen=True)
class EventRecord:
    """One entry with what the detail pane shows: its exact bytes and where it was verified."""

    idx: int
    id: str
    ts: int
    raw: bytes
    leaf_hash: bytes
    #: Size of the first trusted checkpoint that covers this entry (None: none covers it yet).
    checkpoint_size: int | None
    checkpoint_verified_at: int | None


@dataclass(frozen=True)
class CheckpointInfo:
    """A trusted checkpoint stored in the mirror."""

    size: int
    note: str
    root: bytes | None
    verified_at: int | None


@dataclass(frozen=True)
class Buckets:
    """Counts of the events matching a filter per time bucket (the histogram above the table).

    Bucket ``i`` holds ``start_ms + i * width_ms <= ts < start_ms + (i + 1) * width_ms``.
    ``failures`` and ``denied`` count the verdicts (:data:`OUTCOMES`) among ``total``.
    """

    start_ms: int
    width_ms: int
    total: tuple[int, ...]
    failures: tuple[int, ...]
    denied: tuple[int, ...]

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.width_ms * len(self.total)


@dataclass(frozen=True)
class MirrorStatus:
    """What the status bar says about the mirror."""

    entries: int
    checkpoint: CheckpointInfo | None
    origin: str | None
    last_sync_at: int | None


@dataclass(frozen=True)
class User:
    """One person of the organization's directory."""

    id: str
    email: str | None
    name: str | None
    role: str | None
