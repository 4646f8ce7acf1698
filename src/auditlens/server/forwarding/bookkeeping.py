"""Write transactions for forwarder bookkeeping (cursor moves, errors), kept off ingest's path.

Why not :meth:`Database.write`: with SQLite's default ``synchronous=FULL`` every commit there is
an fsync, taken under the process-wide write lock that ingest also needs; three forwarders
moving their cursors after every batch measured as a 40 % loss of ingest throughput. A cursor
move does not need that durability: losing the last few moves in a power cut only makes the
forwarder send those batches again, which at-least-once delivery already allows. So these
transactions commit without waiting for the disk (SQLite: a separate connection with
``synchronous=NORMAL`` in WAL mode; PostgreSQL: ``synchronous_commit = off`` for the
transaction) and do not take the in-process write lock (SQLite's ``BEGIN IMMEDIATE`` with its
busy timeout orders them with ingest's transactions).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from auditlens.server.db import Database


class Bookkeeping:
    """Opens the light write transactions of one process's forwarders."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._engine: Engine | None = None
        if db.is_sqlite:
            engine = sa.create_engine(
                db.url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=2
            )

            @sa.event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

            @sa.event.listens_for(engine, "begin")
            def _on_begin(conn: Connection) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

            self._engine = engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        if self._engine is not None:
            with self._engine.begin() as conn:
                yield conn
            return
        with self.db.writer.begin() as conn:
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            yield conn

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
