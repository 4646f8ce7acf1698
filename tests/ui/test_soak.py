"""Soak: the real window over a 100,000-event mirror, used hard, must not abort or go stale.

One long run of what people do all day, in the order they do it: 2,000 screens of scrolling
(Page Down, and scrollbar jumps far along), 500 filter and sort changes (most waited for, some
overtaken by the next one at once), and 50 task trails opened and closed. A binding that drops
references (PySide6 6.12 on Python 3.11 aborted after 4-5 screens) or a worker that outlives its
widgets ends this test with a crash; every step also checks that it did what it should, so a
window that quietly stops loading fails too. Measured on a 2-core machine at load ~5: 15 s to
build the mirror, 53 s for the run. A hang, not a slow run, is what the 240 s limit catches.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from auditlens.mirror.filter import EventFilter
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.records import Row
from auditlens.ui.main_window import MainWindow
from auditlens.ui.table_model import COLUMNS
from tests.ui.conftest import wait_loaded
from tests.ui.mirror_factory import NOW_MS, BuiltMirror, build_demo_mirror

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

EVENTS = 100_000
SCREENS = 2_000
JUMP_EVERY = 10  # one scrollbar jump per this many screens; Page Down for the others
CHANGES = 500
OVERTAKEN_EVERY = 5  # one change in this many is replaced at once, before its rows arrive
TRAILS = 50
DAY_MS = 86_400_000
LOAD_MS = 10_000  # a generous bound: a page takes milliseconds; only a stuck window waits


@pytest.fixture(scope="session")
def soak_mirror(tmp_path_factory: pytest.TempPathFactory) -> BuiltMirror:
    return build_demo_mirror(tmp_path_factory.mktemp("soak") / "soak.sqlite", EVENTS)


@pytest.fixture
def soak_window(qtbot: QtBot, soak_mirror: BuiltMirror) -> Iterator[MainWindow]:
    w = MainWindow(clock=lambda: NOW_MS)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.open_mirror(soak_mirror.path)
    w.show()
    qtbot.waitUntil(lambda: w.model.count == EVENTS, timeout=LOAD_MS)
    yield w
    w.runner.wait()


def visible_rows(window: MainWindow) -> tuple[int, int]:
    """First and last row of the table's viewport."""
    table = window.table
    top = table.rowAt(0)
    bottom = table.rowAt(table.viewport().height() - 1)
    return top, (bottom if bottom >= 0 else window.model.rowCount() - 1)


def screen_loaded(window: MainWindow) -> bool:
    top, bottom = visible_rows(window)
    model = window.model
    return top >= 0 and model.row_at(top) is not None and model.row_at(bottom) is not None


def scroll(qtbot: QtBot, window: MainWindow, rng: random.Random) -> None:
    table = window.table
    bar = table.verticalScrollBar()
    table.setFocus()
    tops: set[int] = set()
    jumps = 0
    reached_end = False
    for screen in range(SCREENS):
        before = visible_rows(window)[0]
        if screen % JUMP_EVERY == 0 or before >= window.model.rowCount() - 50:
            bar.setValue(rng.randrange(bar.maximum() + 1))
            jumps += 1
        else:
            qtbot.keyClick(table, Qt.Key.Key_PageDown)
        qtbot.waitUntil(lambda: screen_loaded(window), timeout=LOAD_MS)
        top, bottom = visible_rows(window)
        tops.add(top)
        reached_end = reached_end or bottom == window.model.rowCount() - 1
        first = window.model.row_at(top)
        assert first is not None and first.summary is not None
        if screen % 100 == 0:
            table.viewport().repaint()  # paint now, through every delegate and data() role
    # Nearly every screen showed new rows (a jump can land on a screen seen before).
    assert len(tops) >= SCREENS * 0.95, f"only {len(tops)} different screens were shown"
    assert jumps >= SCREENS // JUMP_EVERY


