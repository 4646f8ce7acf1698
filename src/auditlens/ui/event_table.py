"""The events table widget: SQL sorting from the header, a column chooser, ids cut in the middle,
Ctrl+Home / Ctrl+End that select, and a message over the table when nothing matches.

The header's right-click menu chooses the columns (IP address and user agent are there, hidden
at first); every column but Summary (which takes the rest of the width) is resized by dragging
its divider; each cell's tooltip holds its full value (:mod:`auditlens.ui.table_model`).
A bookmarked event shows a star before its index; ``b`` toggles the star of the current row
(``star_requested``: the window keeps the stars in the case file).
"""

from __future__ import annotations

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeyEvent, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from auditlens.ui.sort_header import SortHeader
from auditlens.ui.table_model import (
    AGENT,
    COLUMNS,
    HIDDEN_BY_DEFAULT,
    INDEX,
    OUTCOME,
    SUMMARY,
    TASK,
    TIME,
    EventTableModel,
)

ROW_HEIGHT = 26
#: Narrowest a column is made to fit the table, and what Summary keeps when it is fitted.
COLUMN_MIN = 60
SUMMARY_MIN = 240
#: Always whole: the time, the outcome and the index are what a row is read by.
NEVER_NARROWED = frozenset({TIME, OUTCOME, INDEX})


class MiddleElideDelegate(QStyledItemDelegate):
    """Cuts a long id in the middle (``tsk_01KH…NW699SRYFZ5``): ids share their start (prefix
    and time part), so the end is what tells two apart at a glance."""

    def initStyleOption(  # noqa: N802 (Qt override)
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle


class StarDelegate(QStyledItemDelegate):
    """The Index column: ``★ 1234`` for a bookmarked event (its log index is the UserRole)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.starred: frozenset[int] = frozenset()

    def initStyleOption(  # noqa: N802 (Qt override)
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        if index.data(Qt.ItemDataRole.UserRole) in self.starred:
            option.text = "★ " + option.text


class EventTable(QTableView):
    """The table: fixed row height, whole-row selection, SQL sorting from the header."""

    #: ``b`` was pressed: toggle the star of the current row.
    star_requested = Signal()

    def __init__(self, model: EventTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Events")
        self.setHorizontalHeader(SortHeader(self))  # ▲ ascending, ▼ descending, in every style
        self.setModel(model)
        self._model = model
        vertical = self.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # never ResizeToContents
        vertical.setDefaultSectionSize(ROW_HEIGHT)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionsMovable(True)
        for i, column in enumerate(COLUMNS):
            header.resizeSection(i, column.width)
        header.setSectionResizeMode(SUMMARY, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(60)
        self._fitting = False
        self.user_sized = False  # once a divider is dragged, the widths are the person's
        header.sectionResized.connect(self._section_resized)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        # Several rows may be selected: File -> Export... then exports just those.
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setShowGrid(False)
        self.setSortingEnabled(True)
        header.setSortIndicator(TIME, Qt.SortOrder.DescendingOrder)
        header.sortIndicatorChanged.connect(self._sort_indicator_changed)
        self.id_delegate = MiddleElideDelegate(self)
        for id_column in (TASK, AGENT):
            self.setItemDelegateForColumn(id_column, self.id_delegate)
        self.star_delegate = StarDelegate(self)
        self.setItemDelegateForColumn(INDEX, self.star_delegate)
        for hidden in HIDDEN_BY_DEFAULT:
            header.setSectionHidden(hidden, True)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self.column_menu)
        self.empty_state = EmptyState(self.viewport())

    def column_menu(self, pos: QPoint | None = None) -> QMenu:
        """The header's right-click menu: tick the columns to show (at least one stays)."""
        header = self.horizontalHeader()
        menu = QMenu(self)
        menu.setObjectName("ColumnChooser")
        shown = [i for i in range(len(COLUMNS)) if not header.isSectionHidden(i)]
        for i, column in enumerate(COLUMNS):
            action = menu.addAction(column.title)
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(i))
            action.setEnabled(not (len(shown) == 1 and i in shown))  # never an empty table
            action.toggled.connect(lambda on, i=i: self.set_column_visible(i, on))
        if pos is not None:
            menu.popup(header.mapToGlobal(pos))
        return menu

    def set_column_visible(self, column: int, visible: bool) -> None:
        header = self.horizontalHeader()
        self._fitting = True  # showing a section resizes it: not the person's doing
        try:
            header.setSectionHidden(column, not visible)
            if visible and header.sectionSize(column) < COLUMNS[column].width // 2:
                header.resizeSection(column, COLUMNS[column].width)
        finally:
            self._fitting = False
        if not self.user_sized:
            self.fit_columns()

    def set_starred(self, indexes: frozenset[int]) -> None:
        """The log indexes of the bookmarked events (drawn with a star)."""
        self.star_delegate.starred = indexes
        self.viewport().update()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        """``b`` stars; Ctrl+Home / Ctrl+End select the first / last row (Qt's default only
        moves the cursor there without selecting: the detail pane changed but no row looked
        chosen)."""
        ctrl = event.modifiers() & Qt.KeyboardModifier.ControlModifier
        if event.key() == Qt.Key.Key_B and not event.modifiers() & ~(
            Qt.KeyboardModifier.KeypadModifier
        ):
            self.star_requested.emit()
            event.accept()
            return
        rows = self.model().rowCount()
        if ctrl and rows and event.key() in (Qt.Key.Key_Home, Qt.Key.Key_End):
            row = 0 if event.key() == Qt.Key.Key_Home else rows - 1
            index = self.model().index(row, max(self.currentIndex().column(), 0))
            self.selectionModel().setCurrentIndex(
                index,
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )
            self.scrollTo(index)
            event.accept()
            return
        super().keyPressEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        if not self.user_sized:
            self.fit_columns()
        self.empty_state.place()

    def fit_columns(self) -> None:
        """Default widths; when the table is too narrow for them, the id and name columns are
        narrowed in proportion so Summary keeps :data:`SUMMARY_MIN` pixels (at 1280 px it was
        squeezed to nothing). Time, Outcome and Index stay whole."""
        header = self.horizontalHeader()
        shown = [i for i in range(len(COLUMNS)) if i != SUMMARY and not header.isSectionHidden(i)]
        kept = [i for i in shown if i in NEVER_NARROWED]
        narrowed = [i for i in shown if i not in NEVER_NARROWED]
        room = self.viewport().width() - (0 if header.isSectionHidden(SUMMARY) else SUMMARY_MIN)
        room -= sum(COLUMNS[i].width for i in kept)
        wanted = sum(COLUMNS[i].width for i in narrowed)
        scale = min(1.0, max(room, 1) / max(wanted, 1))
        self._fitting = True
        try:
            for i in kept:
                header.resizeSection(i, COLUMNS[i].width)
            for i in narrowed:
                header.resizeSection(i, max(int(COLUMNS[i].width * scale), COLUMN_MIN))
        finally:
            self._fitting = False

    def _section_resized(self, index: int, old: int, new: int) -> None:
        """A divider the person dragged: from now on the widths are theirs.

        Hiding or showing a section also resizes it (to or from 0), sometimes only at the
        header's next layout, long after :meth:`set_column_visible` returned: that is not a drag.
        """
        hidden_or_shown = old == 0 or new == 0
        if not self._fitting and not hidden_or_shown and index != SUMMARY and self.isVisible():
            self.user_sized = True

    def _sort_indicator_changed(self, section: int, order: Qt.SortOrder) -> None:
        """A click on a column that cannot sort (Summary) puts the indicator back."""
        if COLUMNS[section].sort is None:
            header = self.horizontalHeader()
            header.blockSignals(True)
            current = (
                Qt.SortOrder.DescendingOrder
                if self._model.descending
                else Qt.SortOrder.AscendingOrder
            )
            header.setSortIndicator(self._model.sort_section, current)
            header.blockSignals(False)


