"""Query lifetimes: a replaced query is interrupted, and filter changes leave nothing behind."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from auditlens.mirror.filter import EventFilter, SortColumn
from auditlens.mirror.pool import QueryCancelledError, QueryScope, pooled
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.records import Row
from auditlens.ui.main_window import MainWindow
from auditlens.ui.table_model import EventTableModel
from auditlens.ui.tasks import Job, TaskRunner
from tests.ui.conftest import wait_loaded
from tests.ui.mirror_factory import BuiltMirror

#: A statement that runs for minutes unless interrupted (a recursive count, all in SQLite's C).
ENDLESS = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000000000) "
    "SELECT count(*) FROM n"
)
#: Generous: an interrupt stops the statement within milliseconds; uninterrupted it runs minutes.
PROMPTLY_MS = 5_000
SLOW_AGENT = "agent_endless"
CHANGES = 1_000
RSS_GROWTH_LIMIT = 20 * 1024 * 1024


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def live_jobs() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Job))


class SlowReader(MirrorReader):
    """A real reader whose pages for one agent are an endless statement on its own connection."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.slow_started = threading.Event()
        self.slow_outcome: list[BaseException | int] = []

    @pooled
    def page(
        self,
        f: EventFilter,
        sort: SortColumn = "ts",
        descending: bool = True,
        after: object = None,
        limit: int = 200,
    ) -> list[Row]:
        if f.agent_id != SLOW_AGENT:
            return super().page(f, sort, descending, after, limit)  # type: ignore[arg-type]
        self.slow_started.set()
        try:
            n = int(self._conn().execute(ENDLESS).fetchone()[0])
        except BaseException as exc:
            self.slow_outcome.append(exc)
            raise
        self.slow_outcome.append(n)
        return []


@pytest.fixture
def runner() -> Iterator[TaskRunner]:
    r = TaskRunner()
    yield r
    r.wait()


def test_a_cancelled_scope_interrupts_its_running_statement(demo_mirror: BuiltMirror) -> None:
    reader = MirrorReader(demo_mirror.path)
    scope = QueryScope()
    started = threading.Event()
    outcome: list[BaseException | int] = []

    def worker() -> None:
        try:
            with scope, reader.connection() as conn:
                started.set()
                outcome.append(conn.execute(ENDLESS).fetchone()[0])
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    assert started.wait(5)
    scope.cancel()
    thread.join(PROMPTLY_MS / 1000)
    assert not thread.is_alive(), "the statement ran on after its scope was cancelled"
    assert len(outcome) == 1 and isinstance(outcome[0], QueryCancelledError)
    # The interrupted connection went back to the pool and serves the next query normally.
    assert reader.count(EventFilter()) == demo_mirror.size
    with pytest.raises(QueryCancelledError), scope:
        reader.count(EventFilter())  # a cancelled scope starts nothing
    reader.close()


def test_replacing_the_filter_interrupts_the_replaced_query(
    qtbot: QtBot, runner: TaskRunner, demo_mirror: BuiltMirror
) -> None:
    reader = SlowReader(demo_mirror.path)
    model = EventTableModel(runner)
    failures: list[str] = []
    model.load_failed.connect(failures.append)
    model.set_reader(reader)
    qtbot.waitUntil(lambda: not model.loading)

    model.set_filter(EventFilter(agent_id=SLOW_AGENT))
    assert reader.slow_started.wait(5)
    model.set_filter(EventFilter(outcome="failure"))

    qtbot.waitUntil(lambda: bool(reader.slow_outcome), timeout=PROMPTLY_MS)
    # Inside the call SQLite's own error; the caller gets QueryCancelledError, which the model
    # drops silently (``failures`` stays empty).
    assert str(reader.slow_outcome[0]) == "interrupted"
    qtbot.waitUntil(lambda: not model.loading)
    assert model.rowCount() > 0
    assert all(model.row_at(r).outcome == "failure" for r in range(min(model.rowCount(), 50)))  # type: ignore[union-attr]
    assert not failures, "a cancelled read was reported as a failure"
    qtbot.waitUntil(lambda: not runner.busy)
    reader.close()


def filters(window: MainWindow) -> list[EventFilter]:
    """A few filters people switch between (each returns rows from the demo mirror)."""
    first = window.model.row_at(0)
    assert first is not None
    return [
        EventFilter(),
        EventFilter(outcome="failure"),
        EventFilter(types=frozenset({"agent"})),
        EventFilter(types=frozenset({"auth"})),
        EventFilter(task_id=first.task_id) if first.task_id else EventFilter(outcome="success"),
    ]


def test_a_thousand_filter_changes_leave_no_jobs_and_little_memory_behind(
    qtbot: QtBot, window: MainWindow
) -> None:
    choices = filters(window)

    def change(i: int) -> None:
        window.apply_filter(choices[i % len(choices)])
        if i % 10 == 9:  # most changes overtake the last; some wait for their rows
            wait_loaded(qtbot, window)
            assert window.model.rowCount() > 0

    for i in range(100):  # warm up: page caches, plans, the pool's threads
        change(i)
    qtbot.waitUntil(lambda: not window.runner.busy)
    jobs, rss = live_jobs(), rss_bytes()

    for i in range(CHANGES):
        change(i)
    wait_loaded(qtbot, window)
    qtbot.waitUntil(lambda: not window.runner.busy)

    assert live_jobs() == jobs, "jobs stayed alive after their results were delivered"
    growth = rss_bytes() - rss
    assert growth <= RSS_GROWTH_LIMIT, f"RSS grew by {growth / 1e6:.1f} MB over {CHANGES} changes"
