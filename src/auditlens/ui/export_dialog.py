"""File -> Export...: a verified export of the current filter (or the selected rows).

The dialog says what it will write before it starts (how many events, roughly how large), runs
the export (:func:`auditlens.export.writer.export`, which re-hashes every 256-entry tile that
holds an exported event and requires those, with the stored hashes of the other tiles, to give
the latest trusted checkpoint's root while it writes) on its own thread with progress and
Cancel, then reports what was written: the count, the file(s), the SHA-256 and whether the
export is complete in the log's own word.

Decisions:

- The selection is fixed when the dialog opens: a :class:`MirrorSnapshot` is opened in the
  background (it collects the matching indexes, so the count is exact) and the same snapshot is
  exported, so the number announced is the number written (the writer checks it again).
- The size is an estimate (:func:`auditlens.export.preview.estimate_bytes`: a sample rendered
  as the chosen format writes it, plus the evidence). It is labelled "about".
- Every export runs in the background with Cancel, whatever its size (the issue requires it
  above 10,000 events; a small one simply finishes at once). Cancel leaves no file: the writer
  writes to a temporary file and deletes it.
- A refusal (the mirror no longer verifies) is shown in the dialog in red with its code and
  sentence (docs/evidence-format.md §11), and :attr:`ExportDialog.refused` lets the window
  raise its red banner.
- Completeness goes the same way as ``auditlens export --server``: the ``attest`` callback the
  app gives (:func:`auditlens.export.record.attester` over the session's API client; this
  module does no HTTP) is handed to the writer, which asks the server, before the evidence is
  written, to record the export as ``audit.exported`` and attest how many events match the
  filter; the record and its proof go into the evidence. The result says "Complete: the server
  attests N events …" or "Completeness is not attested: <why>" (offline copy, a filter the
  server cannot attest, a hand-picked selection of rows, which is recorded but has no filter to
  recount). There is no second, after-the-fact record.
- Before the click, the dialog shows the filter as the window's chips and forecasts the
  completeness (:mod:`auditlens.ui.export_forecast`); the outcome is shown by
  :mod:`auditlens.ui.export_result`.
- The path field is checked as the person types: a folder (``/``, ``~/``, an existing
  directory) asks for a file name instead of failing, a missing folder is named.
- The dialog starts in the folder of the last successful export (kept in the application's
  settings under :data:`LAST_FOLDER_KEY`; the home folder when none is kept or it is gone).
- No SQL, no hashing here: the snapshot, the writer and the size sampling live in
  :mod:`auditlens.export`; this module only decides what to show.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from auditlens.core.errors import Finding, format_ranges
from auditlens.export.columns import CSV_COLUMNS, REQUIRED_COLUMN
from auditlens.export.layout import FORMATS, ExportFormat, sidecar_path
from auditlens.export.preview import Prepared, estimate_bytes, prepare
from auditlens.export.record import RecordOutcome
from auditlens.export.writer import (
    Attester,
    ExportCancelledError,
    ExportOptions,
    ExportRefusedError,
    ExportResult,
    export,
)
from auditlens.ui import theme
from auditlens.ui.export_forecast import (
    completeness_forecast,
    filter_chip_row,
    unattested_parts,
)
from auditlens.ui.export_result import (
    STYLE,
    RecordWatch,
    ResultPanel,
    completeness_text,
    human_size,
)
from auditlens.ui.export_source import ExportSource
from auditlens.ui.resources import icon
from auditlens.ui.tasks import Job, Progress, TaskRunner

LAST_FOLDER_KEY = "export/last_folder"
"""Where the folder of the last successful export is kept (the application's QSettings)."""
DEFAULT_NAME = "auditlens-export.csv"


FORMAT_LABELS: dict[ExportFormat, str] = {
    "csv": "CSV — spreadsheets, SIEM importers (+ evidence sidecar)",
    "json": "JSON — one document with the evidence inside",
    "ndjson": "NDJSON — one event per line (+ evidence sidecar)",
}


class ExportDialog(QDialog):
    """Choose format, file and CSV columns; export with progress and Cancel; see the result."""

    refused = Signal(object)  # Finding: the window shows it in the red banner
    recorded = Signal(object)  # RecordOutcome, after a successful export
    finished_export = Signal(object)  # ExportResult, ExportRefusedError, cancellation, ...

    def __init__(
        self,
        source: ExportSource,
        runner: TaskRunner,
        attest: Attester | None = None,
        default_dir: Path | None = None,
        parent: QWidget | None = None,
        *,
        settings: QSettings | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        self.source = source
        self.runner = runner
        self.attest = attest
        self.prepared: Prepared | None = None
        self.worker: Job | None = None  # the running export (a long job of the runner)
        self.export_result: ExportResult | None = None
        self.record_outcome: RecordOutcome | None = None
        self.record_watch: RecordWatch | None = None
        self.state = "preparing"
        self._closed = False
        self.setWindowTitle("Export verified events")
        self.setWindowIcon(icon("app"))
        self.setMinimumWidth(640)
        self.setStyleSheet(theme.themed_stylesheet(STYLE, theme.current()))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 18)
        layout.setSpacing(12)
        self.summary = QLabel("Counting the events to export…")
        self.summary.setObjectName("ExportSummary")
        self.summary.setWordWrap(True)
        self.scope = QLabel(f"From {source.description}")
        self.scope.setTextFormat(Qt.TextFormat.PlainText)
        self.scope.setObjectName("ExportNote")
        self.scope.setWordWrap(True)
        layout.addWidget(self.summary)
        layout.addWidget(self.scope)
        self.chips, self.chip_widgets = filter_chip_row(source.selection, self.unattested_parts())
        layout.addWidget(self.chips)
        self.attest_note = QLabel(self.completeness_forecast())
        self.attest_note.setObjectName("ExportAttestNote")
        self.attest_note.setProperty("attested", not self.unattested_parts() and attest is not None)
        self.attest_note.setWordWrap(True)
        layout.addWidget(self.attest_note)

        self.form = QWidget()
        form = QVBoxLayout(self.form)
        form.setContentsMargins(0, 0, 0, 0)
        form.setSpacing(10)
        format_box = QGroupBox("Format")
        format_layout = QVBoxLayout(format_box)
        self.format_group = QButtonGroup(self)
        self.format_buttons: dict[ExportFormat, QRadioButton] = {}
        for fmt in FORMATS:
            button = QRadioButton(FORMAT_LABELS[fmt])
            self.format_buttons[fmt] = button
            self.format_group.addButton(button)
            format_layout.addWidget(button)
        self.format_buttons["csv"].setChecked(True)
        form.addWidget(format_box)

        path_row = QHBoxLayout()
        path_row.addWidget(QLabel("Save to"))
        self.path_edit = QLineEdit(str((default_dir or self.last_folder()) / DEFAULT_NAME))
        self.path_edit.setAccessibleName("Save to")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse)
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.browse_button)
        form.addLayout(path_row)
        self.path_note = QLabel()
        self.path_note.setObjectName("ExportNote")
        self.path_note.setWordWrap(True)
        form.addWidget(self.path_note)

        self.csv_box = QGroupBox("CSV columns")
        grid = QGridLayout(self.csv_box)
        grid.setHorizontalSpacing(18)
        self.column_boxes: dict[str, QCheckBox] = {}
        for i, column in enumerate(CSV_COLUMNS):
            box = QCheckBox(f"{column} (always)" if column == REQUIRED_COLUMN else column)
            box.setChecked(True)
            if column == REQUIRED_COLUMN:
                box.setEnabled(False)
                box.setToolTip("Always written: the event's signed bytes, which the proof covers")
            box.toggled.connect(self._update_estimate)
            self.column_boxes[column] = box
            grid.addWidget(box, i // 4, i % 4)
        self.bom_box = QCheckBox("Start with a UTF-8 byte order mark (for Excel)")
        grid.addWidget(self.bom_box, (len(CSV_COLUMNS) + 3) // 4, 0, 1, 4)
        form.addWidget(self.csv_box)
        layout.addWidget(self.form)
        self.main_layout = layout

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress_label = QLabel()
        self.progress_label.setObjectName("ExportNote")
        self.progress_label.setVisible(False)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)

        self.result_frame = ResultPanel()
        self.result_title, self.result_text = self.result_frame.title, self.result_frame.text
        self.digest_label, self.record_label = self.result_frame.digest, self.result_frame.record
        layout.addWidget(self.result_frame)
        layout.addStretch(1)  # room the person adds by resizing goes here, not between rows

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.export_button = QPushButton("Export")
        self.export_button.setProperty("primary", True)
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button = QPushButton("Cancel export")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_export)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        for plain in (self.browse_button, self.cancel_button, self.close_button):
            plain.setAutoDefault(False)
        self.export_button.setDefault(True)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        layout.addLayout(buttons)

        self.format_group.buttonToggled.connect(self._format_changed)
        self.path_edit.textChanged.connect(self._path_changed)
        self._format_changed()
        self._path_changed()
        self.form.setEnabled(False)
        # Collecting a million matching indexes takes seconds: show that something happens.
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        runner.submit(
            lambda: prepare(source.mirror_path, source.selection),
            self._prepared,
            self._prepare_failed,
        )

    # -- what is exported, and whether the server can attest it -------------------------------

    def unattested_parts(self) -> dict[str, str]:
        """``{chip part: why}`` for the conditions the server will not attest."""
        return unattested_parts(self.source.filter_record())

    def completeness_forecast(self) -> str:
        """What the export will say about its completeness, said before the person clicks."""
        return completeness_forecast(self.unattested_parts(), offline=self.attest is None)

    # -- choices ----------------------------------------------------------------------------------

    @property
    def format(self) -> ExportFormat:
        for fmt, button in self.format_buttons.items():
            if button.isChecked():
                return fmt
        return "csv"

    def set_format(self, fmt: ExportFormat) -> None:
        self.format_buttons[fmt].setChecked(True)

    @property
    def path(self) -> Path:
        return Path(self.path_edit.text().strip()).expanduser()

    def columns(self) -> list[str]:
        return [c for c, box in self.column_boxes.items() if box.isChecked()]

    def _format_changed(self, *_: object) -> None:
        fmt = self.format
        self.csv_box.setVisible(fmt == "csv")
        text = self.path_edit.text().strip()
        if text:
            current = Path(text)
            if current.suffix.lstrip(".").lower() in FORMATS and current.suffix != f".{fmt}":
                self.path_edit.setText(str(current.with_suffix(f".{fmt}")))
        self._path_changed()
        self._update_estimate()
        self._shrink_to_content()

    def _shrink_to_content(self) -> None:
        """Take the height the visible rows need (the CSV columns come and go with the format).

        A layout learns that a child was hidden only when its posted layout request runs, and
        the outer layout caches the form's size until then: activate both first, otherwise
        the dialog keeps the old height and spreads it as gaps between the rows.
        """
        form_layout = self.form.layout()
        if form_layout is not None:
            form_layout.activate()
        self.form.updateGeometry()
        self.main_layout.invalidate()
        self.main_layout.activate()
        layout, width = self.main_layout, self.width()
        # Wrapped labels need the height at this width, not at the preferred (narrower) one.
        height = (
            layout.totalHeightForWidth(width)
            if layout.hasHeightForWidth()
            else layout.totalSizeHint().height()
        )
        self.resize(width, max(height, self.minimumHeight()))

    def last_folder(self) -> Path:
        """The folder of the last successful export, or home when none is kept or it is gone."""
        value = self.settings.value(LAST_FOLDER_KEY, "")
        folder = Path(str(value)) if value else None
        return folder if folder is not None and folder.is_dir() else Path.home()

    def _remember_folder(self, folder: Path) -> None:
        self.settings.setValue(LAST_FOLDER_KEY, str(folder))
        self.settings.sync()

    def path_problem(self) -> str | None:
        """Why the typed path cannot be written to, or None when it can."""
        text = self.path_edit.text().strip()
        if not text:
            return "Enter where to save the export."
        path = self.path
        if text.endswith(("/", os.sep)) or not path.name or path.is_dir():
            example = path / Path(DEFAULT_NAME).with_suffix(f".{self.format}")
            return f"{path} is a folder. Add a file name, e.g. {example}."
        if not path.parent.is_dir():
            return f"The folder {path.parent} does not exist."
        return None

    def _path_changed(self, *_: object) -> None:
        problem = self.path_problem()
        notes = []
        if problem is not None:
            if self.path_edit.text().strip():
                notes.append(problem)
        else:
            path = self.path
            if self.format != "json":
                notes.append(f"Evidence goes to {sidecar_path(path).name} beside it.")
            if path.exists():
                notes.append("The file exists and will be replaced.")
        self.path_note.setText(" ".join(notes))
        self.path_note.setVisible(bool(notes))
        self._update_buttons()

    def _browse(self) -> None:
        fmt = self.format
        chosen, _ = QFileDialog.getSaveFileName(
            self,
            "Export to",
            str(self.path),
            f"{fmt.upper()} files (*.{fmt});;All files (*)",
        )
        if chosen:
            self.path_edit.setText(chosen)

    def _update_buttons(self) -> None:
        ready = self.state in ("ready", "done", "cancelled", "failed") and self.prepared is not None
        self.export_button.setEnabled(ready and self.path_problem() is None)

    # -- preparing ------------------------------------------------------------------------------

    @property
    def count(self) -> int | None:
        return self.prepared.snapshot.selected_count() if self.prepared else None

    def _prepared(self, prepared: Prepared) -> None:
        if self._closed:
            prepared.snapshot.close()
            return
        self.prepared = prepared
        self.state = "ready"
        self.progress.setVisible(False)
        self.form.setEnabled(True)
        self._update_estimate()
        self._update_buttons()

    def _prepare_failed(self, exc: BaseException) -> None:
        self.state = "failed"
        self.progress.setVisible(False)
        self.form.setEnabled(False)
        self.export_button.setVisible(False)
        if isinstance(exc, ExportRefusedError):
            self._show_refused(exc.finding)
        else:
            self.summary.setText("The export cannot start")
            self._show_result("refused", "Could not read the local copy", str(exc))

    def estimate(self) -> int | None:
        """Roughly how many bytes the export will write with the current choices."""
        if self.prepared is None:
            return None
        snapshot = self.prepared.snapshot
        return estimate_bytes(
            self.format,
            snapshot.selected_count(),
            snapshot.tree_size,
            self.prepared.sample,
            self.columns(),
        )

    def _update_estimate(self, *_: object) -> None:
        size = self.estimate()
        if size is None or self.count is None:
            return
        count = self.count
        noun = "event" if count == 1 else "events"
        self.summary.setText(
            f"{count:,} verified {noun} · about {human_size(size)} as {self.format.upper()}"
            + ("" if self.format == "json" else " with its evidence sidecar")
        )
        if self.state == "ready":
            self.progress_label.setVisible(False)

    # -- running --------------------------------------------------------------------------------

    def start_export(self) -> None:
        """Write the export in the background (progress and Cancel)."""
        prepared = self.prepared
        if prepared is None or self.worker is not None:
            return
        options = ExportOptions(
            format=self.format,
            path=self.path,
            filter=self.source.filter_record(prepared.snapshot.selected()),
            bom=self.bom_box.isChecked(),
            columns=self.columns(),
            query=self.source.query,
        )
        snapshot = prepared.snapshot
        watch = RecordWatch(self.attest) if self.attest is not None else None
        self.record_watch = watch

        def job(report: Progress, cancel: threading.Event) -> ExportResult:
            def progress(done: int, total: int) -> None:
                report((done, total))

            return export(snapshot, options, progress=progress, cancel=cancel, attest=watch)

        self.state = "running"
        self.export_result = None
        self.record_outcome = None
        self.form.setEnabled(False)
        self.result_frame.setVisible(False)
        self.export_button.setVisible(False)
        self.close_button.setEnabled(False)
        self.cancel_button.setVisible(True)
        self.cancel_button.setEnabled(True)
        total = snapshot.selected_count()
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.progress_label.setText(
            f"Verifying the local copy and writing 0 of {total:,} events to {options.path.name}…"
        )
        self.progress_label.setVisible(True)
        self.worker = self.runner.start(
            job, self._export_finished, self._export_finished, self._progress
        )

    def cancel_export(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.progress_label.setText("Cancelling…")

    def _progress(self, value: object) -> None:
        if self.worker is None or self.worker.cancel_event.is_set():
            return
        if not isinstance(value, tuple):
            return
        done, total = value  # what ``start_export``'s job reports
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, total))
        self.progress_label.setText(
            f"Verifying the local copy and writing {done:,} of {total:,} events to "
            f"{self.path.name}…"
        )

    def _export_finished(self, outcome: object) -> None:
        self.worker = None
        self.progress.setVisible(False)
        self.progress_label.setVisible(False)
        self.cancel_button.setVisible(False)
        self.export_button.setVisible(True)
        self.close_button.setEnabled(True)
        if isinstance(outcome, ExportResult):
            self.state = "done"
            self.export_result = outcome
            self._remember_folder(outcome.path.parent)
            self.export_button.setVisible(False)
            self.close_button.setDefault(True)
            self._show_done(outcome)
        elif isinstance(outcome, ExportCancelledError):
            self.state = "cancelled"
            self.form.setEnabled(True)
            self._show_result("cancelled", "Export cancelled", "Nothing was written.")
        elif isinstance(outcome, ExportRefusedError):
            self.state = "failed"
            self.export_button.setVisible(False)  # the same copy would refuse again: sync first
            self._show_refused(outcome.finding)
        else:
            self.state = "cancelled"
            self.form.setEnabled(True)
            what = f"{type(outcome).__name__}: {outcome}"
            self._show_result("refused", "The export failed; nothing was written", what)
        self._update_buttons()
        self.finished_export.emit(outcome)
        if self._closed:
            self._release()

    # -- results --------------------------------------------------------------------------------

    def _show_result(self, state: str, title: str, text: str) -> None:
        self.result_frame.show_outcome(state, title, text)
        self._fit()

    def _fit(self) -> None:
        """Grow to show a result or a refusal whole, never squeezing the form."""
        layout = self.layout()
        if layout is not None:
            layout.activate()
        hint = self.sizeHint()
        self.resize(max(self.width(), hint.width()), max(self.height(), hint.height()))

    def _show_refused(self, finding: Finding) -> None:
        where = f" (log index {format_ranges(list(finding.ranges))})" if finding.ranges else ""
        if finding.code.informational:  # e.g. PRUNED_BY_POLICY: not tampering, not red
            self.summary.setText("These events cannot be exported from this copy")
            self._show_result("cancelled", str(finding.code), f"{finding.message}{where}.")
            return
        self.summary.setText("Export refused: the local copy did not verify")
        self._show_result(
            "refused",
            f"Verification failed: {finding.code}",
            f"{finding.message}{where}.\n\nNothing was written. Sync again and retry; if it "
            "persists, the local copy or the server's log was altered.",
        )
        self.refused.emit(finding)

    def _show_done(self, result: ExportResult) -> None:
        text = completeness_text(result, offline=self.attest is None)
        self.result_frame.show_written(result, text)
        self._fit()
        index = self.record_watch.index if self.record_watch is not None else None
        self.record_outcome = RecordOutcome(index is not None, text.lstrip("✔⚠ "))
        self.recorded.emit(self.record_outcome)

    # -- closing --------------------------------------------------------------------------------

    def reject(self) -> None:
        """Close; a running export is cancelled first (its partial file is removed)."""
        if self.worker is not None:
            self.cancel_export()
            return
        self._closed = True
        self._release()
        super().reject()

    def _release(self) -> None:
        if self.prepared is not None:
            snapshot = self.prepared.snapshot
            self.prepared = None
            self.runner.submit(lambda: None, lambda _: snapshot.close())

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until a running export stops (tests and shutdown)."""
        return self.worker.wait(msecs) if self.worker is not None else True
