"""The events table model: pages from the mirror, SQL sorting, failures at a glance."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from auditlens.core.timestamps import format_timestamp
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.pool import QueryScope
from auditlens.ui.main_window import MainWindow
from auditlens.ui.table_model import (
    FAILURE_TEXT,
    INDEX,
    OUTCOME,
    PAGE_SIZE,
    SUMMARY,
    TIME,
    TYPE,
    USER,
)
from tests.ui.conftest import MIRROR_EVENTS, wait_loaded


def shown(window: MainWindow, column: int, rows: range) -> list[str]:
    model = window.model
    return [model.data(model.index(r, column)) for r in rows]


def test_the_model_passes_qt_model_tester(window: MainWindow, qtmodeltester: ModelTester) -> None:
    qtmodeltester.check(window.model)


def test_the_table_shows_every_event_newest_first(window: MainWindow) -> None:
    assert window.model.rowCount() == MIRROR_EVENTS
    assert window.model.count == MIRROR_EVENTS
    reader = window.reader
    assert reader is not None
    expected = reader.page(EventFilter(), "ts", True, None, 20)
    assert shown(window, INDEX, range(20)) == [str(r.idx) for r in expected]
    assert shown(window, TIME, range(1)) == [format_timestamp(expected[0].ts)]


def test_the_user_column_shows_the_directory_email(window: MainWindow, qtbot: QtBot) -> None:
    model = window.model
    qtbot.waitUntil(lambda: bool(model._emails))
    for r in range(50):
        row = model.row_at(r)
        assert row is not None
        text = model.data(model.index(r, USER))
        assert text == ("—" if row.user_id is None else model.email_of(row.user_id) or row.user_id)
        if row.user_id is not None:
            assert "@" in text


def test_a_header_click_sorts_in_sql(window: MainWindow, qtbot: QtBot) -> None:
    header = window.table.horizontalHeader()
    header.setSortIndicator(TYPE, Qt.SortOrder.AscendingOrder)
    wait_loaded(qtbot, window)
    types = shown(window, TYPE, range(PAGE_SIZE))
    assert types == sorted(types)
    assert types[0] == min(t for t in types)
    header.setSortIndicator(TYPE, Qt.SortOrder.DescendingOrder)
    wait_loaded(qtbot, window)
    assert shown(window, TYPE, range(5))[0] >= types[-1]


def test_the_summary_column_cannot_sort_and_keeps_the_old_order(
    window: MainWindow, qtbot: QtBot
) -> None:
    first = shown(window, INDEX, range(5))
    window.table.horizontalHeader().setSortIndicator(SUMMARY, Qt.SortOrder.AscendingOrder)
    qtbot.wait(50)
    assert window.table.horizontalHeader().sortIndicatorSection() == TIME
    assert shown(window, INDEX, range(5)) == first


def test_failures_are_red_with_an_icon(window: MainWindow, qtbot: QtBot) -> None:
    window.apply_filter(EventFilter(outcome="failure"))
    wait_loaded(qtbot, window)
    model = window.model
    index = model.index(0, OUTCOME)
    assert model.data(index) == "failure"
    brush = model.data(index, Qt.ItemDataRole.ForegroundRole)
    assert isinstance(brush, QBrush) and brush.color() == FAILURE_TEXT
    assert not model.data(index, Qt.ItemDataRole.DecorationRole).isNull()
    window.apply_filter(EventFilter(outcome="success"))
    wait_loaded(qtbot, window)
    assert model.data(model.index(0, OUTCOME), Qt.ItemDataRole.ForegroundRole) is None


def test_scrolling_to_the_end_loads_the_oldest_rows(window: MainWindow, qtbot: QtBot) -> None:
    window.table.scrollToBottom()
    last = MIRROR_EVENTS - 1
    qtbot.waitUntil(lambda: window.model.row_at(last) is not None)
    row = window.model.row_at(last)
    assert row is not None and row.idx == 0  # newest first: the last row is index 0
    middle = MIRROR_EVENTS // 2 + 17
    window.table.scrollTo(window.model.index(middle, 0))
    qtbot.waitUntil(lambda: window.model.row_at(middle) is not None)
    assert window.model.row_at(middle).idx == MIRROR_EVENTS - 1 - middle  # type: ignore[union-attr]


def test_a_replaced_query_never_shows_stale_pages(window: MainWindow, qtbot: QtBot) -> None:
    window.apply_filter(EventFilter(outcome="failure"))
    window.apply_filter(EventFilter(types=frozenset({"auth"})))
    wait_loaded(qtbot, window)
    types = shown(window, TYPE, range(min(window.model.rowCount(), 100)))
    assert types and all(t.startswith("auth.") for t in types)
    reader = window.reader
    assert reader is not None
    assert window.model.rowCount() == reader.count(EventFilter(types=frozenset({"auth"})))


def test_a_newer_scrollbar_jump_interrupts_an_older_one_of_the_same_view(
    window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 5M rows a jump into a filtered view sorted by task costs seconds (OFFSET along the
    walk: 2-3 s). Dragging the scrollbar asks for several positions in a row; each older jump
    must stop when a newer one is asked for, or the newest waits behind all of them (in a soak
    at 5M some never showed within 15 s). The stopped page loads again when it is in view."""
    reader = window.reader
    assert reader is not None
    real = reader.page_at
    slow: list[int] = []

    def page_at(*args: object, **kwargs: object) -> object:
        position = args[3]
        if not slow:  # the first jump: a deep OFFSET that only an interrupt ends
            slow.append(position)  # type: ignore[arg-type]
            scope = QueryScope.current()
            assert scope is not None
            for _ in range(1_000):
                scope.check()
                time.sleep(0.01)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reader, "page_at", page_at)
    model = window.model

    def shown(row: int) -> bool:
        """Whether ``row`` is loaded; asks for its page as the view's painting does."""
        model.data(model.index(row, TIME))
        return model.row_at(row) is not None

    far, farther = 20 * PAGE_SIZE, 22 * PAGE_SIZE  # pages without a loaded neighbour: jumps
    shown(far)
    qtbot.waitUntil(lambda: bool(slow))
    started = time.perf_counter()
    qtbot.waitUntil(lambda: shown(farther), timeout=3_000)
    assert time.perf_counter() - started < 2.0
    qtbot.waitUntil(lambda: shown(far), timeout=3_000)  # the stopped page, asked for again


def test_rows_straddling_two_unloaded_pages_both_load_as_the_view_paints_them(
    window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scrollbar jump that lands on a page boundary shows rows of two pages, neither with a
    loaded neighbour: both are jumps, and the second interrupts the first. The interrupted
    page must still load while its rows are in view (an ad-hoc soak at 5M that polled the model
    without painting saw rows missing; ``bench/viewer_soak.py``, where the view paints, never
    has). Only the view's own painting asks for pages here."""
    reader = window.reader
    assert reader is not None
    real = reader.page_at

    def page_at(*args: object, **kwargs: object) -> object:
        scope = QueryScope.current()
        assert scope is not None
        for _ in range(30):  # a jump at 5M takes seconds; an interrupt ends it early
            scope.check()
            time.sleep(0.01)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reader, "page_at", page_at)
    table, model = window.table, window.model
    boundary = 20 * PAGE_SIZE
    table.scrollTo(model.index(boundary - 3, 0), table.ScrollHint.PositionAtTop)
    first = table.rowAt(0)
    last = table.rowAt(table.viewport().height() - 1)
    assert first < boundary <= last  # the view straddles pages 19 and 20
    qtbot.waitUntil(
        lambda: all(model.row_at(r) is not None for r in range(first, last + 1)), timeout=5_000
    )
