"""The task runner: results come back on the UI thread, and nothing per job outlives its result."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QThread
from pytestqt.qtbot import QtBot

from auditlens.client.sync import SyncResult, SyncStatus
from auditlens.server.embedded import DemoServer
from auditlens.ui import tasks
from auditlens.ui.app import Viewer
from auditlens.ui.main_window import MainWindow
from auditlens.ui.tasks import Job, TaskRunner
from tests.ui.test_signin_sync import sign_in_and_sync

JOBS = 50


@pytest.fixture
def runner(qtbot: QtBot) -> Iterator[TaskRunner]:
    r = TaskRunner()
    yield r
    r.wait(include_long=True)


def live_task_objects() -> list[object]:
    """Objects of this module's own classes (a job and whatever it made), except runners."""
    gc.collect()
    return [
        o
        for o in gc.get_objects()
        if type(o).__module__ == tasks.__name__ and not isinstance(o, TaskRunner)
    ]


def test_every_job_is_released_once_its_result_is_delivered(
    qtbot: QtBot, runner: TaskRunner
) -> None:
    before = len(live_task_objects())
    results: list[int] = []
    for i in range(JOBS):
        runner.submit(lambda i=i: i * i, results.append)
    qtbot.waitUntil(lambda: len(results) == JOBS)
    assert sorted(results) == [i * i for i in range(JOBS)]
    assert not runner.busy
    assert len(live_task_objects()) == before, "jobs (or objects made per job) stayed alive"


def test_a_failed_job_is_released_too_and_its_error_arrives(
    qtbot: QtBot, runner: TaskRunner
) -> None:
    # Only the messages are kept: a kept exception keeps its traceback's frames, and so the job
    # (emptied of everything it held) alive.
    errors: list[str] = []

    def boom() -> None:
        raise ValueError("no such page")

    for _ in range(JOBS):
        runner.submit(boom, lambda _: None, lambda exc: errors.append(repr(exc)))
    qtbot.waitUntil(lambda: len(errors) == JOBS)
    assert errors == ["ValueError('no such page')"] * JOBS
    assert not live_task_objects()


def test_callbacks_run_on_the_ui_thread(qtbot: QtBot, runner: TaskRunner) -> None:
    ui = threading.get_ident()
    seen: list[tuple[int, int]] = []
    runner.submit(threading.get_ident, lambda worker: seen.append((worker, threading.get_ident())))
    qtbot.waitUntil(lambda: bool(seen))
    worker, callback = seen[0]
    assert worker != ui
    assert callback == ui


def test_no_qt_object_is_made_per_job(qtbot: QtBot, runner: TaskRunner) -> None:
    children = len(runner.findChildren(object))
    done: list[object] = []
    for _ in range(JOBS):
        runner.submit(lambda: None, done.append)
    qtbot.waitUntil(lambda: len(done) == JOBS)
    assert len(runner.findChildren(object)) == children


def test_a_long_job_reports_progress_and_stops_when_cancelled(
    qtbot: QtBot, runner: TaskRunner
) -> None:
    started = threading.Event()
    progress: list[object] = []
    outcome: list[object] = []

    def long(report: tasks.Progress, cancel: threading.Event) -> str:
        for step in range(1_000):
            report(step)
            started.set()
            if cancel.wait(0.01):
                return f"cancelled at {step}"
        return "ran to the end"

    job = runner.start(long, outcome.append, outcome.append, progress.append)
    assert isinstance(job, Job)
    assert started.wait(5)
    qtbot.waitUntil(lambda: bool(progress))
    job.cancel()
    qtbot.waitUntil(lambda: bool(outcome))
    assert str(outcome[0]).startswith("cancelled at")
    assert progress == sorted(progress), "progress arrives in order"
    assert not runner.busy
    del job
    assert not live_task_objects()


def test_a_long_job_does_not_hold_up_short_ones(qtbot: QtBot, runner: TaskRunner) -> None:
    release = threading.Event()
    outcome: list[object] = []
    for _ in range(tasks.LONG_THREADS):
        runner.start(lambda _report, _cancel: release.wait(10), outcome.append)
    pages: list[int] = []
    for i in range(10):
        runner.submit(lambda i=i: i, pages.append)
    qtbot.waitUntil(lambda: len(pages) == 10)
    assert not outcome, "the long jobs were still running"
    release.set()
    qtbot.waitUntil(lambda: len(outcome) == tasks.LONG_THREADS)


SYNCS = 20


def live_workers() -> list[object]:
    """Jobs and threads alive (a sync used to run on a QThread of its own)."""
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, Job | QThread)]


def test_sync_workers_are_released_once_the_sync_is_done(
    viewer: Viewer, qtbot: QtBot, server: DemoServer
) -> None:
    sign_in_and_sync(qtbot, viewer, server)
    qtbot.waitUntil(lambda: not viewer.window.runner.busy)
    before = len(live_workers())
    for _ in range(SYNCS):
        with qtbot.waitSignal(viewer.sync_done, timeout=20_000) as blocker:
            viewer.sync()
        assert isinstance(blocker.args[0], SyncResult)
        assert blocker.args[0].status is SyncStatus.UP_TO_DATE
    qtbot.waitUntil(lambda: not viewer.window.runner.busy)
    assert viewer.sync_worker is None
    assert len(live_workers()) == before, f"{SYNCS} syncs left workers behind"


def test_closing_the_window_does_not_wait_for_a_long_job(qtbot: QtBot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    release = threading.Event()
    job = window.runner.start(lambda _report, cancel: release.wait(30), lambda _: None)
    window.close()  # waits for the short jobs only; a running sync is its owner's to cancel
    assert not job.stopped.is_set()
    release.set()
    assert job.wait(10_000)
