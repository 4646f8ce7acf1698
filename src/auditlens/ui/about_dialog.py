"""Help → About: the version, the trusted identity of the current log, the keyboard shortcuts.

An auditor must be able to read the pinned origin and verifier key at any time, not only at
first contact, to compare them out of band (a phone call, a printed key) with what the
server's operator published: the key is shown whole, selectable, with a Copy button. The
shortcut list is the one place that says which keys the window answers to; it is built from
:data:`SHORTCUTS`, which the tests check against the window.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from auditlens import __version__
from auditlens.ui.resources import icon

#: (keys, what they do) as listed in the dialog.
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("F5", "Sync now: fetch and verify new events"),
    ("Ctrl+F", "Focus the filters"),
    ("↑ / ↓", "Previous / next event; the detail pane follows"),
    ("Page Up / Page Down", "Move a screen of events"),
    ("Ctrl+Home / Ctrl+End", "First / last event"),
    ("/", "Search every field"),
    ("n / Shift+N", "Next / previous search hit"),
    ("b", "Star or unstar the event (the case)"),
    ("Enter", "Open the event's task trail"),
    ("Ctrl+Shift+B", "Show the case: starred and annotated events"),
    ("Ctrl+Shift+R", "Relative times / UTC"),
    ("F1", "This window"),
)


@dataclass(frozen=True)
class TrustedIdentity:
    """What the About dialog shows about the current log; None fields when not signed in."""

    server_url: str | None = None
    origin: str | None = None
    vkey: str | None = None
    note: str = ""  # e.g. "demo: pinned by construction"


class AboutDialog(QDialog):
    """Version, pinned origin + vkey of the current server, and the shortcuts."""

    def __init__(self, identity: TrustedIdentity, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About auditlens")
        self.setWindowIcon(icon("app"))
        self.setMinimumWidth(640)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 18)
        layout.setSpacing(12)

        head = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(icon("app").pixmap(48, 48))
        head.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        self.title = QLabel(
            f"<b style='font-size:14pt'>auditlens {__version__}</b><br>"
            "<span style='color:#51606f'>Verified audit logs: every event shown has been "
            "checked against a signed checkpoint.</span>"
        )
        self.title.setWordWrap(True)
        head.addWidget(self.title, 1)
        layout.addLayout(head)

        trust = QLabel("<b>The log you trust</b>")
        layout.addWidget(trust)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        signed_in = identity.server_url is not None
        self.server_label = _selectable(identity.server_url or "Not signed in")
        form.addRow("Server", self.server_label)
        self.origin_label = _selectable(identity.origin or "—")
        form.addRow("Log origin", self.origin_label)
        self.vkey_box = QPlainTextEdit(identity.vkey or "—")
        self.vkey_box.setAccessibleName("Trusted verifier key")
        self.vkey_box.setObjectName("KeyBox")
        self.vkey_box.setReadOnly(True)
        self.vkey_box.setFixedHeight(52)
        self.vkey_box.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.copy_button = QPushButton("Copy key")
        self.copy_button.setAutoDefault(False)  # Enter closes the dialog, it does not copy
        self.copy_button.setEnabled(identity.vkey is not None)
        self.copy_button.clicked.connect(self._copy_key)
        key_row = QHBoxLayout()
        key_row.addWidget(self.vkey_box, 1)
        key_row.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignTop)
        form.addRow("Verifier key", key_row)
        layout.addLayout(form)
        if signed_in:
            hint = (
                "Compare the origin and key with the ones your administrator published, over "
                f"a channel other than this server. {identity.note}"
            ).strip()
        else:
            hint = "Sign in to see the origin and key this viewer trusts."
        self.hint = QLabel(hint)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #51606f;")
        layout.addWidget(self.hint)

        layout.addWidget(QLabel("<b>Keyboard</b>"))
        keys = QFormLayout()
        keys.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        keys.setHorizontalSpacing(16)
        keys.setVerticalSpacing(4)
        self.shortcut_labels: list[QLabel] = []
        for combo, meaning in SHORTCUTS:
            key = QLabel(f"<b>{combo}</b>")
            keys.addRow(key, QLabel(meaning))
            self.shortcut_labels.append(key)
        layout.addLayout(keys)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        close.setDefault(True)
        close.setFocus()

    def _copy_key(self) -> None:
        clipboard = QGuiApplication.clipboard()
        clipboard.setText(self.vkey_box.toPlainText())


def _selectable(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label
