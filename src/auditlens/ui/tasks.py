"""Run blocking work (disk, network, hashing) off the UI thread and get the result back on it.

The UI thread never waits. A :class:`TaskRunner` runs a plain callable on a worker thread and
hands its result, its exception or its progress back to the thread that owns the runner. There is
one way back, modelled on MusicBrainz Picard's ``util/thread.py``: the worker puts the callback
and its argument in the runner's queue and posts one plain ``QEvent`` to the runner, whose
``customEvent`` runs the callback. No ``QObject``, signal or connection is made per job, and the
runner forgets a job as soon as its result is delivered, so a page load leaves nothing behind.

Two pools: short jobs (a page, a count, a sign-in) share a few threads; long jobs (sync, mirror
re-check, export), which report progress and can be cancelled, run on a second pool, so an
export of millions of rows never holds up the page the person scrolls to.

Callers that can be overtaken (a page for a filter the person already changed) compare a
generation number in the callback and drop stale results, as DB Browser for SQLite's row loader
does; the table model also interrupts the stale query itself
(:class:`auditlens.mirror.pool.QueryScope`).
"""

from __future__ import annotations

import collections
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QThreadPool

log = logging.getLogger(__name__)

#: The one event type that carries results back: each posted event delivers one queued callback.
_DELIVERY = QEvent.Type(QEvent.registerEventType())

#: How many long jobs (sync, re-check, export) run at once; more wait for a free thread.
LONG_THREADS = 4

# Every runner alive, so tests can end each test with no worker running: a job that outlives
# its test would report to widgets the next test no longer has.
_RUNNERS: weakref.WeakSet[TaskRunner] = weakref.WeakSet()

_NO_PROGRESS = object()


def _ignore(*_: object) -> None:
    """What a delivered job's callable and callback become (it keeps nothing alive)."""


Progress = Callable[[object], None]
LongJob = Callable[[Progress, threading.Event], Any]


def wait_for_all_runners(msecs: int = 30_000) -> bool:
    """Block until the workers of every live runner are idle; False on timeout."""
    idle = True
    for runner in list(_RUNNERS):
        try:
            idle = runner.wait(msecs, include_long=True) and idle
        except RuntimeError:  # its C++ side was deleted with its parent window: nothing runs
            continue
    return idle


