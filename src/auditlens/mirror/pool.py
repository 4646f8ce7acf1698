"""Read-only connections to one mirror file, lent one per call, and the scopes that cancel them.

:class:`ConnectionPool` lends the calling thread a read-only connection (``mode=ro``) for the
duration of one call; nested calls on the same thread share it. Connections are pooled, not
tied to threads: Qt's thread pool retires and recreates threads, and a connection per thread
ever seen would keep a page cache each (a measured ~17 MB per query at 1M rows). At most
:data:`MAX_IDLE_CONNECTIONS` stay open idle.

:class:`QueryScope` groups the reads of one query on screen so that replacing the query stops
them (``sqlite3.Connection.interrupt``).
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from auditlens.mirror.store import open_readonly

__all__ = [
    "MAX_IDLE_CONNECTIONS",
    "ConnectionPool",
    "QueryCancelledError",
    "QueryScope",
    "pooled",
]

MAX_IDLE_CONNECTIONS = 3
#: Each connection's page cache: deep index walks stay cached.
CACHE_KIB = 8192
_T = TypeVar("_T")


class QueryCancelledError(Exception):
    """A reader call stopped because its :class:`QueryScope` was cancelled: nobody wants it."""


class QueryScope:
    """The reads of one query (one filter and sort on screen); ``cancel()`` stops all of them.

    When the person replaces a filter, the count and pages of the old one are of no use, and a
    broad count or a deep jump can take a while at millions of rows: they would hold a worker
    thread and a core from the query the person is waiting for. A worker makes its reader calls
    inside ``with scope:``; ``cancel()``, from any thread, interrupts the statement running on
    each connection lent to the scope (``sqlite3.Connection.interrupt``, meant to be called from
    another thread, which stops the statement at its next step) and makes every later statement
    of the scope raise :class:`QueryCancelledError`.

    SQLite drops an interrupt that arrives while no statement of the connection is running, so
    one arriving between two statements would be lost. While a connection is lent to a scope it
    therefore holds one trivial statement open (stepped once, never finished): the connection
    is never idle, and an interrupt stays in force until the call returns. No progress handler
    is used: it would take the GIL every few thousand steps of every query, cancelled or not.
    """

    _current = threading.local()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._connections: set[sqlite3.Connection] = set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Interrupt the scope's running statements and refuse its next ones (any thread)."""
        with self._lock:  # held, so a connection already handed back is never interrupted
            self._cancelled = True
            for conn in self._connections:
                conn.interrupt()

    def wrap(self, fn: Callable[[], _T]) -> Callable[[], _T]:
        """``fn`` made to run inside this scope (for handing to a worker)."""

        def scoped() -> _T:
            with self:
                return fn()

        return scoped

    def check(self) -> None:
        """Raise :class:`QueryCancelledError` if the scope was cancelled."""
        if self._cancelled:
            raise QueryCancelledError("the query was replaced")

    @classmethod
    def _stack(cls) -> list[QueryScope]:
        stack: list[QueryScope] | None = getattr(cls._current, "stack", None)
        if stack is None:
            stack = cls._current.stack = []
        return stack

    @classmethod
    def current(cls) -> QueryScope | None:
        """The scope the calling thread is in, if any."""
        stack = cls._stack()
        return stack[-1] if stack else None

    def __enter__(self) -> QueryScope:
        self.check()
        QueryScope._stack().append(self)  # per thread: a scope's count and pages run in parallel
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        QueryScope._stack().pop()

    def _attach(self, conn: sqlite3.Connection) -> sqlite3.Cursor:
        """Lend ``conn`` to the scope; the returned open statement keeps interrupts in force."""
        with self._lock:
            self._connections.add(conn)
        return conn.execute("SELECT 1")  # one row, not fetched: the statement stays open

    def _detach(self, conn: sqlite3.Connection, keep_running: sqlite3.Cursor | None) -> bool:
        """Take ``conn`` back; False if an interrupt may still hang over it (do not reuse it)."""
        with self._lock:
            self._connections.discard(conn)
        if keep_running is not None:
            keep_running.close()
        if not self._cancelled:
            return True
        try:  # with no statement left open, this first step clears a pending interrupt
            conn.execute("SELECT 1").fetchall()
        except sqlite3.OperationalError:
            return False  # a statement is still open somewhere: the interrupt would hit a stranger
        return True


class ConnectionPool:
    """Read-only connections to the mirror at ``path``, lent to one thread per call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._busy: set[sqlite3.Connection] = set()
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """Lend this thread a connection for the duration of one call (nested calls share it).

        Inside a :class:`QueryScope` the connection is lent to the scope too, so cancelling the
        scope interrupts the statement running on it.
        """
        held: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        with self._lock:
            if self._closed:
                raise RuntimeError("the mirror reader is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = open_readonly(self.path)
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            conn.execute("PRAGMA temp_store=MEMORY")
        with self._lock:
            self._busy.add(conn)
        self._local.conn = conn
        scope = QueryScope.current()
        keep_running: sqlite3.Cursor | None = None
        try:
            if scope is not None:
                keep_running = scope._attach(conn)
                scope.check()  # cancelled before that statement ran: its interrupt may be lost
            yield conn
        except sqlite3.OperationalError as exc:
            if scope is not None and scope.cancelled:  # interrupted by QueryScope.cancel()
                raise QueryCancelledError("the query was replaced") from exc
            raise
        finally:
            reusable = scope._detach(conn, keep_running) if scope is not None else True
            self._local.conn = None
            with self._lock:
                self._busy.discard(conn)
                keep = reusable and not self._closed and len(self._idle) < MAX_IDLE_CONNECTIONS
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    def current(self) -> sqlite3.Connection:
        """The connection lent to this thread (inside :meth:`connection`), checked for a
        cancelled scope first: an interrupt between two statements would be lost."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            raise RuntimeError("internal: a query ran outside ConnectionPool.connection()")
        scope = QueryScope.current()
        if scope is not None:
            scope.check()
        return conn

    @property
    def idle(self) -> int:
        """How many connections wait open for the next call."""
        with self._lock:
            return len(self._idle)

    @property
    def busy(self) -> int:
        """How many connections are lent out now."""
        with self._lock:
            return len(self._busy)

    def close(self) -> None:
        """Close the idle connections; busy ones close when their call returns."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _HasPool(Protocol):
    @property
    def pool(self) -> ConnectionPool: ...


_S = TypeVar("_S", bound=_HasPool)
_P = ParamSpec("_P")


def pooled(method: Callable[Concatenate[_S, _P], _T]) -> Callable[Concatenate[_S, _P], _T]:
    """Run ``method`` with a connection of ``self.pool`` lent to this thread (nested calls on
    the same thread share it)."""

    @functools.wraps(method)
    def wrapper(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with self.pool.connection():
            return method(self, *args, **kwargs)

    return wrapper
