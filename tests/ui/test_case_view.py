"""Stars, notes and the Case view in the real window on a real mirror (a private copy, so the
case file beside it starts empty)."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from auditlens.mirror.case_file import CaseFile, case_path_for
from auditlens.mirror.filter import EventFilter
from auditlens.ui.main_window import MainWindow
from auditlens.ui.table_model import INDEX
from tests.ui.conftest import wait_loaded
from tests.ui.mirror_factory import NOW_MS, BuiltMirror


@pytest.fixture
def mirror(tmp_path: Path, demo_mirror: BuiltMirror) -> Path:
    path = tmp_path / "case-demo.sqlite"
    shutil.copyfile(demo_mirror.path, path)
    return path


def open_window(qtbot: QtBot, mirror: Path) -> MainWindow:
    w = MainWindow(clock=lambda: NOW_MS)
    qtbot.addWidget(w)
    w.open_mirror(mirror)
    w.show()
    wait_loaded(qtbot, w)
    return w


@pytest.fixture
def window(qtbot: QtBot, mirror: Path) -> Iterator[MainWindow]:
    w = open_window(qtbot, mirror)
    yield w
    w.runner.wait()


def press_b(qtbot: QtBot, window: MainWindow, row: int) -> None:
    window.select_row(row)
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_B)


def index_text(window: MainWindow, row: int) -> str:
    """The Index cell as drawn (the delegate adds the star)."""
    from PySide6.QtWidgets import QStyleOptionViewItem

    option = QStyleOptionViewItem()
    window.table.star_delegate.initStyleOption(option, window.model.index(row, INDEX))
    return option.text


def test_b_stars_the_selected_event(qtbot: QtBot, window: MainWindow, mirror: Path) -> None:
    row = window.model.row_at(2)
    assert row is not None
    press_b(qtbot, window, 2)
    assert index_text(window, 2) == f"★ {row.idx}"
    assert window.detail.star_button.text() == "★ Starred"
    assert not index_text(window, 3).startswith("★")
    case = CaseFile(case_path_for(mirror))
    assert [(a.idx, a.event_id, a.starred) for a in case.annotations()] == [(row.idx, row.id, True)]
    case.close()
    press_b(qtbot, window, 2)  # b again unstars
    assert index_text(window, 2) == str(row.idx)
    assert window.detail.star_button.text() == "☆ Star"
    window.detail.star_button.click()  # so does the detail pane's button
    assert index_text(window, 2) == f"★ {row.idx}"
    rect = window.table.visualRect(window.model.index(5, 0))
    menu = window._table_context_menu(rect.center())
    star = next(a for a in menu.actions() if a.text().startswith("Star"))
    menu.close()
    star.trigger()  # and the row's context menu, for row 5
    assert index_text(window, 5).startswith("★ ")
    # The mirror itself was not written: it has no table for notes.
    conn = sqlite3.connect(mirror)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert not any("annotation" in t or "case" in t for t in tables)


def test_note_persists_across_windows(qtbot: QtBot, window: MainWindow, mirror: Path) -> None:
    row = window.model.row_at(4)
    assert row is not None
    window.select_row(4)
    qtbot.waitUntil(window.detail.note.isEnabled, timeout=3_000)
    assert "not part of the evidence" in window.detail.note_label.text()
    window.detail.note.setFocus()
    qtbot.keyClicks(window.detail.note, "seen from a new IP")
    window.select_row(5)  # selecting another event saves the note at once
    window.close()

    again = open_window(qtbot, mirror)
    position = next(
        i
        for i in range(again.model.rowCount())
        if (r := again.model.row_at(i)) is not None and r.idx == row.idx
    )
    again.select_row(position)
    assert again.detail.note.toPlainText() == "seen from a new IP"
    again.case.action.trigger()
    qtbot.waitUntil(lambda: again.case.view.indexes() == [row.idx], timeout=3_000)
    assert not again.grab().isNull()
    again.select_row(position + 1)
    assert again.detail.note.toPlainText() == ""
    again.close()


def test_note_saved_after_typing_stops(qtbot: QtBot, window: MainWindow, mirror: Path) -> None:
    row = window.model.row_at(1)
    assert row is not None
    window.select_row(1)
    qtbot.keyClicks(window.detail.note, "draft")
    case = CaseFile(case_path_for(mirror))
    qtbot.waitUntil(lambda: case.annotation(row.idx, row.id).note == "draft", timeout=3_000)
    case.close()


def test_mismatched_case_file_refuses_the_note(
    qtbot: QtBot, window: MainWindow, mirror: Path
) -> None:
    """A case file written for another log never shows its note on this log's event."""
    row = window.model.row_at(0)
    assert row is not None
    window.close()
    case = CaseFile(case_path_for(mirror))
    case.set_note(row.idx, "log_01KH00000000000000000OTHER", "about another event")
    case.close()
    again = open_window(qtbot, mirror)
    again.select_row(0)
    assert not again.detail.note.isEnabled()
    assert "another log" in again.detail.note.toPlainText()
    press_b(qtbot, again, 0)
    assert "another log" in again.statusBar().currentMessage()
    again.close()


