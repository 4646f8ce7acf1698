"""Full keyboard use and accessible names, in the real window and the dialogs it opens.

The names are read the way a screen reader reads them: through Qt's accessibility interface
(``QAccessible.queryAccessibleInterface(widget).text(Name)``), which falls back to a button's
text or a label's buddy, so a control counts as named exactly when assistive technology has a
name to say.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QScrollBar,
    QTabBar,
    QTabWidget,
    QTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from auditlens.ui.app import Viewer
from auditlens.ui.main_window import MainWindow
from auditlens.ui.shortcuts import name_clear_buttons
from auditlens.ui.table_model import OUTCOME
from tests.ui.conftest import wait_loaded
from tests.ui.mirror_factory import NOW_MS, BuiltMirror

CONTROLS = (
    QAbstractButton,
    QLineEdit,
    QComboBox,
    QAbstractItemView,
    QAbstractSpinBox,
    QPlainTextEdit,
    QTextEdit,
    QAbstractSlider,
    QTabBar,
    QTabWidget,
)
#: Parts of a named view that a screen reader announces with it.
PARTS = (QScrollBar, QHeaderView)


def accessible_name(widget: QWidget) -> str:
    iface = QAccessible.queryAccessibleInterface(widget)
    return iface.text(QAccessible.Text.Name) if iface is not None else ""


def unnamed_controls(root: QWidget) -> list[str]:
    """Every shown control under ``root`` without an accessible name, described."""
    out = []
    for widget in [root, *root.findChildren(QWidget)]:
        if widget is not root and not widget.isVisibleTo(root):
            continue
        if isinstance(widget, PARTS) or isinstance(widget.parent(), QComboBox):
            continue  # announced with their view or combo box, which must be named
        focusable = widget.focusPolicy() != Qt.FocusPolicy.NoFocus
        if (isinstance(widget, CONTROLS) or focusable) and not accessible_name(widget):
            parent = type(widget.parent()).__name__ if widget.parent() else "-"
            out.append(f"{type(widget).__name__} {widget.objectName()!r} in {parent}")
    return out


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path, demo_mirror: BuiltMirror) -> Iterator[MainWindow]:
    mirror = tmp_path / "a11y.sqlite"  # a private copy: the case file beside it starts empty
    shutil.copyfile(demo_mirror.path, mirror)
    w = MainWindow(clock=lambda: NOW_MS)
    qtbot.addWidget(w)
    w.open_mirror(mirror)
    w.resize(1400, 860)
    w.show()
    wait_loaded(qtbot, w)
    yield w
    w.runner.wait()


def test_every_control_of_the_main_window_has_an_accessible_name(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.case.view.setVisible(True)
    window.select_row(0)
    qtbot.waitUntil(lambda: '"id"' in window.detail.json.toPlainText(), timeout=3_000)
    assert unnamed_controls(window) == []


def test_every_control_of_the_dialogs_has_an_accessible_name(
    qtbot: QtBot, window: MainWindow
) -> None:
    export = window.show_export_dialog()
    assert export is not None
    qtbot.waitUntil(lambda: export.state == "ready", timeout=10_000)
    name_clear_buttons(export)
    verify = window.show_verify_dialog()
    name_clear_buttons(verify)
    trail = window.open_task_trail(None)
    name_clear_buttons(trail)
    problems = {
        "export": unnamed_controls(export),
        "verify": unnamed_controls(verify),
        "trail": unnamed_controls(trail),
    }
    assert problems == {"export": [], "verify": [], "trail": []}
    for dialog in (export, verify, trail):
        dialog.close()


def test_the_app_dialogs_have_accessible_names(viewer: Viewer, qtbot: QtBot) -> None:
    sign_in = viewer.show_sign_in()
    about = viewer.show_about()
    assert {"sign in": unnamed_controls(sign_in), "about": unnamed_controls(about)} == {
        "sign in": [],
        "about": [],
    }
    sign_in.close()
    about.close()


# -- keys -------------------------------------------------------------------------------------


def test_slash_focuses_the_search_and_n_steps_through_hits(
    qtbot: QtBot, window: MainWindow, qapp: QApplication
) -> None:
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_Slash)
    assert qapp.focusWidget() is window.query_bar.field
    qtbot.keyClicks(window.query_bar.field, "navigate")  # typing n in the field types it
    assert window.query_bar.field.text() == "navigate"
    qtbot.keyClick(window.query_bar.field, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: window.model.count is not None and window.model.count > 3, timeout=5_000
    )
    wait_loaded(qtbot, window)
    window.select_row(0)
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_N)
    assert window.table.currentIndex().row() == 1
    assert window.statusBar().currentMessage().startswith("Hit 2 of")
    qtbot.keyClick(window.table, Qt.Key.Key_N)
    qtbot.keyClick(window.table, Qt.Key.Key_N)
    assert window.table.currentIndex().row() == 3
    qtbot.keyClick(window.table, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)
    assert window.table.currentIndex().row() == 2
    row = window.model.row_at(2)
    assert row is not None and "navigate" in (row.summary or "")


def test_n_without_a_search_says_how_to_start_one(qtbot: QtBot, window: MainWindow) -> None:
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_N)
    assert "press / to search" in window.statusBar().currentMessage()


def test_b_stars_from_the_detail_pane_but_types_in_the_note(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.select_row(3)
    row = window.model.row_at(3)
    assert row is not None
    qtbot.waitUntil(window.detail.note.isEnabled, timeout=3_000)
    window.detail.copy_button.setFocus()
    qtbot.keyClick(window.detail.copy_button, Qt.Key.Key_B)
    assert window.case.file is not None
    assert window.case.file.annotation(row.idx, row.id).starred
    window.detail.note.setFocus()
    qtbot.keyClicks(window.detail.note, "bb")
    assert window.detail.note.toPlainText() == "bb"
    assert window.case.file.annotation(row.idx, row.id).starred  # b in the note did not unstar


def test_enter_opens_the_trail_of_the_current_event(qtbot: QtBot, window: MainWindow) -> None:
    model = window.model
    with_task = next(
        r
        for r in range(model.rowCount())
        if (row := model.row_at(r)) is not None and row.task_id is not None
    )
    without = next(
        r for r in range(model.rowCount()) if (row := model.row_at(r)) and row.task_id is None
    )
    window.select_row(without)
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_Return)
    assert window.trail_window is None
    assert "no task" in window.statusBar().currentMessage()
    window.select_row(with_task)
    qtbot.keyClick(window.table, Qt.Key.Key_Return)
    trail = window.trail_window
    assert trail is not None and trail.isVisible()
    task_row = model.row_at(with_task)
    assert task_row is not None and trail.task_field.text() == task_row.task_id
    trail.close()
    assert model.data(model.index(with_task, OUTCOME)) in ("success", "failure", "denied")


def test_help_lists_the_investigation_keys(window: MainWindow) -> None:
    from auditlens.ui.about_dialog import SHORTCUTS
    from auditlens.ui.shortcuts import RELATIVE_TIMES_KEY

    listed = {keys for keys, _ in SHORTCUTS}
    keys = window.shortcuts
    assert keys.next_hit.key().toString() == "N" and "n / Shift+N" in listed
    assert keys.previous_hit.key().toString() == "Shift+N"
    assert keys.star.key().toString() == "B" and "b" in listed
    assert keys.relative_action.shortcut().toString() == RELATIVE_TIMES_KEY in listed
    assert window.case.action.shortcut().toString() in listed
    assert {"/", "Enter"} <= listed
