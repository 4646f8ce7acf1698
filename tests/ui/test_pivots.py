"""Pivots from one event and the Back/Forward history, in the real window on a real mirror.

Each pivot must give exactly its filter (every earlier condition dropped), the rows the mirror
holds for it (counted independently with SQL), the ±N minute bounds around the event, and the
neighbours in log order; Back and Forward must put back the filter and the sidebar as they were.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from auditlens.mirror.filter import EventFilter
from auditlens.mirror.records import Row
from auditlens.mirror.snapshot import MirrorSnapshot, ViewRows
from auditlens.ui.filter_panel import CUSTOM, RANGES
from auditlens.ui.main_window import MainWindow
from auditlens.ui.pivots import MINUTE_MS
from tests.ui.conftest import wait_loaded
from tests.ui.mirror_factory import BuiltMirror


@pytest.fixture
def sql(demo_mirror: BuiltMirror) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(demo_mirror.path)
    yield conn
    conn.close()


def settle(qtbot: QtBot, window: MainWindow, f: EventFilter) -> None:
    qtbot.waitUntil(lambda: window.model.event_filter == f, timeout=3_000)
    wait_loaded(qtbot, window)

    def counted() -> bool:
        count = window.model.count
        return count is not None and count >= 0

    qtbot.waitUntil(counted, timeout=3_000)


def loaded_rows(window: MainWindow) -> list[Row]:
    rows = [window.model.row_at(i) for i in range(window.model.rowCount())]
    return [r for r in rows if r is not None]


def find_row(window: MainWindow, test: object) -> int:
    for i in range(window.model.rowCount()):
        row = window.model.row_at(i)
        if row is not None and test(row):  # type: ignore[operator]
            return i
    raise AssertionError("no such row loaded")


def row_menu(window: MainWindow, position: int) -> QMenu:
    window.table.scrollTo(window.model.index(position, 0))
    rect = window.table.visualRect(window.model.index(position, 0))
    return window._table_context_menu(rect.center())


def pivot_action(menu: QMenu, name: str):  # type: ignore[no-untyped-def]
    for sub in menu.findChildren(QMenu):
        for action in sub.actions():
            if action.objectName() == name:
                return action
    raise AssertionError(f"no pivot {name!r} in the menu")


def user_of(window: MainWindow, row: Row) -> EventFilter:
    email = window.model.email_of(row.user_id)
    return EventFilter(user_email=email) if email else EventFilter(user_id=row.user_id)


def a_rich_row(window: MainWindow) -> tuple[int, Row]:
    position = find_row(window, lambda r: r.user_id and r.ip and r.agent_id and r.task_id)
    row = window.model.row_at(position)
    assert row is not None
    return position, row


def test_each_same_pivot_replaces_the_filter_and_shows_the_mirrors_rows(
    window: MainWindow, qtbot: QtBot, sql: sqlite3.Connection
) -> None:
    position, row = a_rich_row(window)
    columns = {"user": "user_id", "ip": "ip", "agent": "agent_id", "task": "task_id"}
    for kind, column in columns.items():
        window.filters.show_pivot(EventFilter(types=frozenset({row.category or ""})))
        settle(qtbot, window, EventFilter(types=frozenset({row.category or ""})))
        position = find_row(window, lambda r, i=row.idx: r.idx == i)
        menu = row_menu(window, position)
        pivot_action(menu, f"pivot-{kind}-all").trigger()
        expected = (
            user_of(window, row)
            if kind == "user"
            else EventFilter(**{column: getattr(row, column)})
        )
        settle(qtbot, window, expected)
        value = getattr(row, column)
        (count,) = sql.execute(
            f"SELECT COUNT(*) FROM entries WHERE {column} = ?", (value,)
        ).fetchone()
        assert window.model.count == count > 0, kind
        assert all(getattr(r, column) == value for r in loaded_rows(window)), kind
        menu.close()


def test_within_n_minutes_keeps_the_events_around_this_one(
    window: MainWindow, qtbot: QtBot, sql: sqlite3.Connection
) -> None:
    position, row = a_rich_row(window)
    menu = row_menu(window, position)
    pivot_action(menu, "pivot-user-10").trigger()
    low, high = row.ts - 10 * MINUTE_MS, row.ts + 10 * MINUTE_MS
    expected = EventFilter(
        since_ms=low, until_ms=high + 1, user_email=window.model.email_of(row.user_id)
    )
    settle(qtbot, window, expected)
    (count,) = sql.execute(
        "SELECT COUNT(*) FROM entries WHERE user_id = ? AND ts BETWEEN ? AND ?",
        (row.user_id, low, high),
    ).fetchone()
    assert window.model.count == count >= 1
    assert all(low <= r.ts <= high for r in loaded_rows(window))
    assert row.idx in {r.idx for r in loaded_rows(window)}
    # The sidebar shows it as its custom range, to the millisecond.
    assert window.filters.range.currentIndex() == CUSTOM
    assert window.filters.since_edit.dateTime().toMSecsSinceEpoch() == low
    assert any("–" in text for text in window.chips.texts())
    menu.close()


def test_any_number_of_minutes_is_chosen_in_the_menu_itself(
    window: MainWindow, qtbot: QtBot
) -> None:
    from PySide6.QtWidgets import QPushButton, QSpinBox

    position, row = a_rich_row(window)
    menu = row_menu(window, position)
    spin = next(s for s in menu.findChildren(QSpinBox) if s.objectName() == "pivot-agent-minutes")
    show = next(b for b in menu.findChildren(QPushButton) if b.objectName() == "pivot-agent-custom")
    spin.setValue(3)
    qtbot.mouseClick(show, Qt.MouseButton.LeftButton)
    low, high = row.ts - 3 * MINUTE_MS, row.ts + 3 * MINUTE_MS
    settle(qtbot, window, EventFilter(since_ms=low, until_ms=high + 1, agent_id=row.agent_id))
    assert row.idx in {r.idx for r in loaded_rows(window)}
    assert all(low <= r.ts <= high and r.agent_id == row.agent_id for r in loaded_rows(window))
    assert not menu.isVisible()


def test_just_before_and_after_shows_the_neighbours_in_log_order_with_the_event_selected(
    window: MainWindow, qtbot: QtBot
) -> None:
    window.filters.set_field("type", "agent")  # neighbours ignore the type asked for before
    settle(qtbot, window, EventFilter(types=frozenset({"agent"})))
    position = 40
    row = window.model.row_at(position)
    assert row is not None
    menu = row_menu(window, position)
    pivot_action(menu, "pivot-neighbours-10").trigger()
    settle(qtbot, window, EventFilter(idx_from=row.idx - 10, idx_until=row.idx + 11))
    rows = loaded_rows(window)
    assert sorted(r.idx for r in rows) == list(range(row.idx - 10, row.idx + 11))
    assert len({r.category for r in rows}) > 1  # whatever their type
    qtbot.waitUntil(lambda: window.detail.row is not None and window.detail.row.idx == row.idx)
    assert any(text.startswith("Log positions") for text in window.chips.texts())
    qtbot.waitUntil(lambda: sum(b.total for b in window.histogram.bars) == 21)
    qtbot.wait(50)  # the count label's layout
    menu.close()


def test_an_api_key_pivot_appears_when_the_payload_has_one(
    window: MainWindow, qtbot: QtBot, sql: sqlite3.Connection
) -> None:
    window.filters.set_types({"auth.api_key.created"})
    settle(qtbot, window, EventFilter(types=frozenset({"auth.api_key.created"})))
    window.select_row(0)
    qtbot.waitUntil(lambda: window.detail.record is not None)
    record = window.detail.record
    assert record is not None
    key = json.loads(record.raw)["event"]["key_id"]
    if window.model.rowCount() > 1:  # a row not shown in the detail pane: added on arrival
        other = row_menu(window, 1)
        qtbot.waitUntil(
            lambda: any(m.objectName() == "pivot-key_id" for m in other.findChildren(QMenu))
        )
        other.close()
    menu = row_menu(window, 0)
    pivot_action(menu, "pivot-key_id-all").trigger()
    settle(qtbot, window, EventFilter(event_field=("key_id", key)))
    expected = {
        int(i)
        for i, raw in sql.execute("SELECT idx, raw FROM entries")
        if json.loads(raw)["event"].get("key_id") == key
    }
    assert {r.idx for r in loaded_rows(window)} == expected
    assert any(text.startswith("event.key_id") for text in window.chips.texts())
    menu.close()


def test_the_detail_panes_pivot_button_opens_the_same_pivots(
    window: MainWindow, qtbot: QtBot
) -> None:
    position, row = a_rich_row(window)
    window.select_row(position)
    qtbot.waitUntil(window.detail.pivot_button.isEnabled)
    qtbot.mouseClick(window.detail.pivot_button, Qt.MouseButton.LeftButton)
    menu = window.pivots.last_detail_menu
    assert menu is not None
    qtbot.waitUntil(menu.isVisible)
    pivot_action(menu, "pivot-ip-5").trigger()
    low, high = row.ts - 5 * MINUTE_MS, row.ts + 5 * MINUTE_MS + 1
    settle(qtbot, window, EventFilter(since_ms=low, until_ms=high, ip=row.ip))
    menu.close()


def test_back_and_forward_restore_the_filter_and_the_sidebar(
    window: MainWindow, qtbot: QtBot
) -> None:
    panel = window.filters
    first = window.model.row_at(find_row(window, lambda r: r.agent_id and r.user_id))
    assert first is not None
    typed = (window.model.email_of(first.user_id) or first.user_id or "")[:4]
    week = [label for label, _ in RANGES].index("Last 30 days")
    panel.range.setCurrentIndex(week)
    panel.user.setText(typed)  # typed: a prefix
    panel.user.returnPressed.emit()
    before = panel.current_filter()
    assert before.user_email == typed + "*"
    settle(qtbot, window, before)
    position = find_row(window, lambda r: r.agent_id)
    row = window.model.row_at(position)
    assert row is not None
    menu = row_menu(window, position)
    pivot_action(menu, "pivot-agent-all").trigger()
    pivot = EventFilter(agent_id=row.agent_id)
    settle(qtbot, window, pivot)
    menu.close()
    assert window.history.back_action.isEnabled()
    assert not window.history.forward_action.isEnabled()

    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)  # Back
    settle(qtbot, window, before)
    assert panel.range.currentIndex() == week and panel.user.text() == typed
    assert panel.agent.text() == ""
    assert window.history.forward_action.isEnabled()

    window.history.forward_action.trigger()  # the toolbar's Forward
    settle(qtbot, window, pivot)
    assert panel.agent.text() == row.agent_id and panel.range.currentIndex() == 0

    window.history.back()
    settle(qtbot, window, before)
    panel.clear_part("user")  # a new step after going back drops what was ahead
    settle(qtbot, window, panel.current_filter())
    assert not window.history.forward_action.isEnabled()
    window.history.back()
    settle(qtbot, window, before)


def test_screenshot_of_the_pivot_menu(window: MainWindow, qtbot: QtBot) -> None:
    position, _row = a_rich_row(window)
    menu = row_menu(window, position)
    qtbot.waitUntil(menu.isVisible)
    sub = next(m for m in menu.findChildren(QMenu) if m.objectName() == "pivot-user")
    menu.setActiveAction(sub.menuAction())
    sub.popup(menu.mapToGlobal(menu.actionGeometry(sub.menuAction()).topRight()))
    qtbot.waitUntil(sub.isVisible)
    sub.close()
    menu.close()


def test_a_pivot_view_the_evidence_cannot_state_exports_as_its_rows(
    window: MainWindow, qtbot: QtBot
) -> None:
    row = window.model.row_at(30)
    assert row is not None
    window.pivots.show_neighbours(row.idx, 10)
    settle(qtbot, window, EventFilter(idx_from=row.idx - 10, idx_until=row.idx + 11))
    source = window.export_source()
    assert source is not None
    window_filter = EventFilter(idx_from=row.idx - 10, idx_until=row.idx + 11)
    assert source.selection == ViewRows(window_filter)
    with MirrorSnapshot(window.reader.path, source.selection) as snapshot:  # type: ignore[union-attr]
        rows = list(snapshot.selected())
    assert rows == list(range(row.idx - 10, row.idx + 11))
    assert source.filter_record(rows)["selected_rows"] == 21  # never "{}" (every event)
    # A plain filter is still exported as the filter.
    window.pivots.apply(EventFilter(agent_id=row.agent_id or "agt_none"))
    settle_or_empty = EventFilter(agent_id=row.agent_id or "agt_none")
    qtbot.waitUntil(lambda: window.model.event_filter == settle_or_empty)
    plain = window.export_source()
    assert plain is not None and isinstance(plain.selection, EventFilter)


def test_the_back_button_says_where_it_goes(window: MainWindow, qtbot: QtBot) -> None:
    window.filters.set_field("type", "auth")
    settle(qtbot, window, EventFilter(types=frozenset({"auth"})))
    window.filters.set_field("ip", "10.42.8.29")
    settle(qtbot, window, EventFilter(types=frozenset({"auth"}), ip="10.42.8.29"))
    assert window.history.back_action.toolTip().endswith("Type: auth")
    window.history.back()
    assert "IP 10.42.8.29" in window.history.forward_action.toolTip()
    window.history.back()
    assert window.history.back_action.toolTip().endswith("nothing before")
