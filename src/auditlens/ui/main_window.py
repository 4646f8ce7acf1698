"""The main window: filter sidebar | events table | detail pane, banner and status bar.

The window only arranges widgets and forwards intentions (sync, cancel, sign out) as signals;
:mod:`auditlens.ui.app` decides what they do. Everything read from the mirror arrives through
the table model or :class:`~auditlens.ui.tasks.TaskRunner` jobs, never on the UI thread.

Above the table, the query bar (:mod:`auditlens.ui.query_bar`; ``/`` focuses it: free text and
qualifiers, the same filter as the sidebar, kept in step by :mod:`auditlens.ui.filter_wiring`),
the filter as removable chips (:mod:`auditlens.ui.filter_chips`) and the match count; between
them and the table, the events-over-time strip (:mod:`auditlens.ui.histogram`). The table
itself is :class:`~auditlens.ui.event_table.EventTable`; a row's menu and copying rows are
:mod:`auditlens.ui.row_actions` (pivots: :mod:`auditlens.ui.pivots`). Back/Forward
(Alt+Left/Alt+Right) walk the filters shown (:mod:`auditlens.ui.history`). ``b`` stars an
event, the detail pane holds its note, and the Case dock lists them (:mod:`auditlens.ui.case_view`;
kept beside the mirror, never in it). When no event matches, the table says why and offers to
clear the filters.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QSizePolicy,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from auditlens.core.timestamps import format_timestamp
from auditlens.export.record import RecordOutcome
from auditlens.export.writer import Attester
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.migrate import needs_upgrade, upgrade_file
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.records import EventRecord, MirrorStatus, Row
from auditlens.ui import shortcuts
from auditlens.ui.banner import VerificationBanner
from auditlens.ui.case_view import Case
from auditlens.ui.detail_pane import DetailPane
from auditlens.ui.event_table import EventTable
from auditlens.ui.export_dialog import ExportDialog
from auditlens.ui.export_source import ExportSource, ViewRows
from auditlens.ui.filter_chips import FilterChips
from auditlens.ui.filter_panel import FilterPanel, _wall_clock_ms
from auditlens.ui.filter_wiring import FilterWiring
from auditlens.ui.histogram import HistogramStrip
from auditlens.ui.history import FilterHistory
from auditlens.ui.pivots import Pivots, states_evidence_filter
from auditlens.ui.resources import icon
from auditlens.ui.row_actions import RowActions
from auditlens.ui.table_model import (
    EventTableModel,
)
from auditlens.ui.tasks import TaskRunner

if TYPE_CHECKING:
    from auditlens.ui.task_trail import TaskTrailWindow
from auditlens.ui.verify_dialog import VerifyDialog


def status_text(status: MirrorStatus) -> str:
    """The status bar sentence: what is verified, up to which checkpoint, by whom, when."""
    if status.checkpoint is None:
        return "No verified checkpoint yet: sync to fetch the log."
    synced_ms = status.last_sync_at or status.checkpoint.verified_at
    synced = f", synced {format_timestamp(synced_ms)[11:16]} UTC" if synced_ms else ""
    origin = status.origin or "an unknown origin"
    return (
        f"Verified {status.entries:,} events up to checkpoint size {status.checkpoint.size:,}, "
        f"signed by {origin}{synced}"
    )


class MainWindow(QMainWindow):
    """The viewer's window; ``open_mirror`` shows a mirror, signals ask the app to act."""

    sync_requested = Signal()
    cancel_sync_requested = Signal()
    sign_out_requested = Signal()

    def __init__(
        self,
        runner: TaskRunner | None = None,
        clock: Callable[[], int] = _wall_clock_ms,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("auditlens")
        self.setWindowIcon(icon("app"))
        self.resize(1600, 960)
        self.runner = runner or TaskRunner(parent=self)
        self.reader: MirrorReader | None = None
        self.origin: str | None = None
        self.trust_note = ""
        self._detail_generation = 0
        self._shown_idx: int | None = None
        # Set by the app for a signed-in session: attests exports, pre-fills the verify key.
        self.export_attester: Attester | None = None
        self.pinned_vkey: str | None = None
        self.export_dialog: ExportDialog | None = None
        self.verify_dialog: VerifyDialog | None = None

        self.model = EventTableModel(self.runner, self, clock)
        self.filters = FilterPanel(clock)
        self.filters.setMinimumWidth(230)
        self.table = EventTable(self.model)
        self.detail = DetailPane()
        self.banner = VerificationBanner()

        summary = QFrame()
        summary.setObjectName("FilterSummary")
        summary.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        bar = QHBoxLayout(summary)
        bar.setContentsMargins(12, 6, 12, 6)
        self.chips = FilterChips()
        self.chips.remove_requested.connect(self.filters.clear_part)
        self.chips.clear_requested.connect(self.filters.reset)
        self.count_label = QLabel()
        self.count_label.setObjectName("MatchCount")
        # The count always shows whole; many chips give way (each keeps its full text as tooltip).
        self.chips.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.count_label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        bar.addWidget(self.chips, 1)
        bar.addWidget(self.count_label)

        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.setSpacing(0)
        self.wiring = FilterWiring(self, clock)  # query bar, sidebar, chips, table, count
        self.query_bar = self.wiring.bar
        centre_layout.addWidget(self.query_bar)
        centre_layout.addWidget(summary)
        self.histogram = HistogramStrip(self.model, self.runner)
        self.histogram.range_selected.connect(self.filters.set_custom_range)
        centre_layout.addWidget(self.histogram)
        centre_layout.addWidget(self.table, 1)

        # The table gets the whole width (eight columns); the detail pane sits under it.
        self.vsplitter = QSplitter(Qt.Orientation.Vertical)
        self.vsplitter.addWidget(centre)
        self.vsplitter.addWidget(self.detail)
        self.vsplitter.setStretchFactor(0, 1)
        self.vsplitter.setSizes([560, 320])
        self.vsplitter.setChildrenCollapsible(False)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.filters)
        self.splitter.addWidget(self.vsplitter)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([250, 1350])
        self.splitter.setChildrenCollapsible(False)

        root = QWidget()
        root_layout = QVBoxLayout(root)
        root_layout.setContentsMargins(0, 0, 0, 0)
        root_layout.setSpacing(0)
        root_layout.addWidget(self.banner)
        root_layout.addWidget(self.splitter, 1)
        self.setCentralWidget(root)

        self.case = Case(self)  # stars, notes and the Case dock (before the toolbar shows it)
        self._build_file_menu()
        self._build_toolbar()
        self._build_status_bar()

        self.pivots = Pivots(self)
        self.detail.filter_requested.connect(self.filters.set_field)
        self.model.page_loaded.connect(self._page_loaded)
        self.model.load_failed.connect(lambda message: self.statusBar().showMessage(message, 8000))
        self.model.modelReset.connect(self.detail.clear)
        self.table.selectionModel().currentRowChanged.connect(self._current_row_changed)
        QShortcut(QKeySequence.StandardKey.Find, self, self.filters.focus_filter)
        self._setup_task_trail()
        self.shortcuts = shortcuts.install(self)  # n/N, b, Enter; View -> Relative times
        self.wiring.show(EventFilter())

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Main")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.sync_action = QAction(icon("sync"), "Sync", self)
        self.sync_action.setShortcut(QKeySequence(Qt.Key.Key_F5))
        self.sync_action.setToolTip("Fetch and verify new events (F5)")
        self.sync_action.triggered.connect(self.sync_requested)
        self.cancel_action = QAction("Cancel sync", self)
        self.cancel_action.setEnabled(False)
        self.cancel_action.triggered.connect(self.cancel_sync_requested)
        self.filter_action = QAction(icon("filter"), "Filter", self)
        self.filter_action.setToolTip("Focus the filters (Ctrl+F)")
        self.filter_action.triggered.connect(self.filters.focus_filter)
        self.sign_out_action = QAction(icon("signout"), "Sign out", self)
        self.sign_out_action.triggered.connect(self.sign_out_requested)
        self.history = FilterHistory(self.filters, self)
        toolbar.addAction(self.history.back_action)
        toolbar.addAction(self.history.forward_action)
        toolbar.addSeparator()
        toolbar.addAction(self.sync_action)
        toolbar.addAction(self.cancel_action)
        toolbar.addSeparator()
        toolbar.addAction(self.filter_action)
        toolbar.addAction(self.case.action)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        self.identity_label = QLabel()
        toolbar.addWidget(self.identity_label)
        toolbar.addAction(self.sign_out_action)
        self.addToolBar(toolbar)

    def _build_file_menu(self) -> None:
        menu = self.menuBar().addMenu("&File")
        self.export_action = QAction("&Export…", self)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.setToolTip("Export the filtered (or selected) events with proofs")
        self.export_action.triggered.connect(self.show_export_dialog)
        self.verify_export_action = QAction(icon("verified"), "&Verify export…", self)
        self.verify_export_action.triggered.connect(self.show_verify_dialog)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        menu.addAction(self.export_action)
        menu.addAction(self.verify_export_action)
        menu.addSeparator()
        menu.addAction(quit_action)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        status.setSizeGripEnabled(False)
        # The shield sits in a permanent widget: showMessage() hides normal status widgets only.
        self.verified_icon = QLabel()
        self.verified_icon.setPixmap(icon("verified").pixmap(16, 16))
        self.verified_icon.setVisible(False)
        self.status_label = QLabel("No mirror open")
        self.progress_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setFixedWidth(180)
        self.progress.setVisible(False)
        self.progress_label.setVisible(False)
        status.addWidget(self.status_label, 1)
        status.addPermanentWidget(self.progress_label)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.verified_icon)

    # -- mirror ---------------------------------------------------------------------------------

    def open_mirror(self, path: Path | str) -> None:
        """Show the mirror at ``path`` (read-only); the current filter and sort are kept.

        A mirror written by an older auditlens is first upgraded in place on a worker (seconds
        per million events, once), so the window stays responsive meanwhile.
        """
        if needs_upgrade(Path(path)):
            self.status_label.setText("Upgrading the mirror to this version of auditlens…")
            self.table.empty_state.show_message(
                "Upgrading the mirror",
                "This version of auditlens indexes the local copy differently. It is upgraded in "
                "place, once: a few seconds per million events. Nothing is fetched again.",
                can_clear=False,
            )
            self.runner.submit(
                lambda: upgrade_file(Path(path)),
                lambda _: self._open_reader(path),
                self._upgrade_failed,
            )
            return
        self._open_reader(path)

    def _upgrade_failed(self, exc: BaseException) -> None:
        self.status_label.setText(f"Upgrading the mirror failed: {exc}")
        why = str(exc)
        self.table.empty_state.show_message(
            "The mirror could not be upgraded",
            f"{why[:1].upper()}{why[1:]}. The upgrade is one transaction, so the file is as it "
            "was; it is tried again the next time the mirror is opened.",
            can_clear=False,
        )

    def _open_reader(self, path: Path | str) -> None:
        reader = MirrorReader(path)
        old, self.reader = self.reader, reader
        self.model.set_reader(reader)
        if self.trail_window is not None:
            self.trail_window.set_reader(reader, self.origin)
        self.wiring.load_completions(reader)
        self.refresh_status()
        self.case.open(path)
        if old is not None:
            self.runner.submit(lambda: None, lambda _: old.close())

    def close_mirror(self) -> None:
        """Show nothing (after sign-out)."""
        old, self.reader = self.reader, None
        self.model.set_reader(None)
        self.query_bar.forget_values()
        self.case.close()
        if self.trail_window is not None:
            self.trail_window.close()
            self.trail_window.set_reader(None)
        self.detail.clear()
        self.status_label.setText("No mirror open")
        self.verified_icon.setVisible(False)
        if old is not None:
            self.runner.wait()
            old.close()

    def reload(self) -> None:
        """Re-read the mirror after a sync wrote to it."""
        if self.reader is None:
            return
        self.model.refresh()
        self.wiring.load_completions(self.reader)
        self.refresh_status()
        if self.trail_window is not None:
            self.trail_window.reload()  # a running task may have new steps

    def refresh_status(self) -> None:
        """Re-read the status bar sentence (entries, checkpoint, origin, last sync)."""
        reader = self.reader
        if reader is not None:
            self.runner.submit(reader.status, lambda status: self._show_status(reader, status))

    def _show_status(self, reader: MirrorReader, status: MirrorStatus) -> None:
        if reader is not self.reader:  # closed (signed out) or replaced meanwhile: stale
            return
        text = status_text(status)
        self.verified_icon.setVisible(status.checkpoint is not None)
        self.status_label.setText(text + self.trust_note)

    def set_identity(self, text: str, origin: str | None, *, demo: bool = False) -> None:
        """Who is signed in where (toolbar and title); the demo says it is trusted by design."""
        self.origin = origin
        self.identity_label.setText(text + "  ")
        title = f"auditlens — {origin}" if origin else "auditlens"
        self.trust_note = ""
        if demo:
            title += " — demo server (key trusted by construction)"
            self.trust_note = " · demo: key pinned by construction"
        self.setWindowTitle(title)

    # -- filter and table -----------------------------------------------------------------------

    def apply_filter(self, f: EventFilter) -> None:
        """Show the rows matching exactly ``f``, in the sidebar and the query bar too."""
        self.filters.show_filter(f)

    def _page_loaded(self, first: int) -> None:
        current = self.table.currentIndex()
        if current.isValid() and self._shown_idx is None:
            self._current_row_changed(current, QModelIndex())
        elif not current.isValid() and first == 0 and self.model.rowCount() > 0:
            pass  # leave the selection to the person

    def select_row(self, row: int) -> None:
        """Make ``row`` current and selected (tests, keyboard helpers)."""
        index = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )

    def _current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._detail_generation += 1
        self._shown_idx = None
        reader = self.reader
        row = self.model.row_at(current.row()) if current.isValid() else None
        if row is None or reader is None:
            if not current.isValid():
                self.detail.clear()
            return
        self._shown_idx = row.idx
        self.detail.show_loading(row)
        generation = self._detail_generation
        self.runner.submit(
            lambda: reader.event(row.idx),
            lambda record: self._show_detail(generation, row, record),
        )

    def _show_detail(self, generation: int, row: Row, record: EventRecord | None) -> None:
        if generation != self._detail_generation:
            return
        if record is None:
            self.detail.clear()
            return
        self.detail.show_event(row, record, self.model.email_of(row.user_id), self.origin)

    # -- export and verify (File menu) ----------------------------------------------------------

    def export_source(self) -> ExportSource | None:
        """The selected rows when several are selected, else the current filter.

        Raises ValueError when selected rows are not loaded yet (never export more than chosen).
        """
        if self.reader is None:
            return None
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        line = self.wiring.query_text()  # kept in the evidence as information, not attested
        if len(rows) > 1 and len(rows) < self.model.rowCount():
            loaded = [self.model.row_at(r) for r in rows]
            indexes = tuple(sorted(row.idx for row in loaded if row is not None))
            if len(indexes) != len(rows):
                raise ValueError(
                    f"{len(rows) - len(indexes):,} of the {len(rows):,} selected rows are not "
                    "loaded yet: scroll through them, or select all (Ctrl+A) to export the filter"
                )
            what = f"{len(rows):,} selected rows"
            return ExportSource(self.reader.path, indexes, what, line or None)
        f = self.model.event_filter
        if not states_evidence_filter(f):  # a search, an exclusion, a log window, a field
            return ExportSource(
                self.reader.path, ViewRows(f), f"the rows of this view ({line})", line
            )
        what = f"the current filter ({line})" if line else "all events (no filter)"
        return ExportSource(self.reader.path, f, what, line or None)

    def show_export_dialog(self) -> ExportDialog | None:
        """File -> Export...: a verified export of the filter or the selected rows."""
        try:
            source = self.export_source()
        except ValueError as exc:
            self.statusBar().showMessage(str(exc), 10_000)
            return None
        if source is None:
            self.statusBar().showMessage("Nothing to export: sign in and sync first.", 8000)
            return None
        if self.export_dialog is not None and self.export_dialog.worker is not None:
            self.export_dialog.raise_()
            return self.export_dialog
        dialog = ExportDialog(source, self.runner, self.export_attester, parent=self)
        dialog.refused.connect(
            lambda finding: self.banner.show_finding(
                finding, "found while preparing an export; nothing was written"
            )
        )
        dialog.recorded.connect(self._export_recorded)
        self.export_dialog = dialog
        dialog.show()
        return dialog

    def _export_recorded(self, outcome: RecordOutcome) -> None:
        if outcome.recorded:  # fetch the audit.exported event so the table shows it
            self.sync_requested.emit()

    def show_verify_dialog(self) -> VerifyDialog:
        """File -> Verify export...: check an export offline, as ``auditlens verify``."""
        if self.verify_dialog is None:
            self.verify_dialog = VerifyDialog(
                self.runner, self.pinned_vkey, self.origin, parent=self
            )
        else:
            self.verify_dialog.set_pinned(self.pinned_vkey, self.origin)
        self.verify_dialog.show()
        self.verify_dialog.raise_()
        return self.verify_dialog

    # -- task trail (one task's story: auditlens.ui.task_trail) ---------------------------------

    def _setup_task_trail(self) -> None:
        """Ctrl+T, the detail pane's "Show task trail" link and the table's context menu."""
        self.trail_window: TaskTrailWindow | None = None
        self.trail_action = QAction("Show task trail…", self)
        self.trail_action.setShortcut(QKeySequence("Ctrl+T"))
        self.trail_action.setToolTip("Show one task's whole story (Ctrl+T)")
        self.trail_action.triggered.connect(lambda: self.open_task_trail(None))
        self.addAction(self.trail_action)
        self.detail.trail_requested.connect(self.open_task_trail)
        self.rows = RowActions(self)
        self._table_context_menu = self.rows.context_menu
        self.row_text = self.rows.row_text
        self.copy_event_json = self.rows.copy_event_json
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        copy = QShortcut(QKeySequence.StandardKey.Copy, self.table, self.rows.copy_selected_rows)
        copy.setContext(Qt.ShortcutContext.WidgetShortcut)
        self.table.customContextMenuRequested.connect(self._table_context_menu)

    def open_task_trail(self, task_id: str | None) -> TaskTrailWindow:
        """Show the trail window; with ``task_id`` load it, else ask for one (pre-filled)."""
        from auditlens.ui.task_trail import TaskTrailWindow

        if self.trail_window is None:
            self.trail_window = TaskTrailWindow(self.reader, self.runner, self.origin, self)
        window = self.trail_window
        window.origin = self.origin or window.origin
        if task_id:
            window.show_task(task_id)
        else:
            current = self.model.row_at(self.table.currentIndex().row())
            if current is not None and current.task_id and not window.task_field.text():
                window.task_field.setText(current.task_id)
            window.focus_task_field()
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    # -- sync progress (driven by the app) ------------------------------------------------------

    def sync_started(self) -> None:
        self.sync_action.setEnabled(False)
        self.cancel_action.setEnabled(True)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.progress_label.setVisible(True)
        self.progress_label.setText("Syncing…")

    def sync_progress(
        self, done: int, total: int, rate: float, eta: float | None, text: str
    ) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
            remaining = f", {eta:,.0f} s left" if eta is not None else ""
            self.progress_label.setText(
                f"{text}: {done:,} / {total:,} events, {rate:,.0f} events/s{remaining}"
            )
        else:
            self.progress.setRange(0, 0)
            self.progress_label.setText(text)

    def sync_finished(self, message: str) -> None:
        self.sync_action.setEnabled(True)
        self.cancel_action.setEnabled(False)
        self.progress.setVisible(False)
        self.progress_label.setVisible(False)
        if message:
            self.statusBar().showMessage(message, 10_000)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if self.export_dialog is not None:
            self.export_dialog.reject()  # cancels a running export; its partial file goes
            self.export_dialog.wait()
        self.case.close()  # saves a note being typed
        self.runner.wait()
        if self.reader is not None:
            self.reader.close()
        super().closeEvent(event)