class Job:
    """One callable on a worker, from :meth:`TaskRunner.submit` until its result is delivered.

    Plain Python (no Qt object): the runner holds it while it runs and drops it when its
    callback has run on the UI thread. A long job (:meth:`TaskRunner.start`) also carries its
    cancel flag and reports progress, of which the UI thread sees the latest value.
    """

    __slots__ = (
        "__weakref__",
        "_fn",
        "_latest",
        "_lock",
        "_long",
        "_observers",
        "_on_done",
        "_on_error",
        "_on_progress",
        "_runner",
        "cancel_event",
        "stopped",
    )

    def __init__(
        self,
        runner: TaskRunner,
        fn: Callable[..., Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None,
        *,
        long: bool = False,
        on_progress: Progress | None = None,
    ) -> None:
        self._runner = runner
        self._fn = fn
        self._on_done = on_done
        self._on_error = on_error
        self._on_progress = on_progress
        self._long = long
        self._observers: list[Progress] = []
        self._latest: object = _NO_PROGRESS
        self._lock = threading.Lock()
        self.cancel_event = threading.Event()
        #: Set when the callable has returned or raised (its result may still be on its way).
        self.stopped = threading.Event()

    # -- worker thread --------------------------------------------------------------------------

    def run(self) -> None:
        try:
            result = self._fn(self.report, self.cancel_event) if self._long else self._fn()
        except BaseException as exc:  # handed to the UI thread, which decides what to show
            self._runner.post(self._failed, exc)
        else:
            self._runner.post(self._done, result)
        finally:
            self.stopped.set()

    def report(self, value: object) -> None:
        """Progress from the job (worker thread); the UI thread gets the latest value."""
        for observer in self._observers:
            observer(value)
        if self._on_progress is None:
            return
        with self._lock:
            pending = self._latest is not _NO_PROGRESS
            self._latest = value
        if not pending:
            self._runner.post(self._progressed, None)

    # -- UI thread ------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Ask a long job to stop (it sees ``cancel_event`` at its next check)."""
        self.cancel_event.set()

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the callable has stopped running (shutdown and tests); False on timeout."""
        return self.stopped.wait(msecs / 1000)

    def observe(self, fn: Progress) -> None:
        """Also call ``fn(value)`` on the worker thread at each progress report.

        For acting at an exact point of a run (a test cancelling between two steps), which a
        callback on the UI thread, arriving later, cannot do.
        """
        self._observers.append(fn)

    def _progressed(self, _: object) -> None:
        with self._lock:
            value, self._latest = self._latest, _NO_PROGRESS
        if value is not _NO_PROGRESS and self._on_progress is not None:
            self._on_progress(value)

    def _done(self, result: object) -> None:
        on_done = self._on_done
        self._release()
        on_done(result)

    def _failed(self, exc: BaseException) -> None:
        on_error = self._on_error
        self._release()
        if on_error is not None:
            on_error(exc)
        else:
            log.error("background task failed", exc_info=exc)

    def _release(self) -> None:
        """Drop the job from its runner and drop what it holds.

        An exception's traceback keeps the job's frame, and so the job, alive for as long as
        someone keeps the exception; emptied, the job then holds nothing of its caller's.
        """
        self._runner.release(self)
        self._fn = self._on_done = _ignore
        self._on_error = self._on_progress = None
        self._observers.clear()


class TaskRunner(QObject):
    """Thread pools whose callbacks run on the thread that owns the runner."""

    def __init__(self, max_threads: int = 3, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self.long_pool = QThreadPool(self)
        self.long_pool.setMaxThreadCount(LONG_THREADS)
        self._active: set[Job] = set()
        self._mail: collections.deque[tuple[Callable[[Any], None], object]] = collections.deque()
        _RUNNERS.add(self)

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Job:
        """Run ``fn()`` on a worker; then ``on_done(result)`` or ``on_error(exc)`` here.

        Without ``on_error`` a failure is logged.
        """
        job = Job(self, fn, on_done, on_error)
        self._active.add(job)
        self.pool.start(job.run)
        return job

    def start(
        self,
        fn: LongJob,
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: Progress | None = None,
    ) -> Job:
        """Run a long ``fn(progress, cancel_event)`` on its own worker; cancel with the Job.

        ``on_progress(value)`` runs here with the latest value ``fn`` passed to ``progress``
        (values reported faster than the UI thread takes them are skipped, not queued).
        """
        job = Job(self, fn, on_done, on_error, long=True, on_progress=on_progress)
        self._active.add(job)
        self.long_pool.start(job.run)
        return job

    def post(self, callback: Callable[[Any], None], argument: object) -> None:
        """Run ``callback(argument)`` on the runner's thread (callable from any thread)."""
        self._mail.append((callback, argument))
        try:
            QCoreApplication.postEvent(self, QEvent(_DELIVERY))
        except RuntimeError:  # the runner was deleted with its window: nobody to tell
            self._mail.clear()

    def customEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        if event.type() != _DELIVERY:
            super().customEvent(event)
            return
        # One event per queued callback, so a callback that raises leaves none of the others
        # stranded in the queue.
        callback, argument = self._mail.popleft()
        callback(argument)

    def release(self, job: Job) -> None:
        """Forget ``job``: its result has been delivered."""
        self._active.discard(job)

    @property
    def busy(self) -> bool:
        """True while a submitted job has not delivered its result yet."""
        return bool(self._active)

    def wait(self, msecs: int = 30_000, *, include_long: bool = False) -> bool:
        """Block until the short jobs are done (before closing the mirror they read; tests).

        Long jobs are left alone unless ``include_long``: whoever started one cancels and
        waits for it (:meth:`Job.cancel`, :meth:`Job.wait`), so closing a window never waits
        for a sync to run to its end.
        """
        short = self.pool.waitForDone(msecs)
        return (not include_long or self.long_pool.waitForDone(msecs)) and short
