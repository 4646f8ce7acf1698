"""The query bar in the real window: one filter with the sidebar, errors, completion, saving."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from auditlens.core.timestamps import parse_timestamp
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.snapshot import MirrorSnapshot, ViewRows
from auditlens.ui.filter_panel import CUSTOM, DAY_MS, RANGES
from auditlens.ui.main_window import MainWindow
from tests.ui.conftest import wait_loaded
from tests.ui.mirror_factory import NOW_MS, BuiltMirror


def type_query(qtbot: QtBot, window: MainWindow, text: str) -> None:
    """Type ``text`` into the bar as a person would, and press Enter."""
    field = window.query_bar.field
    field.setFocus()
    field.selectAll()  # typed over: replaced at the first key, never empty meanwhile
    qtbot.keyClicks(field, text)
    window.query_bar.completer.popup().hide()  # Enter applies; it would pick a completion
    qtbot.keyClick(field, Qt.Key.Key_Return)


def save_with_popup(window: MainWindow, popup: QWidget, path: str) -> None:
    """The window with the completion list drawn where it is (a popup is its own window)."""
    shot = window.grab()
    painter = QPainter(shot)
    painter.drawPixmap(window.mapFromGlobal(popup.mapToGlobal(QPoint(0, 0))), popup.grab())
    painter.end()
    shot.save(path)


def test_a_query_sets_the_sidebar_the_table_and_the_chips(window: MainWindow, qtbot: QtBot) -> None:
    reader = window.reader
    assert reader is not None
    type_query(qtbot, window, "type:agent outcome:failure user:ana* after:2026-01-01")
    wanted = EventFilter(
        since_ms=parse_timestamp("2026-01-01T00:00:00Z"),
        types=frozenset({"agent"}),
        outcome="failure",
        user_email="ana*",
    )
    qtbot.waitUntil(lambda: window.model.event_filter == wanted, timeout=3_000)
    wait_loaded(qtbot, window)
    panel = window.filters
    assert panel.current_filter() == wanted
    assert panel.user.text() == "ana*"
    assert panel.outcome.currentText() == "Failure"
    assert panel.range.currentIndex() == CUSTOM
    assert panel.until_edit.text() == "no limit"  # after: alone: the To end is open
    assert window.model.count == reader.count(wanted)
    chips = [text for _, text in window.chips.shown] if hasattr(window.chips, "shown") else None
    assert chips is None or any("Type: agent" in c for c in chips)
    assert window.query_bar.field.text() == "type:agent outcome:failure user:ana* after:2026-01-01"
    assert window.query_bar.hint.text() == ""


def test_the_sidebar_writes_the_bar_and_the_bar_does_not_write_back(
    window: MainWindow, qtbot: QtBot
) -> None:
    changes: list[EventFilter] = []
    window.filters.filter_changed.connect(changes.append)
    window.filters.set_types({"approval"})
    qtbot.waitUntil(lambda: window.model.event_filter.types == frozenset({"approval"}))
    assert window.query_bar.field.text() == "type:approval"
    window.filters.range.setCurrentIndex(2)  # Last 24 hours
    qtbot.waitUntil(lambda: window.model.event_filter.since_ms == NOW_MS - DAY_MS)
    assert window.query_bar.field.text() == "after:-24h type:approval"
    assert len(changes) == 2  # one query per change: the bar's update sent nothing back
    # And a relative after: typed in the bar is the sidebar's preset.
    type_query(qtbot, window, "after:-7d")
    qtbot.waitUntil(lambda: window.model.event_filter == EventFilter(since_ms=NOW_MS - 7 * DAY_MS))
    assert RANGES[window.filters.range.currentIndex()][0] == "Last 7 days"
    assert window.query_bar.field.text() == "after:-7d"
    assert len(changes) == 3


def test_words_stay_as_typed_when_they_say_the_same(window: MainWindow, qtbot: QtBot) -> None:
    type_query(qtbot, window, "outcome:denied   type:auth")
    qtbot.waitUntil(lambda: window.model.event_filter.outcome == "denied")
    assert window.query_bar.field.text() == "outcome:denied   type:auth"


def test_a_bad_token_is_pointed_at_and_nothing_is_applied(window: MainWindow, qtbot: QtBot) -> None:
    before = window.model.event_filter
    type_query(qtbot, window, "type:agent usr:ana")
    bar = window.query_bar
    assert bar.error.isVisible()
    assert "unknown qualifier “usr:”" in bar.error.text()
    assert "at character 12" in bar.error.text()
    assert bar.error_at is not None and (bar.error_at.position, bar.error_at.end) == (11, 18)
    assert bar.field.cursorPosition() == 18
    assert window.model.event_filter == before
    window.resize(1400, 820)
    qtbot.wait(50)
    # Editing hides the error; Esc drops the edit.
    qtbot.keyClick(bar.field, Qt.Key.Key_Backspace)
    assert not bar.error.isVisible()
    qtbot.keyClick(bar.field, Qt.Key.Key_Escape)
    assert bar.field.text() == ""


def test_esc_clears_the_words_and_keeps_the_filters(window: MainWindow, qtbot: QtBot) -> None:
    type_query(qtbot, window, "type:agent pytest")
    qtbot.waitUntil(lambda: window.model.event_filter.text == "pytest")
    qtbot.keyClick(window.query_bar.field, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.model.event_filter == EventFilter(types=frozenset({"agent"})))
    assert window.query_bar.field.text() == "type:agent"


def test_completion_offers_qualifiers_then_their_values(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    bar = window.query_bar
    bar.field.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is bar.field)
    qtbot.keyClicks(bar.field, "outcome:denied ty")
    popup = bar.completer.popup()
    qtbot.waitUntil(popup.isVisible)
    assert bar.completer.currentCompletion() == "type:"
    window.resize(1400, 820)
    qtbot.keyClick(bar.field, Qt.Key.Key_Backspace)
    qtbot.keyClick(bar.field, Qt.Key.Key_Backspace)  # "outcome:denied ": every qualifier
    bar.update_completion(force=True)
    qtbot.waitUntil(popup.isVisible)
    save_with_popup(window, popup, str(tmp_path / "qualifiers.png"))
    qtbot.keyClicks(bar.field, "ty")
    bar.completer.activated.emit("type:")
    assert bar.field.text() == "outcome:denied type:"
    qtbot.waitUntil(popup.isVisible)
    qtbot.keyClicks(bar.field, "appr")
    assert bar.completer.currentCompletion().startswith("approval")
    window.resize(1400, 820)
    qtbot.wait(50)
    save_with_popup(window, popup, str(tmp_path / "completion.png"))
    # Enter in the list picks the completion; it does not apply the unfinished line.
    view = popup
    wanted = bar.completer.completionModel().match(
        bar.completer.completionModel().index(0, 0),
        Qt.ItemDataRole.DisplayRole,
        "approval.denied",
    )[0]
    view.setCurrentIndex(wanted)
    applied = window.model.event_filter
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert bar.field.text() == "outcome:denied type:approval.denied "
    assert not popup.isVisible()
    assert window.model.event_filter == applied
    # Known values come from the mirror (read on a worker when it opened).
    reader = window.reader
    assert reader is not None
    agents = reader.known_values("agent_id")
    qtbot.keyClicks(bar.field, "agent:" + agents[0][:5])
    qtbot.waitUntil(popup.isVisible)
    assert bar.completer.currentCompletion() in agents


def test_task_ids_are_completed_per_prefix_on_a_worker(window: MainWindow, qtbot: QtBot) -> None:
    row = window.model.row_at(0)
    assert row is not None and row.task_id
    bar = window.query_bar
    window.activateWindow()
    bar.field.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is bar.field)
    qtbot.keyClicks(bar.field, "task:" + row.task_id[:-2])
    qtbot.waitUntil(lambda: row.task_id in bar._values.get("task", []), timeout=3_000)
    qtbot.waitUntil(bar.completer.popup().isVisible)


def test_exclusions_show_as_a_chip_and_export_as_the_rows_shown(
    window: MainWindow, qtbot: QtBot
) -> None:
    reader = window.reader
    assert reader is not None
    row = window.model.row_at(0)
    assert row is not None and row.task_id
    type_query(qtbot, window, f"task:{row.task_id} -type:task.started -outcome:success")
    wanted = EventFilter(
        task_id=row.task_id,
        exclude=frozenset({("type", "task.started"), ("outcome", "success")}),
    )
    qtbot.waitUntil(lambda: window.model.event_filter == wanted, timeout=3_000)
    wait_loaded(qtbot, window)
    assert window.model.count == reader.count(wanted)
    from auditlens.ui.filter_state import filter_chips

    assert ("exclude", "Not outcome success, not type task.started") in filter_chips(wanted)
    source = window.export_source()  # the evidence cannot state "not": the rows themselves
    assert source is not None and source.selection == ViewRows(wanted)
    with MirrorSnapshot(reader.path, source.selection) as snapshot:
        assert snapshot.selected_count() == window.model.count
    # The chip's ✕ removes the exclusions only.
    window.filters.clear_part("exclude")
    qtbot.waitUntil(lambda: window.model.event_filter == EventFilter(task_id=row.task_id))
    assert window.query_bar.field.text() == f"task:{row.task_id}"


def test_back_returns_to_the_previous_query_words_included(
    window: MainWindow, qtbot: QtBot
) -> None:
    type_query(qtbot, window, "pytest")
    qtbot.waitUntil(lambda: window.model.event_filter.text == "pytest")
    type_query(qtbot, window, "type:agent")
    qtbot.waitUntil(lambda: window.model.event_filter == EventFilter(types=frozenset({"agent"})))
    window.history.back()
    qtbot.waitUntil(lambda: window.model.event_filter == EventFilter(text="pytest"))
    assert window.query_bar.field.text() == "pytest"


@pytest.fixture
def own_mirror(tmp_path: Path, demo_mirror: BuiltMirror) -> Path:
    path = tmp_path / "query-demo.sqlite"
    shutil.copyfile(demo_mirror.path, path)
    return path


@pytest.fixture
def own_window(qtbot: QtBot, own_mirror: Path) -> Iterator[MainWindow]:
    w = MainWindow(clock=lambda: NOW_MS)
    qtbot.addWidget(w)
    w.open_mirror(own_mirror)
    w.show()
    wait_loaded(qtbot, w)
    yield w
    w.runner.wait()


def test_saved_searches_carry_the_query_line_and_old_ones_still_apply(
    own_window: MainWindow, qtbot: QtBot
) -> None:
    window = own_window
    case = window.case
    assert case.file is not None
    type_query(qtbot, window, "after:-24h type:agent -ip:10.* pytest")
    qtbot.waitUntil(lambda: window.model.event_filter.text == "pytest")
    case.save_search("agents, last day")
    saved = {s.name: s for s in case.file.saved_searches()}
    assert saved["agents, last day"].query == "after:-24h type:agent -ip:10.* pytest"
    # A search saved by the viewer before the query bar: the sidebar's state.
    case.file.save_search(
        "old one", {"texts": [["task", "tsk_1"]], "exact": [], "outcome_index": 3, "columns": []}
    )
    window.filters.reset()
    qtbot.waitUntil(lambda: window.model.event_filter.is_empty())  # noqa: PLW0108 (re-read)
    case.apply_search("agents, last day")
    qtbot.waitUntil(lambda: window.model.event_filter.text == "pytest")
    assert window.model.event_filter.since_ms == NOW_MS - DAY_MS
    assert RANGES[window.filters.range.currentIndex()][0] == "Last 24 hours"
    case.apply_search("old one")
    wanted = EventFilter(task_id="tsk_1*", outcome="denied")
    qtbot.waitUntil(lambda: window.model.event_filter == wanted)
    assert window.query_bar.field.text() == "task:tsk_1* outcome:denied"
    # A saved line this viewer cannot read is said, not applied.
    case.file.save_query("broken", "usr:x")
    case.apply_search("broken")
    assert window.model.event_filter == wanted
    assert "cannot be applied" in window.statusBar().currentMessage()


def test_slash_focuses_the_bar(window: MainWindow, qtbot: QtBot) -> None:
    window.activateWindow()
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_Slash)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.query_bar.field)
    assert window.query_bar.field.text() == ""


def test_gui_query_with_a_bad_token_is_a_usage_error_before_any_window(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import argparse

    from auditlens.ui.commands import run_gui

    args = argparse.Namespace(server=None, sync_every=0, query="type:agent usr:x")
    assert run_gui(args) == 2
    assert "--query: unknown qualifier “usr:”" in capsys.readouterr().err


def test_a_query_applied_before_the_mirror_opens_stays(
    qtbot: QtBot, demo_mirror: BuiltMirror
) -> None:
    w = MainWindow(clock=lambda: NOW_MS)
    qtbot.addWidget(w)
    w.query_bar.field.setText("outcome:denied")  # as `auditlens gui --query` does
    w.query_bar.apply()
    w.open_mirror(demo_mirror.path)
    w.show()
    wait_loaded(qtbot, w)
    assert w.model.event_filter == EventFilter(outcome="denied")
    assert w.reader is not None and w.model.count == w.reader.count(EventFilter(outcome="denied"))
    w.runner.wait()


def test_enter_applies_a_word_that_only_looks_like_a_qualifier(
    window: MainWindow, qtbot: QtBot
) -> None:
    """ "agent" as a word opens the list ("agent:"); Enter with nothing chosen searches it."""
    bar = window.query_bar
    window.activateWindow()
    bar.field.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is bar.field)
    qtbot.keyClicks(bar.field, "agent")
    popup = bar.completer.popup()
    assert popup.isVisible() and not popup.currentIndex().isValid()
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.model.event_filter == EventFilter(text="agent"))
    assert not popup.isVisible()
