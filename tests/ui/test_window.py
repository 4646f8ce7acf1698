"""The main window: each filter and combinations, the detail pane, the keyboard."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from auditlens.core.timestamps import format_timestamp
from auditlens.mirror.filter import EventFilter
from auditlens.ui.filter_panel import DAY_MS, RANGES, filter_chips
from auditlens.ui.main_window import MainWindow
from auditlens.ui.table_model import AGENT, INDEX, TASK, TYPE, USER
from tests.ui.conftest import MIRROR_EVENTS, wait_loaded
from tests.ui.mirror_factory import NOW_MS


def count_of(window: MainWindow, f: EventFilter) -> int:
    assert window.reader is not None
    return window.reader.count(f)


def settle(qtbot: QtBot, window: MainWindow, f: EventFilter) -> None:
    """Wait until the window shows exactly ``f``."""
    qtbot.waitUntil(lambda: window.model.event_filter == f, timeout=3_000)
    wait_loaded(qtbot, window)


def check_shows(qtbot: QtBot, window: MainWindow, f: EventFilter) -> None:
    settle(qtbot, window, f)
    n = count_of(window, f)
    assert window.model.rowCount() == n
    assert window.count_label.text() == f"{n:,} matching events"
    assert window.chips.texts() == [text for _, text in filter_chips(f)]
    assert window.chips.all_label.isHidden() == (not f.is_empty())


def test_the_outcome_filter(window: MainWindow, qtbot: QtBot) -> None:
    window.filters.outcome.setCurrentIndex(2)
    f = EventFilter(outcome="failure")
    check_shows(qtbot, window, f)
    assert window.chips.texts() == ["Outcome: failure"]
    assert 0 < window.model.rowCount() < MIRROR_EVENTS


def test_a_time_range_preset_counts_back_from_now(window: MainWindow, qtbot: QtBot) -> None:
    labels = [label for label, _ in RANGES]
    window.filters.range.setCurrentIndex(labels.index("Last 7 days"))
    check_shows(qtbot, window, EventFilter(since_ms=NOW_MS - 7 * DAY_MS))


def test_a_custom_utc_range(window: MainWindow, qtbot: QtBot) -> None:
    window.filters.set_custom_range(NOW_MS - 20 * DAY_MS, NOW_MS - 10 * DAY_MS)
    f = EventFilter(since_ms=NOW_MS - 20 * DAY_MS, until_ms=NOW_MS - 10 * DAY_MS)
    check_shows(qtbot, window, f)
    assert window.filters.custom.isVisible()
    times = [window.model.row_at(r).ts for r in range(50)]  # type: ignore[union-attr]
    assert all(f.since_ms <= t < f.until_ms for t in times)  # type: ignore[operator]


def test_the_user_filter_completes_from_the_directory(window: MainWindow, qtbot: QtBot) -> None:
    completions = window.filters.completer.model()
    qtbot.waitUntil(lambda: completions.rowCount() > 0)
    email = completions.index(0, 0).data()
    qtbot.keyClicks(window.filters.user, email)
    f = EventFilter(user_email=email + "*")  # typed text is a prefix
    check_shows(qtbot, window, f)
    model = window.model
    assert {model.data(model.index(r, USER)) for r in range(min(model.rowCount(), 50))} == {email}


def test_checking_a_category_filters_by_it(window: MainWindow, qtbot: QtBot) -> None:
    agent = window.filters.types.findItems("agent", Qt.MatchFlag.MatchExactly)[0]
    agent.setCheckState(0, Qt.CheckState.Checked)
    check_shows(qtbot, window, EventFilter(types=frozenset({"agent"})))
    assert window.chips.texts() == ["Type: agent"]


def test_checking_single_types_filters_by_exactly_those(window: MainWindow, qtbot: QtBot) -> None:
    window.filters.set_types({"task.failed", "approval.denied"})
    f = EventFilter(types=frozenset({"task.failed", "approval.denied"}))
    check_shows(qtbot, window, f)
    model = window.model
    shown = {model.data(model.index(r, TYPE)) for r in range(model.rowCount())}
    assert shown <= {"task.failed", "approval.denied"}


def test_task_and_agent_ids_filter_after_typing(window: MainWindow, qtbot: QtBot) -> None:
    row = window.model.row_at(3)
    assert row is not None and row.agent_id is not None
    qtbot.keyClicks(window.filters.agent, row.agent_id)
    check_shows(qtbot, window, EventFilter(agent_id=row.agent_id + "*"))
    window.filters.agent.clear()
    task = next(r for r in (window.model.row_at(i) for i in range(50)) if r and r.task_id)
    assert task is not None and task.task_id is not None
    qtbot.keyClicks(window.filters.task, task.task_id)
    check_shows(qtbot, window, EventFilter(task_id=task.task_id + "*"))


def test_filters_combine_and_reset_clears_them(window: MainWindow, qtbot: QtBot) -> None:
    window.filters.outcome.setCurrentIndex(2)
    window.filters.set_types({"agent"})
    window.filters.range.setCurrentIndex([label for label, _ in RANGES].index("Last 30 days"))
    f = EventFilter(since_ms=NOW_MS - 30 * DAY_MS, types=frozenset({"agent"}), outcome="failure")
    check_shows(qtbot, window, f)
    since = format_timestamp(NOW_MS - 30 * DAY_MS)[:16].replace("T", " ")
    assert window.chips.texts() == [f"Since {since} UTC", "Type: agent", "Outcome: failure"]
    qtbot.mouseClick(window.filters.reset_button, Qt.MouseButton.LeftButton)
    check_shows(qtbot, window, EventFilter())
    assert window.model.rowCount() == MIRROR_EVENTS


def select_and_wait(window: MainWindow, qtbot: QtBot, row: int) -> None:
    window.select_row(row)
    expected = window.model.row_at(row)
    assert expected is not None
    qtbot.waitUntil(
        lambda: window.detail.record is not None and window.detail.record.idx == expected.idx
    )


def test_the_detail_pane_shows_the_event_and_its_proof(window: MainWindow, qtbot: QtBot) -> None:
    select_and_wait(window, qtbot, 2)
    row = window.model.row_at(2)
    assert row is not None
    text = window.detail.json.toPlainText()
    event = json.loads(text)
    assert event["id"] == row.id
    assert list(event)[:3] == ["id", "timestamp", "type"]  # schema order, not canonical order
    proof = window.detail.proof.text()
    assert f"Index <b>{row.idx:,}</b>" in proof
    assert f"checkpoint size <b>{MIRROR_EVENTS:,}</b>" in proof
    assert window.detail.record is not None
    assert window.detail.record.leaf_hash.hex() in window.detail.proof.toolTip()


def test_copy_puts_the_event_json_on_the_clipboard(window: MainWindow, qtbot: QtBot) -> None:
    select_and_wait(window, qtbot, 0)
    qtbot.mouseClick(window.detail.copy_button, Qt.MouseButton.LeftButton)
    copied = json.loads(QGuiApplication.clipboard().text())
    assert copied["id"] == window.model.row_at(0).id  # type: ignore[union-attr]


def test_clicking_an_id_in_the_detail_pane_filters_by_it(window: MainWindow, qtbot: QtBot) -> None:
    row_number = next(
        i for i in range(100) if (r := window.model.row_at(i)) and r.task_id and r.agent_id
    )
    select_and_wait(window, qtbot, row_number)
    row = window.model.row_at(row_number)
    assert row is not None and row.task_id is not None
    window.detail.ids.linkActivated.emit(f"task:{row.task_id}")
    check_shows(qtbot, window, EventFilter(task_id=row.task_id))
    model = window.model
    assert {model.data(model.index(r, TASK)) for r in range(model.rowCount())} == {row.task_id}
    window.detail.ids.linkActivated.emit(f"agent:{row.agent_id}")
    check_shows(qtbot, window, EventFilter(task_id=row.task_id, agent_id=row.agent_id))
    assert {model.data(model.index(r, AGENT)) for r in range(model.rowCount())} == {row.agent_id}


def test_arrow_keys_move_through_rows_and_update_the_pane(window: MainWindow, qtbot: QtBot) -> None:
    select_and_wait(window, qtbot, 0)
    window.table.setFocus()
    for expected in (1, 2, 3):
        qtbot.keyClick(window.table, Qt.Key.Key_Down)
        select_row = window.model.row_at(expected)
        assert select_row is not None
        qtbot.waitUntil(
            lambda r=select_row: (
                window.detail.record is not None and window.detail.record.idx == r.idx
            )
        )
    qtbot.keyClick(window.table, Qt.Key.Key_Up)
    assert window.table.currentIndex().row() == 2
    assert window.model.data(window.model.index(2, INDEX)) == str(window.detail.row.idx)  # type: ignore[union-attr]


def test_ctrl_f_focuses_the_filter(window: MainWindow, qtbot: QtBot) -> None:
    window.activateWindow()
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.filters.user)


def test_f5_asks_for_a_sync(window: MainWindow, qtbot: QtBot) -> None:
    window.table.setFocus()
    with qtbot.waitSignal(window.sync_requested, timeout=1_000):
        qtbot.keyClick(window.table, Qt.Key.Key_F5)


def test_the_status_bar_says_what_is_verified(window: MainWindow, qtbot: QtBot) -> None:
    qtbot.waitUntil(lambda: window.status_label.text().startswith("Verified"))
    assert window.status_label.text() == (
        f"Verified {MIRROR_EVENTS:,} events up to checkpoint size {MIRROR_EVENTS:,}, "
        "signed by auditlens.local/acme, synced 12:00 UTC"
    )
