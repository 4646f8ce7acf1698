"""Settings -> Forwarding: the health and lag of each SIEM destination of the signed-in server.

What a person sees per destination: its name and kind, whether it runs (running, paused, or
stopped by an error), how far it is behind the log (events and seconds), when it last
delivered, its last error and how many events it refused as malformed (dead letters).

Choices:

* Read-only for Admins; Owners also get Pause / Resume per destination. Adding, editing secrets
  and replays stay in the CLI and the API, where a secret never passes through a desktop.
* Everything is fetched on the window's task runner, never on the UI thread: once when the
  dialog opens and again on Refresh or after a Pause / Resume. A result overtaken by a newer
  request is dropped (generation number), so a slow answer never overwrites a fresh one.
* Not signed in, a Member, or a server without destinations: an empty state that says why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from auditlens.client.api import AuditApiClient, ForwarderStatus
from auditlens.ui.tasks import TaskRunner

#: Who may see forwarding, and who may also pause and resume it (the server enforces both).
VIEWER_ROLES = ("owner", "admin")
EDITOR_ROLES = ("owner",)

COLUMNS = ("Destination", "Kind", "State", "Lag", "Last success", "Last error", "Dead letters")
ACTION_COLUMN = len(COLUMNS)

_STATE_WORDS = {"active": "running", "paused": "paused", "failed": "stopped (error)"}
#: Text colours of the states a person must notice (running keeps the default colour).
_STATE_COLOURS = {"paused": "#7a4b00", "failed": "#a0281e"}
_KIND_WORDS = {
    "splunk_hec": "Splunk HEC",
    "datadog": "Datadog Logs",
    "syslog": "Syslog",
    "webhook": "Webhook",
    "securityhub": "AWS Security Hub",
}


@dataclass(frozen=True)
class ForwardingTarget:
    """What the dialog needs of a session: a client, the person's role, where it points."""

    client: AuditApiClient
    role: str
    where: str


def kind_words(kind: str) -> str:
    return _KIND_WORDS.get(kind, kind)


def state_words(state: str) -> str:
    return _STATE_WORDS.get(state, state)


def lag_words(status: ForwarderStatus) -> str:
    if status.lag_events == 0:
        return "up to date"
    events = f"{status.lag_events:,} event{'s' if status.lag_events != 1 else ''}"
    return f"{events} · {duration_words(status.lag_seconds)}"


def duration_words(seconds: float) -> str:
    """A lag a person reads at a glance: seconds, minutes, hours or days behind."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86_400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:,.0f} days"


def time_words(ms: int | None) -> str:
    """Epoch milliseconds in the person's local time, or "never"."""
    if ms is None:
        return "never"
    when = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).astimezone()
    return when.strftime("%Y-%m-%d %H:%M:%S")


def fetch_statuses(client: AuditApiClient) -> list[ForwarderStatus]:
    """Every destination's status (worker thread): one list call, then one status call each."""
    return [client.forwarder_status(fid) for fid in client.forwarder_ids()]


