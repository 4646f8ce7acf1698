"""Keyboard use of the main window, and the View menu's reading choices.

The keys an investigator uses without leaving the keyboard (also listed in Help -> About):

- ``/`` focuses the search field (the window's own shortcut; Esc there clears it);
- ``n`` / ``N`` (Shift+N) go to the next / previous hit of the search: with a search applied the
  table lists only hits, in the table's order, so the next hit is the next row; the status bar
  says which hit of how many. Without a search they say how to start one;
- ``b`` stars or unstars the current event (the case file, :mod:`auditlens.ui.case_view`);
- ``Enter`` in the table opens the current event's task trail.

Single-letter keys are window shortcuts, and Qt lets a focused text field take printable keys
first (its ShortcutOverride), so typing an ``n`` or a ``b`` in the search field or a note types
it; the letters act only outside text fields.

The View menu holds **Relative times** (Ctrl+Shift+R): the Time column reads "3 min ago" instead
of the UTC timestamp, its title still names UTC and every cell's tooltip keeps the exact UTC
time. UTC is the default; the app keeps the choice (:mod:`auditlens.ui.preferences`). Relative
times are repainted every :data:`AGE_TICK_MS` so they age while the window is open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QLineEdit, QWidget

from auditlens.ui.table_model import TimeMode

if TYPE_CHECKING:
    from auditlens.ui.main_window import MainWindow

AGE_TICK_MS = 30_000
RELATIVE_TIMES_KEY = "Ctrl+Shift+R"


class Shortcuts(QObject):
    """The window's single-key shortcuts and View menu (see the module docstring)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.next_hit = self._shortcut("N", lambda: self.step_hit(1))
        self.previous_hit = self._shortcut("Shift+N", lambda: self.step_hit(-1))
        self.star = self._shortcut("B", window.case.toggle_star)
        self.open_trail = []
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            shortcut = QShortcut(QKeySequence(key), window.table, self.open_current_trail)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            self.open_trail.append(shortcut)

        self.relative_action = QAction("&Relative times", window)
        self.relative_action.setCheckable(True)
        self.relative_action.setShortcut(QKeySequence(RELATIVE_TIMES_KEY))
        self.relative_action.setToolTip(
            'Show times as "3 min ago" (the exact UTC time stays in each tooltip)'
        )
        self.relative_action.toggled.connect(
            lambda on: self.set_time_mode("relative" if on else "utc")
        )
        self.view_menu = window.menuBar().addMenu("&View")
        self.view_menu.addAction(self.relative_action)
        self.view_menu.addAction(window.case.action)
        self._ageing = QTimer(self)
        self._ageing.setInterval(AGE_TICK_MS)
        self._ageing.timeout.connect(window.model.refresh_times)

    def _shortcut(self, key: str, slot: object) -> QShortcut:
        shortcut = QShortcut(QKeySequence(key), self._window)
        shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        shortcut.activated.connect(slot)
        return shortcut

    def set_time_mode(self, mode: TimeMode) -> None:
        """UTC timestamps or relative times in the table (the menu's check follows)."""
        self._window.model.set_time_mode(mode)
        self.relative_action.setChecked(mode == "relative")
        if mode == "relative":
            self._ageing.start()
        else:
            self._ageing.stop()

    def step_hit(self, step: int) -> None:
        """Select the next (``step`` 1) or previous (-1) hit of the applied search."""
        window = self._window
        status = window.statusBar()
        if not window.query_bar.applied:
            status.showMessage("No search applied: press / to search, then n / N to step", 6000)
            return
        model, table = window.model, window.table
        rows = model.rowCount()
        if rows == 0:
            status.showMessage("The search has no hits", 6000)
            return
        current = table.currentIndex()
        first = 0 if step > 0 else rows - 1  # nothing selected yet: the first hit that way
        target = current.row() + step if current.isValid() else first
        if not 0 <= target < rows:
            status.showMessage("Last hit" if step > 0 else "First hit", 4000)
            return
        window.select_row(target)
        table.scrollTo(model.index(target, 0))
        count = model.count
        total = f"{count:,}" if count is not None else "…"
        status.showMessage(f"Hit {target + 1:,} of {total}", 4000)

    def open_current_trail(self) -> None:
        """Enter: the current event's task trail (or say that it belongs to no task)."""
        window = self._window
        index: QModelIndex = window.table.currentIndex()
        row = window.model.row_at(index.row()) if index.isValid() else None
        if row is None:
            return
        if row.task_id is None:
            window.statusBar().showMessage("This event belongs to no task: no trail to show", 6000)
            return
        window.open_task_trail(row.task_id)


def name_clear_buttons(root: QWidget) -> None:
    """Name the buttons Qt draws inside line edits (×, an icon) for screen readers.

    Qt draws them as tool buttons named after their actions, which it leaves without text: the
    clear button becomes "Clear <field>", an icon action the field's own name.
    """
    for field in root.findChildren(QLineEdit):
        what = field.accessibleName() or field.placeholderText() or "the field"
        for action in field.actions():
            if action.text():
                continue
            clear = action.objectName() == "_q_qlineeditclearaction"
            action.setText(f"Clear {what}" if clear else what)
        clear_action = field.findChild(QAction, "_q_qlineeditclearaction")
        if clear_action is not None and not clear_action.text():
            clear_action.setText(f"Clear {what}")


def install(window: MainWindow) -> Shortcuts:
    """Add the shortcuts and the View menu to ``window`` (kept as ``window.shortcuts``)."""
    name_clear_buttons(window)
    return Shortcuts(window)
