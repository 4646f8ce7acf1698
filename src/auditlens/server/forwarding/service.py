"""The forwarding service: one background thread beside the API that runs the forwarders.

Every ``scan_seconds`` it lists the active forwarders and starts a worker thread for each one it
can lock; a worker ends when its forwarder is paused, failed or removed, and the lock goes
with it. Exactly one process delivers a forwarder:

* PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection the
  worker keeps for its whole life; a process that dies loses its connection and so its locks,
  and another process takes over at its next scan, from the stored cursor.
* SQLite: an exclusive ``flock`` on ``<data-dir>/forwarding/<forwarder id>.lock`` (SQLite
  servers run on one machine).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from auditlens.server.db import Database
from auditlens.server.forwarding import store
from auditlens.server.forwarding.bookkeeping import Bookkeeping
from auditlens.server.forwarding.engine import ForwarderWorker
from auditlens.server.forwarding.vault import Vault
from auditlens.server.state import ServerState

log = logging.getLogger("auditlens.forwarding")


def lock_key(forwarder_id: str) -> int:
    """The signed 64-bit advisory lock key of a forwarder."""
    digest = hashlib.sha256(b"auditlens-forwarder:" + forwarder_id.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class ForwarderLock:
    """The one-process-per-forwarder lock (see the module docstring)."""

    def __init__(self, db: Database, data_dir: Path, forwarder_id: str) -> None:
        self.db = db
        self.forwarder_id = forwarder_id
        self.path = Path(data_dir) / "forwarding" / f"{forwarder_id}.lock"
        self._conn: Any = None
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self.db.is_sqlite:
            return self._acquire_file()
        conn = self.db.writer.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(
                sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(self.forwarder_id)}
            ).scalar()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def _acquire_file(self) -> bool:
        try:
            import fcntl
        except ImportError:  # no flock (Windows): a SQLite server is one process there
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(
                    sa.text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(self.forwarder_id)}
                )
            finally:
                self._conn.close()
                self._conn = None
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


class ForwardingService:
    """Runs every active forwarder of the database this process can lock."""

    def __init__(
        self, db: Database, data_dir: Path, *, scan_seconds: float = 1.0, poll_seconds: float = 0.2
    ) -> None:
        self.db = db
        self.data_dir = Path(data_dir)
        self._vault: Vault | None = None
        self.books = Bookkeeping(db)
        self.scan_seconds = scan_seconds
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._workers: dict[str, tuple[ForwarderWorker, threading.Thread]] = {}

    @property
    def vault(self) -> Vault:
        """The secrets key, opened (or created) only once a forwarder exists."""
        if self._vault is None:
            self._vault = Vault.open(self.data_dir)
        return self._vault

    def start(self) -> ForwardingService:
        self._thread = threading.Thread(target=self._run, name="forwarding", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for worker, _ in list(self._workers.values()):
            worker.stop()
        if self._thread is not None:
            self._thread.join(timeout)
        for _, thread in list(self._workers.values()):
            thread.join(timeout)
        self.books.dispose()

    def running(self) -> list[str]:
        """Ids of the forwarders this process is delivering right now."""
        return [fid for fid, (_, t) in self._workers.items() if t.is_alive()]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan()
            except Exception:  # keep the service alive; the next scan tries again
                log.exception("forwarding scan failed")
            self._stop.wait(self.scan_seconds)

    def scan(self) -> None:
        """Start workers for active forwarders; forget the ones that ended."""
        for fid, (_, thread) in list(self._workers.items()):
            if not thread.is_alive():
                del self._workers[fid]
        with self.db.read() as conn:
            active = [f.id for f in store.list_all(conn) if f.state == "active"]
        for fid in active:
            if fid in self._workers or self._stop.is_set():
                continue
            lock = ForwarderLock(self.db, self.data_dir, fid)
            if not lock.acquire():
                continue
            worker = ForwarderWorker(
                self.db, self.vault, fid, poll_seconds=self.poll_seconds, books=self.books
            )
            thread = threading.Thread(
                target=self._work, args=(worker, lock), name=f"forwarder-{fid}", daemon=True
            )
            self._workers[fid] = (worker, thread)
            thread.start()

    def _work(self, worker: ForwarderWorker, lock: ForwarderLock) -> None:
        try:
            worker.run()
        except Exception:
            self._stop.wait(self.scan_seconds)  # do not spin on a persistent error
        finally:
            lock.release()


class Stoppable(Protocol):
    def stop(self, timeout: float = 10.0) -> None: ...


def start_forwarding(state: ServerState) -> Stoppable | None:
    """Start forwarding for a server as ``settings.forwarding`` says: in a ``thread`` of this
    process, in a child ``process`` (see :mod:`.process`; a thread in a frozen desktop bundle,
    which cannot start ``python -m``), or not at all (``off``, for extra API processes)."""
    mode = state.settings.forwarding
    if mode == "off":
        return None
    if mode == "process" and not getattr(sys, "frozen", False):  # a bundle cannot run -m
        from auditlens.server.forwarding.process import ForwardingProcess

        return ForwardingProcess(state.settings)
    if mode not in ("thread", "process"):
        raise ValueError(f"forwarding must be 'thread', 'process' or 'off', not {mode!r}")
    scan = state.settings.forwarding_scan_seconds
    return ForwardingService(state.db, state.settings.data_dir, scan_seconds=scan).start()
