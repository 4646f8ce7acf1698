"""The ONE writer of a mirror: verified entries, checkpoints, tree state, users and meta.

Nothing reaches the mirror except through :class:`AppendBatch`, and a batch is one SQLite
transaction: the sync engine adds the rows of the entries it has hashed, checks them against the
signed checkpoint, and only then calls :meth:`AppendBatch.commit` with the new tree state (and
the checkpoint, users and meta). A cancel, an exception or a killed process before COMMIT leaves
the file exactly as it was, and readers keep seeing the previous snapshot meanwhile.

Two kinds of writer:

- **a live mirror** (:class:`MirrorWriter`): WAL, readers beside the one writer. An increment is
  one batch. A batch large against what is stored takes the *bulk* path: its secondary indexes
  are dropped inside the transaction and rebuilt before COMMIT (one sort each, ~7 s at 1M rows,
  against ~6.5k rows/s with indexes maintained; docs/benchmarks.md); a small one maintains them.
- **a new mirror** (:meth:`MirrorWriter.build`): built in ``<mirror>.partial`` beside the final
  path, which no reader opens, with a rollback journal (new pages appended at the end of the
  file are not journaled, so a step writes its rows about once, where WAL writes them twice).
  The sync commits it in verified steps (:meth:`AppendBatch.commit` without a checkpoint); a
  killed build resumes from the last committed step. The last batch builds every secondary
  index and the free-text index after the load, records the checkpoint, and
  :meth:`MirrorWriter.publish` switches the file to WAL, fsyncs it and renames it over the
  mirror path: a reader sees no mirror or the whole verified one, never a part.

The free-text index (:mod:`auditlens.mirror.search`) gets a live batch's entries just before its
COMMIT, read back from the rows just loaded (one pass, in index order), so a committed entry is
always searchable and a rolled-back one never is; a new mirror indexes all its entries in its
last batch.

Rows are inserted by ``executemany`` from the caller's thread, or on a writer thread fed by a
small queue (``threaded``), whose SQLite work (which releases the GIL) then overlaps the
caller's hashing and parsing. Column extraction lives in :mod:`auditlens.mirror.rows`, shared
with the start-up re-check.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditlens.core.errors import FormatError
from auditlens.mirror import schema, search, value_counts
from auditlens.mirror.rows import (
    EntryRow,
    MalformedEntryError,
    extract_row,
    request_of,
    timestamp_ms,
)
from auditlens.mirror.store import open_partial, open_writable, partial_path

__all__ = [
    "AppendBatch",
    "DuplicateEventError",
    "EntryRow",
    "MalformedEntryError",
    "MirrorState",
    "MirrorWriteError",
    "MirrorWriter",
    "UserRow",
    "extract_row",
    "now_ms",
    "pack_frontier",
    "request_of",
    "timestamp_ms",
    "unpack_frontier",
]

HASH_SIZE = 32

_INSERT_ENTRY = "INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
_INSERT_TILE = "INSERT OR REPLACE INTO tile_hashes(n, hash) VALUES (?, ?)"

#: Bulk path thresholds: a rebuild of every index costs ~8 s per 1M stored rows, maintaining
#: them ~1 s per 6.5k new rows, so rebuild when the batch is big and not tiny beside the table.
BULK_MIN_ROWS = 10_000
BULK_MAX_EXISTING_RATIO = 8


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


def pack_frontier(hashes: Sequence[bytes]) -> bytes:
    return b"".join(hashes)


def unpack_frontier(blob: bytes) -> tuple[bytes, ...]:
    if len(blob) % HASH_SIZE:
        raise FormatError(f"stored frontier is {len(blob)} bytes, not a multiple of 32")
    return tuple(blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE))


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


# -- errors --------------------------------------------------------------------------------------


class MirrorWriteError(Exception):
    """The mirror refused what the writer was given (the caller decides what it means)."""


class DuplicateEventError(MirrorWriteError):
    """Two entries carry the same event id: the mirror's unique index refused the second."""


