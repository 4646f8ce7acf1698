"""Bulk appends: the log the sequencer would write for a long, known stream, written faster.

Seeding (the demo organization, benchmarks) appends hundreds of thousands of events that are
all known up front. Through :meth:`Sequencer.append_in` every batch is validated, numbered,
hashed, stored, signed and committed in turn, on one core. This module writes **the same signed
log**: the same entries (ids from the sequencer's own id generator, the same timestamps, bodies
and leaf hashes), the same tree nodes, and a signed checkpoint at exactly the sizes the
sequencer path signs (every ``checkpoint_every`` events, then the end). What differs is only how
the work is spread:

- **Preparing runs beside writing.** :mod:`auditlens.server.bulk_prepare` does everything about
  an event that does not depend on its place in the log (validation, the canonical bytes of
  every member except ``id`` and ``timestamp``, the formatted time), and
  :mod:`auditlens.server.bulk_process` runs it in a second process with the stream's
  generator, so on two cores the generator and the database overlap.
- **The writer splices, it does not serialize.** An event's canonical form (RFC 8785) is an
  object with its members sorted by name, so ``id`` and ``timestamp`` always sit between the
  same neighbours: ``{"agent_id":…,"event":…,"id":"…","task_id":…,"timestamp":"…","type":…,
  "user_id":…}``. A :class:`~auditlens.server.bulk_prepare.Chunk` holds the three byte runs
  around them (:mod:`auditlens.server.bulk_canonical`); the writer adds the id it draws and
  the formatted time, and hashes. A submission with other top-level members is
  refused when prepared, because the splice would then be wrong.
- **Fewer, larger transactions.** One transaction per ``commit_every`` events (several
  checkpoints), each starting, like an append, from the state recomputed from the stored log
  (:func:`~auditlens.server.sequencer.locked_state`). A kill leaves the log of the last commit,
  which verifies, as with the sequencer path.
- **Indexes built after the load** when the entries table starts empty
  (:mod:`auditlens.server.bulk_indexes`), inside the same transaction.

The timestamps obey the sequencer's rules: never decreasing (a smaller one is raised to the
last), refused when further in the future than the sequencer tolerates.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditlens.core.events import MAX_EVENT_BYTES, EventError
from auditlens.core.merkle import CompactRange, leaf_hash
from auditlens.core.tiles import TILE_HEIGHT
from auditlens.core.timestamps import format_timestamp
from auditlens.server.bulk_indexes import deferred_indexes
from auditlens.server.bulk_prepare import Chunk
from auditlens.server.db import Database
from auditlens.server.schema import checkpoints, entries, organizations, tree_nodes
from auditlens.server.sequencer import (
    FUTURE_TOLERANCE_MS,
    Sequencer,
    insert_rows,
    locked_state,
    next_id,
)

__all__ = ["bulk_append"]

_Row = tuple[int, bytes, bytes, bytes, bytes, str, str, str | None, str | None, str | None, str]
"""One prepared event: a row of a :class:`Chunk`'s columns, in the order of its fields."""


# ---------------------------------------------------------------------------------------------
# The writer


def bulk_append(
    db: Database,
    sequencer: Sequencer,
    org_id: str,
    batches: Iterable[Chunk],
    *,
    checkpoint_every: int = 10_000,
    commit_every: int = 100_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Append every prepared event to ``org_id``'s log; return the log's size afterwards.

    A checkpoint is signed after every ``checkpoint_every`` events and after the last one;
    ``commit_every`` (a multiple of it) events share one transaction. ``progress(done)`` is
    called after each commit.
    """
    if checkpoint_every < 1 or commit_every < checkpoint_every or commit_every % checkpoint_every:
        raise ValueError("commit_every must be a positive multiple of checkpoint_every")
    events: Iterator[_Row] = itertools.chain.from_iterable(zip(*c, strict=True) for c in batches)
    done = 0
    while True:
        with db.write() as conn, deferred_indexes(conn):
            log = _OpenLog(conn, sequencer, org_id)
            wrote = 0
            while wrote < commit_every:
                chunk = list(itertools.islice(events, checkpoint_every))
                if not chunk:
                    break
                log.append_and_sign(chunk)
                wrote += len(chunk)
            if wrote:
                log.store_state()
        done += wrote
        if wrote and progress is not None:
            progress(done)
        if wrote < commit_every:
            return log.cr.size


class _OpenLog:
    """One transaction's view of the log: its compact range, its last time, where to write.

    It starts, like every append, from the state recomputed from the stored log under the
    organization's lock.
    """

    def __init__(self, conn: Connection, sequencer: Sequencer, org_id: str) -> None:
        self.conn = conn
        self.sequencer = sequencer
        self.org_id = org_id
        self.origin, state = locked_state(conn, org_id)
        self.cr = CompactRange.from_state(state.size, state.frontier)
        self.last_ts = state.last_ts
        self.last_id = state.last_id
        self.now = sequencer.clock()

    def append_and_sign(self, chunk: Sequence[_Row]) -> None:
        """Append ``chunk`` exactly as one :meth:`Sequencer.append_in` would, then sign it."""
        org_id, cr, ids = self.org_id, self.cr, self.sequencer.ids
        latest = self.now + FUTURE_TOLERANCE_MS
        last_ts, last_id = self.last_ts, self.last_id
        entry_rows: list[tuple[Any, ...]] = []
        node_rows: list[tuple[str, int, int, bytes]] = []
        for given, stamped, head, middle, tail, kind, category, user, task, agent, outcome in chunk:
            if given > latest:
                raise ValueError(f"timestamp {format_timestamp(given)} lies in the future")
            if given < last_ts:  # time never goes backwards: the sequencer's rule
                ts, stamp = last_ts, format_timestamp(last_ts).encode()
            else:
                ts, stamp = given, stamped
            last_ts = ts
            event_id = ids.new(ts)
            if event_id <= last_id:  # the sequencer's rule: ids sort in log order
                event_id = next_id(last_id)
            last_id = event_id
            body = b"".join((head, event_id.encode(), middle, stamp, tail))
            if len(body) > MAX_EVENT_BYTES:
                raise EventError(
                    "",
                    f"at log index {cr.size} is {len(body):,} bytes in canonical form with its "
                    f"id and timestamp; the limit is {MAX_EVENT_BYTES:,}",
                )
            lh = leaf_hash(body)
            index = cr.size
            for level, n, h in cr.append(lh):
                if level and not level % TILE_HEIGHT:
                    node_rows.append((org_id, level, n, h))
            entry_rows.append(
                (
                    org_id, index, event_id, ts, kind, category, user, task, agent, outcome,
                    lh, body,
                )
            )  # fmt: skip
        self.last_ts, self.last_id = last_ts, last_id
        insert_rows(self.conn, entries, entry_rows)
        if node_rows:
            insert_rows(self.conn, tree_nodes, node_rows)
        root = cr.root()
        note = self.sequencer.signer.sign_checkpoint(self.origin, cr.size, root)
        self.conn.execute(
            sa.insert(checkpoints).values(
                org_id=org_id, size=cr.size, root=root, note=note, created_at=self.now
            )
        )

    def store_state(self) -> None:
        """Store the sequencer state the next append (bulk or not) starts from."""
        self.conn.execute(
            sa.update(organizations)
            .where(organizations.c.id == self.org_id)
            .values(tree_size=self.cr.size, frontier=b"".join(self.cr.hashes), last_ts=self.last_ts)
        )
