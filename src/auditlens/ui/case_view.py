"""The Case view: the investigator's bookmarked and annotated events, in log order.

A dock beside the table. Each line is one event the investigator starred or wrote a note on
(kept in the case file beside the mirror, :mod:`auditlens.mirror.case_file`): its star, log
index, time, type and summary as the verified mirror holds them, and the note, which is the
investigator's words and not part of the evidence. Double-click (or Enter) selects the event in
the table. The second tab holds saved searches: a name for the query line (the query bar's
language, which the sidebar shows too; a relative ``after:-24h`` stays relative) and the
table's visible columns; double-click one to apply it. They are kept in the same case file, so
they belong to this mirror and survive restarts. A search saved by an older viewer (the
sidebar's state) still applies.
*Export case…* writes the starred and noted events as a verified export and the notes beside
it (:mod:`auditlens.ui.case_export`).
The window reads the mirror and the case file; this widget only shows lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from auditlens.core.timestamps import format_timestamp
from auditlens.mirror.case_file import Annotation, CaseFile, CaseFileError, SavedSearch
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.query_text import QueryError
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.records import Row
from auditlens.ui.filter_panel import PanelState
from auditlens.ui.table_model import COLUMNS

if TYPE_CHECKING:
    from auditlens.ui.main_window import MainWindow

HEADERS = ("★", "Index", "Time (UTC)", "Type", "Your note (not evidence)")
#: The dock's width when first shown (room for the note), in pixels.
DOCK_WIDTH = 480
#: Characters of a note shown on its line (the whole note is its tooltip).
NOTE_SHOWN = 120
#: Up to this many rows, a case event already in the table is looked for there first.
SCAN_LOADED_ROWS = 20_000
#: Events shown on either side of a case event that is not in the current view.
NEIGHBOURS = 10


def state_from_json(data: dict[str, Any]) -> tuple[PanelState, list[str] | None]:
    """A sidebar state saved by an older viewer (``dataclasses.asdict`` of it, the types a
    list) and its visible columns; unknown keys are ignored."""

    def pair(value: Any) -> tuple[Any, Any] | None:
        return (value[0], value[1]) if value else None

    state = PanelState(
        range_index=int(data.get("range_index", 0)),
        since_ms=data.get("since_ms"),
        until_ms=data.get("until_ms"),
        texts=tuple((str(k), str(v)) for k, v in data.get("texts", ())),
        exact=tuple((str(k), str(v)) for k, v in data.get("exact", ())),
        types=frozenset(data.get("types", ())),
        outcome_index=int(data.get("outcome_index", 0)),
        window=pair(data.get("window")),
        event_field=pair(data.get("event_field")),
    )
    columns = data.get("columns")
    return state, (list(columns) if columns else None)


@dataclass(frozen=True)
class CaseEntry:
    """One line: what was written, and the event as the mirror holds it (None: not found)."""

    annotation: Annotation
    row: Row | None


def read_entries(reader: MirrorReader, annotations: list[Annotation]) -> list[CaseEntry]:
    """Each annotation with its event as the mirror holds it (None: not in this mirror)."""
    entries = []
    for a in annotations:
        one = EventFilter(idx_from=a.idx, idx_until=a.idx + 1)
        rows = reader.page_at(one, "ts", True, 0, 1)
        row = rows[0] if rows and rows[0].id == a.event_id else None
        entries.append(CaseEntry(a, row))
    return entries


class CaseView(QDockWidget):
    """Lists the case's events; ``event_activated(index)`` asks the window to show one."""

    event_activated = Signal(int)
    #: A saved search's name: apply it.
    search_activated = Signal(str)
    #: Buttons of the Saved searches tab: save the current filters / rename / delete one.
    save_requested = Signal()
    rename_requested = Signal(str)
    delete_requested = Signal(str)
    #: "Export case…": the case's events as a verified export, the notes beside it.
    export_requested = Signal()

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
        for column, width in enumerate((24, 52, 128, 100)):
            self.events.setColumnWidth(column, width)
        self.events.itemActivated.connect(self._activated)
        layout.addWidget(self.events, 1)
        export_row = QHBoxLayout()
        self.export_button = QPushButton("Export case…")
        self.export_button.setAccessibleName("Export the case")
        self.export_button.setToolTip(
            "Export these events with their proofs (verified evidence), and your notes beside "
            "them in a separate file, marked as your words and not evidence"
        )
        self.export_button.clicked.connect(self.export_requested)
        export_row.addStretch(1)
        export_row.addWidget(self.export_button)
        layout.addLayout(export_row)

        searches = QWidget()
        search_layout = QVBoxLayout(searches)
        search_layout.setContentsMargins(8, 6, 8, 6)
        self.searches = QListWidget()
        self.searches.setObjectName("SavedSearches")
        self.searches.setAccessibleName("Saved searches")
        self.searches.itemActivated.connect(
            lambda item: self.search_activated.emit(item.data(Qt.ItemDataRole.UserRole))
        )
        search_layout.addWidget(self.searches, 1)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save current filters…")
        self.save_button.clicked.connect(self.save_requested)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.clicked.connect(lambda: self._on_selected(self.rename_requested))
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(lambda: self._on_selected(self.delete_requested))
        for button in (self.save_button, self.rename_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        search_layout.addLayout(buttons)
        self.searches.currentItemChanged.connect(lambda *_: self._enable_buttons())

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Case: events and saved searches")
        self.tabs.addTab(body, "Events")
        self.tabs.addTab(searches, "Saved searches")
        self.setWidget(self.tabs)
        self.show_entries([])
        self.show_searches([])

    def show_searches(self, searches: list[SavedSearch]) -> None:
        """List the saved searches (by name)."""
        current = self.searches.currentItem()
        keep = current.data(Qt.ItemDataRole.UserRole) if current is not None else None
        self.searches.clear()
        for search in searches:
            item = QListWidgetItem(search.name)
            item.setData(Qt.ItemDataRole.UserRole, search.name)
            item.setToolTip(
                f"{search.query or '(filters saved by an older viewer)'}\n"
                "Double-click to apply these filters"
            )
            self.searches.addItem(item)
            if search.name == keep:
                self.searches.setCurrentItem(item)
        self._enable_buttons()

    def search_names(self) -> list[str]:
        items = (self.searches.item(i) for i in range(self.searches.count()))
        return [item.text() for item in items if item is not None]

    def _enable_buttons(self) -> None:
        chosen = self.searches.currentItem() is not None
        self.rename_button.setEnabled(chosen)
        self.delete_button.setEnabled(chosen)

    def _on_selected(self, signal: Any) -> None:
        item = self.searches.currentItem()
        if item is not None:
            signal.emit(item.data(Qt.ItemDataRole.UserRole))

    def show_entries(self, entries: list[CaseEntry]) -> None:
        """Show ``entries`` (the window passes them in log order)."""
        self.events.clear()
        self.export_button.setEnabled(bool(entries))
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
                    format_timestamp(row.ts)[:16].replace("T", " ")  # to the minute
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
        window.detail.star_requested.connect(self.toggle_star)
        window.detail.note_edited.connect(self.save_note)
        window.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.view.event_activated.connect(self.go_to)
        self.view.search_activated.connect(self.apply_search)
        self.view.save_requested.connect(self._ask_save)
        self.view.rename_requested.connect(self._ask_rename)
        self.view.delete_requested.connect(self._ask_delete)
        self.view.visibilityChanged.connect(self._visibility_changed)
        self.view.export_requested.connect(self.export_case)

    # -- the file -------------------------------------------------------------------------------

    def open(self, mirror_path: Path | str) -> None:
        """Open (or create) the case file beside ``mirror_path``."""
        self.close()
        try:
            self.file = CaseFile.for_mirror(mirror_path)
        except CaseFileError as exc:
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
        self.view.show_searches([])

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
        except CaseFileError as exc:
            self._say(str(exc))
            return
        self._say(f"Event {row.idx:,} {'starred' if starred else 'unstarred'}")
        self._window.detail.show_star(starred)
        self._changed()

    def save_note(self, idx: int, event_id: str, text: str) -> None:
        if self.file is None:
            return
        try:
            self.file.set_note(idx, event_id, text)
        except CaseFileError as exc:
            self._say(f"The note was not saved: {exc}")
            return
        self._changed()

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex | None = None) -> None:
        row = self._window.model.row_at(current.row()) if current.isValid() else None
        detail = self._window.detail
        if row is None:
            detail.show_note(None)
            detail.show_star(None)
        elif self.file is None:
            detail.show_note(None, refusal="No case file is open: notes are off.")
            detail.show_star(None)
        else:
            try:
                annotation = self.file.annotation(row.idx, row.id)
            except CaseFileError as exc:
                detail.show_note(None, refusal=str(exc))
                detail.show_star(None)
                return
            detail.show_note((row.idx, row.id), annotation.note)
            detail.show_star(annotation.starred)

    def _changed(self) -> None:
        if self.file is not None:
            self._window.table.set_starred(self.file.starred_indexes())
            self.view.show_searches(self.file.saved_searches())
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

        def show(entries: list[CaseEntry]) -> None:
            if generation == self._generation and reader is self._window.reader:
                self.view.show_entries(entries)

        self._window.runner.submit(lambda: read_entries(reader, annotations), show)

    def export_case(self) -> None:
        """Export the case (:mod:`auditlens.ui.case_export`): its events, then the notes."""
        from auditlens.ui.case_export import open_case_export

        open_case_export(self)

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

    # -- saved searches -------------------------------------------------------------------------

    def _visible_columns(self) -> list[str]:
        header = self._window.table.horizontalHeader()
        return [c.title for i, c in enumerate(COLUMNS) if not header.isSectionHidden(i)]

    def save_search(self, name: str) -> None:
        """Keep the sidebar's filters and the visible columns under ``name``."""
        if self.file is None:
            return
        try:
            self.file.save_query(name, self._window.wiring.query_text(), self._visible_columns())
        except (ValueError, CaseFileError) as exc:
            self._say(f"The search was not saved: {exc}")
            return
        self._say(f"Saved search “{name.strip()}”")
        self._changed()

    def rename_search(self, old: str, new: str) -> None:
        if self.file is None:
            return
        try:
            self.file.rename_search(old, new)
        except (ValueError, KeyError, CaseFileError) as exc:
            self._say(f"The search was not renamed: {exc}")
            return
        self._changed()

    def delete_search(self, name: str) -> None:
        if self.file is not None:
            try:
                self.file.delete_search(name)
            except CaseFileError as exc:
                self._say(f"The search was not deleted: {exc}")
                return
            self._changed()

    def apply_search(self, name: str) -> None:
        """Put back the saved filters (one query) and the saved columns."""
        if self.file is None:
            return
        found = [s for s in self.file.saved_searches() if s.name == name]
        if not found:
            return
        saved = found[0]
        columns = saved.columns
        parsed = None
        if saved.query is not None:
            try:
                parsed = self._window.query_bar.parse(saved.query)
            except QueryError as exc:
                self._say(f"The saved search “{name}” cannot be applied: {exc}")
                return
        if columns:
            table = self._window.table
            for i, column in enumerate(COLUMNS):
                table.set_column_visible(i, column.title in columns)
        if parsed is not None:
            self._window.filters.show_filter(parsed.filter, parsed.last_ms)
        else:
            self._window.filters.restore(state_from_json(saved.state)[0])
        self._say(f"Applied saved search “{name}”")

    def _ask_save(self) -> None:
        name, ok = QInputDialog.getText(
            self.view, "Save search", "Name for the current filters and columns:"
        )
        if ok and name.strip():
            if self.file is not None and name.strip() in self.view.search_names():
                answer = QMessageBox.question(
                    self.view, "Save search", f"Replace the saved search “{name.strip()}”?"
                )
                if answer != QMessageBox.StandardButton.Yes:
                    return
            self.save_search(name)

    def _ask_rename(self, old: str) -> None:
        new, ok = QInputDialog.getText(self.view, "Rename search", "New name:", text=old)
        if ok and new.strip() and new.strip() != old:
            self.rename_search(old, new)

    def _ask_delete(self, name: str) -> None:
        answer = QMessageBox.question(self.view, "Delete search", f"Delete “{name}”?")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_search(name)