class ForwardingDialog(QDialog):
    """The list of SIEM destinations, refreshed in the background; Pause / Resume for Owners."""

    def __init__(
        self,
        runner: TaskRunner,
        target: Callable[[], ForwardingTarget | None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Forwarding to SIEMs")
        self.setObjectName("ForwardingDialog")
        self.resize(980, 340)
        self._runner = runner
        self._target = target
        self._generation = 0
        self.statuses: list[ForwarderStatus] = []
        self.loading = False

        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS) + 1)
        self.table.setHorizontalHeaderLabels([*COLUMNS, ""])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Last error"), QHeaderView.ResizeMode.Stretch)
        self.empty = QLabel()
        self.empty.setObjectName("ForwardingEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        # The last-error column is cut to the table's width; the whole sentences are here.
        self.errors = QLabel()
        self.errors.setObjectName("ForwardingErrors")
        self.errors.setWordWrap(True)
        self.errors.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.errors.setStyleSheet("color: #a0281e;")
        self.errors.setVisible(False)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.table)
        self.pages.addWidget(self.empty)
        self.message = QLabel()
        self.message.setObjectName("ForwardingMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        row = QHBoxLayout()
        row.addWidget(self.message, 1)
        row.addWidget(self.refresh_button)
        row.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.errors)
        layout.addLayout(row)

    # -- fetching -------------------------------------------------------------------------------

    def show_and_refresh(self) -> None:
        """Show the dialog and fetch a fresh view."""
        self.show()
        self.raise_()
        self.activateWindow()
        self.refresh()

    def refresh(self) -> None:
        """Fetch every destination's status on the task runner."""
        self._generation += 1
        target = self._target()
        if target is None:
            self._show_empty("Sign in to a server to see where it forwards its audit log.")
            self.heading.setText("Not signed in.")
            return
        self.heading.setText(
            f"SIEM destinations of {target.where}"
            + ("" if target.role in EDITOR_ROLES else " (read-only: only Owners can pause them)")
        )
        if target.role not in VIEWER_ROLES:
            self._show_empty("Only Owners and Admins can see the server's forwarding.")
            return
        generation = self._generation
        self.loading = True
        self.refresh_button.setEnabled(False)
        self.message.setText("Loading…")
        client = target.client
        self._runner.submit(
            lambda: fetch_statuses(client),
            lambda result: self._loaded(generation, target, result),
            lambda exc: self._failed(generation, exc, "load the forwarding destinations"),
        )

    def _loaded(
        self, generation: int, target: ForwardingTarget, statuses: list[ForwarderStatus]
    ) -> None:
        if generation != self._generation:
            return
        self._settle()
        self.statuses = statuses
        now = dt.datetime.now().astimezone().strftime("%H:%M:%S")
        self.message.setText(f"Updated at {now}.")
        if not statuses:
            self._show_empty(
                "This server forwards to no SIEM yet. An Owner or Admin adds one with "
                "“auditlens server forwarder add” or the API (see the README, "
                '"Forwarding to your SIEM").'
            )
            return
        self._fill(statuses, editable=target.role in EDITOR_ROLES)

    def _failed(self, generation: int, exc: BaseException, what: str) -> None:
        if generation != self._generation:
            return
        self._settle()
        self.message.setText(f"Could not {what}: {exc}")
        self.message.setStyleSheet("color: #a0281e;")

    def _settle(self) -> None:
        self.loading = False
        self.refresh_button.setEnabled(True)
        self.message.setStyleSheet("")

    # -- pause and resume -----------------------------------------------------------------------

    def set_state(self, forwarder_id: str, state: str) -> None:
        """Pause (``paused``) or resume (``active``) one destination, then refresh."""
        target = self._target()
        if target is None:
            return
        self._generation += 1
        generation = self._generation
        self.loading = True
        self.refresh_button.setEnabled(False)
        self.table.setEnabled(False)
        verb = "pause" if state == "paused" else "resume"
        self.message.setText(f"Asking the server to {verb}…")
        client = target.client

        def done(_: object) -> None:
            self.table.setEnabled(True)
            if generation == self._generation:
                self.refresh()

        def failed(exc: BaseException) -> None:
            self.table.setEnabled(True)
            self._failed(generation, exc, f"{verb} the destination")

        self._runner.submit(lambda: client.set_forwarder_state(forwarder_id, state), done, failed)

    # -- showing --------------------------------------------------------------------------------

    def _show_empty(self, text: str) -> None:
        self.statuses = []
        self.table.setRowCount(0)
        self.errors.setVisible(False)
        self.empty.setText(text)
        self.pages.setCurrentWidget(self.empty)
        self._settle()
        self.message.setText("")

    def _fill(self, statuses: list[ForwarderStatus], *, editable: bool) -> None:
        self.pages.setCurrentWidget(self.table)
        self.table.setColumnHidden(ACTION_COLUMN, not editable)
        self.table.setRowCount(len(statuses))
        self._show_errors(statuses)
        for row, status in enumerate(statuses):
            cells = (
                status.name,
                kind_words(status.kind),
                state_words(status.state),
                lag_words(status),
                time_words(status.last_success_at),
                status.last_error or "",
                f"{status.dead_letters:,}",
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == COLUMNS.index("Last error") and status.last_error:
                    item.setToolTip(f"{status.last_error}\n(at {time_words(status.last_error_at)})")
                if column == COLUMNS.index("State") and status.state in _STATE_COLOURS:
                    item.setForeground(QColor(_STATE_COLOURS[status.state]))
                if column in (COLUMNS.index("Lag"), COLUMNS.index("Dead letters")):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(row, column, item)
            if editable:
                self.table.setCellWidget(row, ACTION_COLUMN, self._action_button(status))
            else:
                self.table.removeCellWidget(row, ACTION_COLUMN)

    def _show_errors(self, statuses: list[ForwarderStatus]) -> None:
        lines = [
            f"{s.name}, {time_words(s.last_error_at)}: {s.last_error}"
            for s in statuses
            if s.last_error
        ]
        self.errors.setText("Last errors:\n" + "\n".join(lines) if lines else "")
        self.errors.setVisible(bool(lines))

    def _action_button(self, status: ForwarderStatus) -> QPushButton:
        pausing = status.state == "active"
        button = QPushButton("Pause" if pausing else "Resume")
        button.setObjectName(f"forwarder-{status.id}")
        new_state = "paused" if pausing else "active"
        button.clicked.connect(lambda: self.set_state(status.id, new_state))
        return button

    def action_button(self, row: int) -> QPushButton | None:
        """The Pause / Resume button of a row (None for Admins)."""
        widget = self.table.cellWidget(row, ACTION_COLUMN)
        return widget if isinstance(widget, QPushButton) else None

    def row_texts(self, row: int) -> dict[str, str]:
        """The visible text of a row by column name (for tests and accessibility checks)."""
        texts: dict[str, str] = {}
        for column, name in enumerate(COLUMNS):
            item = self.table.item(row, column)
            texts[name] = item.text() if item is not None else ""
        return texts
