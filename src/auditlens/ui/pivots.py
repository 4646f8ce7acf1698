"""Pivots: from one event to the events around it that share something with it.

An investigator looking at one event asks what else this person, address, agent, task, API key
or session did, often only "in the ten minutes around it", and what happened just before and
after it in the log whatever the type. Each pivot replaces the whole filter (so a type filter
left over from the last question does not hide half the answer) and is one step of the
Back/Forward history (:mod:`auditlens.ui.history`), so the investigator can walk and return.

A view with a window of log positions or a payload field is exported as every row it shows (a
hand-picked selection, :class:`~auditlens.mirror.snapshot.ViewRows`): the evidence format's
filters cannot state those two conditions, and an export must never claim a broader filter
than the one it answers.

The same "Pivot" submenus are in a row's context menu and behind the detail pane's "Pivot"
button. "Same …" has a submenu: all time, or within ±1/5/10/30/60 minutes of the event (the
window is ``[t - N min, t + N min]``, inclusive at both ends). "Just before and after" shows the
N entries on each side in log order, the event itself selected in the middle. API key and
session pivots appear only when the event's payload carries ``event.key_id`` or
``event.idp_session``/``event.session_id``; the payload is read off the UI thread, so for a row
not yet shown in the detail pane those entries are added to the open menu when it arrives.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPoint
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QWidget,
    QWidgetAction,
)

from auditlens.mirror.filter import EventFilter
from auditlens.mirror.records import EventRecord, Row

if TYPE_CHECKING:
    from auditlens.ui.main_window import MainWindow

MINUTE_MS = 60_000
#: The ±N minute windows offered in each "Same …" submenu.
WINDOW_MINUTES = (1, 5, 10, 30, 60)
MAX_WINDOW_MINUTES = 7 * 24 * 60  # a week either side; beyond that, All time reads better
#: Entries shown on each side by "Just before and after".
NEIGHBOUR_COUNTS = (10, 25, 100)
#: Payload fields that name a credential or session: (field, what the menu calls it).
PAYLOAD_KEYS = (("key_id", "API key"), ("idp_session", "SSO session"), ("session_id", "session"))


def short(value: str) -> str:
    """A value as a menu shows it: long ids cut in the middle (their end tells them apart)."""
    return value if len(value) <= 40 else value[:20] + "…" + value[-12:]


def row_pivots(row: Row, email: str | None) -> list[tuple[str, str, EventFilter]]:
    """``(kind, label, filter)`` for the columns of ``row`` that hold a value."""
    found: list[tuple[str, str, EventFilter]] = []
    if email or row.user_id:
        who = email or row.user_id or ""
        f = EventFilter(user_email=email) if email else EventFilter(user_id=row.user_id)
        found.append(("user", f"Same user: {short(who)}", f))
    if row.ip:
        found.append(("ip", f"Same IP: {row.ip}", EventFilter(ip=row.ip)))
    if row.agent_id:
        found.append(
            ("agent", f"Same agent: {short(row.agent_id)}", EventFilter(agent_id=row.agent_id))
        )
    if row.task_id:
        found.append(("task", f"Same task: {short(row.task_id)}", EventFilter(task_id=row.task_id)))
    return found


def payload_pivots(raw: bytes) -> list[tuple[str, str, EventFilter]]:
    """``(kind, label, filter)`` for the API key / session fields the payload carries."""
    try:
        body = json.loads(raw)
    except ValueError:
        return []
    event = body.get("event") if isinstance(body, dict) else None
    if not isinstance(event, dict):
        return []
    found: list[tuple[str, str, EventFilter]] = []
    for name, what in PAYLOAD_KEYS:
        value = event.get(name)
        if isinstance(value, str) and value:
            label = f"Same {what}: {short(value)}"
            found.append((name, label, EventFilter(event_field=(name, value))))
    return found


def states_evidence_filter(f: EventFilter) -> bool:
    """False when ``f`` has a condition the evidence format's filters cannot state (a window of
    log positions, a payload field, an excluded value, a free-text search): an export of it
    must be the rows themselves, as a hand-picked selection, so its evidence never claims a
    broader filter (the query line goes with it as information)."""
    return (
        f.idx_from is None
        and f.idx_until is None
        and f.event_field is None
        and not f.exclude
        and f.text is None
    )


def around(f: EventFilter, ts: int, minutes: int) -> EventFilter:
    """``f`` limited to ``[ts - minutes, ts + minutes]`` (the end made exclusive by +1 ms)."""
    return replace(f, since_ms=ts - minutes * MINUTE_MS, until_ms=ts + minutes * MINUTE_MS + 1)


class Pivots(QObject):
    """Builds the Pivot submenus for a window and applies the chosen pivot."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self._select_after_load: int | None = None
        self.last_detail_menu: QMenu | None = None
        window.model.page_loaded.connect(self._page_loaded)
        window.detail.pivot_menu_requested.connect(self._detail_menu)

    # -- menus ----------------------------------------------------------------------------------

    def add_to_menu(self, menu: QMenu, row: Row) -> None:
        """Add the pivots of ``row`` to ``menu`` (a row's context menu)."""
        menu.addSection("Pivot from this event")
        email = self._window.model.email_of(row.user_id)
        for kind, label, f in row_pivots(row, email):
            self._add_same(menu, kind, label, f, row.ts)
        self._add_neighbours(menu, row)
        record = self._window.detail.record
        if record is not None and record.idx == row.idx:
            self._add_payload(menu, row, record)
            return
        reader = self._window.reader
        if reader is not None:  # read the payload off the UI thread; add its pivots on arrival
            self._window.runner.submit(
                lambda: reader.event(row.idx),
                lambda rec: self._add_payload(menu, row, rec),
                lambda _exc: None,
            )

    def menu_for(self, row: Row) -> QMenu:
        """A menu of just the pivots of ``row`` (the detail pane's Pivot button)."""
        menu = QMenu(self._window)
        menu.setObjectName("PivotMenu")
        self.add_to_menu(menu, row)
        return menu

    def _detail_menu(self, pos: QPoint) -> None:
        row = self._window.detail.row
        if row is not None:
            menu = self.menu_for(row)
            self.last_detail_menu = menu
            menu.popup(pos)

    def _add_same(self, menu: QMenu, kind: str, label: str, f: EventFilter, ts: int) -> None:
        menu.addMenu(self._same_menu(menu, kind, label, f, ts))

    def _same_menu(self, parent: QMenu, kind: str, label: str, f: EventFilter, ts: int) -> QMenu:
        """ "Same …" with its choices: all time, or within ±N minutes of the event."""
        sub = QMenu(label, parent)
        sub.setObjectName(f"pivot-{kind}")
        whole = sub.addAction("All time")
        whole.setObjectName(f"pivot-{kind}-all")
        whole.triggered.connect(lambda _=False, f=f: self.apply(f))
        sub.addSeparator()
        for minutes in WINDOW_MINUTES:
            action = sub.addAction(f"Within ±{minutes} min")
            action.setObjectName(f"pivot-{kind}-{minutes}")
            narrowed = around(f, ts, minutes)
            action.triggered.connect(lambda _=False, g=narrowed: self.apply(g))
        sub.addAction(self._any_window(sub, kind, f, ts))
        return sub

    def _any_window(self, sub: QMenu, kind: str, f: EventFilter, ts: int) -> QWidgetAction:
        """ "Within ± [N] min [Show]": any N, chosen in the menu itself (Enter shows it too)."""
        row = QWidget(sub)
        layout = QHBoxLayout(row)
        layout.setContentsMargins(24, 2, 8, 2)
        layout.addWidget(QLabel("Within ±", row))
        spin = QSpinBox(row)
        spin.setObjectName(f"pivot-{kind}-minutes")
        spin.setAccessibleName("Minutes either side of the event")
        spin.setRange(1, MAX_WINDOW_MINUTES)
        spin.setValue(15)
        spin.setSuffix(" min")
        layout.addWidget(spin)
        show = QPushButton("Show", row)
        show.setObjectName(f"pivot-{kind}-custom")
        show.setAccessibleName("Show the events within that many minutes")
        layout.addWidget(show)
        action = QWidgetAction(sub)
        action.setDefaultWidget(row)

        def chosen() -> None:
            sub.close()
            parent = sub.parentWidget()
            if isinstance(parent, QMenu):
                parent.close()
            self.apply(around(f, ts, spin.value()))

        show.clicked.connect(chosen)
        spin.editingFinished.connect(lambda: chosen() if spin.hasFocus() else None)
        return action

    def _add_neighbours(self, menu: QMenu, row: Row) -> None:
        sub = menu.addMenu("Just before and after this event")
        sub.setObjectName("pivot-neighbours")
        sub.menuAction().setObjectName("pivot-neighbours")
        sub.setToolTipsVisible(True)
        for n in NEIGHBOUR_COUNTS:
            action = sub.addAction(f"{n} entries each side")
            action.setObjectName(f"pivot-neighbours-{n}")
            action.setToolTip("In log order, whatever their type")
            action.triggered.connect(lambda _=False, n=n: self.show_neighbours(row.idx, n))

    def _add_payload(self, menu: QMenu, row: Row, record: EventRecord | None) -> None:
        if record is None or record.idx != row.idx:
            return
        try:
            sections = menu.actions()
        except RuntimeError:  # the menu was closed and deleted before the payload arrived
            return
        neighbours = next((a for a in sections if a.objectName() == "pivot-neighbours"), None)
        for kind, label, f in payload_pivots(record.raw):
            sub = self._same_menu(menu, kind, label, f, row.ts)
            if neighbours is not None:
                menu.insertMenu(neighbours, sub)
            else:
                menu.addMenu(sub)

    # -- applying -------------------------------------------------------------------------------

    def apply(self, f: EventFilter) -> None:
        """Show exactly ``f`` (one step of the history)."""
        self._select_after_load = None
        self._window.filters.show_pivot(f)

    def show_neighbours(self, idx: int, n: int) -> None:
        """The ``n`` entries before and after ``idx`` in log order, ``idx`` selected."""
        reader = self._window.reader
        if reader is None:
            return

        def show(window: tuple[int, int]) -> None:
            if reader is self._window.reader:
                self.apply(EventFilter(idx_from=window[0], idx_until=window[1]))
                self._select_after_load = idx

        self._window.runner.submit(lambda: reader.neighbours(idx, n), show)

    def _page_loaded(self, _first: int) -> None:
        """Select the event a neighbours pivot started from, once its row is loaded."""
        wanted = self._select_after_load
        if wanted is None:
            return
        model = self._window.model
        for position in range(min(model.rowCount(), 2 * max(NEIGHBOUR_COUNTS) + 1)):
            row = model.row_at(position)
            if row is not None and row.idx == wanted:
                self._select_after_load = None
                self._window.select_row(position)
                self._window.table.scrollTo(
                    model.index(position, 0), self._window.table.ScrollHint.PositionAtCenter
                )
                return
