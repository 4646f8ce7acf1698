"""The red verification banner: what verification found, where, in words (architecture.md §4).

A verification failure must be impossible to miss and never vague: the banner shows the stable
code, the sentence saying what was found, and where (the log indexes or ranges). It stays until
the person dismisses it; a new failure replaces it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from auditlens.core.errors import Finding, VerificationError, format_ranges
from auditlens.ui.resources import icon


class VerificationBanner(QFrame):
    """A red bar above the table: code, what, where, and Dismiss."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("VerificationBanner")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(10)
        self.icon = QLabel()
        self.icon.setPixmap(icon("warning").pixmap(28, 28))
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        text = QVBoxLayout()
        text.setSpacing(2)
        self.code = QLabel()
        self.code.setObjectName("BannerCode")
        self.what = QLabel()
        self.what.setWordWrap(True)
        self.what.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.where = QLabel()
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text.addWidget(self.code)
        text.addWidget(self.what)
        text.addWidget(self.where)
        layout.addLayout(text, 1)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.clicked.connect(self._dismiss)
        layout.addWidget(self.dismiss_button, 0, Qt.AlignmentFlag.AlignTop)
        self.setVisible(False)

    def _set_kind(self, kind: str) -> None:
        self.setProperty("kind", kind)
        self.style().unpolish(self)
        self.style().polish(self)

    def show_failure(self, code: str, what: str, where: str = "") -> None:
        """Show a failure: its code, the sentence, and where it was found."""
        self._set_kind("failure")
        self.code.setText(f"Verification failed: {code}")
        self.what.setText(what)
        self.where.setText(where)
        self.where.setVisible(bool(where))
        self.setVisible(True)

    def show_notice(self, title: str, what: str) -> None:
        """Show a problem that is not a verification failure (amber): e.g. a refused sync."""
        self._set_kind("notice")
        self.code.setText(title)
        self.what.setText(what)
        self.where.setVisible(False)
        self.setVisible(True)

    @property
    def kind(self) -> str:
        return str(self.property("kind") or "")

    def show_finding(self, finding: Finding, context: str = "") -> None:
        """Show a :class:`Finding` (its ranges become the "where" line)."""
        where = f"Log index {format_ranges(list(finding.ranges))}" if finding.ranges else ""
        if context:
            where = f"{where} · {context}" if where else context
        self.show_failure(str(finding.code), finding.message, where)

    def show_error(self, error: VerificationError, context: str = "") -> None:
        """Show a :class:`VerificationError` raised by the sync or the re-check."""
        self.show_finding(error.finding, context)

    def clear(self) -> None:
        """Hide the banner because what it said no longer applies (a new session, a good sync).

        Unlike Dismiss, this is not the person's choice, so :attr:`dismissed` is not emitted.
        """
        self.setVisible(False)
        self._set_kind("")

    def _dismiss(self) -> None:
        self.setVisible(False)
        self.dismissed.emit()
