"""The ONE writer of a mirror: verified entries, checkpoints, tree state, users and meta.

Nothing reaches the mirror except through :class:`AppendBatch`, and a batch is one SQLite
transaction: the sync engine adds the rows of the entries it has hashed, checks the root, and
only then calls :meth:`AppendBatch.commit` with the new checkpoint, compact range and users.
A cancel, an exception or a killed process before COMMIT leaves the file exactly as it was (WAL
rolls the uncommitted pages back), and readers keep seeing the previous snapshot meanwhile.

Two paths, chosen per batch:

- *bulk* (initial sync, or a batch large against what is stored): the secondary indexes are
  dropped inside the transaction, rows go in by rowid order, and the indexes are rebuilt before
  COMMIT (one sort each). Measured here: ~200k rows/s insert + ~7.5 s to build the 8 indexes at
  1M rows, against ~6.5k rows/s with indexes maintained (docs/benchmarks.md).
- *incremental*: indexes stay and are maintained; right for a few thousand new entries.

Either way the free-text index (:mod:`auditlens.mirror.search`) gets the batch's entries just
before COMMIT, read back from the rows just loaded (one pass, in index order), so a committed
entry is always searchable and a rolled-back one never is. Why one pass after the load and
not next to each chunk of rows on the writer thread: the text is taken in Python, which then
competes for the GIL with the caller's hashing and parsing; measured at 100k demo events on 2
cores, interleaving slowed the sync more than the pass does (bench/search.py).

Rows are inserted on a writer thread fed by a small queue, so SQLite's C work (which releases the
GIL) overlaps the caller's hashing and parsing. Column extraction (:func:`extract_row`) lives
here too, so the sync and the start-up re-check derive the same columns from the same bytes.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from auditlens.core import events as core_events
from auditlens.core import summaries as core_summaries
from auditlens.core import timestamps as core_timestamps
from auditlens.core.errors import FormatError
from auditlens.mirror import schema, search
from auditlens.mirror.store import open_writable

HASH_SIZE = 32

#: (idx, id, ts, type, category, user_id, task_id, agent_id, outcome, summary, raw,
#:  verdict, ip, user_agent): the columns of ``entries`` in table order.
EntryRow = tuple[
    int,
    str,
    int,
    str,
    str,
    str | None,
    str | None,
    str | None,
    str,
    str,
    bytes,
    str,
    str | None,
    str | None,
]

_INSERT_ENTRY = "INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
_INSERT_TILE = "INSERT OR REPLACE INTO tile_hashes(n, hash) VALUES (?, ?)"

#: Bulk path thresholds: a rebuild of every index costs ~8 s per 1M stored rows, maintaining
#: them ~1 s per 6.5k new rows, so rebuild when the batch is big and not tiny beside the table.
BULK_MIN_ROWS = 10_000
BULK_MAX_EXISTING_RATIO = 8


class MalformedEntryError(FormatError):
    """An entry of the signed log is not an event this viewer can index; ``index`` says which."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"entry {index} of the log is not a valid event: {reason}")
        self.index = index


@dataclass(frozen=True)
class UserRow:
    id: str
    email: str
    name: str
    role: str


@dataclass(frozen=True)
class MirrorState:
    """What the mirror has verified so far: tree size, frontier, latest trusted checkpoint."""

    size: int
    frontier: tuple[bytes, ...]
    checkpoint_note: str | None
    checkpoint_root: bytes | None
    meta: Mapping[str, str] = field(default_factory=dict)
    stored_entries: int = 0

    @property
    def is_empty(self) -> bool:
        return self.checkpoint_note is None


# -- column extraction ---------------------------------------------------------------------

_day_ms_cache: dict[str, int] = {}


def timestamp_ms(text: object) -> int:
    """Milliseconds since the epoch of an event timestamp (fast path for the canonical form)."""
    if (
        isinstance(text, str)
        and len(text) == 24
        and text[10] == "T"
        and text[23] == "Z"
        and text[19] == "."
    ):
        day = text[:10]
        base = _day_ms_cache.get(day)
        if base is None:
            base = core_timestamps.parse_timestamp(day + "T00:00:00.000Z")
            if len(_day_ms_cache) < 100_000:
                _day_ms_cache[day] = base
        try:
            h, m, s, ms = int(text[11:13]), int(text[14:16]), int(text[17:19]), int(text[20:23])
        except ValueError:
            return core_timestamps.parse_timestamp(text)  # raises FormatError naming it
        if h < 24 and m < 60 and s < 60 and text[13] == ":" and text[16] == ":":
            return base + ((h * 60 + m) * 60 + s) * 1000 + ms
    if not isinstance(text, str):
        raise FormatError(f"timestamp must be a string, got {type(text).__name__}")
    return core_timestamps.parse_timestamp(text)


def _opt_str(value: object, name: str, index: int) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise MalformedEntryError(index, f"{name} must be a string or null, got {type(value).__name__}")


