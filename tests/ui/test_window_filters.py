"""The filter sidebar and the chips: reset, custom range, empty results, prefixes, exact clicks."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QPaintEvent, QRegion
from pytestqt.qtbot import QtBot

from auditlens.mirror import resolve
from auditlens.mirror.filter import EventFilter
from auditlens.ui.filter_panel import CUSTOM, MINUTE_MS
from auditlens.ui.main_window import MainWindow
from auditlens.ui.table_model import USER
from tests.ui.conftest import MIRROR_EVENTS, wait_loaded


def settle(qtbot: QtBot, window: MainWindow, f: EventFilter) -> None:
    qtbot.waitUntil(lambda: window.model.event_filter == f, timeout=3_000)
    wait_loaded(qtbot, window)


class PaintSpy(QObject):
    """Collects the regions a widget repaints."""

    def __init__(self) -> None:
        super().__init__()
        self.region = QRegion()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if isinstance(event, QPaintEvent):
            self.region += event.region()
        return False


def test_reset_leaves_no_category_box_half_checked(window: MainWindow, qtbot: QtBot) -> None:
    """Every box is unchecked and every category row redrawn (the tree reports a data change
    for the types only, so a category box's drawing is not otherwise guaranteed to follow)."""
    panel = window.filters
    panel.set_types({"task.failed", "approval.denied", "auth"})
    task = panel.types.findItems("task", Qt.MatchFlag.MatchExactly)[0]
    assert task.checkState(0) == Qt.CheckState.PartiallyChecked
    qtbot.wait(50)  # drawn half-checked
    spy = PaintSpy()
    panel.types.viewport().installEventFilter(spy)
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window, EventFilter())
    qtbot.waitUntil(lambda: not spy.region.isEmpty())
    qtbot.wait(50)
    panel.types.viewport().removeEventFilter(spy)
    for name in ("task", "approval"):
        item = panel.types.findItems(name, Qt.MatchFlag.MatchExactly)[0]
        rect = panel.types.visualItemRect(item)
        assert spy.region.contains(rect), (name, rect, spy.region.boundingRect())
    for category in panel._categories():
        assert category.checkState(0) == Qt.CheckState.Unchecked, category.text(0)
        assert (
            Qt.CheckState(category.data(0, Qt.ItemDataRole.CheckStateRole))
            == Qt.CheckState.Unchecked
        )
        assert all(c.checkState(0) == Qt.CheckState.Unchecked for c in panel._children(category))


def test_custom_range_opens_on_the_span_of_the_events_in_view(
    window: MainWindow, qtbot: QtBot
) -> None:
    panel = window.filters
    panel.set_types({"approval.denied"})
    f = EventFilter(types=frozenset({"approval.denied"}))
    settle(qtbot, window, f)
    assert window.reader is not None
    span = window.reader.span(f)
    assert span is not None
    qtbot.waitUntil(lambda: panel._span == span)
    shown = window.model.count
    panel.range.setCurrentIndex(CUSTOM)
    first, last = span
    since, until = first - first % MINUTE_MS, last - last % MINUTE_MS + MINUTE_MS
    assert panel.since_edit.dateTime().toMSecsSinceEpoch() == since
    assert panel.until_edit.dateTime().toMSecsSinceEpoch() == until
    custom = EventFilter(since_ms=since, until_ms=until, types=f.types)
    settle(qtbot, window, custom)
    assert window.model.count == shown  # the same events, not "now to now" and 0 events


def test_an_empty_result_says_so_and_offers_to_clear_the_filters(
    window: MainWindow, qtbot: QtBot
) -> None:
    empty = window.table.empty_state
    assert empty.isHidden()
    window.filters.set_field("task", "tsk_nobody_has_this")
    settle(qtbot, window, EventFilter(task_id="tsk_nobody_has_this"))
    qtbot.waitUntil(empty.isVisible)
    assert empty.title.text() == "No events match these filters"
    assert empty.clear_button.isVisible()
    qtbot.mouseClick(empty.clear_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window, EventFilter())
    assert window.model.rowCount() == MIRROR_EVENTS
    assert empty.isHidden()
    assert window.filters.task.text() == ""


