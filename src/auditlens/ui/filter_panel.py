"""The filter sidebar: what to show, as one :class:`~auditlens.mirror.query.EventFilter`.

Every control edits one field; the panel emits ``filter_changed`` with the whole filter. Typing
is debounced (a query per pause, not per key); choices (range, outcome, a type box) apply at
once. Relative ranges ("last 24 hours") are computed from the clock when the filter is built, in
UTC like every time the viewer shows. No checked event type means every type.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QDateTime, QStringListModel, Qt, QTimer, QTimeZone, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QDateTimeEdit,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from auditlens.core.events import CATEGORIES
from auditlens.mirror.query import EventFilter

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

#: (label, length in ms) of the date range presets; None: all time; -1: custom from/to.
RANGES: tuple[tuple[str, int | None], ...] = (
    ("All time", None),
    ("Last hour", HOUR_MS),
    ("Last 24 hours", DAY_MS),
    ("Last 7 days", 7 * DAY_MS),
    ("Last 30 days", 30 * DAY_MS),
    ("Last 90 days", 90 * DAY_MS),
    ("Custom (UTC)…", -1),
)
CUSTOM = len(RANGES) - 1
OUTCOME_CHOICES = (("Any outcome", None), ("Success", "success"), ("Failure", "failure"))
DEBOUNCE_MS = 250


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _section(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "section")
    return label


class FilterPanel(QWidget):
    """Date range, user, event types, task, agent, outcome and Reset."""

    filter_changed = Signal(object)  # EventFilter

    def __init__(
        self, clock: Callable[[], int] = _wall_clock_ms, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("FilterPanel")
        self._clock = clock
        self._building = False
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit)
        # Checking a category checks its types: many itemChanged signals, one query.
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(0)
        self._soon.timeout.connect(self._changed_now)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 6, 12, 12)
        layout.setSpacing(4)

        layout.addWidget(_section("Time range"))
        self.range = QComboBox()
        for label, _ in RANGES:
            self.range.addItem(label)
        self.range.setToolTip("Events in this period (UTC)")
        layout.addWidget(self.range)
        self.custom = QWidget()
        custom_form = QFormLayout(self.custom)
        custom_form.setContentsMargins(0, 2, 0, 0)
        self.since_edit = self._datetime_edit()
        self.until_edit = self._datetime_edit()
        custom_form.addRow("From", self.since_edit)
        custom_form.addRow("To", self.until_edit)
        self.custom.setVisible(False)
        layout.addWidget(self.custom)

        layout.addWidget(_section("User"))
        self.user = QLineEdit()
        self.user.setPlaceholderText("Email (or user id)")
        self.user.setClearButtonEnabled(True)
        self._emails = QStringListModel(self)
        completer = QCompleter(self._emails, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.user.setCompleter(completer)
        self.completer = completer
        layout.addWidget(self.user)

        layout.addWidget(_section("Event type"))
        self.types = QTreeWidget()
        self.types.setHeaderHidden(True)
        self.types.setToolTip("None checked: every type")
        self.types.setMinimumHeight(180)
        for category, types in CATEGORIES.items():
            parent_item = QTreeWidgetItem(self.types, [category])
            parent_item.setData(0, Qt.ItemDataRole.UserRole, category)
            parent_item.setFlags(
                parent_item.flags()
                | Qt.ItemFlag.ItemIsUserCheckable
                | Qt.ItemFlag.ItemIsAutoTristate
            )
            parent_item.setCheckState(0, Qt.CheckState.Unchecked)
            for event_type in types:
                child = QTreeWidgetItem(parent_item, [event_type.split(".", 1)[1]])
                child.setData(0, Qt.ItemDataRole.UserRole, event_type)
                child.setToolTip(0, event_type)
                child.setFlags(child.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                child.setCheckState(0, Qt.CheckState.Unchecked)
        layout.addWidget(self.types, 1)

        layout.addWidget(_section("Task ID"))
        self.task = QLineEdit()
        self.task.setPlaceholderText("task_…")
        self.task.setClearButtonEnabled(True)
        layout.addWidget(self.task)

        layout.addWidget(_section("Agent ID"))
        self.agent = QLineEdit()
        self.agent.setPlaceholderText("agt_…")
        self.agent.setClearButtonEnabled(True)
        layout.addWidget(self.agent)

        layout.addWidget(_section("Outcome"))
        self.outcome = QComboBox()
        for label, _ in OUTCOME_CHOICES:
            self.outcome.addItem(label)
        layout.addWidget(self.outcome)

        layout.addSpacing(8)
        self.reset_button = QPushButton("Reset filters")
        self.reset_button.setToolTip("Show every event")
        layout.addWidget(self.reset_button)

        self.range.currentIndexChanged.connect(self._range_changed)
        self.since_edit.dateTimeChanged.connect(self._changed_later)
        self.until_edit.dateTimeChanged.connect(self._changed_later)
        self.user.textChanged.connect(self._changed_later)
        self.completer.activated.connect(self._changed_now)
        self.task.textChanged.connect(self._changed_later)
        self.agent.textChanged.connect(self._changed_later)
        for edit in (self.user, self.task, self.agent):
            edit.returnPressed.connect(self._changed_now)
        self.types.itemChanged.connect(self._changed_soon)
        self.outcome.currentIndexChanged.connect(self._changed_now)
        self.reset_button.clicked.connect(self.reset)

    def _datetime_edit(self) -> QDateTimeEdit:
        edit = QDateTimeEdit()
        edit.setTimeZone(QTimeZone.utc())
        edit.setDisplayFormat("yyyy-MM-dd HH:mm 'UTC'")
        edit.setCalendarPopup(True)
        edit.setDateTime(QDateTime.fromMSecsSinceEpoch(self._clock(), QTimeZone.utc()))
        return edit

    # -- public ---------------------------------------------------------------------------------

    def set_user_emails(self, emails: list[str]) -> None:
        """The directory's emails, offered as completions of the user field."""
        self._emails.setStringList(emails)

    def focus_filter(self) -> None:
        """Put the keyboard in the first text filter (Ctrl+F)."""
        self.user.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.user.selectAll()

    def set_field(self, kind: str, value: str) -> None:
        """Filter by one value clicked elsewhere (``user`` email, ``task`` or ``agent`` id)."""
        edit = {"user": self.user, "task": self.task, "agent": self.agent}.get(kind)
        if edit is None:
            raise ValueError(f"cannot filter by {kind!r}")
        edit.setText(value)
        self._changed_now()

    def set_custom_range(self, since_ms: int, until_ms: int) -> None:
        """Show events from ``since_ms`` (inclusive) to ``until_ms`` (exclusive), UTC."""
        self._building = True
        self.since_edit.setDateTime(QDateTime.fromMSecsSinceEpoch(since_ms, QTimeZone.utc()))
        self.until_edit.setDateTime(QDateTime.fromMSecsSinceEpoch(until_ms, QTimeZone.utc()))
        self._building = False
        if self.range.currentIndex() != CUSTOM:
            self.range.setCurrentIndex(CUSTOM)
        else:
            self._changed_now()

    def set_types(self, names: set[str]) -> None:
        """Check these categories and/or exact types (and nothing else)."""
        self._building = True
        try:
            for parent_item in self._categories():
                whole = parent_item.data(0, Qt.ItemDataRole.UserRole) in names
                for child in self._children(parent_item):
                    on = whole or child.data(0, Qt.ItemDataRole.UserRole) in names
                    child.setCheckState(0, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        finally:
            self._building = False
        self._changed_now()

    def reset(self) -> None:
        """Clear every filter (one query, not one per control)."""
        self._building = True
        try:
            self.range.setCurrentIndex(0)
            self.custom.setVisible(False)
            for edit in (self.user, self.task, self.agent):
                edit.clear()
            self.outcome.setCurrentIndex(0)
            for parent_item in self._categories():
                parent_item.setCheckState(0, Qt.CheckState.Unchecked)
        finally:
            self._building = False
        self._changed_now()

    def current_filter(self) -> EventFilter:
        """The filter the controls describe now."""
        since = until = None
        length = RANGES[self.range.currentIndex()][1]
        if length == -1:
            since = self.since_edit.dateTime().toMSecsSinceEpoch()
            until = self.until_edit.dateTime().toMSecsSinceEpoch()
            if since >= until:
                until = None  # a reversed range would match nothing; show from ``since``
        elif length is not None:
            since = self._clock() - length
        user = self.user.text().strip() or None
        by_id = user is not None and "@" not in user  # a raw user id (not in the directory)
        return EventFilter(
            since_ms=since,
            until_ms=until,
            user_email=None if by_id else user,
            user_id=user if by_id else None,
            types=frozenset(self._checked_types()),
            task_id=self.task.text().strip() or None,
            agent_id=self.agent.text().strip() or None,
            outcome=OUTCOME_CHOICES[self.outcome.currentIndex()][1],
        )

    # -- internals ------------------------------------------------------------------------------

    def _categories(self) -> list[QTreeWidgetItem]:
        items = [self.types.topLevelItem(i) for i in range(self.types.topLevelItemCount())]
        return [item for item in items if item is not None]

    @staticmethod
    def _children(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
        children = [item.child(j) for j in range(item.childCount())]
        return [child for child in children if child is not None]

    def _checked_types(self) -> set[str]:
        """Whole categories when all their types are checked, else the checked types."""
        names: set[str] = set()
        for parent_item in self._categories():
            state = parent_item.checkState(0)
            if state == Qt.CheckState.Checked:
                names.add(str(parent_item.data(0, Qt.ItemDataRole.UserRole)))
            elif state == Qt.CheckState.PartiallyChecked:
                for child in self._children(parent_item):
                    if child.checkState(0) == Qt.CheckState.Checked:
                        names.add(str(child.data(0, Qt.ItemDataRole.UserRole)))
        return names

    def _range_changed(self, index: int) -> None:
        self.custom.setVisible(index == CUSTOM)
        self._changed_now()

    def _changed_later(self) -> None:
        if not self._building:
            self._debounce.start()

    def _changed_soon(self) -> None:
        if not self._building:
            self._soon.start()

    def _changed_now(self) -> None:
        if not self._building:
            self._debounce.stop()
            self._soon.stop()
            self._emit()

    def _emit(self) -> None:
        self.filter_changed.emit(self.current_filter())
