"""The events table: column chooser, resizing and tooltips, the row menu, Ctrl+Home/End, and
refusals shown as denied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QBrush, QGuiApplication
from PySide6.QtWidgets import QHeaderView, QMenu, QStyleOptionViewItem
from pytestqt.qtbot import QtBot

from auditlens.core.events import CATEGORIES, category_of
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.records import Row
from auditlens.ui.main_window import MainWindow
from auditlens.ui.table_model import (
    COLUMNS,
    DENIED_BACKGROUND,
    DENIED_TEXT,
    IP,
    OUTCOME,
    SUMMARY,
    TASK,
    USER_AGENT,
)
from tests.ui.conftest import MIRROR_EVENTS, wait_loaded
from tests.ui.mirror_factory import NOW_MS


def settle(qtbot: QtBot, window: MainWindow, f: EventFilter) -> None:
    qtbot.waitUntil(lambda: window.model.event_filter == f, timeout=3_000)
    wait_loaded(qtbot, window)


def action(menu: QMenu, text: str):  # type: ignore[no-untyped-def]
    return next(a for a in menu.actions() if a.text().startswith(text))


def first_row(window: MainWindow, test: object) -> int:
    for i in range(window.model.rowCount()):
        row = window.model.row_at(i)
        if row is not None and test(row):  # type: ignore[operator]
            return i
    raise AssertionError("no such row loaded")


def test_the_header_menu_chooses_columns_including_ip_and_user_agent(
    window: MainWindow, qtbot: QtBot
) -> None:
    header = window.table.horizontalHeader()
    assert header.isSectionHidden(IP) and header.isSectionHidden(USER_AGENT)
    menu = window.table.column_menu()
    assert [a.text() for a in menu.actions()] == [c.title for c in COLUMNS]
    assert not action(menu, "IP address").isChecked()
    action(menu, "IP address").trigger()
    action(menu, "User agent").trigger()
    assert not header.isSectionHidden(IP) and not header.isSectionHidden(USER_AGENT)
    row = first_row(window, lambda r: r.ip and r.user_agent)
    model = window.model
    loaded = model.row_at(row)
    assert loaded is not None
    assert model.data(model.index(row, IP)) == loaded.ip
    assert model.data(model.index(row, USER_AGENT)) == loaded.user_agent
    menu.close()
    menu = window.table.column_menu(QPoint(10, 5))  # as a right click on the header opens it
    qtbot.waitUntil(menu.isVisible)
    action(menu, "Summary").trigger()
    assert header.isSectionHidden(SUMMARY)
    menu.close()


def test_the_last_shown_column_cannot_be_hidden(window: MainWindow) -> None:
    for i in range(1, len(COLUMNS)):
        window.table.set_column_visible(i, False)
    menu = window.table.column_menu()
    assert not menu.actions()[0].isEnabled()


def test_columns_resize_and_a_cell_shows_its_full_value_on_hover(window: MainWindow) -> None:
    header = window.table.horizontalHeader()
    assert header.sectionResizeMode(TASK) == QHeaderView.ResizeMode.Interactive
    header.resizeSection(TASK, 320)
    assert header.sectionSize(TASK) == 320
    model = window.model
    row = first_row(window, lambda r: r.task_id)
    loaded = model.row_at(row)
    assert loaded is not None and loaded.task_id is not None
    for column in range(len(COLUMNS)):
        tip = model.data(model.index(row, column), Qt.ItemDataRole.ToolTipRole)
        shown = model.data(model.index(row, column))
        if shown and shown != "—":
            assert tip is not None and shown in tip, (column, shown, tip)
    assert model.data(model.index(row, TASK), Qt.ItemDataRole.ToolTipRole) == loaded.task_id
    # Ids are cut in the middle: the end, which tells two ids apart, stays visible.
    option = QStyleOptionViewItem()
    window.table.itemDelegateForColumn(TASK).initStyleOption(option, model.index(row, TASK))
    assert option.textElideMode == Qt.TextElideMode.ElideMiddle


def open_row_menu(window: MainWindow, row: int, column: int) -> QMenu:
    window.table.scrollTo(window.model.index(row, column))
    rect = window.table.visualRect(window.model.index(row, column))
    return window._table_context_menu(rect.center())


def test_the_row_menu_copies_the_cell_the_row_and_the_json(
    window: MainWindow, qtbot: QtBot
) -> None:
    model = window.model
    row = first_row(window, lambda r: r.task_id)
    loaded = model.row_at(row)
    assert loaded is not None
    menu = open_row_menu(window, row, TASK)
    qtbot.waitUntil(menu.isVisible)
    action(menu, "Copy cell").trigger()
    assert QGuiApplication.clipboard().text() == loaded.task_id
    action(menu, "Copy row").trigger()
    cells = QGuiApplication.clipboard().text().split("\t")
    assert cells[0] == model.data(model.index(row, 0)) and loaded.task_id in cells
    assert len(cells) == len(COLUMNS) - 2  # IP address and user agent are hidden
    QGuiApplication.clipboard().clear()
    action(menu, "Copy event as JSON").trigger()
    qtbot.waitUntil(lambda: QGuiApplication.clipboard().text().startswith("{"))
    assert json.loads(QGuiApplication.clipboard().text())["id"] == loaded.id
    menu.close()


def the_panels_name_for(event_type: str) -> str:
    """A type alone in its category (``agent.action``) is the whole category to the panel."""
    category = category_of(event_type)
    return category if CATEGORIES[category] == (event_type,) else event_type


def test_the_row_menu_filters_by_exactly_each_value(window: MainWindow, qtbot: QtBot) -> None:
    row = first_row(window, lambda r: r.task_id and r.agent_id and r.user_id and r.ip)
    loaded = window.model.row_at(row)
    assert loaded is not None
    email = window.model.email_of(loaded.user_id)
    expected = {
        "user": EventFilter(user_email=email),
        "task": EventFilter(task_id=loaded.task_id),
        "agent": EventFilter(agent_id=loaded.agent_id),
        "type": EventFilter(types=frozenset({the_panels_name_for(loaded.type or "")})),
        "ip": EventFilter(ip=loaded.ip),
    }
    for kind, f in expected.items():
        window.filters.reset()
        settle(qtbot, window, EventFilter())
        index = first_row(window, lambda r, i=loaded.idx: r.idx == i)
        menu = open_row_menu(window, index, 0)
        found = [a for a in menu.actions() if a.objectName() == f"filter-{kind}"]
        assert len(found) == 1, kind
        found[0].trigger()
        settle(qtbot, window, f)
        assert 0 < window.model.rowCount() < MIRROR_EVENTS
        menu.close()


def test_ctrl_home_and_ctrl_end_select_the_row(window: MainWindow, qtbot: QtBot) -> None:
    table = window.table
    window.select_row(5)
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    last = window.model.rowCount() - 1
    assert table.currentIndex().row() == last
    assert [i.row() for i in table.selectionModel().selectedRows()] == [last]
    qtbot.waitUntil(lambda: window.detail.record is not None and window.detail.row is not None)
    qtbot.keyClick(table, Qt.Key.Key_Home, Qt.KeyboardModifier.ControlModifier)
    assert [i.row() for i in table.selectionModel().selectedRows()] == [0]
    first = window.model.row_at(0)
    assert first is not None
    qtbot.waitUntil(
        lambda: window.detail.record is not None and window.detail.record.idx == first.idx
    )


def test_refusals_show_as_denied_in_their_own_colour(window: MainWindow, qtbot: QtBot) -> None:
    window.filters.outcome.setCurrentIndex(3)
    settle(qtbot, window, EventFilter(outcome="denied"))
    model = window.model
    assert model.rowCount() > 0
    rows = [model.row_at(i) for i in range(model.rowCount())]
    assert all(isinstance(r, Row) and r.verdict == "denied" for r in rows)
    assert any(r.type == "approval.denied" and r.outcome == "success" for r in rows if r)
    index = model.index(0, OUTCOME)
    assert model.data(index) == "denied"
    assert model.data(index, Qt.ItemDataRole.ForegroundRole) == QBrush(DENIED_TEXT)
    assert model.data(index, Qt.ItemDataRole.BackgroundRole) == QBrush(DENIED_BACKGROUND)
    assert "refused by policy or permission" in model.data(index, Qt.ItemDataRole.ToolTipRole)
    approval = first_row(window, lambda r: r.type == "approval.denied")
    window.select_row(approval)
    qtbot.waitUntil(lambda: window.detail.record is not None)
    html = window.detail.ids.text()
    assert "denied" in html and "signed outcome: success" in html and "#8a4500" in html


def test_the_outcome_filter_separates_success_failure_and_denied(
    window: MainWindow, qtbot: QtBot
) -> None:
    labels = [window.filters.outcome.itemText(i) for i in range(window.filters.outcome.count())]
    assert labels == ["Any outcome", "Success", "Failure", "Denied"]
    assert window.reader is not None
    counts = [window.reader.count(EventFilter(outcome=o)) for o in ("success", "failure", "denied")]
    assert all(counts) and sum(counts) == MIRROR_EVENTS
    window.filters.outcome.setCurrentIndex(1)
    settle(qtbot, window, EventFilter(outcome="success"))
    shown = {window.model.data(window.model.index(r, OUTCOME)) for r in range(200)}
    assert shown == {"success"}  # no denied approval among the successes


def test_the_detail_pane_shows_where_the_request_came_from(
    window: MainWindow, qtbot: QtBot
) -> None:
    row = first_row(window, lambda r: r.ip and r.user_agent)
    loaded = window.model.row_at(row)
    assert loaded is not None and loaded.ip is not None
    window.select_row(row)
    qtbot.waitUntil(lambda: window.detail.record is not None and window.detail.row == loaded)
    assert loaded.ip in window.detail.ids.text()
    window.detail.ids.linkActivated.emit(f"ip:{loaded.ip}")
    settle(qtbot, window, EventFilter(ip=loaded.ip))


def test_an_older_mirror_is_upgraded_on_a_worker_then_shown(qtbot: QtBot, tmp_path: Path) -> None:
    from tests.mirror.test_migrate import schema_1_mirror

    path = tmp_path / "old.sqlite"
    schema_1_mirror(path)
    window = MainWindow(clock=lambda: NOW_MS)
    qtbot.addWidget(window)
    window.open_mirror(path)
    assert window.reader is None  # not opened (nor upgraded) on the UI thread
    assert window.status_label.text().startswith("Upgrading the mirror")
    # Said where the rows will be, not only in the status bar (at 5M events it takes ~20 s).
    empty = window.table.empty_state
    assert not empty.isHidden() and empty.title.text() == "Upgrading the mirror"
    assert "once" in empty.detail.text() and empty.clear_button.isHidden()
    qtbot.waitUntil(lambda: window.reader is not None and window.model.count == 4)
    assert empty.isHidden()
    window.filters.outcome.setCurrentIndex(3)
    settle(qtbot, window, EventFilter(outcome="denied"))
    assert window.model.rowCount() == 2
    window.runner.wait()


def test_an_upgrade_that_fails_says_so_where_the_rows_would_be(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.mirror.test_migrate import schema_1_mirror

    path = tmp_path / "old.sqlite"
    schema_1_mirror(path)

    def no_space(_: Path) -> None:
        raise OSError("database or disk is full")

    monkeypatch.setattr("auditlens.ui.main_window.upgrade_file", no_space)
    window = MainWindow(clock=lambda: NOW_MS)
    qtbot.addWidget(window)
    window.open_mirror(path)
    empty = window.table.empty_state
    qtbot.waitUntil(lambda: empty.title.text() == "The mirror could not be upgraded")
    assert "disk is full" in empty.detail.text() and not empty.isHidden()
    assert window.reader is None
    window.runner.wait()


def test_ctrl_c_and_the_menu_copy_every_selected_row(window: MainWindow, qtbot: QtBot) -> None:
    table = window.table
    window.select_row(1)
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(table, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert [i.row() for i in table.selectionModel().selectedRows()] == [1, 2, 3]
    QGuiApplication.clipboard().clear()
    qtbot.keyClick(table, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    lines = QGuiApplication.clipboard().text().split("\n")
    assert lines == [window.row_text(r) for r in (1, 2, 3)]
    menu = open_row_menu(window, 2, TASK)
    action(menu, "Copy 3 rows").trigger()
    assert QGuiApplication.clipboard().text().split("\n") == lines
    menu.close()


def test_a_narrow_window_keeps_summary_readable_until_the_person_resizes(
    window: MainWindow, qtbot: QtBot
) -> None:
    from auditlens.ui.event_table import SUMMARY_MIN
    from auditlens.ui.table_model import TIME

    header = window.table.horizontalHeader()
    window.resize(1280, 720)
    qtbot.waitUntil(lambda: header.sectionSize(SUMMARY) >= SUMMARY_MIN - 2)
    assert header.sectionSize(TIME) == COLUMNS[TIME].width  # the time is never cut
    window.table.set_column_visible(IP, True)
    assert header.sectionSize(SUMMARY) >= SUMMARY_MIN - 2
    assert not window.table.user_sized
    header.resizeSection(TASK, 300)  # a dragged divider: the person's widths from now on
    assert window.table.user_sized
    window.resize(1300, 720)
    qtbot.wait(50)
    assert header.sectionSize(TASK) == 300


def test_hiding_columns_is_not_a_dragged_divider(window: MainWindow, qtbot: QtBot) -> None:
    """Qt resizes a section to 0 when it hides it, sometimes only at the next layout; that
    looked like a person's drag, and the table stopped fitting its columns to the window."""
    from auditlens.ui.event_table import SUMMARY_MIN
    from auditlens.ui.table_model import AGENT

    header = window.table.horizontalHeader()
    window.resize(1600, 900)
    qtbot.wait(50)
    for column in (TASK, AGENT):
        window.table.set_column_visible(column, False)
    qtbot.wait(50)  # the header's deferred layout
    assert not window.table.user_sized
    window.resize(1100, 700)
    qtbot.waitUntil(lambda: header.sectionSize(SUMMARY) >= SUMMARY_MIN - 2)
    for column in (TASK, AGENT):
        window.table.set_column_visible(column, True)
    qtbot.wait(50)
    assert not window.table.user_sized
