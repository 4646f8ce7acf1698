"""The sequencer: the one writer of every organization's log.

An append takes a batch of submissions (already validated, see :func:`validate_batch`) and, in
the caller's single write transaction:

1. takes the organization's log lock (:func:`lock_log`: a PostgreSQL transaction-level advisory
   lock; SQLite's ``BEGIN IMMEDIATE`` already excludes other writers) and **recomputes** the
   sequencer state (tree size, compact range, last time) from what the log stores
   (:func:`derive_state`), refusing to go on when the stored nodes do not give the root of the
   newest signed checkpoint;
2. gives each event the next index, a server UTC timestamp that never decreases (``max(clock,
   last)``) and a fresh time-ordered id that sorts after the newest stored one (:func:`next_id`),
   then its RFC 8785 bytes and leaf hash;
3. extends the compact range, storing every completed full node at a tlog-tiles level
   (heights 8, 16, ...; leaf hashes live with the entries);
4. signs a checkpoint for the new size and stores it with the new state.

Why recompute: the stored state (``tree_size``, ``frontier``, ``last_ts`` of ``organizations``) is
a cache no trigger can guard (it changes on every append). Trusted blindly, a corrupted frontier
of the wrong length made every later append fail, and one of the right length made the server
sign a root no earlier checkpoint agrees with: a fork of the log, for good. Recomputing costs
two indexed reads (the newest checkpoint with the last entry, then the stored hashes under the
frontier: at most 255 leaf hashes and 255 per tile level) and a few hundred hashes, about 2% of
a 1,000-event append (measured on SQLite and PostgreSQL); the compact range then provably
extends the newest signed checkpoint, so every root signed here follows from the stored nodes.
A cache that differs is logged and overwritten; :func:`repair_state` does the same at start-up.
A log whose stored nodes disagree with its own newest checkpoint, or whose state claims more entries
than that checkpoint, is refused (:class:`LogStateError`, a 503) until an operator has looked.

Several API processes (``auditlens serve --workers N`` on PostgreSQL) share one sequencer this
way: whichever process holds an organization's log lock is its sequencer until it commits or
rolls back, and the state it reads under the lock is what the previous holder committed (the
lock is taken before any read of the log, and PostgreSQL's read-committed statements see every
commit that precedes them). No process keeps tree state between appends. A process killed while
holding the lock loses its connection; PostgreSQL then rolls its transaction back and releases
the lock, and the next append goes on from the last committed checkpoint. The primary key
``(org_id, size)`` of ``checkpoints`` (and ``(org_id, idx)`` of ``entries``) is the last line:
two checkpoints for one size cannot both be stored, whatever the code above them does.

Nothing is visible until the transaction commits, so a kill at any instant leaves either the
whole batch with its checkpoint or none of it: the log always verifies and the checkpoint never
goes backwards. Readers see the newest checkpoint and exactly the entries it covers.

Seeding (demo data, benchmarks) uses the same code with supplied timestamps
(:meth:`Sequencer.append_in` ``timestamps=``), which are clamped so they never decrease and
refused when they lie in the future (a future timestamp would freeze the clock of every later
append).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditlens.core.canonical import canonicalize_event
from auditlens.core.event_ids import EventIdGenerator
from auditlens.core.events import MAX_EVENT_BYTES, EventError, category_of
from auditlens.core.merkle import CompactRange, leaf_hash
from auditlens.core.tiles import TILE_HEIGHT
from auditlens.core.timestamps import format_timestamp
from auditlens.core.validation import validate_submission
from auditlens.server.db import Database
from auditlens.server.problems import ProblemError
from auditlens.server.schema import checkpoints, entries, organizations, tree_nodes
from auditlens.server.signing import LogSigner
from auditlens.server.tree import stored_frontier

log = logging.getLogger("auditlens.server")

MAX_BATCH = 1000
"""Most events one ``POST /v1/events`` may carry."""

FUTURE_TOLERANCE_MS = 60_000


def now_ms() -> int:
    """The server clock: milliseconds since the epoch, UTC."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Appended:
    """What an append did: the indexes and ids it assigned and the checkpoint that covers them."""

    first_index: int
    last_index: int
    ids: list[str]
    checkpoint: str
    size: int