def request_of(event: Mapping[str, object]) -> tuple[str | None, str | None]:
    """``(ip, user_agent)`` of the event's ``request`` object (None where absent or not text).

    Display and filter columns only: a malformed ``request`` must not stop a verified entry
    from being stored, so anything but a string reads as absent.
    """
    body = event.get("event")
    request = body.get("request") if isinstance(body, Mapping) else None
    if not isinstance(request, Mapping):
        return None, None
    ip, agent = request.get("ip"), request.get("user_agent")
    return (ip if isinstance(ip, str) and ip else None), (
        agent if isinstance(agent, str) and agent else None
    )


def extract_row(index: int, raw: bytes, event: object) -> EntryRow:
    """The ``entries`` row for the event parsed from ``raw`` (stored as received)."""
    if not isinstance(event, dict):
        raise MalformedEntryError(index, "not a JSON object")
    event_id = event.get("id")
    event_type = event.get("type")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedEntryError(index, "id is missing or not a string")
    if not isinstance(event_type, str):
        raise MalformedEntryError(index, "type is missing or not a string")
    try:
        ts = timestamp_ms(event.get("timestamp"))
        category = core_events.category_of(event_type)
    except FormatError as exc:
        raise MalformedEntryError(index, str(exc)) from None
    try:
        summary = core_summaries.summarize(event)
    except Exception as exc:  # a summary must never block storing a verified entry
        summary = f"(no summary: {type(exc).__name__})"
    return (
        index,
        event_id,
        ts,
        event_type,
        category,
        _opt_str(event.get("user_id"), "user_id", index),
        _opt_str(event.get("task_id"), "task_id", index),
        _opt_str(event.get("agent_id"), "agent_id", index),
        core_summaries.outcome_of(event),
        summary,
        raw,
        core_summaries.verdict_of(event),
        *request_of(event),
    )


def pack_frontier(hashes: Sequence[bytes]) -> bytes:
    return b"".join(hashes)


def unpack_frontier(blob: bytes) -> tuple[bytes, ...]:
    if len(blob) % HASH_SIZE:
        raise FormatError(f"stored frontier is {len(blob)} bytes, not a multiple of 32")
    return tuple(blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE))


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


# -- the writer ----------------------------------------------------------------------------------