def test_each_chip_reads_plainly_and_removes_its_condition(
    window: MainWindow, qtbot: QtBot
) -> None:
    panel = window.filters
    panel.outcome.setCurrentIndex(3)
    panel.set_types({"auth"})
    qtbot.keyClicks(panel.ip, "198.51.")
    f = EventFilter(types=frozenset({"auth"}), outcome="denied", ip="198.51.*")
    settle(qtbot, window, f)
    assert window.chips.texts() == ["Type: auth", "IP starts with 198.51.", "Outcome: denied"]
    assert window.chips.clear_button.isVisible()
    chip = next(c for c in window.chips.chips if c.part == "types")
    qtbot.mouseClick(chip.close_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window, EventFilter(outcome="denied", ip="198.51.*"))
    assert panel._checked_types() == set()
    chip = next(c for c in window.chips.chips if c.part == "ip")
    qtbot.mouseClick(chip.close_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window, EventFilter(outcome="denied"))
    assert panel.ip.text() == ""
    assert not window.chips.clear_button.isVisible()  # one chip: its ✕ is enough
    qtbot.mouseClick(window.chips.chips[0].close_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window, EventFilter())
    assert window.chips.texts() == [] and window.chips.all_label.isVisible()


def test_typing_the_start_of_a_name_finds_the_person(window: MainWindow, qtbot: QtBot) -> None:
    assert window.reader is not None
    email = next(u.email for u in window.reader.users() if u.email)
    start = email[:4]
    qtbot.keyClicks(window.filters.user, start)
    settle(qtbot, window, EventFilter(user_email=start + "*"))
    model = window.model
    assert model.rowCount() > 0
    users = {model.data(model.index(r, USER)) for r in range(min(model.rowCount(), 200))}
    assert all(u.lower().startswith(start.lower()) for u in users), users
    assert email in users or model.rowCount() > 200


def test_a_value_from_a_click_matches_exactly_until_it_is_edited(
    window: MainWindow, qtbot: QtBot
) -> None:
    row = next(r for r in (window.model.row_at(i) for i in range(100)) if r and r.task_id)
    assert row is not None and row.task_id is not None
    window.filters.set_field("task", row.task_id)
    settle(qtbot, window, EventFilter(task_id=row.task_id))
    assert window.chips.texts() == [f"Task {row.task_id}"]
    window.filters.task.setFocus()
    qtbot.keyClick(window.filters.task, Qt.Key.Key_Backspace)  # now typed: a prefix
    settle(qtbot, window, EventFilter(task_id=row.task_id[:-1] + "*"))
    assert window.chips.texts() == [f"Task starts with {row.task_id[:-1]}"]


def test_a_completion_picks_that_exact_value(window: MainWindow, qtbot: QtBot) -> None:
    completer = window.filters.agent_completer
    qtbot.waitUntil(lambda: completer.model().rowCount() > 0)
    agent = completer.model().index(0, 0).data()
    completer.activated.emit(agent)
    window.filters.agent.setText(agent)
    settle(qtbot, window, EventFilter(agent_id=agent))


def test_a_prefix_of_too_many_values_asks_for_more_of_it(
    window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resolve, "MAX_PREFIX_VALUES", 2)
    qtbot.keyClicks(window.filters.task, "tsk_")
    qtbot.waitUntil(lambda: window.model.event_filter == EventFilter(task_id="tsk_*"))
    empty = window.table.empty_state
    qtbot.waitUntil(empty.isVisible)
    assert empty.title.text() == "Too many matches to list"
    assert empty.detail.text() == "More than 2 task ids start with “tsk_”: type more of it."
    assert window.count_label.text() == "Too many to list"


def test_typing_a_task_id_offers_the_ids_that_start_so(window: MainWindow, qtbot: QtBot) -> None:
    row = next(r for r in (window.model.row_at(i) for i in range(100)) if r and r.task_id)
    assert row is not None and row.task_id is not None
    qtbot.keyClicks(window.filters.task, row.task_id[:8])
    completer = window.filters.task_completer
    model = completer.model()
    # The last key's list wins (an earlier, shorter prefix's list may arrive after it).
    qtbot.waitUntil(lambda: completer.completionCount() > 0)
    offered = [model.index(i, 0).data() for i in range(model.rowCount())]
    assert row.task_id in offered or len(offered) == 50
    assert all(value.startswith(row.task_id[:8]) for value in offered)