def filters(reader: MirrorReader) -> list[tuple[str, EventFilter]]:
    """What people filter by, each with rows in the demo mirror."""
    users = [u for u in reader.users() if u.email]
    actions = reader.page(EventFilter(types=frozenset({"agent.action"})), "ts", True, None, 500)
    tasks = [r.task_id for r in actions if r.task_id]
    agents = [r.agent_id for r in actions if r.agent_id]
    return [
        ("all", EventFilter()),
        ("failures", EventFilter(outcome="failure")),
        ("agent category", EventFilter(types=frozenset({"agent"}))),
        ("auth category", EventFilter(types=frozenset({"auth"}))),
        ("one user", EventFilter(user_email=users[len(users) // 2].email)),
        ("another user, auth", EventFilter(user_email=users[1].email, types=frozenset({"auth"}))),
        ("one task", EventFilter(task_id=tasks[len(tasks) // 2])),
        ("one agent", EventFilter(agent_id=agents[0])),
        ("last 7 days", EventFilter(since_ms=NOW_MS - 7 * DAY_MS)),
        ("last 30 days, failures", EventFilter(since_ms=NOW_MS - 30 * DAY_MS, outcome="failure")),
        ("two words", EventFilter(text="browser OR python")),
        ("all but one user", EventFilter(exclude=frozenset({("user", users[0].id)}))),
    ]


def matches(row: Row, f: EventFilter) -> bool:
    """The conditions of ``f`` a table row shows directly."""
    return (
        (f.outcome is None or row.outcome == f.outcome)
        and (f.task_id is None or row.task_id == f.task_id)
        and (f.agent_id is None or row.agent_id == f.agent_id)
        and (f.since_ms is None or row.ts >= f.since_ms)
        and (not f.types or row.category in f.types or row.type in f.types)
        and all(name != "user" or row.user_id != value for name, value in f.exclude)
    )


def change_filters_and_sorts(qtbot: QtBot, window: MainWindow, rng: random.Random) -> None:
    reader = window.reader
    assert reader is not None
    choices = filters(reader)
    sortable = [i for i, c in enumerate(COLUMNS) if c.sort is not None]
    seen: dict[tuple[str, int, Qt.SortOrder], tuple[int | None, int | None]] = {}
    for change in range(CHANGES):
        if change % 2:
            name, f = rng.choice(choices)
            window.apply_filter(f)
        else:
            order = rng.choice((Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder))
            window.table.sortByColumn(rng.choice(sortable), order)
        if change % OVERTAKEN_EVERY == 0:
            continue  # the next change replaces this one before its rows arrive
        wait_loaded(qtbot, window, timeout=LOAD_MS)
        model = window.model
        f = model.event_filter
        name = next(n for n, c in choices if c == f)
        first = model.row_at(0)
        assert model.count is not None and model.count > 0, f"{name}: no rows"
        assert first is not None and matches(first, f), f"{name}: {first} does not match"
        order = Qt.SortOrder.DescendingOrder if model.descending else Qt.SortOrder.AscendingOrder
        seen[(name, model.sort_section, order)] = (first.idx, model.count)
    # The changes showed different results, not one stale page again and again.
    assert len({count for _, count in seen.values()}) >= len(choices) - 1
    assert len(set(seen.values())) >= 50, f"only {len(set(seen.values()))} different results"


def open_trails(qtbot: QtBot, window: MainWindow) -> None:
    reader = window.reader
    assert reader is not None
    rows = reader.page(EventFilter(types=frozenset({"task"})), "ts", True, None, 2_000)
    task_ids = list(dict.fromkeys(r.task_id for r in rows if r.task_id))[:TRAILS]
    assert len(task_ids) == TRAILS
    for task_id in task_ids:
        trail = window.trail_window
        if trail is None:
            trail = window.open_task_trail(None)
            trail.close()
        with qtbot.waitSignal(trail.loaded, timeout=LOAD_MS):
            shown = window.open_task_trail(task_id)
        assert shown is trail and shown.isVisible()
        assert shown.trail is not None and shown.trail.task_id == task_id
        assert shown.model.story is not None and shown.model.story.steps
        shown.close()
        assert not shown.isVisible()
        QApplication.processEvents()


def test_soak_scroll_filter_sort_and_trails(qtbot: QtBot, soak_window: MainWindow) -> None:
    rng = random.Random(10)
    failures: list[str] = []
    soak_window.model.load_failed.connect(failures.append)

    scroll(qtbot, soak_window, rng)
    change_filters_and_sorts(qtbot, soak_window, rng)
    open_trails(qtbot, soak_window)

    soak_window.apply_filter(EventFilter())
    soak_window.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    wait_loaded(qtbot, soak_window, timeout=LOAD_MS)
    assert soak_window.model.count == EVENTS
    assert not failures, failures[:3]
    soak_window.table.setCurrentIndex(QModelIndex())
