"""The filter sidebar: what to show, as one :class:`~auditlens.mirror.query.EventFilter`.

Every control edits one field; the panel emits ``filter_changed`` with the whole filter. Typing
is debounced (a query per pause, not per key); choices (range, outcome, a type box) apply at
once. Relative ranges ("last 24 hours") are computed from the clock when the filter is built, in
UTC like every time the viewer shows. No checked event type means every type.

Typed text in the user, task, agent and IP fields is a *prefix*: ``elena`` finds
``elena.ruiz@acme.example`` (and user ids starting with it), ``tsk_01K`` every task id starting
so, ``10.0.`` a subnet. A value put in a field from elsewhere (a click on an id in the detail
pane, "Filter by this value" in the table) is matched *exactly* until the person edits it, so
"this task" never quietly includes another task whose id happens to extend it. The fields offer
completion from the values the mirror holds.

Two conditions have no control of their own: they come from a pivot on one event (see
:mod:`auditlens.ui.pivots`) and show as chips only, removable like the others: a window of log
positions (the events just before and after one event) and a payload field (the same API key or
session). :meth:`FilterPanel.state` and :meth:`FilterPanel.restore` save and put back everything
the sidebar holds, for the Back/Forward history (:mod:`auditlens.ui.history`).

"Custom (UTC)…" opens on the span of the events in view (first to last, to the minute), not on
an empty "now to now" range; :meth:`FilterPanel.set_data_span` keeps that span current.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

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
from auditlens.core.timestamps import format_timestamp
from auditlens.mirror.query import PREFIX, EventFilter

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
OUTCOME_CHOICES = (
    ("Any outcome", None),
    ("Success", "success"),
    ("Failure", "failure"),
    ("Denied", "denied"),
)
DEBOUNCE_MS = 250
#: Characters of a task id typed before its completions are looked up.
TASK_COMPLETION_MIN = 4
MINUTE_MS = 60_000

#: The parts of a filter a chip can remove, in the order chips are shown.
PARTS = ("time", "user", "types", "task", "agent", "ip", "outcome", "window", "field")


@dataclass(frozen=True)
class PanelState:
    """Everything the sidebar holds, as the person left it: a relative range stays relative
    ("Last 24 hours" put back is again the last 24 hours), typed text stays a prefix and a
    clicked value stays exact."""

    range_index: int = 0
    since_ms: int | None = None  # the custom From/To, when the range is custom
    until_ms: int | None = None
    texts: tuple[tuple[str, str], ...] = ()  # (field, text) of the text fields
    exact: tuple[tuple[str, str], ...] = ()  # (field, value) matched exactly
    types: frozenset[str] = frozenset()
    outcome_index: int = 0
    window: tuple[int, int] | None = None  # (idx_from, idx_until)
    event_field: tuple[str, str] | None = None


def _shown(value: str) -> tuple[str, str]:
    """``("starts with", "elena")`` for a prefix, ``("", value)`` for an exact value."""
    if value.endswith(PREFIX):
        return "starts with ", value.rstrip(PREFIX)
    return "", value


def filter_chips(f: EventFilter) -> list[tuple[str, str]]:
    """``(part, text)`` per condition of ``f``, as the removable chips above the table say it.

    Plain words, not query parameters: "User starts with elena", "Outcome: denied".
    """
    chips: list[tuple[str, str]] = []

    def minute(ms: int) -> str:
        return format_timestamp(ms)[:16].replace("T", " ")

    if f.since_ms is not None and f.until_ms is not None:
        chips.append(("time", f"{minute(f.since_ms)} – {minute(f.until_ms)} UTC"))
    elif f.since_ms is not None:
        chips.append(("time", f"Since {minute(f.since_ms)} UTC"))
    elif f.until_ms is not None:
        chips.append(("time", f"Before {minute(f.until_ms)} UTC"))
    user = f.user_email if f.user_email is not None else f.user_id
    if user is not None:
        how, value = _shown(user)
        chips.append(("user", f"User {how}{value}"))
    if f.types:
        names = sorted(f.categories) + sorted(f.exact_types)
        chips.append(("types", "Type: " + ", ".join(names)))
    for part, label, given in (
        ("task", "Task", f.task_id),
        ("agent", "Agent", f.agent_id),
        ("ip", "IP", f.ip),
    ):
        if given is not None:
            how, shown = _shown(given)
            chips.append((part, f"{label} {how}{shown}"))
    if f.outcome is not None:
        chips.append(("outcome", f"Outcome: {f.outcome}"))
    if f.idx_from is not None or f.idx_until is not None:
        low = "the first" if f.idx_from is None else f"#{f.idx_from:,}"
        high = "the last" if f.idx_until is None else f"#{f.idx_until - 1:,}"
        chips.append(("window", f"Log positions {low} – {high}"))
    if f.event_field is not None:
        name, value = f.event_field
        chips.append(("field", f"event.{name} = {value}"))
    return chips


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _section(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "section")
    return label


class FilterPanel(QWidget):
    """Date range, user, event types, task, agent, outcome and Reset."""

    filter_changed = Signal(object)  # EventFilter
    #: (field, typed text): the task field wants completions starting with the text (a mirror
    #: holds too many task ids to list them all up front).
    completion_wanted = Signal(str, str)

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
        self.completer = self._complete(self.user, self._emails, Qt.MatchFlag.MatchContains)
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
        self.task.setPlaceholderText("tsk_… (start of the id)")
        self.task.setClearButtonEnabled(True)
        self._task_ids = QStringListModel(self)
        self.task_completer = self._complete(self.task, self._task_ids)
        layout.addWidget(self.task)

        layout.addWidget(_section("Agent ID"))
        self.agent = QLineEdit()
        self.agent.setPlaceholderText("agt_… (start of the id)")
        self.agent.setClearButtonEnabled(True)
        self._agent_ids = QStringListModel(self)
        self.agent_completer = self._complete(self.agent, self._agent_ids)
        layout.addWidget(self.agent)

        layout.addWidget(_section("IP address"))
        self.ip = QLineEdit()
        self.ip.setPlaceholderText("203.0.113.7 or 10.0. (start)")
        self.ip.setClearButtonEnabled(True)
        self.ip.setToolTip("The address of the request that caused the event")
        self._ips = QStringListModel(self)
        self.ip_completer = self._complete(self.ip, self._ips)
        layout.addWidget(self.ip)

        layout.addWidget(_section("Outcome"))
        self.outcome = QComboBox()
        for label, _ in OUTCOME_CHOICES:
            self.outcome.addItem(label)
        self.outcome.setItemData(
            OUTCOME_CHOICES.index(("Denied", "denied")),
            "Refused by policy or permission (a denied approval, a login refused by policy…)",
            Qt.ItemDataRole.ToolTipRole,
        )
        layout.addWidget(self.outcome)

        layout.addSpacing(8)
        self.reset_button = QPushButton("Reset filters")
        self.reset_button.setToolTip("Show every event")
        layout.addWidget(self.reset_button)

        self.range.currentIndexChanged.connect(self._range_changed)
        self.since_edit.dateTimeChanged.connect(self._changed_later)
        self.until_edit.dateTimeChanged.connect(self._changed_later)
        #: Values set from elsewhere (a click) match exactly until the person edits them.
        self._exact: dict[str, str] = {}
        for name, edit in self._edits().items():
            edit.textChanged.connect(self._changed_later)
            edit.textEdited.connect(lambda _text, name=name: self._exact.pop(name, None))
            edit.returnPressed.connect(self._changed_now)
            completer = edit.completer()
            if completer is not None:
                completer.activated.connect(lambda value, name=name: self._pick(name, value))
        self._span: tuple[int, int] | None = None
        self._window: tuple[int, int] | None = None
        self._event_field: tuple[str, str] | None = None
        self.task.textEdited.connect(self._task_typed)
        self.types.itemChanged.connect(self._changed_soon)
        self.outcome.currentIndexChanged.connect(self._changed_now)
        self.reset_button.clicked.connect(self.reset)

    def _complete(
        self,
        edit: QLineEdit,
        model: QStringListModel,
        mode: Qt.MatchFlag = Qt.MatchFlag.MatchStartsWith,
    ) -> QCompleter:
        completer = QCompleter(model, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(mode)
        popup = completer.popup()
        if popup is not None:
            popup.setMinimumWidth(300)  # whole ids, wider than the sidebar's field
        edit.setCompleter(completer)
        return completer

    def _edits(self) -> dict[str, QLineEdit]:
        return {"user": self.user, "task": self.task, "agent": self.agent, "ip": self.ip}

    def _pick(self, name: str, value: str) -> None:
        """A completion was chosen: that exact value, at once."""
        self._exact[name] = value
        self._changed_now()

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

    def set_known_values(self, kind: str, values: list[str]) -> None:
        """Task ids, agent ids or IPs of the mirror, offered as completions of that field."""
        models = {"task": self._task_ids, "agent": self._agent_ids, "ip": self._ips}
        if models[kind].stringList() == values:
            return
        models[kind].setStringList(values)
        edit = self._edits()[kind]
        completer = edit.completer()
        if kind == "task" and edit.hasFocus() and completer is not None and edit.text():
            completer.complete()  # the list arrived after the key that asked for it

    def _task_typed(self, text: str) -> None:
        typed = text.strip().rstrip(PREFIX)
        if len(typed) >= TASK_COMPLETION_MIN:
            self.completion_wanted.emit("task", typed)

    def set_data_span(self, first_ms: int | None, last_ms: int | None) -> None:
        """The time of the first and last event in view: where "Custom (UTC)…" opens."""
        self._span = None if first_ms is None or last_ms is None else (first_ms, last_ms)

    def focus_filter(self) -> None:
        """Put the keyboard in the first text filter (Ctrl+F)."""
        self.user.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.user.selectAll()

    def set_field(self, kind: str, value: str) -> None:
        """Filter by exactly one value clicked elsewhere: ``user`` (email or id), ``task``,
        ``agent``, ``ip`` or ``type`` (an event type or category)."""
        if kind == "type":
            self.set_types({value})
            return
        edit = self._edits().get(kind)
        if edit is None:
            raise ValueError(f"cannot filter by {kind!r}")
        self._exact[kind] = value
        self._building = True
        try:
            edit.setText(value)
        finally:
            self._building = False
        self._changed_now()

    def clear_part(self, part: str) -> None:
        """Remove one condition (a chip's ✕): ``time``, ``user``, ``types``, ``task``,
        ``agent``, ``ip`` or ``outcome``."""
        if part not in PARTS:
            raise ValueError(f"no filter part {part!r}; expected one of {', '.join(PARTS)}")
        self._building = True
        try:
            if part == "time":
                self.range.setCurrentIndex(0)
                self.custom.setVisible(False)
            elif part == "window":
                self._window = None
            elif part == "field":
                self._event_field = None
            elif part == "types":
                self._uncheck_all()
            elif part == "outcome":
                self.outcome.setCurrentIndex(0)
            else:
                self._edits()[part].clear()
                self._exact.pop(part, None)
        finally:
            self._building = False
        self._changed_now()

    def set_custom_range(self, since_ms: int, until_ms: int) -> None:
        """Show events from ``since_ms`` (inclusive) to ``until_ms`` (exclusive), UTC."""
        self._building = True
        try:
            self.range.setCurrentIndex(CUSTOM)
            self.custom.setVisible(True)
            self.since_edit.setDateTime(QDateTime.fromMSecsSinceEpoch(since_ms, QTimeZone.utc()))
            self.until_edit.setDateTime(QDateTime.fromMSecsSinceEpoch(until_ms, QTimeZone.utc()))
        finally:
            self._building = False
        self._changed_now()

    def set_types(self, names: set[str]) -> None:
        """Check these categories and/or exact types (and nothing else)."""
        self._building = True
        try:
            self._check_only(frozenset(names))
        finally:
            self._building = False
        self._changed_now()

    def reset(self) -> None:
        """Clear every filter (one query, not one per control)."""
        self._building = True
        try:
            self.range.setCurrentIndex(0)
            self.custom.setVisible(False)
            for edit in self._edits().values():
                edit.clear()
            self._exact.clear()
            self.outcome.setCurrentIndex(0)
            self._uncheck_all()
            self._window = self._event_field = None
        finally:
            self._building = False
        self._changed_now()

    def state(self) -> PanelState:
        """What the sidebar holds now (for Back/Forward)."""
        custom = self.range.currentIndex() == CUSTOM
        return PanelState(
            range_index=self.range.currentIndex(),
            since_ms=self.since_edit.dateTime().toMSecsSinceEpoch() if custom else None,
            until_ms=self.until_edit.dateTime().toMSecsSinceEpoch() if custom else None,
            texts=tuple((name, edit.text()) for name, edit in self._edits().items()),
            exact=tuple(sorted(self._exact.items())),
            types=frozenset(self._checked_types()),
            outcome_index=self.outcome.currentIndex(),
            window=self._window,
            event_field=self._event_field,
        )

    def restore(self, state: PanelState) -> None:
        """Put the sidebar back as ``state`` describes it; one query."""
        self._building = True
        try:
            self.range.setCurrentIndex(state.range_index)
            self.custom.setVisible(state.range_index == CUSTOM)
            for date_edit, ms in (
                (self.since_edit, state.since_ms),
                (self.until_edit, state.until_ms),
            ):
                if ms is not None:
                    date_edit.setDateTime(QDateTime.fromMSecsSinceEpoch(ms, QTimeZone.utc()))
            texts = dict(state.texts)
            for name, edit in self._edits().items():
                edit.setText(texts.get(name, ""))
            self._exact = dict(state.exact)
            self._check_only(state.types)
            self.outcome.setCurrentIndex(state.outcome_index)
            self._window = state.window
            self._event_field = state.event_field
        finally:
            self._building = False
        self._changed_now()

    def show_pivot(self, f: EventFilter) -> None:
        """Show exactly ``f`` (a pivot from one event), every other condition cleared: the
        values are matched exactly, a time range becomes the custom From/To. One query."""
        texts = {
            "user": f.user_email or f.user_id,
            "task": f.task_id,
            "agent": f.agent_id,
            "ip": f.ip,
        }
        timed = f.since_ms is not None or f.until_ms is not None
        self.restore(
            PanelState(
                range_index=CUSTOM if timed else 0,
                since_ms=f.since_ms if f.since_ms is not None else f.until_ms,
                until_ms=f.until_ms,
                texts=tuple((k, v) for k, v in texts.items() if v),
                exact=tuple((k, v) for k, v in texts.items() if v and not v.endswith(PREFIX)),
                types=f.types,
                outcome_index=[v for _, v in OUTCOME_CHOICES].index(f.outcome),
                window=(
                    None
                    if f.idx_from is None and f.idx_until is None
                    else (f.idx_from or 0, f.idx_until or 2**62)
                ),
                event_field=f.event_field,
            )
        )

    def _check_only(self, names: frozenset[str]) -> None:
        """Check these categories and/or exact types and nothing else (no query)."""
        if not names:
            self._uncheck_all()
            return
        for parent_item in self._categories():
            whole = parent_item.data(0, Qt.ItemDataRole.UserRole) in names
            for child in self._children(parent_item):
                on = whole or child.data(0, Qt.ItemDataRole.UserRole) in names
                child.setCheckState(0, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def _uncheck_all(self) -> None:
        """Every type box and category box empty, and drawn so.

        A category's box shows a state computed from its types, and the tree announces a
        data change only for the types (the category's own stored state may not change), so
        the view is not told to redraw the category and a half-checked box could stay drawn.
        Each type and each category is set explicitly and each category row is repainted.
        """
        for parent_item in self._categories():
            for child in self._children(parent_item):
                child.setCheckState(0, Qt.CheckState.Unchecked)
            parent_item.setCheckState(0, Qt.CheckState.Unchecked)
            self.types.update(self.types.indexFromItem(parent_item))

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
        user = self._value("user")
        by_id = user is not None and not user.endswith(PREFIX) and "@" not in user
        return EventFilter(
            since_ms=since,
            until_ms=until,
            user_email=None if by_id else user,
            user_id=user if by_id else None,
            types=frozenset(self._checked_types()),
            task_id=self._value("task"),
            agent_id=self._value("agent"),
            ip=self._value("ip"),
            outcome=OUTCOME_CHOICES[self.outcome.currentIndex()][1],
            idx_from=None if self._window is None else self._window[0],
            idx_until=None if self._window is None else self._window[1],
            event_field=self._event_field,
        )

    def _value(self, name: str) -> str | None:
        """The field's text as a filter value: exact when set from elsewhere, else a prefix."""
        text = self._edits()[name].text().strip()
        if not text:
            return None
        if self._exact.get(name) == text or text.endswith(PREFIX):
            return text
        return text + PREFIX

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
        if index == CUSTOM and not self._building:
            self._open_custom_on_span()
        self.custom.setVisible(index == CUSTOM)
        self._changed_now()

    def _open_custom_on_span(self) -> None:
        """From/To around the events in view (whole minutes), so the range starts non-empty."""
        if self._span is None:
            return
        first, last = self._span
        since = first - first % MINUTE_MS
        until = last - last % MINUTE_MS + MINUTE_MS  # exclusive: the last event stays inside
        self._building = True
        try:
            self.since_edit.setDateTime(QDateTime.fromMSecsSinceEpoch(since, QTimeZone.utc()))
            self.until_edit.setDateTime(QDateTime.fromMSecsSinceEpoch(until, QTimeZone.utc()))
        finally:
            self._building = False

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
