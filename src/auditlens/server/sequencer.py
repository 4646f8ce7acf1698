"""The sequencer: the one writer of every organization's log.

An append takes a batch of submissions (already validated, see :func:`validate_batch`) and, in
the caller's single write transaction:

1. locks the organization's row (PostgreSQL ``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already
   excludes other writers) and loads the sequencer state (tree size, compact range, last time);
2. gives each event the next index, a server UTC timestamp that never decreases (``max(clock,
   last)``) and a fresh time-ordered id, then its RFC 8785 bytes and leaf hash;
3. extends the compact range, storing every completed full node at a tlog-tiles level
   (heights 8, 16, ...; leaf hashes live with the entries);
4. signs a checkpoint for the new size and stores it with the new state.

Nothing is visible until the transaction commits, so a kill at any instant leaves either the
whole batch with its checkpoint or none of it: the log always verifies and the checkpoint never
goes backwards. Readers see the newest checkpoint and exactly the entries it covers.

Seeding (demo data, benchmarks) uses the same code with supplied timestamps
(:meth:`Sequencer.append_in` ``timestamps=``), which are clamped so they never decrease and
refused when they lie in the future (a future timestamp would freeze the clock of every later
append).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditlens.core.canonical import canonicalize_event
from auditlens.core.events import (
    MAX_EVENT_BYTES,
    EventError,
    EventIdGenerator,
    category_of,
    format_timestamp,
    validate_submission,
)
from auditlens.core.merkle import HASH_SIZE, CompactRange, leaf_hash
from auditlens.core.tiles import TILE_HEIGHT
from auditlens.server.db import Database
from auditlens.server.schema import checkpoints, entries, organizations, tree_nodes
from auditlens.server.signing import LogSigner

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


def _split_frontier(blob: bytes) -> list[bytes]:
    return [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]


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
        state = conn.execute(
            sa.select(
                organizations.c.origin,
                organizations.c.tree_size,
                organizations.c.frontier,
                organizations.c.last_ts,
            )
            .where(organizations.c.id == org_id)
            .with_for_update()
        ).one_or_none()
        if state is None:
            raise LookupError(f"no organization {org_id!r}")
        cr = CompactRange.from_state(state.tree_size, _split_frontier(state.frontier))
        now = self.clock()
        last_ts = int(state.last_ts)
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
