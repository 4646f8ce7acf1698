"""The "sync automatically" preference: Off, every 1, 5 or 15 minutes, kept in QSettings.

Periodic sync is a person's choice that should survive a restart, so it lives in QSettings
(never a secret) under :data:`SYNC_INTERVAL_KEY`. ``auditlens gui --sync-every N``
still wins for that run without being saved, so a scheduled kiosk or a one-off session does
not change the person's preference. The choice is a checkable menu (a whole dialog for one
setting would hide it); :mod:`auditlens.ui.app` owns the timer and applies the choice.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

SYNC_INTERVAL_KEY = "sync/interval_seconds"

#: (menu text, seconds); 0 is "only at start and on F5".
SYNC_INTERVALS: tuple[tuple[str, int], ...] = (
    ("Off (at start and on F5)", 0),
    ("Every minute", 60),
    ("Every 5 minutes", 300),
    ("Every 15 minutes", 900),
)


def read_sync_interval(settings: QSettings) -> int:
    """The saved interval in seconds (0 when unset, unreadable or negative)."""
    value: object = settings.value(SYNC_INTERVAL_KEY, 0)
    try:
        seconds = int(str(value))
    except ValueError:
        return 0
    return max(seconds, 0)


def write_sync_interval(settings: QSettings, seconds: int) -> None:
    settings.setValue(SYNC_INTERVAL_KEY, max(int(seconds), 0))
    settings.sync()


def describe_interval(seconds: int) -> str:
    """A few words for the status bar and the menu: "every 5 minutes", "off"."""
    if seconds <= 0:
        return "off"
    if seconds % 60 == 0:
        minutes = seconds // 60
        return "every minute" if minutes == 1 else f"every {minutes} minutes"
    return f"every {seconds} s"


class SyncIntervalMenu(QMenu):
    """The "Sync automatically" menu: one checked choice; emits the seconds picked."""

    interval_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Sync &automatically", parent)
        self.setObjectName("SyncIntervalMenu")
        self.group = QActionGroup(self)
        self.group.setExclusive(True)
        self.choices: dict[int, QAction] = {}
        for text, seconds in SYNC_INTERVALS:
            action = QAction(text, self)
            action.setCheckable(True)
            action.setData(seconds)
            action.triggered.connect(lambda _=False, s=seconds: self.interval_chosen.emit(s))
            self.group.addAction(action)
            self.addAction(action)
            self.choices[seconds] = action
        # A --sync-every value that is not one of the choices shows here, checked.
        self.custom = QAction(self)
        self.custom.setCheckable(True)
        self.custom.setEnabled(False)
        self.custom.setVisible(False)
        self.group.addAction(self.custom)
        self.addAction(self.custom)

    def set_current(self, seconds: int) -> None:
        """Check the entry of ``seconds`` (without emitting ``interval_chosen``)."""
        action = self.choices.get(max(seconds, 0))
        self.custom.setVisible(action is None)
        if action is None:
            self.custom.setText(f"{describe_interval(seconds).capitalize()} (--sync-every)")
            action = self.custom
        action.setChecked(True)

    def current(self) -> int:
        """The checked interval in seconds (-1 for a custom --sync-every value)."""
        checked = self.group.checkedAction()
        if checked is None or checked is self.custom:
            return -1
        return int(checked.data())
