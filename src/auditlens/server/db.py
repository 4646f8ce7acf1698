"""Database engines and the one write path, for SQLite and PostgreSQL alike.

Decisions:

* One writer. Every write runs inside :meth:`Database.write`, which holds a process-wide lock
  and opens the transaction with ``BEGIN IMMEDIATE`` on SQLite (so a second process, such as
  ``auditlens server seed`` against a running server, waits on ``busy_timeout`` instead of
  failing a lock upgrade halfway). On PostgreSQL several API processes may share the database:
  the sequencer takes a per-organization advisory lock (:func:`.sequencer.lock_log`), which
  serializes appends across processes, and schema creation takes one too, so processes
  started together do not race to create the same table.
* Reads use a separate engine whose transactions are plain ``BEGIN`` (deferred): in WAL mode
  they see a consistent snapshot and never block the writer.
* SQLite pragmas: WAL, ``synchronous`` from the settings (FULL by default: an acknowledged batch
  survives a power cut), foreign keys on, a 64 MB page cache for the writer so the filter
  indexes stay in memory while they are extended, and a WAL checkpoint every 10,000 pages
  (~40 MB) instead of 1,000: the hot index pages every batch rewrites are then copied back
  once per checkpoint, not every few batches (measured: appends ~10% faster).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from auditlens.server.schema import create_schema

_SYNCHRONOUS = {"OFF", "NORMAL", "FULL", "EXTRA"}

SCHEMA_LOCK_KEY = 0x6175_6469_746C_656E  # "auditlen": serializes schema creation on PostgreSQL

#: PostgreSQL connections an API process keeps open, and how many more it may open for a burst.
#: Every request takes one or two in turn (its credential check, then its query) on up to 40
#: request threads, and a connection beyond the kept ones is closed when it is handed back: a
#: new PostgreSQL backend (a fork and an authentication) per request. With 5 kept, 20 readers
#: and 4 ingest clients on two processes opened hundreds a second (`bench/server.py --mixed`:
#: 117-133 reads/s, p99 410-530 ms; 152-180 reads/s, p99 ~310 ms with 20 kept). N processes
#: need ``N x (PG_POOL_SIZE + PG_MAX_OVERFLOW)`` plus forwarders below ``max_connections``.
PG_POOL_SIZE = 20
PG_MAX_OVERFLOW = 10


def _sqlite_engine(url: str, begin: str, cache_kib: int, synchronous: str) -> Engine:
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module: we issue BEGIN ourselves.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute(f"PRAGMA cache_size=-{cache_kib}")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.execute("PRAGMA wal_autocheckpoint=10000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


def _require_postgres_driver() -> None:
    """Say how to install the PostgreSQL driver, which the viewer's install leaves out."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise ValueError(
            "PostgreSQL needs its driver, which is an extra: pip install 'auditlens[postgres]'"
        ) from None


class Database:
    """The server's database: a reader engine, a writer engine and the write lock."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL") -> None:
        parsed = make_url(url)
        self.url = url
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(
                f"unsupported database {self.dialect!r}: use sqlite:///PATH or "
                "postgresql+psycopg://USER@HOST/DB"
            )
        if self.dialect == "postgresql":
            _require_postgres_driver()
        self.write_lock = threading.RLock()
        if self.dialect == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                raise ValueError("an in-memory SQLite database cannot be shared; give a file path")
            sync = sqlite_synchronous.upper()
            if sync not in _SYNCHRONOUS:
                raise ValueError(f"sqlite synchronous must be one of {sorted(_SYNCHRONOUS)}")
            self.writer = _sqlite_engine(url, "BEGIN IMMEDIATE", 65536, sync)
            self.reader = _sqlite_engine(url, "BEGIN", 16384, sync)
        else:
            self.writer = sa.create_engine(
                url, pool_size=PG_POOL_SIZE, max_overflow=PG_MAX_OVERFLOW, pool_pre_ping=True
            )
            self.reader = self.writer

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def create_schema(self) -> None:
        """Create the tables, indexes and triggers that are missing (idempotent)."""
        with self.write() as conn:
            if self.dialect == "postgresql":
                # API processes started together would otherwise race to create one table.
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
            create_schema(conn)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction, serialized with every other writer of this process."""
        with self.write_lock, self.writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One read-only transaction on a consistent snapshot."""
        with self.reader.begin() as conn:
            yield conn

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()
