"""Menus and keys with the whole viewer installed: F5, Ctrl+F, arrows, Help -> About (F1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from auditlens import __version__
from auditlens.server.embedded import DemoServer
from auditlens.ui.about_dialog import SHORTCUTS
from auditlens.ui.app import Viewer
from auditlens.ui.main_window import MainWindow
from tests.ui.conftest import Home
from tests.ui.test_signin_sync import sign_in_and_sync


@pytest.fixture
def full(window: MainWindow, home: Home) -> Iterator[Viewer]:
    """The test window (a demo mirror open) with the viewer's menus and shortcuts on it."""
    viewer = Viewer(
        window,
        trust=home.trust(),
        credentials=home.credentials(),
        mirror_dir=home.path / "mirrors",
        settings=home.settings(),
    )
    yield viewer
    viewer.close()


def menu_titles(window: MainWindow) -> list[str]:
    return [a.text().replace("&", "") for a in window.menuBar().actions()]


def test_the_menu_bar_has_sync_and_help_menus(full: Viewer) -> None:
    titles = menu_titles(full.window)
    assert "Sync" in titles and titles[-1] == "Help"
    sync_menu = next(a.menu() for a in full.window.menuBar().actions() if a.text() == "&Sync")
    assert full.window.sync_action in sync_menu.actions()  # the same action: F5 stays unique


def test_f5_still_asks_for_a_sync(full: Viewer, qtbot: QtBot) -> None:
    window = full.window
    window.activateWindow()
    window.table.setFocus()
    with qtbot.waitSignal(window.sync_requested, timeout=1_000):
        qtbot.keyClick(window.table, Qt.Key.Key_F5)


def test_ctrl_f_still_focuses_the_filter(full: Viewer, qtbot: QtBot) -> None:
    window = full.window
    window.activateWindow()
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.filters.user)


def test_arrows_still_move_through_rows(full: Viewer, qtbot: QtBot) -> None:
    window = full.window
    window.select_row(0)
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_Down)
    qtbot.keyClick(window.table, Qt.Key.Key_Down)
    assert window.table.currentIndex().row() == 2
    row = window.model.row_at(2)
    assert row is not None
    qtbot.waitUntil(
        lambda: window.detail.record is not None and window.detail.record.idx == row.idx
    )


def test_f1_opens_about_with_the_version_and_the_shortcuts(full: Viewer, qtbot: QtBot) -> None:
    window = full.window
    window.activateWindow()
    window.table.setFocus()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window.table, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: full.about_dialog is not None and full.about_dialog.isVisible())
    dialog = full.about_dialog
    assert dialog is not None
    assert f"auditlens {__version__}" in dialog.title.text()
    shown = [label.text() for label in dialog.shortcut_labels]
    assert shown == [f"<b>{keys}</b>" for keys, _ in SHORTCUTS]
    assert dialog.server_label.text() == "Not signed in"
    assert not dialog.copy_button.isEnabled()


def test_the_listed_shortcuts_are_the_ones_the_window_answers_to(full: Viewer) -> None:
    window = full.window
    listed = {keys for keys, _ in SHORTCUTS}
    assert window.sync_action.shortcut().toString() == "F5" and "F5" in listed
    assert full.about_action.shortcut().toString() == "F1" and "F1" in listed
    assert "Ctrl+F" in listed


def test_about_shows_the_pinned_origin_and_key_of_the_server(
    viewer: Viewer, qtbot: QtBot, server: DemoServer
) -> None:
    sign_in_and_sync(qtbot, viewer, server)
    viewer.about_action.trigger()
    dialog = viewer.about_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.server_label.text() == server.url
    assert dialog.origin_label.text() == server.origin
    assert dialog.vkey_box.toPlainText() == server.vkey
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == server.vkey