def test_case_view_lists_and_navigates(
    qtbot: QtBot, window: MainWindow, mirror: Path, tmp_path: Path
) -> None:
    picked = [window.model.row_at(r) for r in (6, 1, 3)]
    for r in (6, 1, 3):
        press_b(qtbot, window, r)
    window.select_row(3)
    window.detail.note.setPlainText("the key leaves here")
    window.select_row(0)
    window.case.action.trigger()
    view = window.case.view
    assert view.isVisible()
    wanted = sorted(row.idx for row in picked if row is not None)
    qtbot.waitUntil(lambda: view.indexes() == wanted, timeout=3_000)  # log order
    notes = [view.events.topLevelItem(i).text(4) for i in range(3)]  # type: ignore[union-attr]
    assert "the key leaves here" in notes
    assert window.grab().save(str(tmp_path / "case-view.png"))  # looked at while building

    # Double-click a line: that event becomes the current row.
    item = view.events.topLevelItem(1)
    assert item is not None
    qtbot.waitUntil(lambda: view.events.visualItemRect(item).height() > 0, timeout=3_000)
    qtbot.wait(50)  # the dock's first layout
    rect = view.events.visualItemRect(item)
    qtbot.mouseClick(view.events.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(view.events.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    current = window.model.row_at(window.table.currentIndex().row())
    assert current is not None and current.idx == wanted[1]

    # An event outside the current filter: shown with its neighbours, selected.
    first_ten = EventFilter(idx_from=0, idx_until=10)
    window.pivots.apply(first_ten)
    qtbot.waitUntil(lambda: window.model.event_filter == first_ten, timeout=3_000)
    wait_loaded(qtbot, window)
    view.event_activated.emit(wanted[0])
    qtbot.waitUntil(lambda: window.model.event_filter != first_ten, timeout=3_000)

    def selected() -> bool:
        row = window.model.row_at(window.table.currentIndex().row())
        return row is not None and row.idx == wanted[0]

    qtbot.waitUntil(selected, timeout=3_000)
    f = window.model.event_filter
    assert f.idx_from is not None and f.idx_until is not None
    assert f.idx_from <= wanted[0] < f.idx_until


def test_saved_searches(
    qtbot: QtBot, window: MainWindow, mirror: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Save the filters and columns, put them back, across a new window; rename, delete."""
    from PySide6.QtWidgets import QInputDialog, QMessageBox

    from auditlens.ui.table_model import IP

    row = window.model.row_at(0)
    assert row is not None and row.task_id is not None
    window.filters.set_field("task", row.task_id)
    qtbot.waitUntil(lambda: window.model.event_filter.task_id == row.task_id, timeout=3_000)
    wanted = window.model.event_filter
    window.table.set_column_visible(IP, True)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("task story", True))
    window.case.view.save_button.click()
    assert window.case.view.search_names() == ["task story"]
    window.filters.reset()
    window.table.set_column_visible(IP, False)
    qtbot.waitUntil(lambda: window.model.event_filter.is_empty(), timeout=3_000)  # noqa: PLW0108 (re-read)
    window.close()

    again = open_window(qtbot, mirror)
    view = again.case.view
    assert view.search_names() == ["task story"]
    view.searches.setCurrentRow(0)
    view.search_activated.emit("task story")
    qtbot.waitUntil(lambda: again.model.event_filter == wanted, timeout=3_000)
    assert not again.table.horizontalHeader().isSectionHidden(IP)

    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Task A, whole story", True))
    view.rename_button.click()
    assert view.search_names() == ["Task A, whole story"]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    view.searches.setCurrentRow(0)
    view.tabs.setCurrentIndex(1)
    again.case.action.trigger()
    qtbot.waitUntil(view.isVisible, timeout=3_000)
    view.delete_button.click()
    assert view.search_names() == []
    again.close()
