"""The detail pane: one event in full, where it sits in the verified log, and ids to filter by.

It shows what the mirror holds for the selected row: the exact entry bytes as pretty JSON, the
leaf hash and the trusted checkpoint that covers the entry (computed by the query layer; this
widget only displays them). The user, task and agent ids and the request's IP address are
links: clicking one asks the window to filter by exactly that value (``filter_requested``);
the "Pivot" button opens the event's pivots (same user, IP, … within ±N minutes; the events
just before and after it: :mod:`auditlens.ui.pivots`).
The request's user agent is shown beside the IP: the pane is where an investigator looks for
"from where". The outcome is the verdict: a refusal reads **denied** in amber, with the signed
outcome beside it, so it can be told from both a success and a failure.
Under the proof, the investigator's note on the event (kept in the case file beside the mirror,
:mod:`auditlens.mirror.case_file`): labelled as their words, never part of the evidence. Edits
are saved a moment after typing stops, and at once when another event is selected.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from auditlens.core.timestamps import format_timestamp
from auditlens.mirror.records import EventRecord, Row
from auditlens.ui import theme
from auditlens.ui.json_view import JsonHighlighter, pretty_json
from auditlens.ui.resources import icon

#: Milliseconds after the last keystroke before a note is saved.
NOTE_SAVE_DELAY_MS = 400

#: Characters of the user agent shown beside the IP (a long one would crowd the proof box).
USER_AGENT_SHOWN = 56


def _link(kind: str, value: str | None, text: str | None = None) -> str:
    if value is None:
        return f'<span style="color:{theme.current().muted}">none</span>'
    shown = html.escape(text or value)
    link = theme.current().link
    return f'<a href="{kind}:{html.escape(value, quote=True)}" style="color:{link}">{shown}</a>'


def _trail(task_id: str | None) -> str:
    """The "show task trail" link after a task id (nothing when the event has no task)."""
    if task_id is None:
        return ""
    return (
        f' &nbsp;<a href="trail:{html.escape(task_id, quote=True)}" '
        f'style="color:{theme.current().link}">'
        "Show task trail</a>"
    )


def _outcome(row: Row) -> str:
    verdict = row.verdict or row.outcome
    c = theme.current()
    if verdict == "failure":
        return f'<span style="color:{c.failure_text}; font-weight:600">failure</span>'
    if verdict == "denied":
        return (
            f'<span style="color:{c.denied_text}; background:{c.denied_bg}; font-weight:600">'
            f'&nbsp;denied&nbsp;</span> <span style="color:{c.secondary}">refused by policy or '
            "permission "
            f"(signed outcome: {html.escape(row.outcome or 'none')})</span>"
        )
    return html.escape(verdict or "")


def _request(row: Row) -> str:
    """The IP (a filter link) and user agent of the request behind the event, if any."""
    if row.ip is None and row.user_agent is None:
        return f'<span style="color:{theme.current().muted}">none recorded</span>'
    parts = []
    if row.ip is not None:
        parts.append(_link("ip", row.ip))
    if row.user_agent is not None:
        agent = row.user_agent
        if len(agent) > USER_AGENT_SHOWN:  # in full in the JSON beside it
            agent = agent[: USER_AGENT_SHOWN - 1].rstrip() + "…"
        parts.append(f'<span style="color:{theme.current().secondary}">{html.escape(agent)}</span>')
    return " &nbsp;·&nbsp; ".join(parts)


class DetailPane(QWidget):
    """The selected event: title, clickable ids, proof status, JSON, Copy."""

    #: (kind, value): kind is ``user`` (an email or id), ``task``, ``agent`` or ``ip``.
    filter_requested = Signal(str, str)
    #: A task id whose whole trail the person wants to see ("Show task trail" link).
    trail_requested = Signal(str)
    #: The "Pivot" button: where (global) to open the pivots of the shown event
    #: (:mod:`auditlens.ui.pivots` builds the menu).
    pivot_menu_requested = Signal(QPoint)
    #: The star button was clicked: toggle the shown event's bookmark.
    star_requested = Signal()
    #: (log index, event id, text): the investigator edited the shown event's note.
    note_edited = Signal(int, str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("DetailPane")
        self.setMinimumHeight(180)
        # Side by side: what and where on the left, the whole event on the right (the pane sits
        # under the table, so it is wide and short).
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(12)
        info = QVBoxLayout()
        info.setSpacing(8)

        top = QHBoxLayout()
        self.title = QLabel("No event selected")
        self.title.setObjectName("DetailTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.title, 1)
        self.pivot_button = QPushButton("Pivot ▾")
        self.pivot_button.setObjectName("PivotButton")
        self.pivot_button.setToolTip(
            "Same user, IP, agent, task, API key or session (all time or within ±N minutes), "
            "or the events just before and after this one"
        )
        self.pivot_button.setEnabled(False)
        self.pivot_button.clicked.connect(
            lambda: self.pivot_menu_requested.emit(
                self.pivot_button.mapToGlobal(self.pivot_button.rect().bottomLeft())
            )
        )
        top.addWidget(self.pivot_button)
        self.star_button = QPushButton("☆ Star")
        self.star_button.setObjectName("StarButton")
        self.star_button.setToolTip("Bookmark this event in the case (b in the table)")
        self.star_button.setEnabled(False)
        self.star_button.clicked.connect(self.star_requested)
        top.addWidget(self.star_button)
        self.copy_button = QPushButton(icon("copy"), "Copy")
        self.copy_button.setToolTip("Copy the event as JSON")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy)
        top.addWidget(self.copy_button)
        info.addLayout(top)

        self.ids = QLabel()
        self.ids.setWordWrap(True)
        self.ids.setTextFormat(Qt.TextFormat.RichText)
        self.ids.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.ids.setOpenExternalLinks(False)
        self.ids.linkActivated.connect(self._link_clicked)
        self.ids.setToolTip("Click an id to show only its events")
        info.addWidget(self.ids)

        self.proof = QLabel()
        self.proof.setObjectName("ProofStatus")
        self.proof.setWordWrap(True)
        self.proof.setTextFormat(Qt.TextFormat.RichText)
        self.proof.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.proof.setVisible(False)
        info.addWidget(self.proof)
        info.addStretch(1)
        self.note_label = QLabel("Investigator's note (your words, not part of the evidence)")
        self.note_label.setObjectName("NoteLabel")
        info.addWidget(self.note_label)
        self.note = QPlainTextEdit()
        self.note.setObjectName("EventNote")
        self.note.setAccessibleName("Investigator's note on this event")
        self.note.setPlaceholderText("Write a note on this event (kept in the case file)")
        self.note.setFixedHeight(64)
        self.note.setTabChangesFocus(True)
        info.addWidget(self.note)
        self._note_key: tuple[int, str] | None = None
        self._note_dirty = False
        self._note_timer = QTimer(self)
        self._note_timer.setSingleShot(True)
        self._note_timer.setInterval(NOTE_SAVE_DELAY_MS)
        self._note_timer.timeout.connect(self.save_note)
        self.note.textChanged.connect(self._note_typed)
        info_widget = QWidget()
        info_widget.setLayout(info)
        info_widget.setFixedWidth(430)
        layout.addWidget(info_widget)

        self.json = QPlainTextEdit()
        self.json.setAccessibleName("Event JSON")
        self.json.setObjectName("DetailJson")
        self.json.setReadOnly(True)
        self.json.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        font = QFont("DejaVu Sans Mono")
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.json.setFont(font)
        self.highlighter = JsonHighlighter(self.json.document())
        self._shown_with: tuple[str | None, str | None] = (None, None)
        theme.theme_changed().connect(self._recolour)
        layout.addWidget(self.json, 1)

        self.row: Row | None = None
        self.record: EventRecord | None = None
        self.clear()

    def clear(self) -> None:
        """Show nothing (no selection)."""
        self.show_note(None)
        self.show_star(None)
        self.row = self.record = None
        self.title.setText("No event selected")
        muted = theme.current().muted
        self.ids.setText(f'<span style="color:{muted}">Select a row to see the whole event.</span>')
        self.proof.setVisible(False)
        self.json.setPlainText("")
        self.copy_button.setEnabled(False)
        self.pivot_button.setEnabled(False)

    def _recolour(self, _palette: object) -> None:
        """A theme change: show the current event again in the new colours."""
        row, record = self.row, self.record
        if row is not None and record is not None and record.idx == row.idx:  # not mid-load
            self.show_event(row, record, *self._shown_with)

    def show_loading(self, row: Row) -> None:
        """A row was selected; its bytes are being read."""
        self.save_note()
        self.row = row
        self.title.setText(row.type or "")
        self.json.setPlainText("Loading…")
        self.copy_button.setEnabled(False)

    def show_event(
        self, row: Row, record: EventRecord, email: str | None, origin: str | None
    ) -> None:
        """Show ``record`` (the entry of ``row``) with its proof status."""
        self.row, self.record = row, record
        self._shown_with = (email, origin)
        self.title.setText(row.type or "")
        user = _link("user", email or row.user_id, email or row.user_id)
        self.ids.setText(
            '<table cellspacing="0" cellpadding="2">'
            f"<tr><td><b>Time</b>&nbsp;</td><td>{format_timestamp(row.ts)} (UTC)</td></tr>"
            f"<tr><td><b>User</b>&nbsp;</td><td>{user}</td></tr>"
            f"<tr><td><b>Task</b>&nbsp;</td><td>{_link('task', row.task_id)}{_trail(row.task_id)}"
            "</td></tr>"
            f"<tr><td><b>Agent</b>&nbsp;</td><td>{_link('agent', row.agent_id)}</td></tr>"
            f"<tr><td><b>Outcome</b>&nbsp;</td><td>{_outcome(row)}</td></tr>"
            f"<tr><td><b>From</b>&nbsp;</td><td>{_request(row)}</td></tr>"
            "</table>"
        )
        leaf = record.leaf_hash.hex()
        if record.checkpoint_size is not None:
            signer = f", signed by <b>{html.escape(origin)}</b>" if origin else ""
            verified = (
                f"Verified in checkpoint size <b>{record.checkpoint_size:,}</b>{signer}"
                if record.checkpoint_verified_at is None
                else f"Verified in checkpoint size <b>{record.checkpoint_size:,}</b>{signer}"
                f" ({format_timestamp(record.checkpoint_verified_at)[:16].replace('T', ' ')}"
                " UTC)"
            )
            self.proof.setProperty("state", "verified")
        else:
            verified = "Not covered by a verified checkpoint yet"
            self.proof.setProperty("state", "unverified")
        self.proof.setText(
            f"{verified}<br>Index <b>{record.idx:,}</b> &nbsp; leaf hash "
            f'<span style="font-family:monospace">{leaf[:16]}…{leaf[-8:]}</span>'
        )
        self.proof.setToolTip(f"Leaf hash (SHA-256 of 0x00 ‖ entry bytes): {leaf}")
        self.proof.style().unpolish(self.proof)
        self.proof.style().polish(self.proof)
        self.proof.setVisible(True)
        self.json.setPlainText(pretty_json(record.raw))
        self.copy_button.setEnabled(True)
        self.pivot_button.setEnabled(True)

    def show_note(
        self, key: tuple[int, str] | None, text: str = "", refusal: str | None = None
    ) -> None:
        """Edit the note of the event ``key`` = (index, id); ``None`` or a refusal disables it.

        A pending edit of the previous event is saved first."""
        self.save_note()
        self._note_key = None  # setting the text is not an edit
        self.note.setPlainText(refusal or text)
        self.note.setEnabled(key is not None and refusal is None)
        self._note_key = key if refusal is None else None

    def show_star(self, starred: bool | None) -> None:
        """Show whether the event is bookmarked (``None``: it cannot be)."""
        self.star_button.setEnabled(starred is not None)
        self.star_button.setText("★ Starred" if starred else "☆ Star")

    def _note_typed(self) -> None:
        if self._note_key is not None:
            self._note_dirty = True
            self._note_timer.start()

    def save_note(self) -> None:
        """Save a pending edit now (before the pane shows another event, or on close)."""
        self._note_timer.stop()
        if self._note_dirty and self._note_key is not None:
            idx, event_id = self._note_key
            self.note_edited.emit(idx, event_id, self.note.toPlainText())
        self._note_dirty = False

    def copy(self) -> None:
        """Put the event's JSON on the clipboard."""
        if self.record is not None:
            QGuiApplication.clipboard().setText(pretty_json(self.record.raw))

    def _link_clicked(self, link: str) -> None:
        kind, _, value = link.partition(":")
        if kind == "trail" and value:
            self.trail_requested.emit(value)
            return
        if kind in ("user", "task", "agent", "ip") and value:
            self.filter_requested.emit(kind, value)
