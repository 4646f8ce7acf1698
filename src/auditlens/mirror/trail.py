"""Read one task's whole trail from the mirror: every entry of a task id, in log order.

The task trail view and the task report need *all* events of one task (a task of thousands of
steps is normal), with their exact bytes and where each was verified. One indexed query does it:
``entries(task_id, ts, idx)`` is an index of the mirror, so ``WHERE task_id = ?`` is one range of
it; SQLite sorts that range by ``idx`` (the log order itself, not the time order the index
implies: a few thousand keys). Each entry comes with the size of the first trusted checkpoint
that covers it (a bisect over the few checkpoint sizes, not a query per entry) and its RFC 9162
leaf hash.

Read-only, through :meth:`MirrorReader.connection` (the reader's pool of ``mode=ro``
connections): this module never opens the file itself and never writes.

Memory grows with the task (its raw bytes, ~600 bytes per step: 3 MB for 5,000 steps); a task
is a human-sized story, not a log-sized one, so holding it whole is the simple, right choice.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from auditlens.core.merkle import leaf_hash
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.records import CheckpointInfo

__all__ = ["TaskTrail", "TrailEntry", "read_task_trail"]


@dataclass(frozen=True)
class TrailEntry:
    """One entry of the task: its exact bytes and the trusted checkpoint that covers it."""

    idx: int
    id: str
    ts: int
    raw: bytes
    leaf_hash: bytes
    #: Size of the first trusted checkpoint covering ``idx`` (None: not covered yet).
    checkpoint_size: int | None


@dataclass(frozen=True)
class TaskTrail:
    """Every entry of one task in log order, and what the mirror knows around them."""

    task_id: str
    entries: tuple[TrailEntry, ...]
    #: The latest trusted checkpoint of the mirror (None: never synced).
    checkpoint: CheckpointInfo | None
    origin: str | None
    vkey: str | None
    #: The organization's directory, ``user_id -> email`` (emails are not part of the log).
    emails: dict[str, str]

    @property
    def verified_count(self) -> int:
        """How many entries a trusted checkpoint covers."""
        return sum(1 for e in self.entries if e.checkpoint_size is not None)


def read_task_trail(reader: MirrorReader, task_id: str) -> TaskTrail:
    """Return every entry whose ``task_id`` is ``task_id``, ascending by log index.

    Raises ValueError for an empty task id. A task id nobody used gives an empty trail (the
    caller says "no events for this task"), not an error.
    """
    task_id = task_id.strip()
    if not task_id:
        raise ValueError("a task id is required (e.g. tsk_01J...)")
    with reader.connection() as conn:
        rows = conn.execute(
            "SELECT idx, id, ts, CAST(raw AS BLOB) FROM entries WHERE task_id = ? ORDER BY idx",
            (task_id,),
        ).fetchall()
        sizes = [
            int(r[0]) for r in conn.execute("SELECT size FROM checkpoints ORDER BY size").fetchall()
        ]
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        emails = {
            str(uid): str(email)
            for uid, email in conn.execute("SELECT id, email FROM users").fetchall()
            if email is not None
        }
    checkpoint = reader.latest_checkpoint()
    entries = []
    for idx, id_, ts, raw in rows:
        data = bytes(raw)
        at = bisect_right(sizes, idx)  # the first size > idx covers the entry
        entries.append(
            TrailEntry(
                idx=int(idx),
                id=str(id_),
                ts=int(ts),
                raw=data,
                leaf_hash=leaf_hash(data),
                checkpoint_size=sizes[at] if at < len(sizes) else None,
            )
        )
    return TaskTrail(
        task_id=task_id,
        entries=tuple(entries),
        checkpoint=checkpoint,
        origin=meta.get("origin"),
        vkey=meta.get("vkey"),
        emails=emails,
    )
