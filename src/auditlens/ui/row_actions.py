"""A row's context menu and copying rows from the events table.

Right-click a row to show its task's trail, star it, copy the cell, the row (tab-separated, as
shown; the selected rows when it is one of them) or the event's exact JSON, to filter by exactly
its user, task, agent, type or IP, or to pivot from it (:mod:`auditlens.ui.pivots`). Ctrl+C in
the table copies the selected rows as shown. The JSON is read off the UI thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPoint
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMenu

from auditlens.mirror.records import EventRecord, Row
from auditlens.ui.json_view import pretty_json
from auditlens.ui.resources import icon
from auditlens.ui.table_model import AGENT, COLUMNS, IP, TASK, TYPE, USER

if TYPE_CHECKING:
    from auditlens.ui.main_window import MainWindow


class RowActions(QObject):
    """The events table's row menu and copy actions for one window."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window

    def context_menu(self, pos: QPoint) -> QMenu:
        """Show the task trail; copy cell / row / JSON; filter by this row's values."""
        w = self._window
        index = w.table.indexAt(pos)
        row = w.model.row_at(index.row()) if index.isValid() else None
        menu = QMenu(w)
        menu.setObjectName("RowMenu")
        show = menu.addAction("Show task trail")
        show.setEnabled(row is not None and row.task_id is not None)
        if row is not None and row.task_id is not None:
            task_id = row.task_id
            show.triggered.connect(lambda: w.open_task_trail(task_id))
        star = menu.addAction("Star / unstar event\tb")
        star.setEnabled(row is not None and w.case.file is not None)
        star.triggered.connect(lambda: self._star_row(index.row()))
        menu.addSeparator()
        copy_cell = menu.addAction(icon("copy"), "Copy cell")
        selected = self._selected_rows()
        several = len(selected) > 1 and index.row() in selected
        copy_row = menu.addAction(f"Copy {len(selected):,} rows" if several else "Copy row")
        copy_json = menu.addAction("Copy event as JSON")
        for action in (copy_cell, copy_row, copy_json):
            action.setEnabled(row is not None)
        if row is not None:
            text = w.model.data(index) or ""
            copy_cell.triggered.connect(lambda: self._copy(str(text)))
            rows = selected if several else [index.row()]
            copy_row.triggered.connect(lambda: self._copy(self.rows_text(rows)))
            copy_json.triggered.connect(lambda: self.copy_event_json(row))
        menu.addSeparator()
        for kind, column, value in self._filter_values(row):
            shown = value if len(value) <= 40 else value[:20] + "…" + value[-12:]
            label = f"Filter by this {COLUMNS[column].title.lower()}: {shown}"
            action = menu.addAction(label)
            action.setObjectName(f"filter-{kind}")
            action.triggered.connect(lambda _=False, k=kind, v=value: w.filters.set_field(k, v))
        if row is not None:
            w.pivots.add_to_menu(menu, row)
        menu.popup(w.table.viewport().mapToGlobal(pos))
        return menu

    def _star_row(self, position: int) -> None:
        w = self._window
        w.select_row(position)
        w.case.toggle_star()

    def _filter_values(self, row: Row | None) -> list[tuple[str, int, str]]:
        """``(filter field, column, value)`` the row offers to filter by (present ones only)."""
        w = self._window
        if row is None:
            return []
        user = w.model.email_of(row.user_id) or row.user_id
        candidates = (
            ("user", USER, user),
            ("task", TASK, row.task_id),
            ("agent", AGENT, row.agent_id),
            ("type", TYPE, row.type),
            ("ip", IP, row.ip),
        )
        return [(kind, column, value) for kind, column, value in candidates if value]

    def _selected_rows(self) -> list[int]:
        w = self._window
        return sorted({i.row() for i in w.table.selectionModel().selectedRows()})

    def copy_selected_rows(self) -> None:
        """Ctrl+C in the table: the selected rows as shown, one line each, tab-separated."""
        rows = self._selected_rows()
        if rows:
            self._copy(self.rows_text(rows))

    def rows_text(self, rows: list[int]) -> str:
        """Loaded rows as shown, one line each (rows still being read are left out)."""
        w = self._window
        return "\n".join(self.row_text(r) for r in rows if w.model.row_at(r) is not None)

    def row_text(self, row: int) -> str:
        """The row as shown: visible columns in view order, tab-separated."""
        w = self._window
        header = w.table.horizontalHeader()
        columns = [
            header.logicalIndex(v)
            for v in range(header.count())
            if not header.isSectionHidden(header.logicalIndex(v))
        ]
        return "\t".join(str(w.model.data(w.model.index(row, c)) or "") for c in columns)

    def copy_event_json(self, row: Row) -> None:
        """Put the event's exact JSON (pretty) on the clipboard (read off the UI thread)."""
        w = self._window
        reader = w.reader
        if reader is None:
            return

        def copy(record: EventRecord | None) -> None:
            if record is not None:
                self._copy(pretty_json(record.raw))

        w.runner.submit(lambda: reader.event(row.idx), copy)

    def _copy(self, text: str) -> None:
        w = self._window
        QGuiApplication.clipboard().setText(text)
        w.statusBar().showMessage("Copied", 2000)