class MirrorWriter:
    """Owns the one writable connection to a mirror file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = open_writable(path)
        self._lock = threading.Lock()  # one batch at a time
        self.ensure_indexes()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> MirrorWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ensure_indexes(self) -> None:
        """Create any missing secondary index (e.g. after a crash between load and build)."""
        for ddl in schema.index_ddl():
            self._conn.execute(ddl)

    def state(self) -> MirrorState:
        """The verified state the next sync continues from."""
        conn = self._conn
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        row = conn.execute("SELECT size, frontier FROM tree_state WHERE id = 1").fetchone()
        cp = conn.execute(
            "SELECT size, note, root FROM checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        count = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
        if row is None:
            return MirrorState(0, (), None, None, meta, count)
        size, frontier = int(row[0]), unpack_frontier(bytes(row[1]))
        note = str(cp[1]) if cp is not None else None
        root = bytes(cp[2]) if cp is not None and cp[2] is not None else None
        return MirrorState(size, frontier, note, root, meta, count)

    def raw_entries(self, lo: int, hi: int) -> dict[int, bytes]:
        """Stored bytes of entries ``[lo, hi)`` that the mirror holds (call outside a batch)."""
        rows = self._conn.execute(
            "SELECT idx, raw FROM entries WHERE idx >= ? AND idx < ?", (lo, hi)
        ).fetchall()
        return {int(i): bytes(r) for i, r in rows}

    def write_meta(self, items: Mapping[str, str]) -> None:
        """Set meta keys in their own small transaction (identity, pins, last sync time)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(items.items())
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def record_fork(self, trusted_note: str, conflicting_note: str, detail: str) -> None:
        """Keep both signed notes of a LOG_FORKED finding as evidence; no entry is touched."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "INSERT INTO forks(detected_at, trusted_note, conflicting_note, detail) "
                    "VALUES (?, ?, ?, ?)",
                    (now_ms(), trusted_note, conflicting_note, detail),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def forks(self) -> list[tuple[int, str, str, str]]:
        """Recorded forks: (detected_at, trusted_note, conflicting_note, detail)."""
        rows = self._conn.execute(
            "SELECT detected_at, trusted_note, conflicting_note, detail FROM forks ORDER BY id"
        ).fetchall()
        return [(int(a), str(b), str(c), str(d)) for a, b, c, d in rows]

    def begin(
        self, expected_new: int, *, bulk: bool | None = None, threaded: bool = True
    ) -> AppendBatch:
        """Start the one transaction that will add ``expected_new`` entries (bulk path chosen
        automatically unless ``bulk`` says otherwise)."""
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("another append to this mirror is in progress")
        try:
            existing = self._conn.execute("SELECT count(*) FROM entries").fetchone()[0]
            if bulk is None:
                bulk = expected_new >= BULK_MIN_ROWS and (
                    existing <= BULK_MAX_EXISTING_RATIO * expected_new
                )
            return AppendBatch(self._conn, self._lock, bulk=bulk, threaded=threaded)
        except BaseException:
            self._lock.release()
            raise


class AppendBatch:
    """One open transaction adding entries; :meth:`commit` or :meth:`rollback` ends it.

    ``add`` hands rows to a writer thread; a database error there surfaces on the next ``add``
    or on ``commit``. Use as a context manager: leaving it without commit rolls back.
    """

    def __init__(
        self, conn: sqlite3.Connection, lock: threading.Lock, *, bulk: bool, threaded: bool = True
    ) -> None:
        self._conn = conn
        self._lock = lock
        self.bulk = bulk
        self._queue: queue.Queue[list[EntryRow] | list[tuple[int, bytes]] | None] = queue.Queue(
            maxsize=16
        )
        self._error: BaseException | None = None
        self._done = False
        self.rows_added = 0
        self._first_idx: int | None = None  # the lowest index added (the search index's start)
        #: seconds spent per step of commit (drain, indexes, commit): for benchmarks
        self.timings: dict[str, float] = {}
        conn.execute("BEGIN IMMEDIATE")
        try:
            if bulk:
                for name in schema.index_names():
                    conn.execute(f"DROP INDEX IF EXISTS {name}")
        except BaseException:
            conn.execute("ROLLBACK")
            lock.release()
            raise
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="mirror-writer", daemon=True)
            self._thread.start()

    def __enter__(self) -> AppendBatch:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._done:
            self.rollback()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None:
                continue  # drain after a failure; the caller will see it
            try:
                if item and len(item[0]) == 2:
                    self._conn.executemany(_INSERT_TILE, item)
                else:
                    self._conn.executemany(_INSERT_ENTRY, item)
            except BaseException as exc:
                self._error = exc

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def add(self, rows: list[EntryRow]) -> None:
        """Queue entry rows for insertion (in index order)."""
        self._raise_pending()
        if rows:
            if self._first_idx is None or rows[0][0] < self._first_idx:
                self._first_idx = rows[0][0]
            if self._thread is None:
                self._conn.executemany(_INSERT_ENTRY, rows)
            else:
                self._queue.put(rows)
            self.rows_added += len(rows)

    def add_tile_hashes(self, items: list[tuple[int, bytes]]) -> None:
        """Queue roots of complete 256-entry tiles: (tile number, level-8 node hash)."""
        self._raise_pending()
        if items:
            if self._thread is None:
                self._conn.executemany(_INSERT_TILE, items)
            else:
                self._queue.put(items)

    def _finish_thread(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def commit(
        self,
        *,
        checkpoint_note: str,
        checkpoint_size: int,
        checkpoint_root: bytes,
        frontier: Sequence[bytes],
        users: Iterable[UserRow] = (),
        meta: Mapping[str, str] | None = None,
        rebuild_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Write the checkpoint, tree state, users and meta, rebuild indexes (bulk), COMMIT."""
        if self._done:
            raise RuntimeError("this batch is already finished")
        t0 = time.perf_counter()
        self._finish_thread()
        conn = self._conn
        try:
            self._raise_pending()
            t1 = time.perf_counter()
            self.timings["drain"] = t1 - t0
            if self.bulk:
                ddls = schema.index_ddl()
                for i, ddl in enumerate(ddls):
                    if rebuild_progress is not None:
                        rebuild_progress(i, len(ddls))
                    conn.execute(ddl)
            t2 = time.perf_counter()
            self.timings["indexes"] = t2 - t1
            if self._first_idx is not None:  # same transaction: searchable once committed
                search.index_from(conn, self._first_idx)
            t3 = time.perf_counter()
            self.timings["search"] = t3 - t2
            conn.execute(
                "INSERT OR REPLACE INTO checkpoints(size, note, root, verified_at) "
                "VALUES (?, ?, ?, ?)",
                (checkpoint_size, checkpoint_note, checkpoint_root, now_ms()),
            )
            conn.execute(
                "INSERT OR REPLACE INTO tree_state(id, size, frontier) VALUES (1, ?, ?)",
                (checkpoint_size, pack_frontier(frontier)),
            )
            conn.executemany(
                "INSERT INTO users(id, email, name, role) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET email = excluded.email, name = excluded.name, "
                "role = excluded.role",
                [(u.id, u.email, u.name, u.role) for u in users],
            )
            if meta:
                conn.executemany(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(meta.items())
                )
            conn.execute("COMMIT")
            self.timings["commit"] = time.perf_counter() - t3
        except BaseException:
            self._abort()
            raise
        self._done = True
        self._lock.release()

    def _abort(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        finally:
            self._done = True
            self._lock.release()

    def rollback(self) -> None:
        """Drop everything added in this batch; the mirror is exactly as before."""
        if self._done:
            return
        self._error = self._error or _RolledBackError()
        self._finish_thread()
        self._abort()


class _RolledBackError(Exception):
    """Marks a batch being rolled back so the writer thread drops queued rows."""
