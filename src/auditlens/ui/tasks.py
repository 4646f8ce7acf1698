"""Run blocking work (disk, network, hashing) off the UI thread and get the result back on it.

DESIGN.md §5: the UI thread never waits. A :class:`TaskRunner` hands a plain callable to a
``QThreadPool``; its result or exception comes back as a queued signal, so the callbacks run on
the UI thread. Callers that can be overtaken (a page for a filter the person already changed)
compare a generation number in the callback and drop stale results, as DB Browser for SQLite's
row loader does.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)

# Every runner alive, so a caller can wait until no worker runs Python code (tests do so before
# collecting garbage: Python's cyclic collector deleting Qt objects while a worker thread runs
# was seen to crash PySide6 6.12).
_RUNNERS: weakref.WeakSet[TaskRunner] = weakref.WeakSet()


def wait_for_all_runners(msecs: int = 30_000) -> bool:
    """Block until the workers of every live runner are idle; False on timeout."""
    idle = True
    for runner in list(_RUNNERS):
        try:
            idle = runner.wait(msecs) and idle
        except RuntimeError:  # its C++ side was deleted with its parent window: nothing runs
            continue
    return idle


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(object)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], object], signals: _Signals) -> None:
        super().__init__()
        self.fn = fn
        self.signals = signals
        self.setAutoDelete(False)  # the runner keeps the Python object until the result arrives

    def run(self) -> None:
        try:
            result = self.fn()
        except BaseException as exc:  # handed to the UI thread, which decides what to show
            self.signals.failed.emit(exc)
            return
        self.signals.done.emit(result)


class TaskRunner(QObject):
    """A small thread pool whose callbacks run on the thread that owns the runner."""

    def __init__(self, max_threads: int = 3, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._active: set[_Job] = set()
        _RUNNERS.add(self)

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Run ``fn()`` on a worker; then ``on_done(result)`` or ``on_error(exc)`` here."""
        signals = _Signals()
        job = _Job(fn, signals)
        self._active.add(job)

        def finished(result: object) -> None:
            self._active.discard(job)
            on_done(result)

        def failed(exc: object) -> None:
            self._active.discard(job)
            if not isinstance(exc, BaseException):
                return
            if on_error is not None:
                on_error(exc)
            else:
                log.error("background task failed", exc_info=exc)

        signals.done.connect(finished)
        signals.failed.connect(failed)
        self.pool.start(job)

    @property
    def busy(self) -> bool:
        """True while a submitted job has not delivered its result yet."""
        return bool(self._active)

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until every worker is idle (shutdown and tests only)."""
        return self.pool.waitForDone(msecs)