@contextlib.contextmanager
def _mirror_errors() -> Iterator[None]:
    """Turn SQLite's constraint error into the mirror's own error (callers never see sqlite3)."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise DuplicateEventError(str(exc)) from None


# -- the writer ----------------------------------------------------------------------------------


class MirrorWriter:
    """Owns the one writable connection to a mirror file (or to the partial file of a new one)."""

    def __init__(self, path: Path, *, building: bool = False) -> None:
        self.path = path
        #: True when writing ``<path>.partial``, a new mirror published by :meth:`publish`
        self.building = building
        self._conn = open_partial(path) if building else open_writable(path)
        self._lock = threading.Lock()  # one batch at a time
        if not building:
            self.ensure_indexes()

    @classmethod
    def build(cls, path: Path) -> MirrorWriter:
        """A writer of a NEW mirror for ``path``: resumes ``<path>.partial`` if a killed build
        left one, else starts it (see the module docstring)."""
        return cls(path, building=True)

    def close(self) -> None:
        """Close the connection; a new mirror's partial file that holds no committed step yet
        (a sync that failed or was cancelled before its first) is removed with it."""
        empty = self.building and (
            self._conn.execute("SELECT count(*) FROM tree_state").fetchone()[0] == 0
        )
        self._conn.close()
        if empty:
            partial = partial_path(self.path)
            for suffix in ("", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    partial.with_name(partial.name + suffix).unlink()

    def __enter__(self) -> MirrorWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ensure_indexes(self) -> None:
        """Create any missing secondary index (e.g. after a crash between load and build)."""
        with _mirror_errors():
            for ddl in schema.index_ddl():
                self._conn.execute(ddl)

    def publish(self) -> None:
        """Make a finished build the mirror at :attr:`path`: WAL mode (the live mirror's), every
        byte on disk (fsync), then one atomic rename, and the directory entry on disk too.

        A crash before the rename leaves the partial file (the next sync resumes it); after
        it, the whole mirror. A stale ``-wal``/``-shm`` of an empty mirror file being replaced
        is removed first, so SQLite can never replay it into the new file.
        """
        if not self.building:
            raise RuntimeError("only a new mirror is published")
        partial = partial_path(self.path)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.close()
        for suffix in ("-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                partial.with_name(partial.name + suffix).unlink()
        fd = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                self.path.with_name(self.path.name + suffix).unlink()
        os.replace(partial, self.path)
        with contextlib.suppress(OSError):  # not every platform can open a directory
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self._conn = open_writable(self.path)
        self.building = False

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
        """Start the one transaction that will add ``expected_new`` entries.

        A live mirror chooses the bulk path automatically unless ``bulk`` says otherwise. A new
        mirror has no secondary index until its last batch builds them all
        (``commit(build_indexes=True)``), so its batches never drop any.
        """
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("another append to this mirror is in progress")
        try:
            if self.building:
                bulk = False
            elif bulk is None:
                existing = self._conn.execute("SELECT count(*) FROM entries").fetchone()[0]
                bulk = expected_new >= BULK_MIN_ROWS and (
                    existing <= BULK_MAX_EXISTING_RATIO * expected_new
                )
            return AppendBatch(
                self._conn, self._lock, bulk=bulk, threaded=threaded, building=self.building
            )
        except BaseException:
            self._lock.release()
            raise


class AppendBatch:
    """One open transaction adding entries; :meth:`commit` or :meth:`rollback` ends it.

    ``add`` inserts rows (or hands them to the writer thread); a database error there surfaces
    on the next ``add`` or on ``commit``. Use as a context manager: leaving it without commit
    rolls back.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        lock: threading.Lock,
        *,
        bulk: bool,
        threaded: bool = True,
        building: bool = False,
    ) -> None:
        self._conn = conn
        self._lock = lock
        self.bulk = bulk
        #: a batch of a new mirror (its secondary indexes are built by the last one)
        self.building = building
        self._queue: queue.Queue[tuple[str, list[Any]] | None] = queue.Queue(maxsize=16)
        self._texts_given = False
        self._error: BaseException | None = None
        self._done = False
        self.rows_added = 0
        self._first_idx: int | None = None  # the lowest index added (the search index's start)
        #: seconds spent per step of commit (drain, indexes, search, commit): for benchmarks
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
                self._write(*item)
            except BaseException as exc:
                self._error = exc

    def _write(self, kind: str, items: list[Any]) -> None:
        with _mirror_errors():
            if kind == "rows":
                self._conn.executemany(_INSERT_ENTRY, items)
            elif kind == "texts":
                search.insert_texts(self._conn, items)
            elif kind == "tiles":
                self._conn.executemany(_INSERT_TILE, items)
            else:  # "step": commit what is in, go on in a new transaction
                size, frontier, meta = items
                self._write_state(size, frontier, meta)
                self._conn.execute("COMMIT")
                self._conn.execute("BEGIN IMMEDIATE")

    def _write_state(self, size: int, frontier: Sequence[bytes], meta: Mapping[str, str]) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO tree_state(id, size, frontier) VALUES (1, ?, ?)",
            (size, pack_frontier(frontier)),
        )
        if meta:
            self._conn.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(meta.items())
            )

    def commit_step(self, size: int, frontier: Sequence[bytes], meta: Mapping[str, str]) -> None:
        """Commit what was added so far as one verified step of a new mirror (tree state of
        ``size`` leaves, and meta), and go on adding in a new transaction of this batch.

        On the writer thread the COMMIT (its fsyncs, the free-text index's flush) runs in
        order after the rows already queued while the caller hashes the next step; a failure
        surfaces on the next ``add`` or at ``commit``. A process killed before that COMMIT is
        on disk loses this step only, as if it had never been committed.
        """
        self._raise_pending()
        self._put("step", [size, list(frontier), dict(meta)])

    def _put(self, kind: str, items: list[Any]) -> None:
        if self._thread is None:
            self._write(kind, items)
        else:
            self._queue.put((kind, items))

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def add(self, rows: list[EntryRow], texts: list[tuple[int, str]] | None = None) -> None:
        """Queue entry rows for insertion (in index order), with the free-text index's text of
        each as ``(idx, text)`` (:func:`auditlens.mirror.search.text_of_event`). Without
        ``texts`` the commit indexes the rows' text itself, from their stored bytes."""
        self._raise_pending()
        if rows:
            if self._first_idx is None or rows[0][0] < self._first_idx:
                self._first_idx = rows[0][0]
            self._put("rows", rows)
            self.rows_added += len(rows)
        if texts is not None:
            self._texts_given = True
            if texts:
                self._put("texts", texts)

    def add_tile_hashes(self, items: list[tuple[int, bytes]]) -> None:
        """Queue roots of complete 256-entry tiles: (tile number, level-8 node hash)."""
        self._raise_pending()
        if items:
            self._put("tiles", items)

    def _finish_thread(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def commit(
        self,
        *,
        checkpoint_size: int,
        frontier: Sequence[bytes],
        checkpoint_note: str | None = None,
        checkpoint_root: bytes | None = None,
        users: Iterable[UserRow] = (),
        meta: Mapping[str, str] | None = None,
        rebuild_progress: Callable[[int, int], None] | None = None,
        build_indexes: bool | None = None,
        verified_at: int | None = None,
    ) -> None:
        """Write the tree state of ``checkpoint_size`` leaves, and the checkpoint when a note is
        given (a step of a new mirror has none yet), users and meta; build the indexes (bulk,
        or ``build_indexes``: the last batch of a new mirror) and index the text of rows added
        without it; COMMIT. Two entries with one event id raise :class:`DuplicateEventError`
        and nothing is written."""
        if self._done:
            raise RuntimeError("this batch is already finished")
        t0 = time.perf_counter()
        self._finish_thread()
        conn = self._conn
        try:
            self._raise_pending()
            t1 = time.perf_counter()
            self.timings["drain"] = t1 - t0
            built = self.bulk if build_indexes is None else build_indexes
            if built:
                ddls = schema.index_ddl()
                for i, ddl in enumerate(ddls):
                    if rebuild_progress is not None:
                        rebuild_progress(i, len(ddls))
                    with _mirror_errors():
                        conn.execute(ddl)
            t2 = time.perf_counter()
            self.timings["indexes"] = t2 - t1
            if self._first_idx is not None and not self._texts_given:
                search.index_from(conn, self._first_idx)  # same transaction as the rows
            if built:  # a new mirror: counted once, off the indexes just built
                value_counts.rebuild(conn)
            elif self._first_idx is not None:
                value_counts.add_rows_from(conn, self._first_idx)
            t3 = time.perf_counter()
            self.timings["search"] = t3 - t2
            if checkpoint_note is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO checkpoints(size, note, root, verified_at) "
                    "VALUES (?, ?, ?, ?)",
                    (
                        checkpoint_size,
                        checkpoint_note,
                        checkpoint_root,
                        now_ms() if verified_at is None else verified_at,
                    ),
                )
            conn.executemany(
                "INSERT INTO users(id, email, name, role) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET email = excluded.email, name = excluded.name, "
                "role = excluded.role",
                [(u.id, u.email, u.name, u.role) for u in users],
            )
            self._write_state(checkpoint_size, frontier, meta or {})
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
        """Drop everything added since the last committed step (a live mirror's batch has none:
        then the mirror is exactly as before). Steps already handed to the writer thread were
        verified, so they still commit; the rows queued after them are rolled back."""
        if self._done:
            return
        self._finish_thread()
        self._abort()
