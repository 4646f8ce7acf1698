"""The PostgreSQL pool keeps its connections under concurrent requests instead of churning them.

A connection beyond the pool's kept ones is closed when it is handed back, so with too few kept
every request past them paid for a new PostgreSQL backend (a fork and an authentication): under
the mixed load of ``bench/server.py --mixed`` that was hundreds a second and the read p99 went
from ~310 to 410-530 ms. This test holds 16 concurrent users (the bench's readers and ingest
clients per process) to the connections they need, against a real PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from auditlens.server.db import Database
from tests.server.conftest import database_url

pytestmark = pytest.mark.postgres

USERS = 16
ROUNDS = 40


def test_concurrent_readers_reuse_the_pools_connections(tmp_path: Path) -> None:
    with database_url("postgresql", tmp_path) as url:
        db = Database(url)
        opened = 0
        lock = threading.Lock()

        @sa.event.listens_for(db.reader, "connect")
        def count(*_: object) -> None:
            nonlocal opened
            with lock:
                opened += 1

        start = threading.Barrier(USERS)

        def user() -> None:
            start.wait()
            for _ in range(ROUNDS):
                with db.read() as conn:
                    conn.execute(sa.text("SELECT pg_sleep(0.002)"))
                time.sleep(0.001)  # between requests: others take a connection meanwhile

        threads = [threading.Thread(target=user) for _ in range(USERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        db.dispose()
    # Each user needs at most one at a time: one connection each, opened once, then reused.
    assert opened <= USERS, f"{opened} connections opened for {USERS * ROUNDS} reads"
