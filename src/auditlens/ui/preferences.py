"""The person's viewer preferences kept in QSettings: sync interval, theme, relative times.

Sync automatically: Off, every 1, 5 or 15 minutes.

Periodic sync is a person's choice that should survive a restart, so it lives in QSettings
(never a secret) under :data:`SYNC_INTERVAL_KEY`. ``auditlens gui --sync-every N``
still wins for that run without being saved, so a scheduled kiosk or a one-off session does
not change the person's preference. The choice is a checkable menu (a whole dialog for one
setting would hide it); :mod:`auditlens.ui.app` owns the timer and applies the choice.

Theme (Settings -> Theme): follow the system (the default), or always light or dark
(:mod:`auditlens.ui.theme`). Times (View -> Relative times): UTC timestamps (the default) or
"3 min ago"; the app saves the choice when the menu changes it.
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


# -- reading comfort: theme and times ------------------------------------------------------------

THEME_KEY = "view/theme"
TIME_MODE_KEY = "view/time_mode"


def read_theme(settings: QSettings) -> str:
    """The saved theme choice: "system" (the default), "light" or "dark"."""
    value = str(settings.value(THEME_KEY, "system"))
    return value if value in ("system", "light", "dark") else "system"


def write_theme(settings: QSettings, choice: str) -> None:
    settings.setValue(THEME_KEY, choice)
    settings.sync()


def read_time_mode(settings: QSettings) -> str:
    """The saved way of showing times: "utc" (the default) or "relative"."""
    value = str(settings.value(TIME_MODE_KEY, "utc"))
    return value if value in ("utc", "relative") else "utc"


def write_time_mode(settings: QSettings, mode: str) -> None:
    settings.setValue(TIME_MODE_KEY, mode)
    settings.sync()


class ThemeMenu(QMenu):
    """Settings -> Theme: follow the system, or always light / dark; emits the choice."""

    theme_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("&Theme", parent)
        self.setObjectName("ThemeMenu")
        self.group = QActionGroup(self)
        self.group.setExclusive(True)
        self.choices: dict[str, QAction] = {}
        from auditlens.ui.theme import THEME_CHOICES

        for text, choice in THEME_CHOICES:
            action = QAction(text, self)
            action.setCheckable(True)
            action.triggered.connect(lambda _=False, c=choice: self.theme_chosen.emit(c))
            self.group.addAction(action)
            self.addAction(action)
            self.choices[choice] = action

    def set_current(self, choice: str) -> None:
        """Check ``choice`` (without emitting ``theme_chosen``)."""
        self.choices.get(choice, self.choices["system"]).setChecked(True)
