"""The free-text search field above the table, and the delegate that marks hits in cells.

The search is part of the one filter (:attr:`auditlens.mirror.filter.EventFilter.text`): the
sidebar narrows by fields, the search by what any value of the event says, and the table shows
the rows matching both, in the same order and pages as any filter. ``/`` focuses the field
(from anywhere but another text field), Enter applies what was typed, Esc clears the search
and shows every row the sidebar allows again. Applying on Enter rather than on every key keeps
a 1M-event mirror from running a search per letter of an id being pasted or typed.

How terms match (whole ids, emails, IPs and paths, or their parts) is
:mod:`auditlens.mirror.search`'s rule; the same rule marks the hits in the table
(:class:`HighlightDelegate`) and in the JSON pane (:mod:`auditlens.ui.json_view`).
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from auditlens.ui.resources import icon

#: The background of a hit, in the table and the JSON pane (dark text stays readable on it).
HIT_BACKGROUND = QColor("#ffe066")

PLACEHOLDER = "Search every field: id, email, IP, path, command, error…   ( / )"


class SearchField(QLineEdit):
    """A line edit that clears itself on Esc (and says so with ``cleared``)."""

    cleared = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Escape and (self.text() or self.isModified()):
            self.clear()
            self.cleared.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class SearchBar(QFrame):
    """The field, and ``search_changed(text)`` when a search is applied or cleared ("")."""

    search_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SearchBar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 2)
        self.field = SearchField()
        self.field.setObjectName("SearchField")
        self.field.setPlaceholderText(PLACEHOLDER)
        self.field.setClearButtonEnabled(True)
        self.field.setAccessibleName("Search events")
        self.field.setToolTip(
            "Finds events whose values contain every word typed, from the start of a word part:\n"
            "a whole id, email, IP or path, or a part of it (carol, example.com, 10.0.0).\n"
            'Quote several words to find them together ("rm -rf"). Enter searches, Esc clears.'
        )
        self.field.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.hint = QLabel()
        self.hint.setObjectName("SearchHint")
        layout.addWidget(self.field, 1)
        layout.addWidget(self.hint)
        self._applied = ""
        self.field.returnPressed.connect(self.apply)
        self.field.cleared.connect(self.apply)
        self.field.textChanged.connect(self._text_changed)

    @property
    def applied(self) -> str:
        """The search the table shows ("" for none)."""
        return self._applied

    def focus(self) -> None:
        """``/``: put the cursor in the field, its text selected for replacing."""
        self.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.field.selectAll()

    def apply(self) -> None:
        """Show what the field holds (Enter), or every row again when it is empty."""
        text = self.field.text().strip()
        self._update_hint()
        if text != self._applied:
            self._applied = text
            self._update_hint()
            self.search_changed.emit(text)

    def set_text(self, text: str) -> None:
        """Show ``text`` as the applied search without emitting (the filter came from elsewhere)."""
        self.field.setText(text)
        self._applied = text.strip()
        self._update_hint()

    def _text_changed(self, text: str) -> None:
        if not text and self._applied:  # the clear button: the search is gone at once
            self.apply()
        self._update_hint()

    def _update_hint(self) -> None:
        pending = self.field.text().strip() != self._applied
        self.hint.setText("Enter to search" if pending else "")


class HighlightDelegate(QStyledItemDelegate):
    """Paints a cell with the spans its model gives under ``role`` on a hit background.

    The rest is the style's own drawing (selection, alternating rows, focus), so a cell without
    hits looks exactly like any other.
    """

    def __init__(self, role: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        spans = index.data(self.role)
        if not spans:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text = opt.text
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, opt, widget)
        margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, widget) + 1
        rect = rect.adjusted(margin, 0, -margin, 0)
        metrics = opt.fontMetrics
        shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, rect.width())
        visible = len(shown) if shown == text else max(len(shown) - 1, 0)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        palette = opt.palette
        painter.save()
        painter.setClipRect(rect)
        painter.setFont(opt.font)
        for start, stop in spans:
            if start >= visible:
                continue
            x = rect.x() + metrics.horizontalAdvance(text[:start])
            width = metrics.horizontalAdvance(text[start : min(stop, visible)])
            hit = QRect(x, rect.y() + 3, width, rect.height() - 6)
            painter.fillRect(hit, HIT_BACKGROUND)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        brush = index.data(Qt.ItemDataRole.ForegroundRole)
        painter.setPen(brush.color() if brush is not None and not selected else palette.color(role))
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(rect, int(align), shown)
        painter.restore()
