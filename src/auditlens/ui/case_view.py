"""The Case view: the investigator's bookmarked and annotated events, in log order.

A dock beside the table. Each line is one event the investigator starred or wrote a note on
(kept in the case file beside the mirror, :mod:`auditlens.mirror.case_file`): its star, log
index, time, type and summary as the verified mirror holds them, and the note, which is the
investigator's words and not part of the evidence. Double-click (or Enter) selects the event in
the table. The window reads the mirror and the case file; this widget only shows lines.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from auditlens.core.events import format_timestamp
from auditlens.mirror.case_file import Annotation, CaseFile, CaseFileMismatchError
from auditlens.mirror.query import EventFilter, Row

if TYPE_CHECKING:
    from auditlens.ui.main_window import MainWindow

HEADERS = ("★", "Index", "Time (UTC)", "Type", "Note (investigator's words)")
#: The dock's width when first shown (room for the note), in pixels.
DOCK_WIDTH = 480
#: Characters of a note shown on its line (the whole note is its tooltip).
NOTE_SHOWN = 120
#: Up to this many rows, a case event already in the table is looked for there first.
SCAN_LOADED_ROWS = 20_000
#: Events shown on either side of a case event that is not in the current view.
NEIGHBOURS = 10


@dataclass(frozen=True)
class CaseEntry:
    """One line: what was written, and the event as the mirror holds it (None: not found)."""

    annotation: Annotation
    row: Row | None


class CaseView(QDockWidget):
    """Lists the case's events; ``event_activated(index)`` asks the window to show one."""

    event_activated = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Case", parent)
        self.setObjectName("CaseView")
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(8, 6, 8, 6)
        self.summary = QLabel()
        self.summary.setObjectName("CaseSummary")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.events = QTreeWidget()
        self.events.setObjectName("CaseEvents")
        self.events.setAccessibleName("Bookmarked and annotated events")
        self.events.setRootIsDecorated(False)
        self.events.setAlternatingRowColors(True)
        self.events.setUniformRowHeights(True)
        self.events.setHeaderLabels(list(HEADERS))
        for column, width in enumerate((24, 56, 150, 110)):
            self.events.setColumnWidth(column, width)
        self.events.itemActivated.connect(self._activated)
        layout.addWidget(self.events, 1)
        self.setWidget(body)
        self.show_entries([])

    def show_entries(self, entries: list[CaseEntry]) -> None:
        """Show ``entries`` (the window passes them in log order)."""
        self.events.clear()
        starred = sum(1 for e in entries if e.annotation.starred)
        notes = sum(1 for e in entries if e.annotation.note.strip())
        if not entries:
            self.summary.setText(
                "No bookmarks yet: select an event and press <b>b</b> to star it, "
                "or write a note under its proof."
            )
        else:
            self.summary.setText(
                f"{starred:,} starred, {notes:,} with notes. Notes are your words, "
                "not part of the evidence."
            )
        for entry in entries:
            a, row = entry.annotation, entry.row
            note = " ".join(a.note.split())
            shown = note if len(note) <= NOTE_SHOWN else note[: NOTE_SHOWN - 1] + "…"
            item = QTreeWidgetItem(
                [
                    "★" if a.starred else "",
                    f"{a.idx:,}",
                    format_timestamp(row.ts)[:19].replace("T", " ")
                    if row is not None
                    else "not in this mirror",
                    (row.type or "") if row is not None else "",
                    shown,
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, a.idx)
            item.setToolTip(4, a.note)
            if row is not None:
                item.setToolTip(2, format_timestamp(row.ts))
            item.setToolTip(3, (row.summary or "") if row is not None else a.event_id)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.events.addTopLevelItem(item)

    def indexes(self) -> list[int]:
        """The log indexes listed, top to bottom."""
        items = (self.events.topLevelItem(i) for i in range(self.events.topLevelItemCount()))
        return [int(item.data(0, Qt.ItemDataRole.UserRole)) for item in items if item is not None]

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        self.event_activated.emit(int(item.data(0, Qt.ItemDataRole.UserRole)))


class Case(QObject):
    """Wires a window to its mirror's case file: ``b`` stars, the note editor, the Case dock.

    The case file's statements are single-row writes on a local file, so they run on the UI
    thread; reading the listed events from the mirror runs on the window's worker.
    """

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.file: CaseFile | None = None
        self.view = CaseView(window)
        self.view.setVisible(False)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.view)
        self.action = self.view.toggleViewAction()
        self.action.setText("Case")
        self.action.setShortcut(QKeySequence("Ctrl+Shift+B"))
        self.action.setToolTip("Show the case: your starred and annotated events (Ctrl+Shift+B)")
        self._generation = 0
        self._sized = False
        window.table.star_requested.connect(self.toggle_star)
        window.detail.note_edited.connect(self.save_note)
        window.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.view.event_activated.connect(self.go_to)
        self.view.visibilityChanged.connect(self._visibility_changed)

    # -- the file -------------------------------------------------------------------------------

    def open(self, mirror_path: Path | str) -> None:
        """Open (or create) the case file beside ``mirror_path``."""
        self.close()
        try:
            self.file = CaseFile.for_mirror(mirror_path)
        except (OSError, sqlite3.Error, ValueError) as exc:
            self._say(f"The case file could not be opened, so stars and notes are off: {exc}")
            return
        self._changed()
        self._current_changed(self._window.table.currentIndex())

    def close(self) -> None:
        self._window.detail.save_note()
        if self.file is not None:
            self.file.close()
            self.file = None
        self._window.table.set_starred(frozenset())
        self.view.show_entries([])

    # -- stars and notes ------------------------------------------------------------------------

    def _current_row(self) -> Row | None:
        return self._window.model.row_at(self._window.table.currentIndex().row())

    def toggle_star(self) -> None:
        """Star or unstar the current row's event."""
        row = self._current_row()
        if row is None or self.file is None:
            return
        try:
            starred = self.file.toggle_star(row.idx, row.id).starred
        except (CaseFileMismatchError, sqlite3.Error) as exc:
            self._say(str(exc))
            return
        self._say(f"Event {row.idx:,} {'starred' if starred else 'unstarred'}")
        self._changed()

    def save_note(self, idx: int, event_id: str, text: str) -> None:
        if self.file is None:
            return
        try:
            self.file.set_note(idx, event_id, text)
        except (CaseFileMismatchError, sqlite3.Error) as exc:
            self._say(f"The note was not saved: {exc}")
            return
        self._changed()

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex | None = None) -> None:
        row = self._window.model.row_at(current.row()) if current.isValid() else None
        detail = self._window.detail
        if row is None:
            detail.show_note(None)
        elif self.file is None:
            detail.show_note(None, refusal="No case file is open: notes are off.")
        else:
            try:
                note = self.file.annotation(row.idx, row.id).note
            except (CaseFileMismatchError, sqlite3.Error) as exc:
                detail.show_note(None, refusal=str(exc))
                return
            detail.show_note((row.idx, row.id), note)

    def _changed(self) -> None:
        if self.file is not None:
            self._window.table.set_starred(self.file.starred_indexes())
        if self.view.isVisible():
            self.refresh()

    def _visibility_changed(self, shown: bool) -> None:
        if shown:
            if not self._sized:  # a dock opens as narrow as it can: give the notes room
                self._sized = True
                self._window.resizeDocks([self.view], [DOCK_WIDTH], Qt.Orientation.Horizontal)
            self.refresh()

    def _say(self, message: str) -> None:
        self._window.statusBar().showMessage(message, 8000)

    # -- the list -------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-list the case: the annotations, with their events read from the mirror."""
        reader, case = self._window.reader, self.file
        if reader is None or case is None:
            self.view.show_entries([])
            return
        annotations = case.annotations()
        self._generation += 1
        generation = self._generation

        def read() -> list[CaseEntry]:
            entries = []
            for a in annotations:
                one = EventFilter(idx_from=a.idx, idx_until=a.idx + 1)
                rows = reader.page_at(one, "ts", True, 0, 1)
                row = rows[0] if rows and rows[0].id == a.event_id else None
                entries.append(CaseEntry(a, row))
            return entries

        def show(entries: list[CaseEntry]) -> None:
            if generation == self._generation and reader is self._window.reader:
                self.view.show_entries(entries)

        self._window.runner.submit(read, show)

    def go_to(self, idx: int) -> None:
        """Select the event at ``idx``: in the table when it is loaded, else with its
        neighbours in log order (the filter changes, Back returns)."""
        model = self._window.model
        if model.rowCount() <= SCAN_LOADED_ROWS:
            for position in range(model.rowCount()):
                row = model.row_at(position)
                if row is not None and row.idx == idx:
                    self._window.select_row(position)
                    self._window.table.scrollTo(
                        model.index(position, 0), QAbstractItemView.ScrollHint.PositionAtCenter
                    )
                    return
        self._window.pivots.show_neighbours(idx, NEIGHBOURS)
