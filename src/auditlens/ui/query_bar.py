"""The query bar above the table, and the delegate that marks search hits in cells.

One line says the whole filter: ``type:agent outcome:failure after:-24h "rm -rf"`` (the
language is :mod:`auditlens.mirror.query_text`'s). The bar and the sidebar are two views of the
same filter: Enter parses the line and hands the filter to the sidebar, and whatever the sidebar
shows comes back here as its canonical line (:meth:`QueryBar.show_query`), unless the line typed
already says exactly that (the words stay as typed). Applying on Enter rather than on every key
keeps a 1M-event mirror from running a query per letter of an id being typed.

Completion: typing a qualifier's start offers the qualifiers; after ``type:``, ``outcome:``,
``user:``, ``agent:``, ``ip:`` and ``task:`` it offers the catalogue's types and the values the
mirror holds (read on a worker by :mod:`auditlens.ui.filter_wiring`, never here; task ids are
asked for per typed prefix, as there can be hundreds of thousands), after ``after:``/``before:``
the sidebar's ranges. Ctrl+Space opens the list where the cursor is.

A line the filter cannot take is not applied: the bad token is underlined in red in the field,
the cursor put after it, and the reason shown under the bar; editing hides both. ``/`` focuses
the bar (from anywhere but another text field); Esc first drops an edit not yet applied, then
clears the free text (the qualifiers stay).

Search hits are marked with the search's own rule (:mod:`auditlens.mirror.search`) in the table
(:class:`HighlightDelegate`) and in the JSON pane (:mod:`auditlens.ui.json_view`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import (
    QCoreApplication,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QInputMethodEvent,
    QKeyEvent,
    QPainter,
    QPalette,
    QStandardItem,
    QStandardItemModel,
    QTextCharFormat,
)
from PySide6.QtWidgets import (
    QApplication,
    QCompleter,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from auditlens.core.events import CATEGORIES
from auditlens.mirror.filter import OUTCOMES
from auditlens.mirror.query_format import format_query
from auditlens.mirror.query_text import (
    QUALIFIERS,
    ParsedQuery,
    QueryError,
    parse_query,
    token_at,
)
from auditlens.ui import theme
from auditlens.ui.resources import icon

#: The background of a hit, in the table and the JSON pane (dark text stays readable on it).
HIT_BACKGROUND = QColor("#ffe066")
#: The colour of an error: the underline of the bad token and the message under the bar.
ERROR_COLOUR = QColor("#c62828")

PLACEHOLDER = 'Search or filter: type:agent outcome:failure user:ana* after:-24h "rm -rf"   ( / )'
SYNTAX_HELP = (
    "Words search every value of an event (ids, emails, IPs, paths, commands, errors);\n"
    '"quoted words" are a phrase. Qualifiers filter as the sidebar does:\n'
    "  type:agent,approval.denied   outcome:success|failure|denied\n"
    "  user:ana@example.com or user:usr_1   task:tsk_…   agent:agt_…   ip:10.0.0.7\n"
    "  after:2026-01-31  before:2026-02-01T10:30  after:-24h   (UTC; before: is exclusive)\n"
    "A value ending in * is a prefix (user:ana*, ip:10.0.*).\n"
    "-qualifier excludes (-type:auth); OR joins types or outcomes (type:agent OR type:task).\n"
    "Enter applies, Ctrl+Space completes, Esc drops an edit, then clears the words."
)
#: What each qualifier filters, beside it in the completion list.
QUALIFIER_HINTS = {
    "after": "at or after a UTC time, or -24h",
    "before": "before a UTC time",
    "user": "email or user id (ana* starts with)",
    "type": "event type or category",
    "task": "task id (tsk_1* starts with)",
    "agent": "agent id",
    "ip": "request address (10.0.* starts with)",
    "outcome": "success, failure or denied",
}
#: What ``after:``/``before:`` complete to: the sidebar's ranges.
TIME_COMPLETIONS = ("-1h", "-24h", "-7d", "-30d", "-90d")
#: Characters of a task id typed before its completions are asked for.
TASK_COMPLETION_MIN = 4
#: Values offered per qualifier in the list at most (it filters as one types).
MAX_COMPLETIONS = 5_000


#: Item data role of a completion's explanation (drawn in grey beside a qualifier).
HINT_ROLE = Qt.ItemDataRole.UserRole + 1
#: Where the explanations' column starts in the completion list, in pixels.
HINT_X = 92


class HintDelegate(QStyledItemDelegate):
    """A completion as usual, and its explanation (if any) in a grey column after it."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        super().paint(painter, option, index)
        hint = index.data(HINT_ROLE)
        if not hint:
            return
        painter.save()
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        role = (
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText
        )
        painter.setPen(option.palette.color(role))
        rect = option.rect.adjusted(HINT_X, 0, -8, 0)
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(rect, int(align), str(hint))
        painter.restore()

    def sizeHint(  # noqa: N802 (Qt override)
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        size = super().sizeHint(option, index)
        hint = index.data(HINT_ROLE)
        if hint:
            width = option.fontMetrics.horizontalAdvance(str(hint))
            size.setWidth(HINT_X + width + 16)
        return size


class QueryField(QLineEdit):
    """The line: Esc says ``escaped``, Ctrl+Space ``completion_asked``."""

    escaped = Signal()
    completion_asked = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Escape:
            self.escaped.emit()
            event.accept()
            return
        if event.key() == Qt.Key.Key_Space and event.modifiers() & (
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.MetaModifier
        ):
            self.completion_asked.emit()
            event.accept()
            return
        super().keyPressEvent(event)

    def caret_rect_at(self, position: int) -> QRect:
        """Where the text cursor is drawn at ``position`` (the completion list opens under the
        start of the word it completes)."""
        cursor = self.cursorPosition()
        self.setCursorPosition(position)
        rect = self.cursorRect()
        self.setCursorPosition(cursor)
        return rect

    def mark(self, start: int, end: int) -> None:
        """Underline ``text[start:end]`` with a red wave (an empty range clears the mark).

        A line edit has no per-character formats of its own; an input method event's text
        formats are the supported way to draw them, and any edit replaces them.
        """
        attributes = []
        if end > start:
            fmt = QTextCharFormat()
            fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
            fmt.setUnderlineColor(ERROR_COLOUR)
            fmt.setForeground(ERROR_COLOUR)
            attributes.append(
                QInputMethodEvent.Attribute(
                    QInputMethodEvent.AttributeType.TextFormat,
                    start - self.cursorPosition(),
                    end - start,
                    fmt,
                )
            )
        QCoreApplication.sendEvent(self, QInputMethodEvent("", attributes))


class QueryBar(QFrame):
    """The line and its error; ``query_applied(ParsedQuery)`` on Enter with a valid line."""

    query_applied = Signal(object)
    #: (qualifier, typed): completions of that prefix are wanted (task ids).
    completion_wanted = Signal(str, str)

    def __init__(self, clock: Callable[[], int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("QueryBar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self._clock = clock
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 8, 12, 2)
        outer.setSpacing(2)
        row = QHBoxLayout()
        self.field = QueryField()
        self.field.setObjectName("QueryField")
        self.field.setPlaceholderText(PLACEHOLDER)
        self.field.setClearButtonEnabled(True)
        self.field.setAccessibleName("Query: search and filter events")
        self.field.setToolTip(SYNTAX_HELP)
        self.field.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.hint = QLabel()
        self.hint.setObjectName("QueryHint")
        row.addWidget(self.field, 1)
        row.addWidget(self.hint)
        outer.addLayout(row)
        self.error = QLabel()
        self.error.setObjectName("QueryError")
        self.error.setWordWrap(True)
        self.error.setAccessibleName("Query error")
        self.error.setStyleSheet(f"color: {ERROR_COLOUR.name()}; padding-left: 30px;")
        self.error.setVisible(False)
        outer.addWidget(self.error)
        self.error_at: QueryError | None = None

        self._values: dict[str, list[str]] = {
            "type": list(CATEGORIES) + [t for types in CATEGORIES.values() for t in types],
            "outcome": list(OUTCOMES),
            "after": list(TIME_COMPLETIONS),
            "before": list(TIME_COMPLETIONS),
        }
        self._choices = QStandardItemModel(self)
        self._choice_list: list[str] = []
        self.completer = QCompleter(self._choices, self)
        self.completer.setWidget(self.field)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer.setMaxVisibleItems(12)
        self.completer.setCompletionRole(Qt.ItemDataRole.UserRole)  # the value, not the hint
        popup = self.completer.popup()
        if popup is not None:
            popup.setObjectName("QueryCompletions")
            popup.setStyleSheet("QListView::item { padding: 3px 8px; }")
            popup.setItemDelegate(HintDelegate(popup))
            popup.installEventFilter(self)  # after the completer's: sees Enter first
        self.completer.activated.connect(self._insert_completion)
        self._replace_from = 0  # where the word being completed starts
        self._asked_task = ""  # the task id prefix whose completions were asked for last
        self._applied = ""

        self.field.returnPressed.connect(self.apply)
        self.field.escaped.connect(self._escape)
        self.field.completion_asked.connect(lambda: self.update_completion(force=True))
        self.field.textEdited.connect(lambda _text: self.update_completion())
        self.field.textChanged.connect(self._text_changed)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        """Enter in the completion list with nothing chosen applies the line (the list would
        only close, and the person would press Enter twice)."""
        popup = self.completer.popup()
        if (
            watched is popup
            and popup is not None
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and not popup.currentIndex().isValid()
        ):
            popup.hide()
            self.apply()
            return True
        return super().eventFilter(watched, event)

    # -- applying -------------------------------------------------------------------------------

    @property
    def applied(self) -> str:
        """The line the table shows ("" for every event)."""
        return self._applied

    def focus(self) -> None:
        """``/``: put the cursor in the line, its text selected for replacing."""
        self.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.field.selectAll()

    def parse(self, text: str) -> ParsedQuery:
        """``text`` read with this window's clock (relative times count back from it)."""
        return parse_query(text, self._clock())

    def apply(self) -> None:
        """Enter: show what the line says, or point at what it cannot say."""
        popup = self.completer.popup()
        if popup is not None and popup.isVisible():
            return  # Enter picked a completion; the line is not finished yet
        text = self.field.text().strip()
        try:
            parsed = self.parse(text)
        except QueryError as error:
            self.show_error(error)
            return
        self.clear_error()
        self._applied = text
        self._update_hint()
        self.query_applied.emit(parsed)

    def show_query(self, text: str) -> None:
        """The filter shown is ``text`` (canonical, from the sidebar): show it, no signal.

        The line typed stays as typed when it says the same (``type:task user:a`` is not
        reordered under the person's cursor)."""
        current = self.field.text().strip()
        try:
            parsed = self.parse(current)
            same = format_query(parsed.filter, parsed.last_ms) == text
        except QueryError:
            same = False
        if not same and current != text:
            self._applied = text  # before setText: an emptied line must not apply itself
            self.field.setText(text)
        self._applied = self.field.text().strip()
        self.clear_error()
        self._update_hint()

    def show_error(self, error: QueryError) -> None:
        """Underline the bad token, put the cursor after it, say why under the bar."""
        self.error_at = error
        self.error.setText("✕  " + str(error))
        self.error.setVisible(True)
        self.field.setCursorPosition(min(error.end, len(self.field.text())))
        self.field.mark(error.position, min(error.end, len(self.field.text())))

    def clear_error(self) -> None:
        if self.error_at is not None:
            self.error_at = None
            self.error.setVisible(False)
            self.field.mark(0, 0)

    def _escape(self) -> None:
        popup = self.completer.popup()
        if popup is not None and popup.isVisible():
            popup.hide()
            return
        if self.field.text().strip() != self._applied or self.error_at is not None:
            self.field.setText(self._applied)  # drop the edit
            self.clear_error()
            return
        try:
            parsed = self.parse(self._applied)
        except QueryError:
            return
        if parsed.filter.text is not None:  # clear the words, keep the filters
            self.field.setText(format_query(replace(parsed.filter, text=None), parsed.last_ms))
            self.apply()

    def _text_changed(self, text: str) -> None:
        if self.error_at is not None:
            self.clear_error()
        if not text and self._applied:  # the clear button: everything shows at once
            self.apply()
        self._update_hint()

    def _update_hint(self) -> None:
        pending = self.field.text().strip() != self._applied
        self.hint.setText("Enter to apply" if pending else "")

    # -- completion -----------------------------------------------------------------------------

    def forget_values(self) -> None:
        """Offer no mirror's values any more (signed out: another organization's next)."""
        for qualifier in ("user", "agent", "ip", "task"):
            self._values.pop(qualifier, None)

    def typed_value(self, qualifier: str) -> str | None:
        """What is typed after ``qualifier:`` under the cursor, without a ``*`` (None: the
        cursor is not in such a value), to drop completions of a prefix typed earlier."""
        _start, completing, typed = token_at(self.field.text(), self.field.cursorPosition())
        return typed.rstrip("*") if completing == qualifier else None

    def set_values(self, qualifier: str, values: list[str]) -> None:
        """Values the mirror holds for ``qualifier`` (``user``, ``agent``, ``ip``, ``task``)."""
        self._values[qualifier] = values[:MAX_COMPLETIONS]
        if qualifier == "task" and self.typed_value("task") is not None:
            self.update_completion()  # the list arrived after the key that asked for it

    def update_completion(self, force: bool = False) -> None:
        """Offer what fits the word under the cursor (qualifiers, or a qualifier's values)."""
        text, cursor = self.field.text(), self.field.cursorPosition()
        start, qualifier, typed = token_at(text, cursor)
        if qualifier is None:
            choices = [f"{q}:" for q in QUALIFIERS]
            if not typed and not force:
                self._hide_popup()
                return
        else:
            wanted = typed.rstrip("*")
            # Asked once per prefix: the answer comes back through set_values.
            task = qualifier == "task" and len(wanted) >= TASK_COMPLETION_MIN
            if task and wanted != self._asked_task:
                self._asked_task = wanted
                self.completion_wanted.emit("task", wanted)
            choices = list(self._values.get(qualifier, ()))
        self._set_choices(choices)
        self._replace_from = start
        self.completer.setCompletionPrefix(typed)
        matches = self.completer.completionCount()
        if matches == 0 or (
            matches == 1 and self.completer.currentCompletion().lower() == typed.lower()
        ):
            self._hide_popup()
            return
        rect = self.field.caret_rect_at(start)
        popup = self.completer.popup()
        width = 320
        if popup is not None:
            width = max(width, popup.sizeHintForColumn(0) + 40)
        rect.setWidth(width)
        self.completer.complete(rect)

    def _set_choices(self, choices: list[str]) -> None:
        """The list: each value (what is inserted), a qualifier with what it filters."""
        if choices == self._choice_list:
            return
        self._choice_list = choices
        self._choices.clear()
        for choice in choices:
            item = QStandardItem(choice)
            item.setData(choice, Qt.ItemDataRole.UserRole)
            if choice.endswith(":"):
                item.setData(QUALIFIER_HINTS.get(choice[:-1]), HINT_ROLE)
            self._choices.appendRow(item)

    def _hide_popup(self) -> None:
        popup = self.completer.popup()
        if popup is not None:
            popup.hide()

    def _insert_completion(self, choice: str) -> None:
        """Put ``choice`` in place of the word being completed (a value ends with a space)."""
        text, cursor = self.field.text(), self.field.cursorPosition()
        end = cursor
        while end < len(text) and not text[end].isspace():
            end += 1
        if not choice.endswith(":"):
            if any(c.isspace() for c in choice):
                choice = f'"{choice}"'
            choice += " " if end >= len(text) else ""
        self.field.setText(text[: self._replace_from] + choice + text[end:])
        self.field.setCursorPosition(self._replace_from + len(choice))
        if choice.endswith(":"):
            self.update_completion()  # straight on to the qualifier's values


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
            painter.fillRect(hit, QColor(theme.current().table_hit_bg))  # HIT_BACKGROUND in light
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        brush = index.data(Qt.ItemDataRole.ForegroundRole)
        painter.setPen(brush.color() if brush is not None and not selected else palette.color(role))
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(rect, int(align), shown)
        painter.restore()