def validate_batch(items: Sequence[object], prefix: str = "events") -> None:
    """Validate every submission; raise the first :class:`EventError` named ``events[i].…``."""
    for i, item in enumerate(items):
        try:
            validate_submission(item)
        except EventError as exc:
            raise exc.prefixed(f"{prefix}[{i}]") from None


def _insert_rows(conn: Connection, table: sa.Table, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert row tuples (every column, in order) in bulk, inside the current transaction.

    Bulk rows bypass SQLAlchemy's per-value bind processing, which measured as a third of the
    append cost: SQLite gets the driver's ``executemany``, PostgreSQL a ``COPY`` (several
    times faster than batched INSERTs). The values are plain str/int/bytes/None.
    """
    columns = ", ".join(c.name for c in table.columns)
    if conn.dialect.name == "postgresql":
        with (
            conn.connection.driver_connection.cursor() as cur,  # type: ignore[union-attr]
            cur.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in table.columns)
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({columns}) VALUES ({marks})", rows)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def next_id(event_id: str) -> str:
    """The id right after ``event_id`` (its ULID plus one, in the same millisecond).

    Each process draws ids from its own generator, monotonic only within that process. When
    another process appended last within the same millisecond (or a clock behind the log's last
    time made this batch share it), a fresh id could sort before the ids already stored; the
    sequencer then takes the successor of the newest stored id instead, so ids always sort in
    log order, whichever process appends.
    """
    digits = list(event_id)
    for i in range(len(digits) - 1, len(digits) - 17, -1):  # the 16 random characters
        value = _CROCKFORD.index(digits[i]) + 1
        if value < 32:
            digits[i] = _CROCKFORD[value]
            return "".join(digits)
        digits[i] = "0"
    raise OverflowError(f"no id follows {event_id} within its millisecond")


class LogStateError(ProblemError):
    """The stored log cannot be extended safely: signing now could fork it (answered as 503)."""

    def __init__(self, org_id: str, reason: str) -> None:
        self.reason = reason
        super().__init__(
            503,
            f"the log of organization {org_id} refuses appends: {reason}; nothing was stored. "
            "An operator must run `auditlens server verify`",
            slug="log-state-inconsistent",
            title="Log state inconsistent",
        )


@dataclass(frozen=True)
class SequencerState:
    """What an append needs: the tree size, its compact range and the newest timestamp."""

    size: int
    frontier: list[bytes]
    last_ts: int
    last_id: str = ""
    """The id of the newest entry ("" for an empty log): every new id must sort after it."""

    def stored(self) -> tuple[int, bytes, int]:
        """The ``(tree_size, frontier, last_ts)`` columns that hold this state."""
        return self.size, b"".join(self.frontier), self.last_ts


def derive_state(conn: Connection, org_id: str) -> SequencerState:
    """Recompute the sequencer state of ``org_id`` from the stored log, on ``conn``.

    The size is that of the newest checkpoint; the frontier is read from the stored nodes and
    must give that checkpoint's root; the time is that of the last entry, which must be the
    entry just below that size. Two queries in all, each served by a primary key in index
    order. Raises :class:`LogStateError` when the stored log does not support that (nodes that
    disagree with the signed root, entries beyond it, missing nodes or entries).
    """
    newest = (
        sa.select(checkpoints.c.size, checkpoints.c.root)
        .where(checkpoints.c.org_id == org_id)
        .order_by(checkpoints.c.size.desc())
        .limit(1)
        .subquery()
    )
    last = (
        sa.select(entries.c.idx, entries.c.ts, entries.c.id)
        .where(entries.c.org_id == org_id)
        .order_by(entries.c.idx.desc())
        .limit(1)
        .subquery()
    )
    row = conn.execute(
        sa.select(newest.c.size, newest.c.root, last.c.idx, last.c.ts, last.c.id).select_from(
            newest.outerjoin(last, sa.true())
        )
    ).first()
    if row is None:
        raise LogStateError(org_id, "it has no signed checkpoint")
    size, root = int(row[0]), bytes(row[1])
    last_index = -1 if row[2] is None else int(row[2])
    if last_index >= size:
        raise LogStateError(
            org_id, f"entry {last_index} lies beyond its newest signed checkpoint (size {size})"
        )
    if last_index != size - 1:
        raise LogStateError(org_id, f"entries {last_index + 1}-{size - 1} are missing")
    frontier = stored_frontier(conn, org_id, size)
    if frontier is None:
        raise LogStateError(org_id, f"stored tree hashes below size {size} are missing")
    if CompactRange.from_state(size, frontier).root() != root:
        raise LogStateError(
            org_id,
            f"its stored tree nodes do not give the root of its signed checkpoint of size {size}",
        )
    return SequencerState(size, frontier, int(row[3]) if size else 0, row[4] if size else "")


def _stored_state(row: Any) -> tuple[object, bytes, object]:
    frontier = row.frontier
    return row.tree_size, bytes(frontier) if frontier is not None else b"", row.last_ts


def _checked_state(conn: Connection, org_id: str, origin: str, row: Any) -> SequencerState:
    """The recomputed state of a locked organization row; logs a cache that differed."""
    derived = derive_state(conn, org_id)
    stored = _stored_state(row)
    if stored != derived.stored():
        claimed = stored[0]
        if not isinstance(claimed, int) or claimed > derived.size:
            raise LogStateError(
                org_id,
                f"its sequencer state claims {claimed!r} entries but its newest signed "
                f"checkpoint covers {derived.size}",
            )
        log.warning(
            "%s: the stored sequencer state (tree size, frontier, last time) did not match the "
            "stored tree; recomputed it at size %d",
            origin,
            derived.size,
        )
    return derived


def log_lock_key(org_id: str) -> int:
    """The signed 64-bit PostgreSQL advisory lock key of an organization's log."""
    digest = hashlib.sha256(b"auditlens-log:" + org_id.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_log(conn: Connection, org_id: str) -> None:
    """Make this transaction the only writer of ``org_id``'s log until it ends.

    PostgreSQL: ``pg_advisory_xact_lock`` on :func:`log_lock_key` (released at commit or
    rollback, also when the connection dies). An advisory lock rather than ``SELECT ... FOR
    UPDATE`` on the organization's row: that row lock also blocks every insert that references
    the organization (a login's session row, a new API key), which would wait out whole
    appends. Re-entrant within one transaction. SQLite: nothing to do, the write transaction
    (``BEGIN IMMEDIATE``) already excludes every other writer of the file.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(log_lock_key(org_id))))


def _locked_state_row(conn: sa.Connection, org_id: str) -> sa.Row | None:  # type: ignore[type-arg]
    """The organization's origin and stored sequencer state, read under its log lock."""
    lock_log(conn, org_id)
    return conn.execute(
        sa.select(
            organizations.c.origin,
            organizations.c.tree_size,
            organizations.c.frontier,
            organizations.c.last_ts,
        ).where(organizations.c.id == org_id)
    ).one_or_none()


def repair_state(db: Database, org_id: str) -> bool:
    """Recompute ``org_id``'s sequencer state and store it when it differed; True if it did.

    Raises :class:`LogStateError` when the stored log cannot be extended (see
    :func:`derive_state`).
    """
    with db.write() as conn:
        row = _locked_state_row(conn, org_id)
        if row is None:
            raise LookupError(f"no organization {org_id!r}")
        state = _checked_state(conn, org_id, row.origin, row)
        if _stored_state(row) == state.stored():
            return False
        size, frontier, last_ts = state.stored()
        conn.execute(
            sa.update(organizations)
            .where(organizations.c.id == org_id)
            .values(tree_size=size, frontier=frontier, last_ts=last_ts)
        )
        return True


class Sequencer:
    """Appends batches to organizations' logs; one instance per server process."""

    def __init__(
        self,
        db: Database,
        signer: LogSigner,
        clock: Callable[[], int] = now_ms,
        ids: EventIdGenerator | None = None,
    ) -> None:
        self.db = db
        self.signer = signer
        self.clock = clock
        self.ids = ids or EventIdGenerator()

    def start_log(self, conn: Connection, org_id: str, origin: str) -> str:
        """Sign and store the checkpoint of the empty log of a new organization."""
        cr = CompactRange()
        note = self.signer.sign_checkpoint(origin, 0, cr.root())
        conn.execute(
            sa.insert(checkpoints).values(
                org_id=org_id, size=0, root=cr.root(), note=note, created_at=self.clock()
            )
        )
        return note

    def append(
        self, org_id: str, submissions: Sequence[Mapping[str, Any]], *, validate: bool = True
    ) -> Appended:
        """Validate and append ``submissions`` in one transaction of their own."""
        if validate:
            validate_batch(submissions)
        with self.db.write() as conn:
            return self.append_in(conn, org_id, submissions)

    def append_in(
        self,
        conn: Connection,
        org_id: str,
        submissions: Sequence[Mapping[str, Any]],
        *,
        timestamps: Sequence[int] | None = None,
    ) -> Appended:
        """Append already-validated ``submissions`` inside the caller's write transaction."""
        if not submissions:
            raise ValueError("an append needs at least one event")
        if timestamps is not None and len(timestamps) != len(submissions):
            raise ValueError("timestamps and submissions differ in length")
        state = _locked_state_row(conn, org_id)
        if state is None:
            raise LookupError(f"no organization {org_id!r}")
        derived = _checked_state(conn, org_id, state.origin, state)
        cr = CompactRange.from_state(derived.size, derived.frontier)
        now = self.clock()
        last_ts = derived.last_ts
        last_id = derived.last_id
        first = cr.size
        stamp: str | None = None
        new_ids: list[str] = []
        entry_rows: list[tuple[Any, ...]] = []
        node_rows: list[tuple[str, int, int, bytes]] = []
        for i, sub in enumerate(submissions):
            if timestamps is None:
                ts = now if now > last_ts else last_ts
            else:
                ts = timestamps[i]
                if ts > now + FUTURE_TOLERANCE_MS:
                    raise ValueError(f"timestamp {format_timestamp(ts)} lies in the future")
                ts = max(ts, last_ts)
            if ts != last_ts or stamp is None:
                stamp = format_timestamp(ts)  # a live batch shares one time: format it once
            last_ts = ts
            event_id = self.ids.new(ts)
            if event_id <= last_id:
                event_id = next_id(last_id)
            last_id = event_id
            event = {"id": event_id, "timestamp": stamp, **sub}
            body = canonicalize_event(event)
            if len(body) > MAX_EVENT_BYTES:
                raise EventError(
                    f"events[{i}]",
                    f"is {len(body):,} bytes in canonical form with its id and timestamp; "
                    f"the limit is {MAX_EVENT_BYTES:,}",
                )
            lh = leaf_hash(body)
            index = cr.size
            for level, n, h in cr.append(lh):
                if level and not level % TILE_HEIGHT:
                    node_rows.append((org_id, level, n, h))
            kind = sub["type"]
            entry_rows.append(
                (
                    org_id,
                    index,
                    event_id,
                    ts,
                    kind,
                    category_of(kind),
                    sub["user_id"],
                    sub["task_id"],
                    sub["agent_id"],
                    sub["event"]["outcome"],
                    lh,
                    body,
                )
            )
            new_ids.append(event_id)
        _insert_rows(conn, entries, entry_rows)
        if node_rows:
            _insert_rows(conn, tree_nodes, node_rows)
        root = cr.root()
        note = self.signer.sign_checkpoint(state.origin, cr.size, root)
        conn.execute(
            sa.update(organizations)
            .where(organizations.c.id == org_id)
            .values(tree_size=cr.size, frontier=b"".join(cr.hashes), last_ts=last_ts)
        )
        conn.execute(
            sa.insert(checkpoints).values(
                org_id=org_id, size=cr.size, root=root, note=note, created_at=now
            )
        )
        return Appended(first, cr.size - 1, new_ids, note, cr.size)


# ---------------------------------------------------------------------------------------------
# For the bulk appender (auditlens.server.bulk_append), which writes the same log in larger steps


def locked_state(conn: Connection, org_id: str) -> tuple[str, SequencerState]:
    """Lock ``org_id``'s row for this transaction; return its origin and recomputed state.

    The same start as :meth:`Sequencer.append_in`: the state every append extends.
    """
    row = _locked_state_row(conn, org_id)
    if row is None:
        raise LookupError(f"no organization {org_id!r}")
    return row.origin, _checked_state(conn, org_id, row.origin, row)


def insert_rows(conn: Connection, table: sa.Table, rows: Sequence[tuple[Any, ...]]) -> None:
    """Bulk-insert row tuples as an append does (SQLite ``executemany``, PostgreSQL ``COPY``)."""
    _insert_rows(conn, table, rows)
