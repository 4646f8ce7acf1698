"""Upgrade an existing mirror file to the current schema, in place and in one transaction.

Why a migration and not a rebuild (delete the file, sync again): a mirror may hold entries the
server has pruned since (retention), forks kept as evidence and the pins of a trust decision. A
rebuild would lose them, so an older mirror is upgraded where it stands. Every derived column is
computed from the stored ``raw`` bytes by the same code the sync uses
(:func:`auditlens.mirror.writer.extract_row`), so an upgraded mirror is identical to one synced
fresh; a crash mid-upgrade rolls back to the old file (one transaction), and the next open tries
again.

Schema 1 -> 2 adds ``verdict``, ``ip`` and ``user_agent`` to ``entries`` (one parse of each
entry: about 30 s per million entries on a busy 2-core machine, once), their indexes, and drops
the signed-outcome index that no query uses any more.

Schema 2 -> 3 builds the free-text index (:mod:`auditlens.mirror.search`) of every stored
entry, once, from the stored bytes (the same function the sync writer indexes a batch with).

Schema 3 -> 4 builds the ``(type, verdict, ts, idx)`` index and replaces the ``(ts, idx)`` one
by ``(ts, idx, task_id)`` (:mod:`auditlens.mirror.schema`), once: sorts of index entries, no
entry parsed. Schema 4 -> 5 replaces the task index ``(task_id, idx)`` by ``(task_id, ts, idx)``
the same way, and counts every value of the filter columns (:mod:`auditlens.mirror.value_counts`)
off the indexes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import orjson

from auditlens.core import summaries as core_summaries
from auditlens.mirror import schema, search, value_counts

_CHUNK = 5_000
_ADDED_COLUMNS = (("verdict", "TEXT"), ("ip", "TEXT"), ("user_agent", "TEXT"))


def derived_columns(raw: bytes, outcome: str | None) -> tuple[str | None, str | None, str | None]:
    """``(verdict, ip, user_agent)`` of one stored entry (the signed outcome if unparseable)."""
    from auditlens.mirror.writer import request_of  # the writer imports the store, lazily here

    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return outcome, None, None
    if not isinstance(event, dict):
        return outcome, None, None
    return (core_summaries.verdict_of(event), *request_of(event))


def upgrade(
    conn: sqlite3.Connection,
    from_version: int,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Bring ``conn``'s mirror from ``from_version`` to :data:`schema.SCHEMA_VERSION`.

    Runs inside the caller's transaction (``open_writable`` holds ``BEGIN IMMEDIATE``). The
    version is read again under that lock: another process may have upgraded the file while
    this one waited for it.
    """
    from_version = max(from_version, int(conn.execute("PRAGMA user_version").fetchone()[0]))
    if from_version < 2:
        present = {row[1] for row in conn.execute("PRAGMA table_info(entries)")}
        for name, kind in _ADDED_COLUMNS:
            if name not in present:
                conn.execute(f"ALTER TABLE entries ADD COLUMN {name} {kind}")
        last = -1
        done = 0
        while True:
            rows = conn.execute(
                "SELECT idx, raw, outcome FROM entries WHERE idx > ? ORDER BY idx LIMIT ?",
                (last, _CHUNK),
            ).fetchall()
            if not rows:
                break
            conn.executemany(
                "UPDATE entries SET verdict = ?, ip = ?, user_agent = ? WHERE idx = ?",
                [(*derived_columns(bytes(raw), outcome), idx) for idx, raw, outcome in rows],
            )
            last = int(rows[-1][0])
            done += len(rows)
            if progress is not None:
                progress(done)
        for name in schema.RETIRED_INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        for ddl in schema.index_ddl():
            conn.execute(ddl)
    if from_version < 3:
        search.rebuild(conn)
    if from_version < 5:
        for name in schema.RETIRED_INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        for ddl in schema.index_ddl():  # IF NOT EXISTS: only the indexes schemas 4 and 5 added
            conn.execute(ddl)
        value_counts.rebuild(conn)


def needs_upgrade(path: Path) -> bool:
    """True when the mirror at ``path`` was written by an older auditlens (cheap: one pragma).

    The viewer asks first so that it can upgrade on a worker thread, not while opening the
    mirror on the UI thread.
    """
    if not path.exists():
        return False
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
    return 0 < version < schema.SCHEMA_VERSION


#: One upgrade at a time in this process: the viewer's worker and the start-up re-check may
#: both open an old mirror at once; the second waits here (an upgrade of millions of entries
#: can outlast SQLite's busy timeout) and then finds it current.
_UPGRADING = threading.Lock()


def upgrade_file(path: Path) -> None:
    """Upgrade the mirror at ``path`` in place (what opening it would do, done explicitly)."""
    from auditlens.mirror.store import open_writable  # the store imports this module lazily

    with _UPGRADING:
        open_writable(path).close()