class EmptyState(QFrame):
    """Shown over the table when nothing matches: why, and a way back to every event."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("EmptyState")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 18, 24, 18)
        layout.setSpacing(10)
        self.title = QLabel("No events match these filters")
        self.title.setObjectName("EmptyTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail = QLabel("Remove a filter above, or clear them all.")
        self.detail.setObjectName("EmptyDetail")
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setWordWrap(True)
        self.clear_button = QPushButton("Clear filters")
        self.clear_button.setObjectName("EmptyClear")
        layout.addWidget(self.title)
        layout.addWidget(self.detail)
        layout.addWidget(self.clear_button, 0, Qt.AlignmentFlag.AlignHCenter)
        self.setVisible(False)

    def show_message(self, title: str, detail: str, *, can_clear: bool) -> None:
        self.title.setText(title)
        self.detail.setText(detail)
        self.clear_button.setVisible(can_clear)
        self.adjustSize()
        self.place()
        self.setVisible(True)
        self.raise_()

    def place(self) -> None:
        """Centred in the table's viewport, a little above the middle."""
        parent = self.parentWidget()
        if parent is None:
            return
        width = min(max(self.sizeHint().width(), 360), max(parent.width() - 40, 200))
        self.resize(width, self.sizeHint().height())
        self.move((parent.width() - width) // 2, max((parent.height() - self.height()) // 3, 8))
